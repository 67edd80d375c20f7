//! Handing claimed notifications back with a later due time, without an attempt: the
//! dispatcher does this for rows whose receiving host is already at its concurrency limit, so
//! that the claim query (oldest due first) reaches other hosts' rows instead of returning the
//! same busy host's backlog on every poll.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entity::notification;
use crate::error::StoreError;
use crate::kinds::NotificationStatus;

/// Releases the rows of `ids` that `owner` still holds and makes them due at `until`.
/// Returns how many it changed.
pub async fn defer(
    conn: &impl ConnectionTrait,
    ids: &[i64],
    owner: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let res = notification::Entity::update_many()
        .col_expr(notification::Column::NextAttemptAt, Expr::value(until))
        .col_expr(
            notification::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            notification::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(notification::Column::UpdatedAt, Expr::value(now))
        .filter(notification::Column::Id.is_in(ids.iter().copied()))
        .filter(notification::Column::LeaseOwner.eq(owner))
        .filter(notification::Column::Status.eq(NotificationStatus::Pending.as_str()))
        .exec(conn)
        .await?;
    Ok(res.rows_affected)
}
