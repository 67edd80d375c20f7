//! Who may use the admin API, and the audit log of what they changed (issue 11, "Admin identity
//! first"): admin users (people) with argon2id password hashes who log in for a short-lived JWT
//! access token (HS256, `jsonwebtoken`), and named API tokens for machines, stored only as the
//! SHA-256 of a random 32-byte token and revocable. Both carry a role ([`AdminRole`]); what a
//! role may do is [`Actor::may`]. Every write through the admin API is recorded with
//! [`AdminIdentity::record`]: actor, action, target, before → after, address.
//!
//! Console sessions (refresh tokens, login throttling, TOTP) are in `admin_sessions`.

use std::sync::OnceLock;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm as JwtAlgorithm, DecodingKey, EncodingKey, Header, Validation};
use nkpay_core::secret::Secret;
use nkpay_store::admin_api_tokens::{self, NewApiToken};
use nkpay_store::audit_log::{self, AuditEntry};
use nkpay_store::entity::{admin_api_token, admin_user};
use nkpay_store::kinds::{AdminRole, RecordStatus};
use nkpay_store::{admin_users, merchants};
use rand::Rng;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::service;
use crate::error::EngineError;

/// The shortest access-token lifetime the configuration may set.
pub const MIN_ACCESS_TTL: Duration = Duration::from_secs(60);
/// The longest access-token lifetime the configuration may set: access tokens are not
/// revocable, so they stay short.
pub const MAX_ACCESS_TTL: Duration = Duration::from_secs(3600);
/// The default access-token lifetime (15 minutes).
pub const DEFAULT_ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
/// The shortest refresh-token lifetime the configuration may set.
pub const MIN_REFRESH_TTL: Duration = Duration::from_secs(10 * 60);
/// The longest refresh-token lifetime the configuration may set (90 days).
pub const MAX_REFRESH_TTL: Duration = Duration::from_secs(90 * 86_400);
/// The default refresh-token lifetime (7 days): a console left alone longer signs in again.
pub const DEFAULT_REFRESH_TTL: Duration = Duration::from_secs(7 * 86_400);
/// The fewest bytes a JWT signing secret may have (HS256 wants at least its 32-byte output).
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password accepted (argon2 hashes any length; this bounds the work per login).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Every API token starts with this, so a reader (and a secret scanner) knows what it is, and
/// the bearer check tells it from a JWT without trying both.
pub const API_TOKEN_PREFIX: &str = "nkpadm_";
/// The issuer (`iss`) of every access token.
const ISSUER: &str = "nkpay-admin";

/// How access tokens are signed and how long they live.
#[derive(Clone)]
pub struct AdminAuthSettings {
    /// The HS256 key, at least [`MIN_JWT_SECRET_BYTES`] bytes. Every node of one platform must
    /// share it (the server takes `admin.jwt_secret`, or derives it from the master key).
    pub jwt_secret: Secret<Vec<u8>>,
    /// How long an access token is valid, within [`MIN_ACCESS_TTL`]..=[`MAX_ACCESS_TTL`].
    pub access_ttl: Duration,
    /// How long a refresh token is valid, within [`MIN_REFRESH_TTL`]..=[`MAX_REFRESH_TTL`]:
    /// each exchange hands out a new one with a fresh lifetime.
    pub refresh_ttl: Duration,
    /// When failed sign-ins are answered 429.
    pub throttle: LoginThrottle,
}

/// Login throttling: after `max_failures_per_account` failed sign-ins for one username, or
/// `max_failures_per_address` from one client address, within `window`, sign-ins for it are
/// refused with 429 until the oldest failure leaves the window. Failures are counted in the
/// database, so every node of a platform shares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottle {
    /// The sliding window failures are counted over (default 15 minutes).
    pub window: Duration,
    /// Failures per username (as typed, lower-cased; unknown names count alike) before 429
    /// (default 5).
    pub max_failures_per_account: u32,
    /// Failures per client address before 429 (default 20: several people may share one).
    pub max_failures_per_address: u32,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            window: Duration::from_secs(15 * 60),
            max_failures_per_account: 5,
            max_failures_per_address: 20,
        }
    }
}

