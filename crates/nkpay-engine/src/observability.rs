//! The engine's metrics (issue 14; docs/observability.md), recorded through the `metrics`
//! facade: the background jobs' runs, run time and lag, the merchant notifications' deliveries,
//! and — computed at scrape time by [`sample`], never per request — the trades by state, the
//! notification outbox and the database pool. Without an installed recorder every call here is
//! a no-op.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Asia::Shanghai;
use nkpay_store::Db;

use crate::error::EngineError;

/// Counter of job rounds; labels `job` (see [`Job`]) and `result` (`ok`, `error`). A round is
/// one look for due work, whether or not it found any.
pub const JOB_RUNS: &str = "nkpay_job_runs_total";
/// Histogram of how long one job round took, seconds; label `job`.
pub const JOB_RUN_DURATION: &str = "nkpay_job_run_duration_seconds";
/// Histogram of how late work was taken up, seconds: the time between a row or period being due
/// and a job starting on it (a trade's or refund's `next_query_at`, a notification's
/// `next_attempt_at`, a statement day's `generate_at`, a bill day's `run_after`); label `job`.
pub const JOB_LAG: &str = "nkpay_job_lag_seconds";
/// Counter of merchant-notification deliveries; label `result`: `delivered` (2xx), `failed`
/// (the attempt failed; retried by the schedule or given up), `released` (handed back without
/// an attempt), `deferred` (handed back because its host was at its limit).
pub const NOTIFICATION_DELIVERIES: &str = "nkpay_notification_deliveries_total";
/// Gauge, trades in each state, all merchants (label `state`: `P`, `S`, `F`, `C`); computed at
/// scrape time by one grouped COUNT, so every node reports the same numbers.
pub const TRADES: &str = "nkpay_trades";
/// Gauge, merchant notifications pending (not delivered, not given up), at scrape time.
pub const OUTBOX_DEPTH: &str = "nkpay_notification_outbox_depth";
/// Gauge, seconds since the longest-due pending notification became due (0 when none is due),
/// at scrape time.
pub const OUTBOX_OLDEST_DUE_AGE: &str = "nkpay_notification_outbox_oldest_due_age_seconds";
/// Gauge, this node's database pool connections; label `state`: `in_use`, `idle`.
pub const DB_POOL_CONNECTIONS: &str = "nkpay_db_pool_connections";
/// Gauge, the most connections this node's pool opens (`database.max_connections`).
pub const DB_POOL_MAX: &str = "nkpay_db_pool_max_connections";
/// Counter, the transactions in which this node's write queue ran the hot writes (SQLite file
/// only: group commit, `nkpay_store::Db::write`); set from the queue's own count at scrape time.
pub const DB_WRITE_BATCHES: &str = "nkpay_db_write_batches_total";
/// Counter, the writes run in those transactions: ÷ [`DB_WRITE_BATCHES`] is the mean batch.
pub const DB_BATCHED_WRITES: &str = "nkpay_db_batched_writes_total";

/// The background jobs, as the `job` label names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Trades nobody called back about queried, expired ones closed (`jobs.rs`).
    Trade,
    /// Refunds still processing queried (`refunds/jobs.rs`).
    Refund,
    /// Onboarding: WeChat bindings asked again, Alipay grants renewed (`businesses/jobs.rs`).
    Business,
    /// The day's and month's statement files (`statements/job.rs`).
    Statements,
    /// The channels' bills compared (`reconciliation/job.rs`).
    Reconciliation,
    /// Merchant notifications claimed and delivered (`notifications/dispatcher.rs`).
    Dispatcher,
}

impl Job {
    /// The `job` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Job::Trade => "trade",
            Job::Refund => "refund",
            Job::Business => "business",
            Job::Statements => "statements",
            Job::Reconciliation => "reconciliation",
            Job::Dispatcher => "dispatcher",
        }
    }
}

