//! The "nobody called back" jobs: trades and refunds still processing whose `next_query_at`
//! has come are claimed under a lease (the crate's private `lease` module), queried at the
//! channel, then either finalized (which ends the job) or rescheduled here.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, Statement};

use crate::db::Db;
use crate::entity::{refund, trade};
use crate::error::StoreError;
use crate::lease::{self, LeaseColumns};

const TRADE_LEASE: LeaseColumns = LeaseColumns {
    table: "trades",
    status: "status",
    due_status: "P",
    due_at: "next_query_at",
    owner: "query_lease_owner",
    until: "query_lease_until",
};

const REFUND_LEASE: LeaseColumns = LeaseColumns {
    table: "refunds",
    status: "status",
    due_status: "P",
    due_at: "next_query_at",
    owner: "query_lease_owner",
    until: "query_lease_until",
};

/// Claims up to `limit` processing trades whose query is due at `now`, for `owner` until
/// `now + lease`, oldest due first.
pub async fn claim_due_trades(
    db: &Db,
    owner: &str,
    now: DateTime<Utc>,
    lease: TimeDelta,
    limit: u64,
) -> Result<Vec<trade::Model>, StoreError> {
    let mut rows =
        lease::claim::<trade::Entity>(db, &TRADE_LEASE, owner, now, lease, limit).await?;
    rows.sort_by_key(|t| (t.next_query_at, t.id));
    Ok(rows)
}

/// After a query that did not finalize the trade: count the attempt, set the next time (or
/// `None` to stop querying) and free the lease. `false` when `owner` no longer holds it.
pub async fn reschedule_trade(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    owner: &str,
    next_query_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    reschedule(conn, &TRADE_LEASE, nkp_seq_id, owner, next_query_at, now).await
}

/// Claims up to `limit` processing refunds whose query is due at `now`.
pub async fn claim_due_refunds(
    db: &Db,
    owner: &str,
    now: DateTime<Utc>,
    lease: TimeDelta,
    limit: u64,
) -> Result<Vec<refund::Model>, StoreError> {
    let mut rows =
        lease::claim::<refund::Entity>(db, &REFUND_LEASE, owner, now, lease, limit).await?;
    rows.sort_by_key(|r| (r.next_query_at, r.id));
    Ok(rows)
}

/// [`reschedule_trade`] for refunds.
pub async fn reschedule_refund(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    owner: &str,
    next_query_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    reschedule(conn, &REFUND_LEASE, nkp_seq_id, owner, next_query_at, now).await
}

async fn reschedule(
    conn: &impl ConnectionTrait,
    cols: &LeaseColumns,
    nkp_seq_id: &str,
    owner: &str,
    next_query_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let LeaseColumns {
        table,
        due_at,
        owner: owner_col,
        until,
        ..
    } = cols;
    // Identifiers are compile-time constants of this module, never input.
    let sql = format!(
        "UPDATE {table} SET {due_at} = $1, query_attempts = query_attempts + 1, \
         {owner_col} = NULL, {until} = NULL, updated_at = $2 \
         WHERE nkp_seq_id = $3 AND {owner_col} = $4"
    );
    let stmt = Statement::from_sql_and_values(
        conn.get_database_backend(),
        sql,
        [
            next_query_at.into(),
            now.into(),
            nkp_seq_id.into(),
            owner.into(),
        ],
    );
    Ok(conn.execute_raw(stmt).await?.rows_affected() == 1)
}
