//! Claiming due rows under a lease, the one mechanism behind the notification dispatcher and
//! the channel-query jobs. A claim stamps `owner` and `lease_until` on up to `limit` due rows
//! whose lease is free or expired, so rows held by a node that died come back once its lease
//! runs out, and two claimers never hold the same row at the same time.
//!
//! PostgreSQL picks the rows with `FOR UPDATE SKIP LOCKED`, so concurrent claimers take
//! different rows instead of queueing on the same ones. SQLite runs the same UPDATE as one
//! statement, which SQLite executes under its single write lock: atomic by construction.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{DbBackend, EntityTrait, FromQueryResult, Statement};

use crate::db::Db;
use crate::error::StoreError;

/// Which columns of a table carry the lease.
pub(crate) struct LeaseColumns {
    pub table: &'static str,
    pub status: &'static str,
    /// The status value a row must have to be due.
    pub due_status: &'static str,
    pub due_at: &'static str,
    pub owner: &'static str,
    pub until: &'static str,
}

/// Claims up to `limit` rows due at `now` for `owner` until `now + lease`, oldest due first.
pub(crate) async fn claim<E>(
    db: &Db,
    cols: &LeaseColumns,
    owner: &str,
    now: DateTime<Utc>,
    lease: TimeDelta,
    limit: u64,
) -> Result<Vec<E::Model>, StoreError>
where
    E: EntityTrait,
    E::Model: FromQueryResult,
{
    let backend = db.backend();
    let lock = match backend {
        DbBackend::Postgres => " FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    let LeaseColumns {
        table,
        status,
        due_status,
        due_at,
        owner: owner_col,
        until,
    } = cols;
    // Identifiers are compile-time constants of this crate, never input.
    let sql = format!(
        "UPDATE {table} SET {owner_col} = $1, {until} = $2 \
         WHERE id IN (SELECT id FROM {table} \
           WHERE {status} = $3 AND {due_at} <= $4 AND ({until} IS NULL OR {until} <= $4) \
           ORDER BY {due_at}, id LIMIT $5{lock}) \
         RETURNING *"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let stmt = Statement::from_sql_and_values(
        backend,
        sql,
        [
            owner.into(),
            (now + lease).into(),
            (*due_status).into(),
            now.into(),
            limit.into(),
        ],
    );
    Ok(E::find().from_raw_sql(stmt).all(db.conn()).await?)
}
