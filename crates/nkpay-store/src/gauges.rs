//! What the metrics endpoint reads at scrape time (issue 14; docs/observability.md): the number
//! of trades in each state (one `GROUP BY status`, a pass over `trades`) and the
//! merchant-notification outbox (over the index `idx_notifications_status_next_id`). Read-only.

use chrono::{DateTime, Utc};
use nkpay_core::state::TradeStatus;
use sea_orm::sea_query::{Alias, Expr, Func};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::entity::{notification, trade};
use crate::error::StoreError;
use crate::kinds::NotificationStatus;

/// How many trades are in each state, all merchants together: one `GROUP BY status`. Every
/// state appears, with 0 when no trade is in it, in [`TradeStatus::ALL`] order.
pub async fn trades_by_status(
    conn: &impl ConnectionTrait,
) -> Result<Vec<(TradeStatus, i64)>, StoreError> {
    let rows: Vec<(TradeStatus, i64)> = trade::Entity::find()
        .select_only()
        .column(trade::Column::Status)
        .expr_as(
            Func::cast_as(
                Func::count(Expr::col(trade::Column::Id)),
                Alias::new("BIGINT"),
            ),
            "n",
        )
        .group_by(trade::Column::Status)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(TradeStatus::ALL
        .iter()
        .map(|s| {
            let n = rows
                .iter()
                .find(|(status, _)| status == s)
                .map_or(0, |(_, n)| *n);
            (*s, n)
        })
        .collect())
}

/// The merchant-notification outbox at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outbox {
    /// Notifications still to be delivered (`pending`: not delivered, not given up), due or not.
    pub pending: i64,
    /// The earliest `next_attempt_at` (UTC) of the pending ones already due at the moment asked
    /// about; `None` when none is due.
    pub oldest_due_at: Option<DateTime<Utc>>,
}

/// The outbox as of `now`: how many notifications are pending, and since when the longest-due
/// one has waited.
pub async fn outbox(conn: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Outbox, StoreError> {
    use notification::Column as C;
    let pending = NotificationStatus::Pending.as_str();
    let count: Option<i64> = notification::Entity::find()
        .select_only()
        .expr_as(
            Func::cast_as(Func::count(Expr::col(C::Id)), Alias::new("BIGINT")),
            "n",
        )
        .filter(C::Status.eq(pending))
        .into_tuple()
        .one(conn)
        .await?;
    let oldest_due_at: Option<Option<DateTime<Utc>>> = notification::Entity::find()
        .select_only()
        .expr_as(Func::min(Expr::col(C::NextAttemptAt)), "due")
        .filter(C::Status.eq(pending))
        .filter(C::NextAttemptAt.lte(now))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(Outbox {
        pending: count.unwrap_or(0),
        oldest_due_at: oldest_due_at.flatten(),
    })
}
