//! The refund job: for processing refunds whose time has come it asks the channel (nobody
//! called back, or the first answer was unknown) and finalizes them; a refund the channel does
//! not have is sent again under the same number, which the channel refunds once. Any number of
//! nodes may run it: each refund is claimed under a lease first, so two nodes never work on the
//! same refund, and a dead node's claims come back when they expire.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use nkpay_store::entity::refund;
use nkpay_store::incidents;
use nkpay_store::query_jobs::{self, Reschedule};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::delta;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::jobs::{QueryJob, spawn_rounds, work_on};
use crate::observability::{self, Job};

/// The incident opened when a refund is still processing after `query_max_attempts` queries.
const REFUND_QUERY_GAVE_UP: &str = "refund_query_gave_up";

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefundJobReport {
    /// Refunds claimed this round.
    pub claimed: usize,
    /// Refunds that reached a final state (or already had one).
    pub finished: usize,
    /// Refunds sent to the channel again because it had none under their number.
    pub resent: usize,
    /// Refunds left processing and given their next time.
    pub rescheduled: usize,
    /// Refunds whose work failed (storage, configuration); their lease runs out and they come
    /// back.
    pub errors: usize,
}

/// What working on one refund came to. One left processing carries its next query time
/// (`None`: the job stopped asking), written for the whole round at once.
struct Step {
    /// `None` once final.
    left: Option<Reschedule>,
    resent: bool,
}

/// One round at time `now`: claim due refunds and work on them.
pub async fn run_refunds_once(
    engine: &Engine,
    now: DateTime<Utc>,
) -> Result<RefundJobReport, EngineError> {
    if engine.is_stopping() {
        return Ok(RefundJobReport::default());
    }
    let claimed = query_jobs::claim_due_refunds(
        &engine.db,
        &engine.job_owner,
        now,
        delta(engine.config.job_lease),
        engine.config.job_batch,
    )
    .await?;
    for r in &claimed {
        if let Some(due) = r.next_query_at {
            observability::job_lag(Job::Refund, due, now);
        }
    }
    let mut report = RefundJobReport {
        claimed: claimed.len(),
        ..RefundJobReport::default()
    };
    let (steps, errors) = work_on(
        engine,
        QueryJob::Refund,
        claimed,
        |r| r.nkp_seq_id.clone(),
        |r| async move { work(engine, &r, now).await },
    )
    .await;
    report.errors = errors;
    let mut left = Vec::new();
    for step in steps {
        if step.resent {
            report.resent += 1;
        }
        match step.left {
            None => report.finished += 1,
            Some(row) => left.push(row),
        }
    }
    match QueryJob::Refund.reschedule(engine, left, now).await {
        Ok(n) => report.rescheduled = n,
        Err(n) => report.errors += n,
    }
    Ok(report)
}

async fn work(engine: &Engine, r: &refund::Model, now: DateTime<Utc>) -> Result<Step, EngineError> {
    let t = engine.refunds().trade_of(r).await?;
    let mut upstream = engine.refunds().query_refund_upstream(r, &t, now).await?;
    let mut resent = false;
    if upstream.not_found && !upstream.applied.is_final() {
        // Never arrived, or its first answer was lost: the same number again is safe.
        upstream = engine.refunds().send_refund(r, &t, now).await?;
        resent = true;
    }
    let left = if upstream.applied.is_final() {
        None
    } else {
        Some(Reschedule {
            nkp_seq_id: r.nkp_seq_id.clone(),
            next_query_at: next_query_at(engine, r, now).await?,
        })
    };
    Ok(Step { left, resent })
}

/// The next time of a refund still processing, or none after the last attempt (an incident
/// for an operator).
async fn next_query_at(
    engine: &Engine,
    r: &refund::Model,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, EngineError> {
    let config = &engine.config;
    let attempts = r.query_attempts.saturating_add(1);
    if attempts < config.query_max_attempts {
        return Ok(Some(now + delta(config.query_delay(attempts))));
    }
    let detail = format!(
        "refund {} of trade {} is still processing after {attempts} channel queries; the job stopped asking",
        r.nkp_seq_id, r.org_nkp_seq_id
    );
    incidents::open_incident(
        engine.db.conn(),
        REFUND_QUERY_GAVE_UP,
        Some(&r.nkp_seq_id),
        &detail,
        now,
    )
    .await?;
    Ok(None)
}

/// Runs [`run_refunds_once`] every `job_interval` (at once again after a full batch) until
/// `shutdown` turns true or its sender is dropped.
pub fn spawn(engine: Arc<Engine>, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    spawn_rounds(engine, Job::Refund, shutdown, |engine| async move {
        let report = run_refunds_once(&engine, Utc::now()).await?;
        if report.claimed > 0 {
            tracing::debug!(?report, "refund job round");
        }
        Ok(report.claimed)
    })
}
