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

/// A row a query round left processing, and its next query time (`None`: stop querying).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reschedule {
    /// The trade's (or refund's) `nkp_seq_id`.
    pub nkp_seq_id: String,
    /// When it is next due (UTC), or `None` once the job has given up asking.
    pub next_query_at: Option<DateTime<Utc>>,
}

/// After a job round's queries that did not finalize its trades: for each row count the
/// attempt, set its next time and free the lease `owner` holds, in one statement per 64 rows
/// instead of one per trade (issue 16: the per-trade statements queued on SQLite's one writer
/// connection beside the creates). A row `owner` no longer holds is left alone. How many rows
/// were updated.
pub async fn reschedule_trades(
    conn: &impl ConnectionTrait,
    rows: &[Reschedule],
    owner: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    reschedule_many(conn, &TRADE_LEASE, rows, owner, now).await
}

/// [`reschedule_trades`] for refunds.
pub async fn reschedule_refunds(
    conn: &impl ConnectionTrait,
    rows: &[Reschedule],
    owner: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    reschedule_many(conn, &REFUND_LEASE, rows, owner, now).await
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

/// The most rows one statement of [`reschedule_many`] carries; a longer list is written in
/// several statements.
const RESCHEDULE_CHUNK: usize = 64;

/// Reschedules `rows` that `owner` holds (see [`reschedule_trades`]) in one statement per
/// [`RESCHEDULE_CHUNK`] rows. A chunk is padded to the next power of two by repeating its last
/// row (the same id with the same time: no effect), so at most seven statement texts exist
/// and the connection's prepared-statement cache keeps them. How many rows were updated.
async fn reschedule_many(
    conn: &impl ConnectionTrait,
    cols: &LeaseColumns,
    rows: &[Reschedule],
    owner: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let LeaseColumns {
        table,
        due_at,
        owner: owner_col,
        until,
        ..
    } = cols;
    let mut updated = 0;
    for chunk in rows.chunks(RESCHEDULE_CHUNK) {
        let Some(last) = chunk.last() else { continue };
        let width = chunk.len().next_power_of_two();
        let padded = chunk
            .iter()
            .chain(std::iter::repeat_n(last, width - chunk.len()));
        let mut values: Vec<sea_orm::Value> = vec![now.into(), owner.into()];
        let mut cases = String::new();
        let mut ids = String::new();
        for (i, row) in padded.enumerate() {
            let (id, at) = (3 + 2 * i, 4 + 2 * i);
            cases.push_str(&format!(" WHEN ${id} THEN ${at}"));
            if i > 0 {
                ids.push_str(", ");
            }
            ids.push_str(&format!("${id}"));
            values.push(row.nkp_seq_id.as_str().into());
            values.push(row.next_query_at.into());
        }
        // Identifiers are compile-time constants of this module, never input; every value is
        // a bound parameter (an id parameter serves both its WHEN and the IN list).
        let sql = format!(
            "UPDATE {table} SET {due_at} = CASE nkp_seq_id{cases} END, \
             query_attempts = query_attempts + 1, \
             {owner_col} = NULL, {until} = NULL, updated_at = $1 \
             WHERE nkp_seq_id IN ({ids}) AND {owner_col} = $2"
        );
        let stmt = Statement::from_sql_and_values(conn.get_database_backend(), sql, values);
        updated += conn.execute_raw(stmt).await?.rows_affected();
    }
    Ok(updated)
}
