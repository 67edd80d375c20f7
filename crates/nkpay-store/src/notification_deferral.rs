//! Handing claimed notifications back with a later due time, without an attempt: the
//! dispatcher does this for rows whose receiving host is already at its concurrency limit,
//! spacing them at the pace that host answers, so that the claim query (oldest due first)
//! reaches other hosts' rows instead of returning the same busy host's backlog on every poll.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{CaseStatement, Expr};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entity::notification;
use crate::error::StoreError;
use crate::notifications;

/// Releases each row of `due` that `owner` still holds and makes it due at its own time, in
/// one statement. Returns how many it changed.
pub async fn defer(
    conn: &impl ConnectionTrait,
    due: &[(i64, DateTime<Utc>)],
    owner: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if due.is_empty() {
        return Ok(0);
    }
    let next_at = due
        .iter()
        .fold(CaseStatement::new(), |case, (id, at)| {
            case.case(notification::Column::Id.eq(*id), Expr::value(*at))
        })
        .finally(Expr::col(notification::Column::NextAttemptAt));
    let res = notification::Entity::update_many()
        .col_expr(notification::Column::NextAttemptAt, next_at.into())
        .col_expr(
            notification::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            notification::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(notification::Column::UpdatedAt, Expr::value(now))
        .filter(notification::Column::Id.is_in(due.iter().map(|(id, _)| *id)))
        .filter(notification::Column::LeaseOwner.eq(owner))
        .filter(notifications::still_pending())
        .exec(conn)
        .await?;
    Ok(res.rows_affected)
}
