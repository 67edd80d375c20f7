//! The trade job: for processing trades whose time has come it asks the channel (nobody called
//! back), repeats creates whose outcome was left unknown, closes expired ones (and those whose
//! create stayed unknown) upstream and here, and carries out closes the channel did not allow
//! yet. Any number of nodes may run it: each trade is claimed under a lease first, so two
//! nodes never work on the same trade, and a dead node's claims come back when they expire.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use nkpay_core::state::TradeStatus;
use nkpay_store::entity::trade;
use nkpay_store::incidents;
use nkpay_store::query_jobs::{self, Reschedule};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::delta;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::observability::{self, Job};
use crate::payments::CloseOutcome;
use crate::payments::finalize::Applied;
use crate::payments::unknown_create::create_given_up;

/// The incident opened when a trade is still processing after `query_max_attempts` queries:
/// the job stops asking and an operator looks.
const QUERY_GAVE_UP: &str = "query_gave_up";

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobReport {
    /// Trades claimed this round.
    pub claimed: usize,
    /// Trades that reached a final state (paid, failed or closed) in this round.
    pub finished: usize,
    /// Trades left processing and given their next time.
    pub rescheduled: usize,
    /// Trades whose create, left without an outcome, was repeated (also counted as
    /// rescheduled).
    pub creates_repeated: usize,
    /// Trades whose work failed (storage or configuration); their lease runs out and they come
    /// back.
    pub errors: usize,
}

/// What working on one trade came to. A trade left processing carries its next query time
/// (`None`: the job stopped asking), written for the whole round at once.
enum Step {
    Finished,
    Rescheduled(Reschedule),
    /// The create was repeated; the trade waits for its payer or its next repeat.
    CreateRepeated(Reschedule),
}

/// One round at time `now`: claim due trades and work on them.
pub async fn run_trades_once(
    engine: &Engine,
    now: DateTime<Utc>,
) -> Result<JobReport, EngineError> {
    if engine.is_stopping() {
        return Ok(JobReport::default());
    }
    let claimed = query_jobs::claim_due_trades(
        &engine.db,
        &engine.job_owner,
        now,
        delta(engine.config.job_lease),
        engine.config.job_batch,
    )
    .await?;
    for t in &claimed {
        if let Some(due) = t.next_query_at {
            observability::job_lag(Job::Trade, due, now);
        }
    }
    let mut report = JobReport {
        claimed: claimed.len(),
        ..JobReport::default()
    };
    let (steps, errors) = work_on(
        engine,
        QueryJob::Trade,
        claimed,
        |t| t.nkp_seq_id.clone(),
        |t| async move { work(engine, &t, now).await },
    )
    .await;
    report.errors = errors;
    let mut left = Vec::new();
    for step in steps {
        match step {
            Step::Finished => report.finished += 1,
            Step::Rescheduled(row) => left.push(row),
            Step::CreateRepeated(row) => {
                report.creates_repeated += 1;
                left.push(row);
            }
        }
    }
    match QueryJob::Trade.reschedule(engine, left, now).await {
        Ok(n) => report.rescheduled = n,
        Err(n) => report.errors += n,
    }
    Ok(report)
}

async fn work(engine: &Engine, t: &trade::Model, now: DateTime<Utc>) -> Result<Step, EngineError> {
    let allowed_at = engine
        .channels
        .get(t.channel_account_id)
        .await?
        .earliest_close(t.created_at);
    // A create left unknown whose repeats are used up is closed like one the merchant closed.
    let given_up = create_given_up(&engine.config, t);
    let close = CloseTimes::of(
        t.time_expire,
        t.close_requested_at.is_some() || given_up,
        allowed_at,
        delta(engine.config.expiry_grace),
        now,
    );
    let mut repeated = false;
    let finished = if close.owed {
        // Nothing to do before the channel allows the close: the next round is at that moment.
        now >= close.at
            && match engine.payments().carry_out_close(t, now).await? {
                CloseOutcome::Closed | CloseOutcome::Paid => true,
                CloseOutcome::Deferred | CloseOutcome::Refused { .. } => false,
            }
    } else if t.create_unknown_at.is_some() {
        // Asking about an order nobody can pay yet says nothing: place it again.
        engine.payments().repeat_create(t, now).await?;
        repeated = true;
        false
    } else {
        let (fresh, applied) = engine.payments().refresh(t, now).await?;
        matches!(applied, Applied::Finalized(_) | Applied::AlreadyFinal(_))
            || fresh.status != TradeStatus::Processing
    };
    if finished {
        return Ok(Step::Finished);
    }
    let next = Reschedule {
        nkp_seq_id: t.nkp_seq_id.clone(),
        next_query_at: next_query_at(engine, t, &close, now).await?,
    };
    Ok(if repeated {
        Step::CreateRepeated(next)
    } else {
        Step::Rescheduled(next)
    })
}

/// The close the job owes a processing trade, and when it may carry it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CloseTimes {
    /// The close is owed now: the merchant asked for it (or the trade's create stayed unknown),
    /// or the trade is past `time_expire` + `expiry_grace`.
    owed: bool,
    /// The earliest moment (UTC) the close may be carried out: when the channel allows it
    /// (`Channel::earliest_close`; WeChat: 5 minutes after the order), and for the expiry close
    /// no earlier than `time_expire` + `expiry_grace`.
    at: DateTime<Utc>,
}

