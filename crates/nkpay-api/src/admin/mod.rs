//! The console API (`/admin/api/...`): what the service provider's console and operators'
//! scripts call. JSON in and out. Handlers translate; the rules are in nkpay-engine
//! (`admin_identity`, `admin_sessions`, `notifications::console`, `service_providers`,
//! `channel_accounts`, ...).
//!
//! ## Who may call what: [`ROUTES`]
//!
//! Every admin route has exactly one line in [`ROUTES`]: its method, its actix pattern exactly
//! as registered (the full path with the `{param}` names), and its [`Access`] — [`Public`] (the
//! session endpoints) or `Needs(Permission::X)`. [`configure`] mounts every route behind one
//! guard ([`auth::guard`]) that reads the table before any handler or extractor runs: no or a
//! bad bearer token → 401, a role without the permission ([`nkpay_engine::Actor::may`]) → 403,
//! a route without a line → 404 for everyone. The services check their own rules again (an
//! agent admin's `sys_id`).
//!
//! **Adding an endpoint**: register it in its file's `configure` (called from [`routes`]
//! below) and add one line here, e.g.
//! `(GET, "/admin/api/trades/{nkp_seq_id}", Needs(ReadTrades)),`
//! — add a [`Permission`] in nkpay-engine's `admin_identity` only when none fits. The test
//! `crates/nkpay-api/tests/admin_roles.rs` walks actix's resource map: a route without its
//! line, or a line without its route, fails it, and it calls every line as every role.

pub mod audit;
pub mod auth;
pub mod businesses;
pub mod channel_accounts;
mod console_db;
pub mod dashboard;
mod error;
mod listing;
pub mod me;
pub mod merchants;
pub mod notifications;
pub mod platform_keys;
pub mod reconciliation;
pub mod service_providers;
pub mod session;
pub mod statements;
pub mod trades;
pub mod users;

use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{guard, web};
use nkpay_engine::Permission;
use nkpay_engine::Permission::*;

pub use auth::AdminActor;

/// Who may call a route: anyone (the session endpoints, which check what they are given), or a
/// caller with a bearer token whose role has the permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No bearer token needed.
    Public,
    /// A bearer token whose role [`may`](nkpay_engine::Actor::may) do this.
    Needs(Permission),
}

use Access::{Needs, Public};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const DELETE: Method = Method::DELETE;

