//! Incidents: facts an operator must act on (an amount that does not match the order, a
//! payment that landed after a close). Written next to the state change that found them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::entity::incident;
use crate::error::StoreError;

/// Records an incident.
pub async fn open_incident(
    conn: &impl ConnectionTrait,
    kind: &str,
    nkp_seq_id: Option<&str>,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<incident::Model, StoreError> {
    Ok(incident::ActiveModel {
        kind: Set(kind.to_owned()),
        nkp_seq_id: Set(nkp_seq_id.map(str::to_owned)),
        detail: Set(detail.to_owned()),
        created_at: Set(now),
        resolved_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

/// Unresolved incidents, newest first.
pub async fn list_open(
    conn: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<incident::Model>, StoreError> {
    Ok(incident::Entity::find()
        .filter(incident::Column::ResolvedAt.is_null())
        .order_by_desc(incident::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// Incidents about one trade or refund, oldest first.
pub async fn list_for(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
) -> Result<Vec<incident::Model>, StoreError> {
    Ok(incident::Entity::find()
        .filter(incident::Column::NkpSeqId.eq(nkp_seq_id))
        .order_by_asc(incident::Column::Id)
        .all(conn)
        .await?)
}

/// Marks an open incident resolved; `false` when it is unknown or already resolved.
pub async fn resolve(
    conn: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = incident::Entity::update_many()
        .col_expr(incident::Column::ResolvedAt, Expr::value(now))
        .filter(incident::Column::Id.eq(id))
        .filter(incident::Column::ResolvedAt.is_null())
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}
