//! The audit log: who changed what, appended next to the change (pass the same transaction).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QueryOrder, QuerySelect, Set};

use crate::entity::audit_log;
use crate::error::StoreError;

/// One entry: who (`actor`, a user or token name), what (`action`, e.g.
/// `notification.resend`), to what (`target`), the details (before → after where it applies;
/// never secrets), and from which address (`None` for the CLI).
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    /// A user or token name (at most 64 characters).
    pub actor: &'a str,
    /// What was done (at most 64 characters).
    pub action: &'a str,
    /// What it was done to (at most 128 characters).
    pub target: &'a str,
    /// Details as JSON; never secrets.
    pub detail: serde_json::Value,
    /// The peer address of the request.
    pub address: Option<&'a str>,
}

/// Appends an entry.
pub async fn append(
    conn: &impl ConnectionTrait,
    entry: AuditEntry<'_>,
    at: DateTime<Utc>,
) -> Result<audit_log::Model, StoreError> {
    Ok(audit_log::ActiveModel {
        actor: Set(entry.actor.to_owned()),
        action: Set(entry.action.to_owned()),
        target: Set(entry.target.to_owned()),
        detail: Set(entry.detail),
        address: Set(entry.address.map(str::to_owned)),
        at: Set(at),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

/// The newest entries with `id < before_id` (pass `i64::MAX` for the first page).
pub async fn page(
    conn: &impl ConnectionTrait,
    before_id: i64,
    limit: u64,
) -> Result<Vec<audit_log::Model>, StoreError> {
    use sea_orm::{ColumnTrait, QueryFilter};
    Ok(audit_log::Entity::find()
        .filter(audit_log::Column::Id.lt(before_id))
        .order_by_desc(audit_log::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}
