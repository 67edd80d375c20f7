//! The statement job: once the day has closed and the configured time
//! (`statements.generate_at`, Asia/Shanghai) has passed, it makes the previous day's files —
//! and, on the 1st, the previous month's — once across every node.
//!
//! On PostgreSQL a round runs under the advisory lock [`LOCK_KEY`] through
//! [`crate::singleton::run_alone`]: a node that does not get it skips the round; the holder
//! renews it every [`LOCK_RENEWAL`], and a run whose lock connection died is abandoned at once,
//! so a second node that took the lock never races it. A node that dies mid-run loses the lock
//! with its connection; its `statement_runs` row stays `P` and the next holder makes the day
//! again. The SQLite default runs one node, without a lock.
//!
//! A day or month already made (`S`, not partial) is left alone; a failed, partial or
//! interrupted one is made again on the next round.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{GenerateReport, Period};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::observability::{self, Job};
use crate::shanghai_time;
use crate::singleton;

/// How often the lock holder proves its lock is still held ([`singleton::RENEWAL`]).
pub const LOCK_RENEWAL: Duration = singleton::RENEWAL;
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

/// The month the job should have made by `now`: the last month that closed on or before
/// [`due_day`].
pub fn due_month(engine: &Engine, now: DateTime<Utc>) -> Period {
    let next = due_day(engine, now) + chrono::Days::new(1);
    Period::month_of(next.with_day(1).unwrap_or(next) - chrono::Days::new(1))
}

/// One round at real time `now` (UTC): makes the due day ([`due_day`]) and the due month
/// ([`due_month`]) unless they are made already or another node holds the lock. The whole
/// round runs on the scheduling clock (`now` shifted by `server.clock_offset_secs`,
/// [`crate::EngineConfig::scheduling_clock`]): which day is due, whether it has closed (a day
/// made before its end would be partial and made again every round), and the times its runs
/// and files are stamped with. The reports of what it made (empty when there was nothing to
/// do).
pub async fn run_due_once(
    engine: &Engine,
    now: DateTime<Utc>,
) -> Result<Vec<GenerateReport>, EngineError> {
    let clock = engine.config.scheduling_clock(now);
    let due = [
        Period::Day(due_day(engine, clock)),
        due_month(engine, clock),
    ];
    if pending(engine, &due).await?.is_empty() {
        return Ok(Vec::new());
    }
    // Another node may have finished while this one waited for the lock: look again inside.
    let made = singleton::run_alone(engine.db(), LOCK_KEY, "statement job", || async {
        make(engine, &pending(engine, &due).await?, clock).await
    })
    .await?;
    Ok(made.unwrap_or_default())
}

async fn make(
    engine: &Engine,
    periods: &[Period],
    now: DateTime<Utc>,
) -> Result<Vec<GenerateReport>, EngineError> {
    let mut reports = Vec::new();
    for period in periods {
        // A day (or month) is due from `generate_at` on its file date.
        observability::scheduled_lag(
            Job::Statements,
            period.file_date(),
            engine.config.statements.generate_at,
            now,
        );
        reports.push(match period {
            Period::Day(d) => engine.statements().generate(*d, now).await?,
            Period::Month(m) => engine.statements().generate_month(*m, now).await?,
        });
    }
    Ok(reports)
}

/// The periods of `due` not yet made by a complete, non-partial run.
async fn pending(engine: &Engine, due: &[Period]) -> Result<Vec<Period>, EngineError> {
    let mut out = Vec::new();
    for period in due {
        let date = period.data_date().format(shanghai_time::DATE).to_string();
        let made = nkpay_store::statements::find_run(engine.db().conn(), &date, period.run_kind())
            .await?
            .is_some_and(|r| r.task_stat == "S" && !r.partial);
        if !made {
            out.push(*period);
        }
    }
    Ok(out)
}

/// Runs [`run_due_once`] every `statements.job_interval` until `shutdown` turns true or its
/// sender is dropped.
pub fn spawn(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let interval = engine.config.statements.job_interval;
        loop {
            let started = std::time::Instant::now();
            let round = run_due_once(&engine, Utc::now()).await;
            observability::job_round(Job::Statements, started.elapsed(), round.is_ok());
            match round {
                Ok(reports) => {
                    for report in reports {
                        tracing::info!(
                            data_date = %report.data_date,
                            files = report.files.len(),
                            "statement files made"
                        );
                    }
                }
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
