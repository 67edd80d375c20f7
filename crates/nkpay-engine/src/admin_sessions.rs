//! Console sessions (issue 13) on the admin identity: signing in with a password (and a TOTP
//! code once the user enrolled) for a short-lived access token plus a rotating refresh token,
//! exchanging the refresh token, logging out, login throttling, TOTP enrolment, and what a
//! caller is (`/admin/api/me`).
//!
//! Refresh tokens are 32 random bytes (`nkpref_` + 64 hex characters), stored only as their
//! SHA-256 with the sign-in's family id. Each exchange spends the token and hands out a new one
//! of the same family; a spent token presented again is a replay — the token was stolen, or the
//! thief already used it — and revokes the whole family (OAuth 2.0 Security BCP, RFC 9700
//! §4.14.2). Logout revokes the family of the token presented. Access tokens are not revocable
//! and live at most `admin.access_token_ttl_secs`.
//!
//! Throttling counts failed sign-ins (a wrong password, an unknown user, a disabled user, a
//! missing or wrong code alike) per username and per client address in the database, over a
//! sliding window ([`LoginThrottle`]); over the limit a sign-in is refused before its password
//! is checked, with the time until the oldest counted failure leaves the window.
//!
//! TOTP is RFC 6238 with its defaults (HMAC-SHA1, 6 digits, 30-second steps, one step of
//! skew), a 160-bit secret sealed at rest like every other secret, each step's code accepted
//! once (§5.2).

use std::time::Duration;

use chrono::{DateTime, Utc};
use nkpay_core::secret::Secret;
use nkpay_store::admin_sessions::{self, NewRefreshToken};
use nkpay_store::admin_users;
use nkpay_store::entity::admin_user;
use nkpay_store::kinds::{AdminRole, RecordStatus};
use nkpay_store::sealing;
use rand::Rng;
use serde_json::json;
use totp_rs::{Builder, Totp};

use crate::admin_identity::{
    AccessToken, Actor, ActorKind, AdminIdentity, LoginThrottle, audit, token_hash,
};
use crate::error::EngineError;

/// Every refresh token starts with this (a reader and a secret scanner know what it is).
pub const REFRESH_TOKEN_PREFIX: &str = "nkpref_";
/// The issuer named in TOTP apps (`otpauth://totp/nkpay:<username>?…&issuer=nkpay`).
pub const TOTP_ISSUER: &str = "nkpay";
/// What the audit log and the sealing errors call the TOTP secret.
const TOTP_SECRET: &str = "TOTP secret";
const ACCOUNT_KEY: &str = "account";
const ADDRESS_KEY: &str = "address";

/// A sign-in attempt: the username and password, the TOTP code (required once the user
/// enabled TOTP, ignored otherwise), and the client's address (throttling and the audit log).
#[derive(Debug, Clone)]
pub struct Credentials {
    /// As typed.
    pub username: String,
    /// The password.
    pub password: Secret<String>,
    /// The current 6-digit code of the user's TOTP app, if any.
    pub totp: Option<String>,
    /// The client's address (the real one behind trusted proxies); `None` when unknown.
    pub address: Option<String>,
}

/// A signed-in session: an access token and the refresh token that renews it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The short-lived JWT.
    pub access: AccessToken,
    /// `nkpref_` + 64 hex characters; shown once, only its hash is stored.
    pub refresh_token: Secret<String>,
    /// When the refresh token stops being accepted.
    pub refresh_expires_at: DateTime<Utc>,
}

/// What a sign-in attempt got.
#[derive(Debug, Clone)]
pub enum SignIn {
    /// Signed in.
    Session(Session),
    /// Wrong username, password or code, or a disabled user: one answer for all.
    Refused,
    /// Too many failures for this username or address: try again after `retry_after`.
    Throttled {
        /// How long until a sign-in is considered again (at least one second).
        retry_after: Duration,
    },
}

/// A TOTP enrolment awaiting confirmation: the secret for the user's app.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    /// The secret, base32 (RFC 4648, no padding), to type into the app.
    pub secret: Secret<String>,
    /// `otpauth://totp/nkpay:<username>?secret=…&issuer=nkpay` for a QR code.
    pub otpauth_url: Secret<String>,
}

