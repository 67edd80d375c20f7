//! The trade job: for processing trades whose time has come it asks the channel (nobody called
//! back), closes expired ones upstream and here, and carries out closes the channel did not
//! allow yet. Any number of nodes may run it: each trade is claimed under a lease first, so two
//! nodes never work on the same trade, and a dead node's claims come back when they expire.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use nkpay_core::state::TradeStatus;
use nkpay_store::entity::trade;
use nkpay_store::{incidents, query_jobs};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::delta;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::payments::CloseOutcome;
use crate::payments::finalize::Applied;

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
    /// Trades whose work failed (storage or configuration); their lease runs out and they come
    /// back.
    pub errors: usize,
}

enum Step {
    Finished,
    Rescheduled,
}

/// One round at time `now`: claim due trades and work on them.
pub async fn run_trades_once(
    engine: &Engine,
    now: DateTime<Utc>,
) -> Result<JobReport, EngineError> {
    let claimed = query_jobs::claim_due_trades(
        &engine.db,
        &engine.job_owner,
        now,
        delta(engine.config.job_lease),
        engine.config.job_batch,
    )
    .await?;
    let mut report = JobReport {
        claimed: claimed.len(),
        ..JobReport::default()
    };
    let (steps, errors) = work_on(
        engine,
        "trade",
        claimed,
        |t| t.nkp_seq_id.clone(),
        |t| async move { work(engine, &t, now).await },
    )
    .await;
    report.errors = errors;
    for step in steps {
        match step {
            Step::Finished => report.finished += 1,
            Step::Rescheduled => report.rescheduled += 1,
        }
    }
    Ok(report)
}

async fn work(engine: &Engine, t: &trade::Model, now: DateTime<Utc>) -> Result<Step, EngineError> {
    let expired = now >= t.time_expire + delta(engine.config.expiry_grace);
    let finished = if t.close_requested_at.is_some() || expired {
        match engine.payments().carry_out_close(t, now).await? {
            CloseOutcome::Closed | CloseOutcome::Paid => true,
            CloseOutcome::Deferred | CloseOutcome::Refused { .. } => false,
        }
    } else {
        let (fresh, applied) = engine.payments().refresh(t, now).await?;
        matches!(applied, Applied::Finalized(_) | Applied::AlreadyFinal(_))
            || fresh.status != TradeStatus::Processing
    };
    if finished {
        return Ok(Step::Finished);
    }
    reschedule(engine, t, now).await?;
    Ok(Step::Rescheduled)
}

/// Gives a trade still processing its next time: the back-off, but no later than its expiry
/// close, and no later than the moment a requested close becomes allowed (the channel's rule:
/// WeChat refuses closes within 5 minutes of the order).
async fn reschedule(
    engine: &Engine,
    t: &trade::Model,
    now: DateTime<Utc>,
) -> Result<(), EngineError> {
    let config = &engine.config;
    let attempts = t.query_attempts.saturating_add(1);
    let next = if attempts >= config.query_max_attempts {
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
        None
    } else {
        let mut next = now + delta(config.query_delay(attempts));
        let expiry_at = t.time_expire + delta(config.expiry_grace);
        if expiry_at > now {
            next = next.min(expiry_at);
        }
        if t.close_requested_at.is_some() {
            let allowed_at = engine
                .channels
                .get(t.channel_account_id)
                .await?
                .earliest_close(t.created_at);
            if allowed_at > now {
                next = next.min(allowed_at);
            }
        }
        Some(next)
    };
    query_jobs::reschedule_trade(
        engine.db.conn(),
        &t.nkp_seq_id,
        &engine.job_owner,
        next,
        now,
    )
    .await?;
    Ok(())
}

/// Works on claimed rows, `job_concurrency` at a time, and hands back what each finished
/// with, plus how many failed: those are logged under `job` and come back when their lease
/// runs out.
pub(crate) async fn work_on<T, S, F, Fut>(
    engine: &Engine,
    job: &'static str,
    rows: Vec<T>,
    id: fn(&T) -> String,
    work: F,
) -> (Vec<S>, usize)
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<S, EngineError>>,
{
    let results: Vec<(String, Result<S, EngineError>)> = futures::stream::iter(rows)
        .map(|row| {
            let key = id(&row);
            let done = work(row);
            async move { (key, done.await) }
        })
        .buffer_unordered(engine.config.job_concurrency.max(1))
        .collect()
        .await;
    let mut finished = Vec::with_capacity(results.len());
    let mut errors = 0;
    for (nkp_seq_id, result) in results {
        match result {
            Ok(s) => finished.push(s),
            Err(e) => {
                tracing::warn!(job, %nkp_seq_id, error = %e, "job work failed; it comes back when its lease ends");
                errors += 1;
            }
        }
    }
    (finished, errors)
}

/// Runs [`run_trades_once`] every `job_interval` (at once again after a full batch) until
/// `shutdown` turns true or its sender is dropped.
pub fn spawn(engine: Arc<Engine>, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    spawn_rounds(engine, "trade", shutdown, |engine| async move {
        let report = run_trades_once(&engine, Utc::now()).await?;
        if report.claimed > 0 {
            tracing::debug!(?report, "trade job round");
        }
        Ok(report.claimed)
    })
}

/// The loop of every job: runs `round` every `job_interval`, at once again after a full batch
/// (`round` answers how many rows it claimed), until `shutdown` turns true or its sender is
/// dropped.
pub(crate) fn spawn_rounds<F, Fut>(
    engine: Arc<Engine>,
    name: &'static str,
    mut shutdown: watch::Receiver<bool>,
    round: F,
) -> JoinHandle<()>
where
    F: Fn(Arc<Engine>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<usize, EngineError>> + Send,
{
    tokio::spawn(async move {
        let interval = engine.config.job_interval;
        loop {
            let full = match round(engine.clone()).await {
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
