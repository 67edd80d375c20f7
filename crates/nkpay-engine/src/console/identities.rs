//! Admin users and API tokens as the console lists and changes them, the audit log, and the
//! platform's signing keys (public halves). Creating users and tokens and revoking tokens are
//! [`AdminIdentity`]'s; this adds the listings, disabling and enabling users (audited), and
//! revoking a token by its id.

use chrono::Utc;
use nkpay_store::console_queries::{self, AuditFilter};
use nkpay_store::entity::{admin_api_token, admin_user, audit_log};
use nkpay_store::kinds::RecordStatus;
use nkpay_store::{admin_api_tokens, admin_users};

use super::{Console, Page, PageRequest, require};
use crate::admin_identity::{Actor, AdminIdentity, Permission, audit};
use crate::console::trades::DayRange;
use crate::error::EngineError;

/// What an audit listing asks for.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Days (Asia/Shanghai) of the entries, both included.
    pub days: DayRange,
    /// The actor as recorded (`user:alice`, `token:ci`, `local:cli`).
    pub actor: Option<String>,
    /// The action (`admin_user.create`, `trade.refund`, …).
    pub action: Option<String>,
}

impl Console {
    /// Every admin user, oldest first (password hashes stay in the rows: the api never
    /// writes them out). Platform admins only.
    pub async fn users(&self, by: &Actor) -> Result<Vec<admin_user::Model>, EngineError> {
        require(by, Permission::ManageIdentities)?;
        Ok(admin_users::list_admin_users(self.db.conn()).await?)
    }

    /// Disables (`active: false`) or enables user `username`, audited
    /// (`admin_user.disable` / `admin_user.enable`, before → after). `Ok(None)` when there is
    /// no such user; a user already in that state is answered as it is, with no audit entry.
    /// An actor cannot disable itself ([`EngineError::Invalid`] naming `username`): the
    /// platform would risk having no admin left.
    pub async fn set_user_active(
        &self,
        by: &Actor,
        username: &str,
        active: bool,
    ) -> Result<Option<admin_user::Model>, EngineError> {
        require(by, Permission::ManageIdentities)?;
        if !active && by.kind == crate::admin_identity::ActorKind::User && by.name == username {
            return Err(EngineError::invalid(
                "username",
                "you cannot disable yourself; ask another platform admin",
            ));
        }
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        let Some(before) = admin_users::find_admin_user(&tx, username).await? else {
            return Ok(None);
        };
        let status = if active {
            RecordStatus::Active
        } else {
            RecordStatus::Disabled
        };
        if before.status != status {
            admin_users::set_admin_user_status(&tx, username, status, now).await?;
            let action = if active {
                "admin_user.enable"
            } else {
                "admin_user.disable"
            };
            audit(
                &tx,
                by,
                action,
                &format!("admin_user:{username}"),
                serde_json::json!({
                    "before": {"status": before.status.as_str()},
                    "after": {"status": status.as_str()},
                }),
                now,
            )
            .await?;
        }
        let after = admin_users::find_admin_user(&tx, username).await?;
        tx.commit().await.map_err(nkpay_store::StoreError::from)?;
        Ok(after)
    }

    /// Every API token, oldest first (hashes stay in the rows). Platform admins only.
    pub async fn tokens(&self, by: &Actor) -> Result<Vec<admin_api_token::Model>, EngineError> {
        require(by, Permission::ManageIdentities)?;
        Ok(admin_api_tokens::list(self.db.conn()).await?)
    }

    /// Revokes the API token with id `id` through [`AdminIdentity::revoke_token`] (audited).
    /// `Ok(None)` when there is no such token; a token already revoked is answered as it is.
    pub async fn revoke_token(
        &self,
        by: &Actor,
        id: i64,
    ) -> Result<Option<admin_api_token::Model>, EngineError> {
        require(by, Permission::ManageIdentities)?;
        let conn = self.db.conn();
        let Some(token) = console_queries::find_api_token(conn, id).await? else {
            return Ok(None);
        };
        AdminIdentity::new(self.ctx.clone())
            .revoke_token(by, &token.name)
            .await?;
        Ok(console_queries::find_api_token(conn, id).await?)
    }

    /// Audit entries matching `q`, newest first, one page and the total. Platform admins only.
    pub async fn audit(
        &self,
        by: &Actor,
        q: &AuditQuery,
        page: PageRequest,
    ) -> Result<Page<audit_log::Model>, EngineError> {
        let filter = audit_filter(by, q)?;
        let conn = self.db.conn();
        let items = console_queries::list_audit(conn, &filter, page.window()).await?;
        let total = console_queries::count_audit(conn, &filter).await?;
        Ok(Page { items, total, page })
    }

    /// Up to `limit` audit entries matching `q` with ids below `before_id`, newest first: the
    /// pages of a CSV export.
    pub async fn audit_before(
        &self,
        by: &Actor,
        q: &AuditQuery,
        before_id: Option<i64>,
        limit: u64,
    ) -> Result<Vec<audit_log::Model>, EngineError> {
        let filter = AuditFilter {
            before_id,
            ..audit_filter(by, q)?
        };
        let window = console_queries::Window { offset: 0, limit };
        Ok(console_queries::list_audit(self.db.conn(), &filter, window).await?)
    }
}

fn audit_filter(by: &Actor, q: &AuditQuery) -> Result<AuditFilter, EngineError> {
    require(by, Permission::ReadAuditLog)?;
    let (from, to) = q.days.bounds()?;
    Ok(AuditFilter {
        actor: q.actor.clone(),
        action: q.action.clone(),
        from,
        to,
        before_id: None,
    })
}
