//! One node at a time: a background job's round runs while this node holds a PostgreSQL
//! transaction-scoped advisory lock (`pg_try_advisory_xact_lock`), so a job started on every
//! node does its work once across them.
//!
//! [`run_alone`] asks for the lock without waiting: a node that does not get it skips the round
//! (`Ok(None)`). The holder renews it every [`RENEWAL`] by asking again on the same transaction,
//! which proves its connection — and so the lock — is still alive; when that fails the work is
//! abandoned at once (its future dropped), so a second node that took the lock never races it.
//! A node that dies mid-round loses the lock with its connection. Committing the transaction
//! at the end releases the lock.
//!
//! Each job has its own key (an `i64`, the bytes of a short ASCII name:
//! [`crate::statements::job::LOCK_KEY`], [`crate::reconciliation::job::LOCK_KEY`],
//! [`crate::businesses::jobs::LOCK_KEY`], [`crate::statements::contents::PURGE_LOCK_KEY`]). The
//! SQLite default runs one node: there the work simply runs.

use std::future::Future;
use std::time::Duration;

use nkpay_store::{Db, StoreError};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, TransactionTrait};

use crate::error::EngineError;

/// How often the lock holder proves its lock is still held.
pub const RENEWAL: Duration = Duration::from_secs(10);

/// Runs `work` while holding advisory lock `key` (PostgreSQL), renewing it every [`RENEWAL`];
/// `Ok(None)` without running it when another session holds the lock; on SQLite runs it
/// unlocked. `job` names the job in the error of a lost lock.
///
/// `work` is called only once the lock is held, so it should look again at what is due:
/// another node may have finished the same work while this one asked.
///
/// Errors: `work`'s own; [`EngineError::Internal`] when the lock (its connection) is lost
/// mid-run — `work` is then abandoned — or the lock cannot be asked for.
pub async fn run_alone<T, F, Fut>(
    db: &Db,
    key: i64,
    job: &str,
    work: F,
) -> Result<Option<T>, EngineError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, EngineError>>,
{
    if db.backend() != DbBackend::Postgres {
        return work().await.map(Some);
    }
    let tx = db.conn().begin().await.map_err(StoreError::from)?;
    if !try_lock(&tx, key).await? {
        tx.rollback().await.map_err(StoreError::from)?;
        return Ok(None);
    }
    let result = tokio::select! {
        r = work() => r,
        e = keep_lock(&tx, key, job) => Err(e),
    };
    // Commit ends the transaction and with it the lock.
    tx.commit().await.map_err(StoreError::from)?;
    result.map(Some)
}

/// Asks for lock `key` on `tx` without waiting: whether this session holds it now.
async fn try_lock(tx: &DatabaseTransaction, key: i64) -> Result<bool, EngineError> {
    let row = tx
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock($1) AS locked",
            [key.into()],
        ))
        .await
        .map_err(StoreError::from)?;
    Ok(row
        .and_then(|r| r.try_get::<bool>("", "locked").ok())
        .unwrap_or(false))
}

/// Renews lock `key` every [`RENEWAL`]; returns (an error) only when it is lost.
async fn keep_lock(tx: &DatabaseTransaction, key: i64, job: &str) -> EngineError {
    loop {
        tokio::time::sleep(RENEWAL).await;
        match try_lock(tx, key).await {
            Ok(true) => continue,
            Ok(false) => {
                return EngineError::Internal(format!("{job} lost its advisory lock"));
            }
            Err(e) => {
                return EngineError::Internal(format!(
                    "{job} lock connection failed, run abandoned: {e}"
                ));
            }
        }
    }
}