impl Default for AdminAuthSettings {
    /// A random secret of this process (tokens it signs are accepted by it alone) and the
    /// default lifetime; a server always configures a shared one.
    fn default() -> Self {
        AdminAuthSettings {
            jwt_secret: Secret::new(rand::thread_rng().r#gen::<[u8; 32]>().to_vec()),
            access_ttl: DEFAULT_ACCESS_TTL,
            refresh_ttl: DEFAULT_REFRESH_TTL,
            throttle: LoginThrottle::default(),
        }
    }
}

impl std::fmt::Debug for AdminAuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAuthSettings")
            .field("jwt_secret", &"***")
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("throttle", &self.throttle)
            .finish()
    }
}

/// What an admin API call wants to do; [`Actor::may`] says which roles may. Every admin route
/// names one (nkpay-api's `admin::ROUTES`), and the services check the same ones; an agent
/// admin's reach is further limited to its own service provider by each service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read one's own account (`GET /admin/api/me`) and enrol in TOTP: every signed-in role.
    OwnAccount,
    /// List and read merchants, applications and businesses (personal data masked).
    ReadMerchants,
    /// Approve and reject applications, freeze and unfreeze merchants.
    ReviewMerchants,
    /// Show one personal value of a merchant in full.
    RevealPersonalData,
    /// Open businesses, record sub_mch_ids and refusals, Alipay authorization links, binding
    /// retries.
    ManageBusinesses,
    /// List and read merchant notifications and their attempts and counts.
    ReadNotifications,
    /// Re-send merchant notifications.
    ResendNotifications,
    /// Create, change and disable admin users and API tokens.
    ManageIdentities,
    /// Read the audit log.
    ReadAuditLog,
    /// List and read service providers (an agent admin: only its own).
    ReadServiceProviders,
    /// Register service providers, suspend and activate them, set fee floors.
    ManageServiceProviders,
    /// Replace a service provider's RSA key and end the overlap (an agent admin: its own).
    ReplaceServiceProviderKeys,
    /// List and read channel accounts (never their secrets).
    ReadChannelAccounts,
    /// Register channel accounts, replace credentials, disable, enable, test.
    ManageChannelAccounts,
    /// List and read trades, refunds and their timelines (an agent admin: its own merchants').
    ReadTrades,
    /// Refund a trade from the console.
    Refund,
    /// The dashboard's figures.
    ReadDashboard,
    /// List and download statement files (bills).
    ReadStatements,
    /// Remake a period's statement files.
    GenerateStatements,
    /// Read reconciliation runs, differences and incidents.
    ReadReconciliation,
    /// Start a reconciliation run.
    RunReconciliation,
    /// Resolve reconciliation differences and incidents (with a note).
    ResolveDifferences,
    /// Rotate the platform's signing keys and switch a caller's key (platform admin only).
    ManagePlatformKeys,
}

impl Permission {
    /// Every permission, in declaration order.
    pub const ALL: [Permission; 23] = [
        Permission::OwnAccount,
        Permission::ReadMerchants,
        Permission::ReviewMerchants,
        Permission::RevealPersonalData,
        Permission::ManageBusinesses,
        Permission::ReadNotifications,
        Permission::ResendNotifications,
        Permission::ManageIdentities,
        Permission::ReadAuditLog,
        Permission::ReadServiceProviders,
        Permission::ManageServiceProviders,
        Permission::ReplaceServiceProviderKeys,
        Permission::ReadChannelAccounts,
        Permission::ManageChannelAccounts,
        Permission::ReadTrades,
        Permission::Refund,
        Permission::ReadDashboard,
        Permission::ReadStatements,
        Permission::GenerateStatements,
        Permission::ReadReconciliation,
        Permission::RunReconciliation,
        Permission::ResolveDifferences,
        Permission::ManagePlatformKeys,
    ];

