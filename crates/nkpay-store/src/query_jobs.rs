//! The "nobody called back" jobs: trades and refunds still processing whose `next_query_at`
//! has come are claimed under a lease (the crate's private `lease` module), queried at the
//! channel, then either finalized (which ends the job) or rescheduled here.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, Statement};

use crate::db::Db;
use crate::entity::{refund, trade};
use crate::error::StoreError;
use crate::lease::{self, LeaseColumns};

pub(crate) const TRADE_LEASE: LeaseColumns = LeaseColumns {
    table: "trades",
    status: "status",
    due_status: "P",
    due_at: "next_query_at",
    owner: "query_lease_owner",
    until: "query_lease_until",
};

pub(crate) const REFUND_LEASE: LeaseColumns = LeaseColumns {
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

/// Gives a claimed trade back untouched (the node is stopping before it worked on it): due
/// as before, claimable at once. `false` when `owner` no longer holds it.
pub async fn release_trade(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    release(conn, &TRADE_LEASE, nkp_seq_id, owner, now).await
}

/// [`release_trade`] for refunds.
pub async fn release_refund(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    release(conn, &REFUND_LEASE, nkp_seq_id, owner, now).await
}

/// Gives back every trade and refund `owner` still holds (a node that has stopped working:
/// whatever it claimed and did not finish is claimable at once). How many rows.
pub async fn release_all(
    conn: &impl ConnectionTrait,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let trades = free(conn, &TRADE_LEASE, None, owner, now).await?;
    Ok(trades + free(conn, &REFUND_LEASE, None, owner, now).await?)
}

async fn release(
    conn: &impl ConnectionTrait,
    cols: &LeaseColumns,
    nkp_seq_id: &str,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(free(conn, cols, Some(nkp_seq_id), owner, now).await? == 1)
}

/// Clears the lease of the rows `owner` holds: the one named `nkp_seq_id`, or all of them.
async fn free(
    conn: &impl ConnectionTrait,
    cols: &LeaseColumns,
    nkp_seq_id: Option<&str>,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let LeaseColumns {
        table,
        owner: owner_col,
        until,
        ..
    } = cols;
    let one = if nkp_seq_id.is_some() {
        " AND nkp_seq_id = $3"
    } else {
        ""
    };
    // Identifiers are compile-time constants of this module, never input.
    let sql = format!(
        "UPDATE {table} SET {owner_col} = NULL, {until} = NULL, updated_at = $1 \
         WHERE {owner_col} = $2{one}"
    );
    let mut values = vec![now.into(), owner.into()];
    if let Some(id) = nkp_seq_id {
        values.push(id.into());
    }
    let stmt = Statement::from_sql_and_values(conn.get_database_backend(), sql, values);
    Ok(conn.execute_raw(stmt).await?.rows_affected())
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
