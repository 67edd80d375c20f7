//! Bringing a processing trade's channel job forward without holding its lease: a close the
//! merchant asked for, or a payment the payer just made, should not wait for the query
//! back-off. The job itself still claims the trade under the lease (see [`crate::query_jobs`]).

use chrono::{DateTime, Utc};
use nkpay_core::state::TradeStatus;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entity::trade::{self, Column};
use crate::error::StoreError;

/// Makes a processing trade due no later than `at`: `next_query_at` becomes `at` when it is
/// unset or later. Returns whether it changed (`false`: final, unknown, or already due sooner).
pub async fn due_no_later_than(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = trade::Entity::update_many()
        .col_expr(Column::NextQueryAt, Expr::value(at))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::NkpSeqId.eq(nkp_seq_id))
        .filter(Column::Status.eq(TradeStatus::Processing))
        .filter(
            Condition::any()
                .add(Column::NextQueryAt.is_null())
                .add(Column::NextQueryAt.gt(at)),
        )
        .exec(conn)
        .await
        .map_err(|e| StoreError::from_write("trade", e))?;
    Ok(res.rows_affected == 1)
}