    /// What the permission allows, in words, for a 403's message ("role finance may not …").
    pub fn describe(self) -> &'static str {
        use Permission::*;
        match self {
            OwnAccount => "use an account of its own",
            ReadMerchants => "read merchants",
            ReviewMerchants => "review, freeze or unfreeze merchants",
            RevealPersonalData => "reveal merchants' personal data",
            ManageBusinesses => "manage merchant businesses",
            ReadNotifications => "read notifications",
            ResendNotifications => "re-send notifications",
            ManageIdentities => "manage admin users and API tokens",
            ReadAuditLog => "read the audit log",
            ReadServiceProviders => "read service providers",
            ManageServiceProviders => "manage service providers",
            ReplaceServiceProviderKeys => "replace service provider keys",
            ReadChannelAccounts => "read channel accounts",
            ManageChannelAccounts => "manage channel accounts",
            ReadTrades => "read trades and refunds",
            Refund => "refund trades",
            ReadDashboard => "read the dashboard",
            ReadStatements => "read or download statements",
            GenerateStatements => "generate statements",
            ReadReconciliation => "read reconciliation",
            RunReconciliation => "run reconciliation",
            ResolveDifferences => "resolve reconciliation differences",
            ManagePlatformKeys => "rotate or assign platform signing keys",
        }
    }
}

/// Who an actor is: a person logged in, a machine's API token, or someone at the server's
/// shell (the `nkpay` CLI, the demo's seeding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// An admin user with a JWT access token.
    User,
    /// A named API token.
    Token,
    /// The `nkpay` command line on the server itself.
    Local,
}

/// The authenticated caller of an admin call: its name (username, token name, or the local
/// label), its role, an agent admin's service provider, and the address it called from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// User, token or local.
    pub kind: ActorKind,
    /// The username, the token's name, or the local label; what the audit log names.
    pub name: String,
    /// What it may do.
    pub role: AdminRole,
    /// The service provider an agent admin is bound to.
    pub sys_id: Option<String>,
    /// The request's peer address; `None` for a local actor.
    pub address: Option<String>,
}

impl Actor {
    /// Someone at the server's shell, as a platform admin, audited as `label` (e.g. `cli`).
    pub fn local(label: &str) -> Actor {
        Actor {
            kind: ActorKind::Local,
            name: label.to_owned(),
            role: AdminRole::PlatformAdmin,
            sys_id: None,
            address: None,
        }
    }

    /// What the audit log names: `user:<name>`, `token:<name>` or `local:<label>`.
    pub fn audit_name(&self) -> String {
        let kind = match self.kind {
            ActorKind::User => "user",
            ActorKind::Token => "token",
            ActorKind::Local => "local",
        };
        format!("{kind}:{}", self.name)
    }

    /// Whether this actor's role allows `permission` (issue 13's roles):
    ///
    /// - platform admin: everything;
    /// - operator: merchants (read, review, businesses), trades and refunds, notifications
    ///   (read, re-send), the dashboard, statements (read, generate), reconciliation; reads
    ///   service providers
    ///   and channel accounts; no secrets (personal data, keys, channel credentials), no users;
    /// - finance: reads trades, merchants, notifications, service providers, channel accounts,
    ///   statements (downloads bills) and reconciliation; writes only reconciliation (runs,
    ///   resolving differences and incidents);
    /// - read-only: every read but the audit log and secrets;
    /// - agent admin: its own service provider's merchants (read, businesses), trades,
    ///   statements and dashboard, and its own key; nothing of the platform's (channel accounts,
    ///   notifications, reconciliation). The services keep it to its `sys_id`.
    ///
    /// Every role has [`Permission::OwnAccount`].
    pub fn may(&self, permission: Permission) -> bool {
        use AdminRole::*;
        use Permission::*;
        let reads = matches!(
            permission,
            OwnAccount
                | ReadMerchants
                | ReadNotifications
                | ReadServiceProviders
                | ReadChannelAccounts
                | ReadTrades
                | ReadDashboard
                | ReadStatements
                | ReadReconciliation
        );
        match self.role {
            PlatformAdmin => true,
            Operator => {
                reads
                    || matches!(
                        permission,
                        ReviewMerchants
                            | ManageBusinesses
                            | ResendNotifications
                            | Refund
                            | GenerateStatements
                            | RunReconciliation
                            | ResolveDifferences
                    )
            }
            Finance => reads || matches!(permission, ResolveDifferences),
            ReadOnly => reads,
            AgentAdmin => matches!(
                permission,
                OwnAccount
                    | ReadMerchants
                    | ManageBusinesses
                    | ReadServiceProviders
                    | ReplaceServiceProviderKeys
                    | ReadTrades
                    | ReadDashboard
                    | ReadStatements
            ),
        }
    }
}

