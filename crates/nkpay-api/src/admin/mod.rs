//! The console API (`/admin/api/...`): what the service provider's console and operators'
//! scripts call. JSON in and out; every call but the login behind [`auth::AdminActor`] (a JWT
//! access token or an API token, with a role). Handlers translate; the rules are in
//! nkpay-engine (`admin_identity`, `notifications::console`, `service_providers`, `channel_accounts`).

pub mod auth;
pub mod businesses;
pub mod channel_accounts;
mod console_db;
mod error;
pub mod merchants;
pub mod notifications;
pub mod reconciliation;
pub mod service_providers;
pub mod session;
pub mod statements;

use actix_web::web;

pub use auth::AdminActor;

/// Mounts the console API. The app must carry `web::Data<ApiState>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    session::configure(cfg);
    // Before any `/admin/api/merchants` scope: a scope answers 404 for paths it lacks.
    businesses::configure(cfg);
    notifications::configure(cfg);
    service_providers::configure(cfg);
    channel_accounts::configure(cfg);
    merchants::configure(cfg);
    statements::configure(cfg);
    reconciliation::configure(cfg);
}
