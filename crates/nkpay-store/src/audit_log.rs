//! The audit log: who changed what, appended next to the change (pass the same transaction).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QueryOrder, QuerySelect, Set};

use crate::entity::audit_log;
use crate::error::StoreError;

/// Appends an entry. `detail` must not hold secrets.
pub async fn append(
    conn: &impl ConnectionTrait,
    actor: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<audit_log::Model, StoreError> {
    Ok(audit_log::ActiveModel {
        actor: Set(actor.to_owned()),
        action: Set(action.to_owned()),
        target: Set(target.to_owned()),
        detail: Set(detail),
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