/// A user to create: name, role, an agent admin's `sys_id`, and the password (`None`: one is
/// generated and returned once).
#[derive(Debug, Clone)]
pub struct NewUser {
    /// 1–64 characters of `A-Z a-z 0-9 . _ @ -`.
    pub username: String,
    /// The role.
    pub role: AdminRole,
    /// Required for [`AdminRole::AgentAdmin`] (an existing service provider), refused otherwise.
    pub sys_id: Option<String>,
    /// [`MIN_PASSWORD_CHARS`]..=[`MAX_PASSWORD_CHARS`] characters; `None` to generate one.
    pub password: Option<Secret<String>>,
}

/// A created user, and the generated password when none was given (shown once, never stored).
#[derive(Debug, Clone)]
pub struct CreatedUser {
    /// The stored row (its hash, never the password).
    pub user: admin_user::Model,
    /// The password made up for it, when the caller gave none.
    pub generated_password: Option<Secret<String>>,
}

/// A created API token: the row, and the token itself, shown once (only its hash is stored).
#[derive(Debug, Clone)]
pub struct CreatedToken {
    /// The stored row.
    pub row: admin_api_token::Model,
    /// `nkpadm_` then 64 hex characters (32 random bytes).
    pub token: Secret<String>,
}

/// An access token handed out at login.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The JWT (HS256).
    pub token: Secret<String>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// The user's role.
    pub role: AdminRole,
}

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The username.
    sub: String,
    iss: String,
    iat: i64,
    exp: i64,
}

service!(
    /// Admin users, their logins and access tokens, API tokens, and the audit log.
    AdminIdentity
);