impl CloseTimes {
    /// For a trade expiring at `time_expire` whose close is asked for or not (`close_requested`:
    /// by the merchant, or because its create stayed unknown), which the channel allows closing
    /// from `allowed_at`.
    fn of(
        time_expire: DateTime<Utc>,
        close_requested: bool,
        allowed_at: DateTime<Utc>,
        expiry_grace: TimeDelta,
        now: DateTime<Utc>,
    ) -> CloseTimes {
        let expiry_at = time_expire
            .checked_add_signed(expiry_grace)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        if close_requested {
            return CloseTimes {
                owed: true,
                at: allowed_at,
            };
        }
        CloseTimes {
            owed: now >= expiry_at,
            at: allowed_at.max(expiry_at),
        }
    }

    /// The trade's next round after one that left it processing: the moment an owed close
    /// becomes allowed (not the back-off, which could come minutes later); the back-off
    /// otherwise, but no later than that moment.
    fn next_round(&self, backoff_at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
        if self.at <= now {
            // Allowed already: the close (or query) was refused or unclear; the back-off.
            backoff_at
        } else if self.owed {
            self.at
        } else {
            backoff_at.min(self.at)
        }
    }
}

/// The next time of a trade still processing ([`CloseTimes::next_round`]), or none after
/// `query_max_attempts` rounds (an incident for an operator).
async fn next_query_at(
    engine: &Engine,
    t: &trade::Model,
    close: &CloseTimes,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, EngineError> {
    let config = &engine.config;
    let attempts = t.query_attempts.saturating_add(1);
    if attempts < config.query_max_attempts {
        return Ok(Some(
            close.next_round(now + delta(config.query_delay(attempts)), now),
        ));
    }
    let detail = format!(
        "trade {} is still processing after {attempts} channel queries; the job stopped asking",
        t.nkp_seq_id
    );
    incidents::open_incident(
        engine.db.conn(),
        QUERY_GAVE_UP,
        Some(&t.nkp_seq_id),
        &detail,
        now,
    )
    .await?;
    Ok(None)
}

/// Which query job claimed the rows [`work_on`] works on: it names the job in logs and gives
/// back the rows not started when the node stops.
#[derive(Debug, Clone, Copy)]
pub(crate) enum QueryJob {
    Trade,
    Refund,
}

impl QueryJob {
    fn name(self) -> &'static str {
        match self {
            QueryJob::Trade => "trade",
            QueryJob::Refund => "refund",
        }
    }

    /// Writes the next times of the rows a round left processing, all at once, on the
    /// writer's runtime ([`nkpay_store::Db::write`], as the claim); `Ok` with how many, or
    /// `Err` with how many when the write failed (logged; their leases run out and they come
    /// back, as after any failed work).
    pub(crate) async fn reschedule(
        self,
        engine: &Engine,
        rows: Vec<Reschedule>,
        now: DateTime<Utc>,
    ) -> Result<usize, usize> {
        let n = rows.len();
        let owner = engine.job_owner().to_owned();
        let written = engine
            .db
            .write(move |w| async move {
                let (conn, owner) = (&w.executor(), owner.as_str());
                match self {
                    QueryJob::Trade => query_jobs::reschedule_trades(conn, &rows, owner, now).await,
                    QueryJob::Refund => {
                        query_jobs::reschedule_refunds(conn, &rows, owner, now).await
                    }
                }
            })
            .await;
        match written {
            Ok(_) => Ok(n),
            Err(e) => {
                tracing::warn!(job = self.name(), rows = n, error = %e, "rescheduling the round failed; its rows come back when their leases end");
                Err(n)
            }
        }
    }

    async fn release(self, engine: &Engine, nkp_seq_id: &str) -> Result<bool, EngineError> {
        let (conn, owner, now) = (engine.db.conn(), engine.job_owner(), Utc::now());
        Ok(match self {
            QueryJob::Trade => query_jobs::release_trade(conn, nkp_seq_id, owner, now).await?,
            QueryJob::Refund => query_jobs::release_refund(conn, nkp_seq_id, owner, now).await?,
        })
    }
}

