//! The reconciliation job: once the channels have published yesterday's bills (after
//! [`Schedule::run_after`], Asia/Shanghai — WeChat Pay publishes after 10:00, Alipay's trade
//! bill is ready in the morning), it reconciles yesterday for every active channel account that
//! has no finished run of that day yet. `nkpay serve` starts it with the `[reconciliation]`
//! settings (docs/statements.md).
//!
//! One node at a time: on PostgreSQL a round runs under the advisory lock [`LOCK_KEY`] through
//! [`crate::singleton::run_alone`] (renewed while it runs; a node that does not get it skips
//! the round), so nodes started together make one run per account and day. The SQLite default
//! runs one node, without a lock.
//!
//! Inside the round an account and day is skipped when it has a `done` run, or a `running` one
//! younger than [`Schedule::stale_after`] — one an operator started through the admin API, or
//! one whose node died (after that it is run again). Healing is idempotent in any case:
//! finalizing is once, the recovery refund is keyed by its fixed request number, incidents open
//! once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Asia::Shanghai;
use nkpay_store::accounts;
use nkpay_store::entity::reconciliation_run;
use nkpay_store::kinds::RecordStatus;
use nkpay_store::reconciliation::{self as store, RunStatus};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::delta;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::observability::{self, Job};
use crate::singleton;

/// The PostgreSQL advisory lock's key (the bytes of "nkpayrc"): one reconciliation job across
/// every node.
pub const LOCK_KEY: i64 = 0x006e_6b70_6179_7263;

/// When the job reconciles and how often it looks.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Asia/Shanghai time of day after which yesterday's bills are asked for.
    pub run_after: NaiveTime,
    /// How often the job looks for a day to reconcile.
    pub interval: Duration,
    /// A `running` run older than this is taken for dead and the day run again.
    pub stale_after: Duration,
}

impl Default for Schedule {
    /// 10:30 Asia/Shanghai, looked at every 10 minutes; a run is stale after an hour.
    fn default() -> Self {
        Schedule {
            run_after: NaiveTime::from_hms_opt(10, 30, 0).unwrap_or(NaiveTime::MIN),
            interval: Duration::from_secs(600),
            stale_after: Duration::from_secs(3600),
        }
    }
}

/// The bill day the job should have reconciled by `now`: yesterday once `run_after` has passed
/// today (Asia/Shanghai), else the day before yesterday.
pub fn due_day(schedule: &Schedule, now: DateTime<Utc>) -> NaiveDate {
    let local = now.with_timezone(&Shanghai);
    let back = if local.time() >= schedule.run_after {
        1
    } else {
        2
    };
    local.date_naive() - chrono::Days::new(back)
}

/// One round: reconciles [`due_day`] for every active channel account not yet done, unless
/// another node holds the lock (see the module docs). The runs it made, in account order
/// (empty when there was nothing to do or another node is at it).
pub async fn run_due_once(
    engine: &Engine,
    schedule: &Schedule,
    now: DateTime<Utc>,
) -> Result<Vec<reconciliation_run::Model>, EngineError> {
    let made = singleton::run_alone(engine.db(), LOCK_KEY, "reconciliation job", || {
        reconcile_due(engine, schedule, now)
    })
    .await?;
    Ok(made.unwrap_or_default())
}

/// The round's work, under the lock: every active account whose due day is not covered. The
/// due day is read on the scheduling clock (`now` shifted by `server.clock_offset_secs`,
/// [`crate::EngineConfig::scheduling_clock`]); staleness on the real clock.
async fn reconcile_due(
    engine: &Engine,
    schedule: &Schedule,
    now: DateTime<Utc>,
) -> Result<Vec<reconciliation_run::Model>, EngineError> {
    let day = due_day(schedule, engine.config.scheduling_clock(now));
    let date = day.format("%Y%m%d").to_string();
    let conn = engine.db().conn();
    let mut made = Vec::new();
    for account in accounts::list_channel_accounts(conn).await? {
        if account.status != RecordStatus::Active {
            continue;
        }
        let runs = store::list_runs(conn, Some(account.id), Some(&date), i64::MAX, 50).await?;
        let covered = runs.iter().any(|r| match r.status {
            RunStatus::Done => true,
            RunStatus::Running => now - r.started_at < delta(schedule.stale_after),
            RunStatus::Failed => false,
        });
        if covered {
            continue;
        }
        // A bill day is due from `run_after` the next day.
        observability::scheduled_lag(
            Job::Reconciliation,
            day + chrono::Days::new(1),
            schedule.run_after,
            now,
        );
        made.push(
            engine
                .reconciliation()
                .run_by(account.id, day, Some("job"))
                .await?,
        );
    }
    Ok(made)
}

/// Runs [`run_due_once`] every `schedule.interval` until `shutdown` turns true or its sender
/// is dropped.
pub fn spawn(
    engine: Arc<Engine>,
    schedule: Schedule,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let started = std::time::Instant::now();
            let round = run_due_once(&engine, &schedule, Utc::now()).await;
            observability::job_round(Job::Reconciliation, started.elapsed(), round.is_ok());
            match round {
                Ok(runs) => {
                    for run in runs {
                        tracing::info!(
                            run = run.id,
                            account = run.channel_account_id,
                            bill_date = run.bill_date,
                            status = run.status.as_str(),
                            differences = run.differences,
                            "reconciliation job run"
                        );
                    }
                }
                Err(e) => tracing::error!(error = %e, "reconciliation job round failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(schedule.interval) => {}
                changed = shutdown.wait_for(|stopped| *stopped) => {
                    let _ = changed;
                    return;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn due_day_is_yesterday_only_after_the_bills_are_out() {
        let s = Schedule::default();
        // 10:29 and 10:30 Asia/Shanghai on 2026-11-30 are 02:29 and 02:30 UTC.
        let before = Utc.with_ymd_and_hms(2026, 11, 30, 2, 29, 0).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 11, 30, 2, 30, 0).unwrap();
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        assert_eq!(due_day(&s, before), d(11, 28));
        assert_eq!(due_day(&s, after), d(11, 29));
        // 23:30 UTC on the 29th is already the 30th, 07:30, in Shanghai.
        let late = Utc.with_ymd_and_hms(2026, 11, 29, 23, 30, 0).unwrap();
        assert_eq!(due_day(&s, late), d(11, 28));
    }
}