impl AdminIdentity {
    /// Creates an admin user (argon2id hash of the password) and records it in the audit log,
    /// in one transaction. [`EngineError::Invalid`] naming `username`, `password`, `sys_id` or
    /// `role` when one breaks its rule (a taken username included); [`EngineError::Forbidden`]
    /// when `by` may not manage identities.
    pub async fn create_user(&self, by: &Actor, new: NewUser) -> Result<CreatedUser, EngineError> {
        require(by, Permission::ManageIdentities)?;
        check_name("username", &new.username)?;
        self.check_binding(new.role, new.sys_id.as_deref()).await?;
        let (password, generated_password) = match new.password {
            Some(p) => (p, None),
            None => {
                let p = Secret::new(generate_password());
                (p.clone(), Some(p))
            }
        };
        let chars = password.expose().chars().count();
        if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
            return Err(EngineError::invalid(
                "password",
                format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
            ));
        }
        let hash = hash_password(password).await?;
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        let user = match admin_users::insert_admin_user(
            &tx,
            &new.username,
            &hash,
            new.role,
            new.sys_id.as_deref(),
            now,
        )
        .await
        {
            Err(e) if e.is_duplicate() => {
                return Err(EngineError::invalid("username", "is taken"));
            }
            other => other?,
        };
        audit(&tx, by, "admin_user.create", &format!("admin_user:{}", user.username), serde_json::json!({
                    "before": null,
                    "after": {"role": user.role.as_str(), "sys_id": user.sys_id, "status": user.status.as_str()},
                }), now).await?;
        tx.commit().await.map_err(nkpay_store::StoreError::from)?;
        Ok(CreatedUser {
            user,
            generated_password,
        })
    }

    /// Checks `username` and `password` and hands out an access token valid for the configured
    /// lifetime, without a refresh token, throttling or audit (the CLI's and tests' check; the
    /// console signs in with [`AdminIdentity::sign_in`]). `Ok(None)` for an unknown user, a
    /// wrong password, a disabled user or a user with TOTP enabled alike.
    pub async fn login(
        &self,
        username: &str,
        password: Secret<String>,
    ) -> Result<Option<AccessToken>, EngineError> {
        match self.check_password(username, password).await? {
            Some(u) if u.totp_enabled_at.is_none() => Ok(Some(self.issue_access_token(
                &u.username,
                u.role,
                Utc::now(),
            )?)),
            _ => Ok(None),
        }
    }

    /// The active user `username` when `password` is theirs; `None` for an unknown user, a
    /// wrong password or a disabled user alike (the same answer, and an argon2 verification in
    /// every case so the time is alike too).
    pub(crate) async fn check_password(
        &self,
        username: &str,
        password: Secret<String>,
    ) -> Result<Option<admin_user::Model>, EngineError> {
        let user = admin_users::find_admin_user(self.db.conn(), username).await?;
        let hash = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| dummy_hash().to_owned());
        let verified = verify_password(password, hash).await?;
        Ok(user.filter(|u| verified && u.status == RecordStatus::Active))
    }

    /// An access token for `username` issued at `now` (a past `now` makes an already expired
    /// token, which tests use).
    pub fn issue_access_token(
        &self,
        username: &str,
        role: AdminRole,
        now: DateTime<Utc>,
    ) -> Result<AccessToken, EngineError> {
        let ttl = chrono::TimeDelta::from_std(self.settings().access_ttl)
            .map_err(|e| EngineError::Internal(format!("access ttl: {e}")))?;
        let expires_at = now + ttl;
        let claims = Claims {
            sub: username.to_owned(),
            iss: ISSUER.to_owned(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let token = jsonwebtoken::encode(
            &Header::new(JwtAlgorithm::HS256),
            &claims,
            &EncodingKey::from_secret(self.settings().jwt_secret.expose()),
        )
        .map_err(|e| EngineError::Internal(format!("jwt encode: {e}")))?;
        Ok(AccessToken {
            token: Secret::new(token),
            expires_at,
            role,
        })
    }

    /// The actor a bearer token proves: an API token (`nkpadm_…`) that is active, or a JWT
    /// access token that is signed with our key (HS256 only), unexpired, and names an active
    /// user — whose role is read now, so a changed role or a disabled user takes effect at once.
    /// `Ok(None)` for anything else. `address` is kept on the actor for the audit log.
    pub async fn authenticate(
        &self,
        bearer: &str,
        address: Option<String>,
    ) -> Result<Option<Actor>, EngineError> {
        if let Some(rest) = bearer.strip_prefix(API_TOKEN_PREFIX) {
            if rest.len() != 64 || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(None);
            }
            let row = admin_api_tokens::find_by_hash(self.db.conn(), &token_hash(bearer)).await?;
            return Ok(row
                .filter(|t| t.status == RecordStatus::Active)
                .map(|t| Actor {
                    kind: ActorKind::Token,
                    name: t.name,
                    role: t.role,
                    sys_id: t.sys_id,
                    address,
                }));
        }
        let mut validation = Validation::new(JwtAlgorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let Ok(data) = jsonwebtoken::decode::<Claims>(
            bearer,
            &DecodingKey::from_secret(self.settings().jwt_secret.expose()),
            &validation,
        ) else {
            return Ok(None);
        };
        let user = admin_users::find_admin_user(self.db.conn(), &data.claims.sub).await?;
        Ok(user
            .filter(|u| u.status == RecordStatus::Active)
            .map(|u| Actor {
                kind: ActorKind::User,
                name: u.username,
                role: u.role,
                sys_id: u.sys_id,
                address,
            }))
    }

    /// Creates a named API token with `role` and records it in the audit log, in one
    /// transaction; the token is in the answer only. [`EngineError::Invalid`] naming `name`
    /// (format, or taken), `sys_id` or `role`; [`EngineError::Forbidden`] when `by` may not.
    pub async fn create_token(
        &self,
        by: &Actor,
        name: &str,
        role: AdminRole,
        sys_id: Option<&str>,
    ) -> Result<CreatedToken, EngineError> {
        require(by, Permission::ManageIdentities)?;
        check_name("name", name)?;
        self.check_binding(role, sys_id).await?;
        let token = format!(
            "{API_TOKEN_PREFIX}{}",
            hex::encode(rand::thread_rng().r#gen::<[u8; 32]>())
        );
        let hash = token_hash(&token);
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        let new = NewApiToken {
            name,
            token_hash: &hash,
            role,
            sys_id,
            created_by: &by.audit_name(),
        };
        let row = match admin_api_tokens::insert(&tx, &new, now).await {
            Err(e) if e.is_duplicate() => return Err(EngineError::invalid("name", "is taken")),
            other => other?,
        };
        audit(
            &tx,
            by,
            "api_token.create",
            &format!("api_token:{name}"),
            serde_json::json!({
                "before": null,
                "after": {"role": role.as_str(), "sys_id": sys_id, "status": "active"},
            }),
            now,
        )
        .await?;
        tx.commit().await.map_err(nkpay_store::StoreError::from)?;
        Ok(CreatedToken {
            row,
            token: Secret::new(token),
        })
    }

    /// Revokes the API token `name` and records it. `Ok(false)` when no active token has that
    /// name; [`EngineError::Forbidden`] when `by` may not.
    pub async fn revoke_token(&self, by: &Actor, name: &str) -> Result<bool, EngineError> {
        require(by, Permission::ManageIdentities)?;
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        if !admin_api_tokens::revoke(&tx, name, now).await? {
            return Ok(false);
        }
        audit(
            &tx,
            by,
            "api_token.revoke",
            &format!("api_token:{name}"),
            serde_json::json!({"before": {"status": "active"}, "after": {"status": "disabled"}}),
            now,
        )
        .await?;
        tx.commit().await.map_err(nkpay_store::StoreError::from)?;
        Ok(true)
    }

    /// Records a write `by` made: `action` on `target`, with `detail` (before → after where it
    /// applies; never secrets).
    pub async fn record(
        &self,
        by: &Actor,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<(), EngineError> {
        audit(self.db.conn(), by, action, target, detail, Utc::now()).await
    }

    pub(crate) fn settings(&self) -> &AdminAuthSettings {
        &self.config.admin_auth
    }

    /// An agent admin names an existing service provider; no other role names one.
    async fn check_binding(
        &self,
        role: AdminRole,
        sys_id: Option<&str>,
    ) -> Result<(), EngineError> {
        match (role, sys_id) {
            (AdminRole::AgentAdmin, Some(sys_id)) => {
                if merchants::find_service_provider(self.db.conn(), sys_id)
                    .await?
                    .is_none()
                {
                    return Err(EngineError::invalid(
                        "sys_id",
                        format!("no service provider {sys_id}"),
                    ));
                }
                Ok(())
            }
            (AdminRole::AgentAdmin, None) => Err(EngineError::invalid(
                "sys_id",
                "is required for the agent-admin role",
            )),
            (_, Some(_)) => Err(EngineError::invalid(
                "sys_id",
                "is only for the agent-admin role",
            )),
            (_, None) => Ok(()),
        }
    }
}

/// `Ok` when `by`'s role allows `permission`, else [`EngineError::Forbidden`] naming both.
pub(crate) fn require(by: &Actor, permission: Permission) -> Result<(), EngineError> {
    if by.may(permission) {
        Ok(())
    } else {
        Err(EngineError::Forbidden(format!(
            "role {} may not {}",
            by.role,
            permission.describe()
        )))
    }
}

/// Appends `by`'s write to the audit log (on `conn`: pass the transaction of the change).
pub(crate) async fn audit(
    conn: &impl ConnectionTrait,
    by: &Actor,
    action: &str,
    target: &str,
    detail: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<(), EngineError> {
    audit_log::append(
        conn,
        AuditEntry {
            actor: &by.audit_name(),
            action,
            target,
            detail,
            address: by.address.as_deref(),
        },
        at,
    )
    .await?;
    Ok(())
}

/// The argon2id (v19, the crate's default cost: 19 MiB, 2 passes, 1 lane — OWASP's minimum)
/// hash of `password` in PHC form, computed off the async workers.
pub async fn hash_password(password: Secret<String>) -> Result<String, EngineError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| EngineError::Internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| EngineError::Internal(format!("argon2 task: {e}")))?
}

/// Whether `password` matches the PHC `hash` (argon2id only; anything else is `false`).
pub async fn verify_password(password: Secret<String>, hash: String) -> Result<bool, EngineError> {
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        parsed.algorithm == Algorithm::Argon2id.ident()
            && argon2()
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok()
    })
    .await
    .map_err(|e| EngineError::Internal(format!("argon2 task: {e}")))
}