/// Works on claimed rows, `job_concurrency` at a time, and hands back what each finished
/// with, plus how many failed: those are logged under `job` and come back when their lease
/// runs out. Once the node is stopping ([`crate::Context::stop_taking_work`]) rows not yet
/// started are given back at once instead, for another node to take.
pub(crate) async fn work_on<T, S, F, Fut>(
    engine: &Engine,
    job: QueryJob,
    rows: Vec<T>,
    id: fn(&T) -> String,
    work: F,
) -> (Vec<S>, usize)
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<S, EngineError>>,
{
    let results: Vec<(String, Option<Result<S, EngineError>>)> = futures::stream::iter(rows)
        .map(|row| {
            let key = id(&row);
            let done = (!engine.is_stopping()).then(|| work(row));
            async move {
                match done {
                    Some(done) => (key, Some(done.await)),
                    None => (key, None),
                }
            }
        })
        .buffer_unordered(engine.config.job_concurrency.max(1))
        .collect()
        .await;
    let mut finished = Vec::with_capacity(results.len());
    let mut errors = 0;
    let job_name = job.name();
    for (nkp_seq_id, result) in results {
        match result {
            Some(Ok(s)) => finished.push(s),
            Some(Err(e)) => {
                tracing::warn!(job = job_name, %nkp_seq_id, error = %e, "job work failed; it comes back when its lease ends");
                errors += 1;
            }
            None => {
                if let Err(e) = job.release(engine, &nkp_seq_id).await {
                    tracing::warn!(job = job_name, %nkp_seq_id, error = %e, "giving back a claim failed; it comes back when its lease ends");
                }
            }
        }
    }
    (finished, errors)
}

/// Runs [`run_trades_once`] every `job_interval` (at once again after a full batch) until
/// `shutdown` turns true or its sender is dropped.
pub fn spawn(engine: Arc<Engine>, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    spawn_rounds(engine, Job::Trade, shutdown, |engine| async move {
        let report = run_trades_once(&engine, Utc::now()).await?;
        if report.claimed > 0 {
            tracing::debug!(?report, "trade job round");
        }
        Ok(report.claimed)
    })
}

/// The loop of every job: runs `round` every `job_interval`, at once again after a full batch
/// (`round` answers how many rows it claimed), until `shutdown` turns true or its sender is
/// dropped. Each round is counted and timed under `job` ([`observability::JOB_RUNS`]).
pub(crate) fn spawn_rounds<F, Fut>(
    engine: Arc<Engine>,
    job: Job,
    mut shutdown: watch::Receiver<bool>,
    round: F,
) -> JoinHandle<()>
where
    F: Fn(Arc<Engine>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<usize, EngineError>> + Send,
{
    tokio::spawn(async move {
        let interval = engine.config.job_interval;
        let name = job.as_str();
        loop {
            let started = std::time::Instant::now();
            let result = round(engine.clone()).await;
            observability::job_round(job, started.elapsed(), result.is_ok());
            let full = match result {
                Ok(claimed) => {
                    u64::try_from(claimed).unwrap_or(u64::MAX) >= engine.config.job_batch
                }
                Err(e) => {
                    tracing::warn!(job = name, error = %e, "job round failed");
                    false
                }
            };
            if *shutdown.borrow() {
                break;
            }
            if full {
                continue;
            }
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
                _ = tokio::time::sleep(interval) => {}
            }
        }
        tracing::info!(job = name, "job stopped");
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: i64, second: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()
            + TimeDelta::minutes(minute)
            + TimeDelta::seconds(second)
    }

    const GRACE: TimeDelta = TimeDelta::seconds(60);

    #[test]
    fn an_expired_wechat_trade_is_closed_when_closing_becomes_allowed_not_on_the_back_off() {
        // Ordered at 0:00 with time_expire 1:30: expiry close owed from 2:30, WeChat allows
        // closing from 5:00.
        let allowed = at(5, 0);
        let close = CloseTimes::of(at(1, 30), false, allowed, GRACE, at(2, 30));
        assert_eq!(
            close,
            CloseTimes {
                owed: true,
                at: allowed
            }
        );
        // The back-off (5 minutes at this point) would make it 7:30.
        assert_eq!(close.next_round(at(7, 30), at(2, 30)), allowed);
        assert_eq!(close.next_round(at(2, 40), at(2, 30)), allowed);
    }

    #[test]
    fn before_expiry_the_back_off_runs_but_never_past_the_expiry_close() {
        // Ordered at 0:00, expiring at 10:00: the close comes at 11:00 (allowed since 5:00).
        let close = CloseTimes::of(at(10, 0), false, at(5, 0), GRACE, at(8, 0));
        assert_eq!(
            close,
            CloseTimes {
                owed: false,
                at: at(11, 0)
            }
        );
        assert_eq!(close.next_round(at(8, 10), at(8, 0)), at(8, 10));
        assert_eq!(close.next_round(at(13, 0), at(8, 0)), at(11, 0));
        // Expiring before WeChat allows a close: no round at the expiry, one at 5:00.
        let early = CloseTimes::of(at(1, 30), false, at(5, 0), GRACE, at(0, 10));
        assert_eq!((early.owed, early.at), (false, at(5, 0)));
    }

    #[test]
    fn a_requested_close_waits_for_the_channel_then_retries_on_the_back_off() {
        let close = CloseTimes::of(at(60, 0), true, at(5, 0), GRACE, at(1, 0));
        assert_eq!(
            close,
            CloseTimes {
                owed: true,
                at: at(5, 0)
            }
        );
        assert_eq!(close.next_round(at(1, 10), at(1, 0)), at(5, 0));
        // Allowed, but the channel's answer was unclear: the back-off.
        let later = CloseTimes::of(at(60, 0), true, at(5, 0), GRACE, at(6, 0));
        assert_eq!(later.next_round(at(6, 10), at(6, 0)), at(6, 10));
    }
}