/// Who the caller is, for the console (`GET /admin/api/me`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// The username, or the API token's name.
    pub username: String,
    /// `user` or `token` (or `local` at the shell).
    pub kind: ActorKind,
    /// Its role.
    pub role: AdminRole,
    /// An agent admin's service provider.
    pub sys_id: Option<String>,
    /// Whether signing in needs a TOTP code (always `false` for a token).
    pub totp_enabled: bool,
}

impl AdminIdentity {
    /// Signs a person in: throttling first (no password is checked while over the limit), then
    /// the password, then the TOTP code when the user enabled TOTP. A success hands out an
    /// access token and a new refresh token family, forgets the username's failures and is
    /// audited (`session.login`); a failure is counted against the username and the address.
    pub async fn sign_in(&self, credentials: Credentials) -> Result<SignIn, EngineError> {
        let now = Utc::now();
        let throttle = self.settings().throttle;
        let account = account_key(&credentials.username);
        let address = credentials.address.as_deref().map(address_key);
        if let Some(retry_after) = self
            .throttled(&throttle, &account, address.as_deref(), now)
            .await?
        {
            return Ok(SignIn::Throttled { retry_after });
        }
        let user = self
            .check_password(&credentials.username, credentials.password)
            .await?;
        let user = match user {
            Some(u)
                if self
                    .second_factor_ok(&u, credentials.totp.as_deref())
                    .await? =>
            {
                u
            }
            _ => {
                self.count_failure(&throttle, &account, address.as_deref(), now)
                    .await?;
                return Ok(SignIn::Refused);
            }
        };
        admin_sessions::clear_login_failures(self.db.conn(), ACCOUNT_KEY, &account).await?;
        let actor = user_actor(&user, credentials.address);
        let family = hex::encode(rand::thread_rng().r#gen::<[u8; 16]>());
        let tx = self.db.begin_write().await?;
        let (refresh_token, refresh_expires_at) = self
            .insert_refresh(&tx, &family, &user.username, now)
            .await?;
        commit_audited(
            tx,
            &actor,
            "session.login",
            &user.username,
            json!({"family_id": family, "totp": user.totp_enabled_at.is_some()}),
            now,
        )
        .await?;
        Ok(SignIn::Session(Session {
            access: self.issue_access_token(&user.username, user.role, now)?,
            refresh_token,
            refresh_expires_at,
        }))
    }

    /// Exchanges a refresh token for a new access token and a new refresh token of the same
    /// family; the presented one is spent. `Ok(None)` for an unknown, expired or revoked token,
    /// a disabled user — and a spent one, which is a replay: its whole family is revoked and
    /// audited (`session.replay`). A success is audited (`session.refresh`).
    pub async fn refresh(
        &self,
        refresh_token: &str,
        address: Option<String>,
    ) -> Result<Option<Session>, EngineError> {
        let Some(row) = self.find_refresh(refresh_token).await? else {
            return Ok(None);
        };
        let now = Utc::now();
        let user = admin_users::find_admin_user(self.db.conn(), &row.username).await?;
        let actor = actor_of(user.as_ref(), &row.username, address);
        if row.revoked_at.is_some() {
            return Ok(None);
        }
        let tx = self.db.begin_write().await?;
        // Spent before, or by a concurrent exchange that won the conditional UPDATE: a replay.
        let replayed = row.spent_at.is_some()
            || (row.expires_at > now
                && !admin_sessions::spend_refresh_token(&tx, row.id, now).await?);
        if replayed {
            admin_sessions::revoke_refresh_family(&tx, &row.family_id, now).await?;
            commit_audited(
                tx,
                &actor,
                "session.replay",
                &row.username,
                json!({
                    "family_id": row.family_id,
                    "before": {"family": "active"},
                    "after": {"family": "revoked"},
                }),
                now,
            )
            .await?;
            return Ok(None);
        }
        let user = user.filter(|u| u.status == RecordStatus::Active);
        let Some(user) = user.filter(|_| row.expires_at > now) else {
            // Expired, or the user was disabled: nothing is spent.
            return Ok(None);
        };
        let (refresh_token, refresh_expires_at) = self
            .insert_refresh(&tx, &row.family_id, &user.username, now)
            .await?;
        commit_audited(
            tx,
            &actor,
            "session.refresh",
            &user.username,
            json!({"family_id": row.family_id}),
            now,
        )
        .await?;
        Ok(Some(Session {
            access: self.issue_access_token(&user.username, user.role, now)?,
            refresh_token,
            refresh_expires_at,
        }))
    }

    /// Logs out: revokes the family of `refresh_token` (every refresh token of that sign-in)
    /// and audits it (`session.logout`). `Ok(false)` for a token that is not ours; a token of
    /// a family already revoked answers `true` again without a second audit row.
    pub async fn logout(
        &self,
        refresh_token: &str,
        address: Option<String>,
    ) -> Result<bool, EngineError> {
        let Some(row) = self.find_refresh(refresh_token).await? else {
            return Ok(false);
        };
        let now = Utc::now();
        let user = admin_users::find_admin_user(self.db.conn(), &row.username).await?;
        let tx = self.db.begin_write().await?;
        if admin_sessions::revoke_refresh_family(&tx, &row.family_id, now).await? > 0 {
            let actor = actor_of(user.as_ref(), &row.username, address);
            commit_audited(
                tx,
                &actor,
                "session.logout",
                &row.username,
                json!({"family_id": row.family_id}),
                now,
            )
            .await?;
        }
        // Nothing revoked: the transaction wrote nothing and is dropped.
        Ok(true)
    }

    /// Starts TOTP enrolment for the signed-in user `by`: a new 160-bit secret is sealed and
    /// kept pending until [`AdminIdentity::confirm_totp`]; audited (`totp.enrol`). Enrolling
    /// again before confirming replaces the pending secret. [`EngineError::Invalid`] naming
    /// `totp` when `by` is not a user (an API token) or already has TOTP enabled.
    pub async fn enrol_totp(&self, by: &Actor) -> Result<TotpEnrolment, EngineError> {
        let user = self.own_user_without_totp(by).await?;
        let bytes = rand::thread_rng().r#gen::<[u8; 20]>().to_vec();
        let totp = totp_of(bytes, &user.username)?;
        let secret = Secret::new(totp.secret().to_base32());
        let url = totp
            .to_url()
            .map_err(|e| EngineError::Internal(format!("otpauth url: {e}")))?;
        let sealed = sealing::seal(&self.sealer, TOTP_SECRET, &secret)?;
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        if !admin_users::set_pending_totp(&tx, &user.username, &sealed, now).await? {
            return Err(EngineError::invalid("totp", "is already enabled"));
        }
        commit_audited(
            tx,
            by,
            "totp.enrol",
            &user.username,
            json!({"before": {"totp": "off"}, "after": {"totp": "pending"}}),
            now,
        )
        .await?;
        Ok(TotpEnrolment {
            secret,
            otpauth_url: Secret::new(url),
        })
    }

    /// Confirms the pending TOTP enrolment of `by` with a current `code`; from then on signing
    /// in needs a code. Audited (`totp.enable`). [`EngineError::Invalid`] naming `code` when it
    /// is wrong, expired or used, or nothing is pending; naming `totp` when `by` is not a user
    /// or already has TOTP enabled.
    pub async fn confirm_totp(&self, by: &Actor, code: &str) -> Result<(), EngineError> {
        let user = self.own_user_without_totp(by).await?;
        let Some(sealed) = user.totp_secret_sealed.as_deref() else {
            return Err(EngineError::invalid(
                "code",
                "no TOTP enrolment is pending: enrol first",
            ));
        };
        let now = Utc::now();
        let Some(step) = self.code_step(sealed, &user.username, code, now)? else {
            return Err(EngineError::invalid("code", "is wrong or expired"));
        };
        let tx = self.db.begin_write().await?;
        if !admin_users::enable_totp(&tx, &user.username, step, now).await? {
            return Err(EngineError::invalid("totp", "is already enabled"));
        }
        commit_audited(
            tx,
            by,
            "totp.enable",
            &user.username,
            json!({"before": {"totp": "pending"}, "after": {"totp": "on"}}),
            now,
        )
        .await?;
        Ok(())
    }

    /// Who `by` is: name, kind, role, service provider, and (a user) whether TOTP is on.
    pub async fn me(&self, by: &Actor) -> Result<Me, EngineError> {
        let totp_enabled = match by.kind {
            ActorKind::User => admin_users::find_admin_user(self.db.conn(), &by.name)
                .await?
                .is_some_and(|u| u.totp_enabled_at.is_some()),
            ActorKind::Token | ActorKind::Local => false,
        };
        Ok(Me {
            username: by.name.clone(),
            kind: by.kind,
            role: by.role,
            sys_id: by.sys_id.clone(),
            totp_enabled,
        })
    }

    /// The refresh token row `token` names, when it has our form.
    async fn find_refresh(
        &self,
        token: &str,
    ) -> Result<Option<nkpay_store::entity::admin_refresh_token::Model>, EngineError> {
        let well_formed = token
            .strip_prefix(REFRESH_TOKEN_PREFIX)
            .is_some_and(|rest| rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()));
        if !well_formed {
            return Ok(None);
        }
        Ok(admin_sessions::find_refresh_token(self.db.conn(), &token_hash(token)).await?)
    }