/// Lower-case hex SHA-256 of an API token: enough for a 32-byte random token (nothing to guess,
/// so no slow hash is needed), and what the store looks tokens up by.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn argon2() -> Argon2<'static> {
    Argon2::default()
}

/// A hash to verify against when the user is unknown, so the answer takes as long.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(b"not a password of anyone", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// A password made up for a user created without one: 24 characters from `A-Z a-z 0-9`
/// (about 142 bits).
pub fn generate_password() -> String {
    rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

fn check_name(field: &str, name: &str) -> Result<(), EngineError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(EngineError::invalid(
            field,
            "must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn password_hash_is_argon2id_and_verifies() {
        let hash = hash_password(Secret::new("correct horse battery".into()))
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert!(
            verify_password(Secret::new("correct horse battery".into()), hash.clone())
                .await
                .unwrap()
        );
        assert!(
            !verify_password(Secret::new("correct horse battery!".into()), hash)
                .await
                .unwrap()
        );
    }

    #[test]
    fn roles_allow_what_the_issue_says() {
        use Permission::*;
        let actor = |role| Actor {
            role,
            ..Actor::local("t")
        };
        let reads = [
            OwnAccount,
            ReadMerchants,
            ReadNotifications,
            ReadServiceProviders,
            ReadChannelAccounts,
            ReadTrades,
            ReadDashboard,
            ReadStatements,
            ReadReconciliation,
        ];
        let operator_writes = [
            ReviewMerchants,
            ManageBusinesses,
            ResendNotifications,
            Refund,
            GenerateStatements,
            RunReconciliation,
            ResolveDifferences,
        ];
        let agent = [
            OwnAccount,
            ReadMerchants,
            ManageBusinesses,
            ReadServiceProviders,
            ReplaceServiceProviderKeys,
            ReadTrades,
            ReadDashboard,
            ReadStatements,
        ];
        let cases: [(AdminRole, Vec<Permission>); 5] = [
            (AdminRole::PlatformAdmin, Permission::ALL.to_vec()),
            (
                AdminRole::Operator,
                [&reads[..], &operator_writes[..]].concat(),
            ),
            (
                AdminRole::Finance,
                [&reads[..], &[ResolveDifferences][..]].concat(),
            ),
            (AdminRole::ReadOnly, reads.to_vec()),
            (AdminRole::AgentAdmin, agent.to_vec()),
        ];
        for (role, allowed) in cases {
            for p in Permission::ALL {
                assert_eq!(actor(role).may(p), allowed.contains(&p), "{role} {p:?}");
            }
        }
        // Secrets and people are the platform admin's alone.
        for p in [
            RevealPersonalData,
            ManageIdentities,
            ReadAuditLog,
            ManageServiceProviders,
            ManageChannelAccounts,
        ] {
            let others = [
                AdminRole::Operator,
                AdminRole::Finance,
                AdminRole::ReadOnly,
                AdminRole::AgentAdmin,
            ];
            assert!(others.iter().all(|r| !actor(*r).may(p)), "{p:?}");
        }
    }

    #[test]
    fn token_hash_is_hex_sha256() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