/// Registers the help text of the engine's series, and the channels' it calls, with the
/// installed recorder.
pub fn describe() {
    nkpay_channels::call_metrics::describe();
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        JOB_RUNS,
        "Background job rounds by job and result (ok, error)"
    );
    describe_histogram!(JOB_RUN_DURATION, Unit::Seconds, "Background job round time");
    describe_histogram!(
        JOB_LAG,
        Unit::Seconds,
        "How late a job took up due work, from its due time to the start"
    );
    describe_counter!(
        NOTIFICATION_DELIVERIES,
        "Merchant notification deliveries by result (delivered, failed, released, deferred)"
    );
    describe_gauge!(TRADES, "Trades in each state (P, S, F, C), all merchants");
    describe_gauge!(OUTBOX_DEPTH, "Merchant notifications pending delivery");
    describe_gauge!(
        OUTBOX_OLDEST_DUE_AGE,
        Unit::Seconds,
        "Age of the longest-due pending merchant notification"
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Database pool connections of this node by state (in_use, idle)"
    );
    describe_gauge!(
        DB_POOL_MAX,
        "Most connections this node's database pool opens"
    );
    describe_counter!(
        DB_WRITE_BATCHES,
        "Transactions of this node's SQLite write queue (group commit)"
    );
    describe_counter!(
        DB_BATCHED_WRITES,
        "Writes run in the transactions of this node's SQLite write queue"
    );
}

/// Records one round of `job` that took `elapsed` and ended `ok` or not.
pub(crate) fn job_round(job: Job, elapsed: Duration, ok: bool) {
    let result = if ok { "ok" } else { "error" };
    metrics::counter!(JOB_RUNS, "job" => job.as_str(), "result" => result).increment(1);
    metrics::histogram!(JOB_RUN_DURATION, "job" => job.as_str()).record(elapsed.as_secs_f64());
}

/// Records that `job` took up work due at `due` at `now` (0 when it was not late).
pub(crate) fn job_lag(job: Job, due: DateTime<Utc>, now: DateTime<Utc>) {
    let late = (now - due).to_std().unwrap_or(Duration::ZERO);
    metrics::histogram!(JOB_LAG, "job" => job.as_str()).record(late.as_secs_f64());
}

/// Records that scheduled `job` took up the work of `day` at `now`, the work having been due
/// on `due_day` at `at` Asia/Shanghai wall time (a statement day at `generate_at` the next day,
/// a bill day at `run_after`).
pub(crate) fn scheduled_lag(job: Job, due_day: NaiveDate, at: NaiveTime, now: DateTime<Utc>) {
    // Asia/Shanghai has no daylight saving: every wall time exists once.
    if let Some(due) = due_day.and_time(at).and_local_timezone(Shanghai).single() {
        job_lag(job, due.with_timezone(&Utc), now);
    }
}

/// Records `n` notification deliveries that ended with `result` (see
/// [`NOTIFICATION_DELIVERIES`]).
pub(crate) fn deliveries(result: &'static str, n: usize) {
    if n > 0 {
        metrics::counter!(NOTIFICATION_DELIVERIES, "result" => result)
            .increment(u64::try_from(n).unwrap_or(u64::MAX));
    }
}

/// Sets the scrape-time gauges from the database as of `now`: [`TRADES`] (one grouped COUNT),
/// [`OUTBOX_DEPTH`] and [`OUTBOX_OLDEST_DUE_AGE`] (two indexed reads of `notifications`), and
/// [`DB_POOL_CONNECTIONS`] / [`DB_POOL_MAX`], and on a SQLite file [`DB_WRITE_BATCHES`] /
/// [`DB_BATCHED_WRITES`] (no query). Called by the metrics endpoint before
/// it renders.
///
/// # Errors
/// [`EngineError::Store`] when a query fails; the pool gauges are set before the queries, so
/// they are current even then.
pub async fn sample(db: &Db, now: DateTime<Utc>) -> Result<(), EngineError> {
    if let Some(pool) = db.pool_status() {
        let idle = pool.idle.min(pool.open);
        metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(pool.open - idle));
        metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
        metrics::gauge!(DB_POOL_MAX).set(f64::from(pool.max));
    }
    if let Some(batches) = db.write_batches() {
        metrics::counter!(DB_WRITE_BATCHES).absolute(batches.batches);
        metrics::counter!(DB_BATCHED_WRITES).absolute(batches.writes);
    }
    for (status, n) in nkpay_store::gauges::trades_by_status(db.conn()).await? {
        metrics::gauge!(TRADES, "state" => status.as_str()).set(n as f64);
    }
    let outbox = nkpay_store::gauges::outbox(db.conn(), now).await?;
    metrics::gauge!(OUTBOX_DEPTH).set(outbox.pending as f64);
    let age = outbox
        .oldest_due_at
        .and_then(|due| (now - due).to_std().ok())
        .unwrap_or(Duration::ZERO);
    metrics::gauge!(OUTBOX_OLDEST_DUE_AGE).set(age.as_secs_f64());
    Ok(())
}