    /// Makes and stores a new refresh token of `family` for `username`.
    async fn insert_refresh(
        &self,
        tx: &sea_orm::DatabaseTransaction,
        family: &str,
        username: &str,
        now: DateTime<Utc>,
    ) -> Result<(Secret<String>, DateTime<Utc>), EngineError> {
        let token = format!(
            "{REFRESH_TOKEN_PREFIX}{}",
            hex::encode(rand::thread_rng().r#gen::<[u8; 32]>())
        );
        let ttl = chrono::TimeDelta::from_std(self.settings().refresh_ttl)
            .map_err(|e| EngineError::Internal(format!("refresh ttl: {e}")))?;
        let expires_at = now + ttl;
        let hash = token_hash(&token);
        let new = NewRefreshToken {
            token_hash: &hash,
            family_id: family,
            username,
            expires_at,
        };
        admin_sessions::insert_refresh_token(tx, &new, now).await?;
        Ok((Secret::new(token), expires_at))
    }

    /// `Some(wait)` when the account or the address has reached its failure limit in the
    /// window: the wait until its oldest counted failure leaves it (the longer of the two).
    async fn throttled(
        &self,
        throttle: &LoginThrottle,
        account: &str,
        address: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<Duration>, EngineError> {
        let window = window_of(throttle)?;
        let mut keys = vec![(ACCOUNT_KEY, account, throttle.max_failures_per_account)];
        if let Some(address) = address {
            keys.push((ADDRESS_KEY, address, throttle.max_failures_per_address));
        }
        let mut wait: Option<Duration> = None;
        for (kind, value, limit) in keys {
            let (count, oldest) =
                admin_sessions::login_failures_since(self.db.conn(), kind, value, now - window)
                    .await?;
            if count < u64::from(limit) {
                continue;
            }
            let left = oldest
                .map(|t| (t + window - now).num_seconds())
                .unwrap_or(0)
                .max(1);
            let left = Duration::from_secs(u64::try_from(left).unwrap_or(1));
            wait = Some(wait.map_or(left, |w| w.max(left)));
        }
        Ok(wait)
    }

    /// Counts a failed sign-in against the account and the address.
    async fn count_failure(
        &self,
        throttle: &LoginThrottle,
        account: &str,
        address: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let forget_before = now - window_of(throttle)?;
        let tx = self.db.begin_write().await?;
        admin_sessions::record_login_failure(&tx, ACCOUNT_KEY, account, now, forget_before).await?;
        if let Some(address) = address {
            admin_sessions::record_login_failure(&tx, ADDRESS_KEY, address, now, forget_before)
                .await?;
        }
        tx.commit().await.map_err(nkpay_store::StoreError::from)?;
        Ok(())
    }

    /// Whether `user` passes the second factor: no TOTP enabled, or a current `code` of a step
    /// not used before (the step is then recorded as used).
    async fn second_factor_ok(
        &self,
        user: &admin_user::Model,
        code: Option<&str>,
    ) -> Result<bool, EngineError> {
        if user.totp_enabled_at.is_none() {
            return Ok(true);
        }
        let (Some(sealed), Some(code)) = (user.totp_secret_sealed.as_deref(), code) else {
            return Ok(false);
        };
        let Some(step) = self.code_step(sealed, &user.username, code, Utc::now())? else {
            return Ok(false);
        };
        Ok(admin_users::use_totp_step(self.db.conn(), &user.username, step).await?)
    }

    /// The time step `code` is valid for under the sealed secret at `now`, if any.
    fn code_step(
        &self,
        sealed: &str,
        username: &str,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, EngineError> {
        let secret = sealing::open(&self.sealer, TOTP_SECRET, sealed)?;
        let bytes = totp_rs::Secret::try_from_base32(secret.expose())
            .map_err(|e| EngineError::Internal(format!("stored TOTP secret: {e}")))?;
        let totp = totp_of(bytes.as_bytes().to_vec(), username)?;
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let time = u64::try_from(now.timestamp()).unwrap_or(0);
        Ok(totp
            .check(code, time)
            .and_then(|step| i64::try_from(step).ok()))
    }

    /// The stored user behind a signed-in `by`, TOTP not yet enabled; [`EngineError::Invalid`]
    /// naming `totp` for an API token, the shell, or a user with TOTP enabled.
    async fn own_user_without_totp(&self, by: &Actor) -> Result<admin_user::Model, EngineError> {
        if by.kind != ActorKind::User {
            return Err(EngineError::invalid(
                "totp",
                "only a signed-in user has one; an API token does not",
            ));
        }
        let user = admin_users::find_admin_user(self.db.conn(), &by.name)
            .await?
            .filter(|u| u.status == RecordStatus::Active)
            .ok_or_else(|| EngineError::Forbidden(format!("user {} is not active", by.name)))?;
        if user.totp_enabled_at.is_some() {
            return Err(EngineError::invalid("totp", "is already enabled"));
        }
        Ok(user)
    }
}

/// Records `by`'s `action` on the admin user `username` with `detail` in `tx`, then commits.
async fn commit_audited(
    tx: sea_orm::DatabaseTransaction,
    by: &Actor,
    action: &str,
    username: &str,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), EngineError> {
    audit(
        &tx,
        by,
        action,
        &format!("admin_user:{username}"),
        detail,
        now,
    )
    .await?;
    tx.commit().await.map_err(nkpay_store::StoreError::from)?;
    Ok(())
}

/// The RFC 6238 generator over `secret` for `username` (SHA-1, 6 digits, 30 s, skew 1).
fn totp_of(secret: Vec<u8>, username: &str) -> Result<Totp, EngineError> {
    Builder::new()
        .with_secret(secret)
        .with_account_name(username)
        .with_issuer(Some(TOTP_ISSUER))
        .build()
        .map_err(|e| EngineError::Internal(format!("totp: {e}")))
}

fn window_of(throttle: &LoginThrottle) -> Result<chrono::TimeDelta, EngineError> {
    chrono::TimeDelta::from_std(throttle.window)
        .map_err(|e| EngineError::Internal(format!("throttle window: {e}")))
}

/// The throttling key of a username as typed: trimmed, lower-cased, at most 128 characters.
fn account_key(username: &str) -> String {
    username.trim().to_lowercase().chars().take(128).collect()
}

fn address_key(address: &str) -> String {
    address.chars().take(128).collect()
}

/// The actor the audit log names for a session of `username` (`user` when the row is gone).
fn actor_of(user: Option<&admin_user::Model>, username: &str, address: Option<String>) -> Actor {
    match user {
        Some(u) => user_actor(u, address),
        None => Actor {
            kind: ActorKind::User,
            name: username.to_owned(),
            role: AdminRole::ReadOnly,
            sys_id: None,
            address,
        },
    }
}

fn user_actor(user: &admin_user::Model, address: Option<String>) -> Actor {
    Actor {
        kind: ActorKind::User,
        name: user.username.clone(),
        role: user.role,
        sys_id: user.sys_id.clone(),
        address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vectors() {
        // RFC 6238 Appendix B, SHA-1 seed "12345678901234567890", truncated to 6 digits.
        let totp = totp_of(b"12345678901234567890".to_vec(), "t").unwrap();
        assert_eq!(totp.generate(59).to_string(), "287082");
        assert_eq!(totp.generate(1_111_111_109).to_string(), "081804");
        assert_eq!(totp.check("081804", 1_111_111_109), Some(37_037_036));
    }

    #[test]
    fn account_keys_fold_case_and_length() {
        assert_eq!(account_key("  Ops "), "ops");
        assert_eq!(account_key(&"x".repeat(500)).len(), 128);
    }
}
