//! The statement job: once the day has closed and the configured time
//! (`statements.generate_at`, Asia/Shanghai) has passed, it makes the previous day's files,
//! once across every node.
//!
//! On PostgreSQL the run happens under a transaction-scoped advisory lock
//! (`pg_try_advisory_xact_lock`): a node that does not get it skips the round; the holder renews
//! it every [`LOCK_RENEWAL`] by asking again on the same transaction, which proves its
//! connection (and so the lock) is still alive — a run whose lock connection died is abandoned
//! at once, so a second node that took the lock never races it. A node that dies mid-run loses
//! the lock with its connection; its `statement_runs` row stays `P` and the next holder makes
//! the day again. The SQLite default runs one node, without a lock.
//!
//! A day already made (`S`, not partial) is left alone; a failed, partial or interrupted day
//! is made again on the next round.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, TransactionTrait};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::GenerateReport;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::shanghai_time;

/// How often the lock holder proves its lock is still held.
pub const LOCK_RENEWAL: Duration = Duration::from_secs(10);
/// The PostgreSQL advisory lock's key (the bytes of "nkpayst"): one statement job across
/// every node.
pub const LOCK_KEY: i64 = 0x006e_6b70_6179_7374;

/// The trade day the job should have made by `now`: yesterday once `generate_at` has passed
/// today (Asia/Shanghai), else the day before yesterday.
pub fn due_day(engine: &Engine, now: DateTime<Utc>) -> NaiveDate {
    let local = now.with_timezone(&Shanghai);
    let today = local.date_naive();
    let back = if local.time() >= engine.config.statements.generate_at {
        1
    } else {
        2
    };
    today - chrono::Days::new(back)
}

/// One round: makes the due day unless it is made already or another node holds the lock.
/// `Ok(None)` when there was nothing to do.
pub async fn run_due_once(
    engine: &Engine,
    now: DateTime<Utc>,
) -> Result<Option<GenerateReport>, EngineError> {
    let day = due_day(engine, now);
    if made(engine, day).await? {
        return Ok(None);
    }
    let db = engine.db();
    if db.backend() != DbBackend::Postgres {
        return engine.statements().generate(day, now).await.map(Some);
    }
    let tx = db
        .conn()
        .begin()
        .await
        .map_err(nkpay_store::StoreError::from)?;
    if !try_lock(&tx).await? {
        tx.rollback().await.map_err(nkpay_store::StoreError::from)?;
        return Ok(None);
    }
    // Another node may have finished the day while this one waited for the lock.
    let result = if made(engine, day).await? {
        Ok(None)
    } else {
        tokio::select! {
            r = engine.statements().generate(day, now) => r.map(Some),
            e = keep_lock(&tx) => Err(e),
        }
    };
    // Commit ends the transaction and with it the lock.
    tx.commit().await.map_err(nkpay_store::StoreError::from)?;
    result
}

/// Whether trade day `day` was made by a complete, non-partial run.
async fn made(engine: &Engine, day: NaiveDate) -> Result<bool, EngineError> {
    let date = day.format(shanghai_time::DATE).to_string();
    Ok(
        nkpay_store::statements::find_run(engine.db().conn(), &date, "daily")
            .await?
            .is_some_and(|r| r.task_stat == "S" && !r.partial),
    )
}

async fn try_lock(tx: &DatabaseTransaction) -> Result<bool, EngineError> {
    let row = tx
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock($1) AS locked",
            [LOCK_KEY.into()],
        ))
        .await
        .map_err(nkpay_store::StoreError::from)?;
    Ok(row
        .and_then(|r| r.try_get::<bool>("", "locked").ok())
        .unwrap_or(false))
}

/// Renews the lock every [`LOCK_RENEWAL`]; returns (an error) only when it is lost.
async fn keep_lock(tx: &DatabaseTransaction) -> EngineError {
    loop {
        tokio::time::sleep(LOCK_RENEWAL).await;
        match try_lock(tx).await {
            Ok(true) => continue,
            Ok(false) => {
                return EngineError::Internal("statement job lost its advisory lock".to_owned());
            }
            Err(e) => {
                return EngineError::Internal(format!(
                    "statement job lock connection failed, run abandoned: {e}"
                ));
            }
        }
    }
}

/// Runs [`run_due_once`] every `statements.job_interval` until `shutdown` turns true or its
/// sender is dropped.
pub fn spawn(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let interval = engine.config.statements.job_interval;
        loop {
            match run_due_once(&engine, Utc::now()).await {
                Ok(Some(report)) => tracing::info!(
                    data_date = %report.data_date,
                    files = report.files.len(),
                    "statement files made"
                ),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "statement job round failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                changed = shutdown.wait_for(|stopped| *stopped) => {
                    let _ = changed;
                    return;
                }
            }
        }
    })
}
