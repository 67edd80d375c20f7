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
    /// The status value a row must have to be due; written into the SQL as a literal, so it
    /// must not contain a quote.
    pub due_status: &'static str,
    pub due_at: &'static str,
    pub owner: &'static str,
    pub until: &'static str,
}

/// Claims up to `limit` rows due at `now` for `owner` until `now + lease`, oldest due first.
/// The statement runs through [`Db::write`]: on SQLite it joins the write queue's batch on the
/// server's runtime whatever thread the claimer is on (the jobs' thread runs at a lower CPU
/// priority, and a claim polled late while holding the one writer connection would keep the
/// requests' writes waiting).
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
    E::Model: FromQueryResult + Send + 'static,
{
    let stmt = claim_statement(db.backend(), cols, owner, now, lease, limit);
    db.write(move |w| async move { Ok(E::find().from_raw_sql(stmt).all(&w.executor()).await?) })
        .await
}

/// The one statement of [`claim`] for `backend`.
pub(crate) fn claim_statement(
    backend: DbBackend,
    cols: &LeaseColumns,
    owner: &str,
    now: DateTime<Utc>,
    lease: TimeDelta,
    limit: u64,
) -> Statement {
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
    // Identifiers and the due state are compile-time constants of this crate, never input.
    // The state is a literal, not a parameter: a partial index `WHERE status = 'P'` (the
    // channel-query jobs', migration m20261130_063000) serves a cached generic plan only when
    // the statement names the state itself.
    let sql = format!(
        "UPDATE {table} SET {owner_col} = $1, {until} = $2 \
         WHERE id IN (SELECT id FROM {table} \
           WHERE {status} = '{due_status}' AND {due_at} <= $3 \
             AND ({until} IS NULL OR {until} <= $3) \
           ORDER BY {due_at}, id LIMIT $4{lock}) \
         RETURNING *"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Statement::from_sql_and_values(
        backend,
        sql,
        [owner.into(), (now + lease).into(), now.into(), limit.into()],
    )
}