/// Every admin route: method, actix pattern (exactly as registered), access. One line per
/// route; see the module's documentation.
#[rustfmt::skip]
pub const ROUTES: &[(Method, &str, Access)] = &[
    // Sessions and one's own account.
    (POST, "/admin/api/session", Public),
    (DELETE, "/admin/api/session", Public),
    (POST, "/admin/api/session/refresh", Public),
    (GET, "/admin/api/me", Needs(OwnAccount)),
    (POST, "/admin/api/me/totp", Needs(OwnAccount)),
    (POST, "/admin/api/me/totp/confirm", Needs(OwnAccount)),
    // Merchants, applications, businesses.
    (GET, "/admin/api/merchants", Needs(ReadMerchants)),
    (GET, "/admin/api/merchants/{mer_id}", Needs(ReadMerchants)),
    (POST, "/admin/api/merchants/{mer_id}/freeze", Needs(ReviewMerchants)),
    (POST, "/admin/api/merchants/{mer_id}/unfreeze", Needs(ReviewMerchants)),
    (POST, "/admin/api/merchants/{mer_id}/reveal", Needs(RevealPersonalData)),
    (GET, "/admin/api/applications", Needs(ReadMerchants)),
    (POST, "/admin/api/applications/{apply_no}/approve", Needs(ReviewMerchants)),
    (POST, "/admin/api/applications/{apply_no}/reject", Needs(ReviewMerchants)),
    (GET, "/admin/api/merchants/{mer_id}/businesses", Needs(ReadMerchants)),
    (PUT, "/admin/api/merchants/{mer_id}/businesses/wechat", Needs(ManageBusinesses)),
    (POST, "/admin/api/merchants/{mer_id}/businesses/{channel}/refusal", Needs(ManageBusinesses)),
    (GET, "/admin/api/merchants/{mer_id}/businesses/alipay/auth-link", Needs(ManageBusinesses)),
    (POST, "/admin/api/merchants/{mer_id}/bindings/{id}/retry", Needs(ManageBusinesses)),
    // Notifications.
    (GET, "/admin/api/notifications/stats", Needs(ReadNotifications)),
    (POST, "/admin/api/notifications/resend", Needs(ResendNotifications)),
    (GET, "/admin/api/notifications", Needs(ReadNotifications)),
    (GET, "/admin/api/notifications/{id}", Needs(ReadNotifications)),
    (POST, "/admin/api/notifications/{id}/resend", Needs(ResendNotifications)),
    // Service providers.
    (POST, "/admin/api/service-providers", Needs(ManageServiceProviders)),
    (GET, "/admin/api/service-providers", Needs(ReadServiceProviders)),
    (GET, "/admin/api/service-providers/{sys_id}", Needs(ReadServiceProviders)),
    (POST, "/admin/api/service-providers/{sys_id}/suspend", Needs(ManageServiceProviders)),
    (POST, "/admin/api/service-providers/{sys_id}/activate", Needs(ManageServiceProviders)),
    (POST, "/admin/api/service-providers/{sys_id}/keys", Needs(ReplaceServiceProviderKeys)),
    (DELETE, "/admin/api/service-providers/{sys_id}/keys/previous", Needs(ReplaceServiceProviderKeys)),
    (GET, "/admin/api/service-providers/{sys_id}/fee-floors", Needs(ReadServiceProviders)),
    (PUT, "/admin/api/service-providers/{sys_id}/fee-floors", Needs(ManageServiceProviders)),
    // Channel accounts.
    (POST, "/admin/api/channel-accounts", Needs(ManageChannelAccounts)),
    (GET, "/admin/api/channel-accounts", Needs(ReadChannelAccounts)),
    (GET, "/admin/api/channel-accounts/{id}", Needs(ReadChannelAccounts)),
    (POST, "/admin/api/channel-accounts/{id}/disable", Needs(ManageChannelAccounts)),
    (POST, "/admin/api/channel-accounts/{id}/enable", Needs(ManageChannelAccounts)),
    (PUT, "/admin/api/channel-accounts/{id}/credentials", Needs(ManageChannelAccounts)),
    (POST, "/admin/api/channel-accounts/{id}/test", Needs(ManageChannelAccounts)),
    // Statements.
    (GET, "/admin/api/statements", Needs(ReadStatements)),
    (POST, "/admin/api/statements/generate", Needs(GenerateStatements)),
    (GET, "/admin/api/statements/{file_id}/download", Needs(ReadStatements)),
    // Reconciliation.
    (POST, "/admin/api/reconciliation/runs", Needs(RunReconciliation)),
    (GET, "/admin/api/reconciliation/runs", Needs(ReadReconciliation)),
    (GET, "/admin/api/reconciliation/runs/{id}", Needs(ReadReconciliation)),
    (GET, "/admin/api/reconciliation/differences", Needs(ReadReconciliation)),
    (GET, "/admin/api/reconciliation/differences.csv", Needs(ReadReconciliation)),
    (POST, "/admin/api/reconciliation/differences/{id}/resolve", Needs(ResolveDifferences)),
    (GET, "/admin/api/reconciliation/incidents", Needs(ReadReconciliation)),
    (POST, "/admin/api/reconciliation/incidents/{id}/resolve", Needs(ResolveDifferences)),
    // Trades, refunds, the dashboard (console/trades.rs, dashboard.rs).
    (GET, "/admin/api/trades", Needs(ReadTrades)),
    (GET, "/admin/api/trades/{nkp_seq_id}", Needs(ReadTrades)),
    (POST, "/admin/api/trades/{nkp_seq_id}/refund", Needs(Refund)),
    (GET, "/admin/api/refunds", Needs(ReadTrades)),
    (GET, "/admin/api/dashboard", Needs(ReadDashboard)),
    // Users, API tokens, the audit log, platform keys (users.rs, audit.rs, platform_keys.rs).
    (GET, "/admin/api/users", Needs(ManageIdentities)),
    (POST, "/admin/api/users", Needs(ManageIdentities)),
    (POST, "/admin/api/users/{username}/disable", Needs(ManageIdentities)),
    (POST, "/admin/api/users/{username}/enable", Needs(ManageIdentities)),
    (GET, "/admin/api/tokens", Needs(ManageIdentities)),
    (POST, "/admin/api/tokens", Needs(ManageIdentities)),
    (GET, "/admin/api/audit", Needs(ReadAuditLog)),
    (GET, "/admin/api/platform-keys", Needs(ReadChannelAccounts)),
    (POST, "/admin/api/platform-keys/rotate", Needs(ManagePlatformKeys)),
    (POST, "/admin/api/platform-keys/assign", Needs(ManagePlatformKeys)),
    // Last: the role test calls each line in order with token id 1 the platform admin's, which
    // this revokes.
    (DELETE, "/admin/api/tokens/{id}", Needs(ManageIdentities)),
];

/// The access of the route `method` + `pattern` (actix's matched pattern), if it has a line.
pub fn access(method: &Method, pattern: &str) -> Option<Access> {
    ROUTES
        .iter()
        .find(|(m, p, _)| m == method && *p == pattern)
        .map(|(_, _, access)| *access)
}

/// Mounts the console API behind the [`ROUTES`] guard. The app must carry
/// `web::Data<ApiState>`. Only requests under `/admin/api` enter; every other path is left to
/// the app's other services.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("")
            .guard(guard::fn_guard(|ctx| is_admin_path(ctx.head().uri.path())))
            .wrap(from_fn(auth::guard))
            .configure(routes),
    );
}

/// Whether `path` is the console API's.
fn is_admin_path(path: &str) -> bool {
    path == "/admin/api" || path.starts_with("/admin/api/")
}

/// Every console route, without the guard: what [`configure`] mounts behind it. Public only
/// for the route-table test (`tests/admin_roles.rs`), which compares actix's routes with
/// [`ROUTES`]; a server mounts [`configure`].
#[doc(hidden)]
pub fn routes(cfg: &mut web::ServiceConfig) {
    session::configure(cfg);
    me::configure(cfg);
    // Before any `/admin/api/merchants` scope: a scope answers 404 for paths it lacks.
    businesses::configure(cfg);
    notifications::configure(cfg);
    service_providers::configure(cfg);
    channel_accounts::configure(cfg);
    merchants::configure(cfg);
    statements::configure(cfg);
    reconciliation::configure(cfg);
    trades::configure(cfg);
    dashboard::configure(cfg);
    users::configure(cfg);
    audit::configure(cfg);
    platform_keys::configure(cfg);
}
