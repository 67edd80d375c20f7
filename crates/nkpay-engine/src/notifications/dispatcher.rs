//! The dispatcher: claims due notifications under a lease, signs and delivers them with
//! bounded concurrency (in total and per receiving host), stores every attempt and schedules
//! the next one. Any number of nodes can run one against the same database.
//!
//! Why no two attempts of one notification overlap, even across nodes: a row is claimed with
//! a lease of at least twice the time-out, and an attempt starts only while at least 1.5 time-
//! outs of the lease remain, so it ends (time-out included) before anyone else may claim the
//! row. Nodes' clocks must agree to within half the time-out. A node that dies leaves its
//! claims to expire; another node then retries them — at least once, never lost.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::FutureExt;
use nkpay_core::resp_code::RespCode;
use nkpay_store::entity::notification;
use nkpay_store::notifications::{self, AttemptRecord, FinishedAttempt};
use nkpay_store::{Db, notification_deferral};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::{JoinError, JoinHandle, JoinSet};

use super::delivery::{self, form_body};
use super::host_slots::{Admission, HostSlots, host_key};
use super::merchant_schedules::MerchantSchedules;
use super::recorder::Recorder;
use super::schedule::{default_schedule, next_step, to_delta};
use super::url_guard::UrlPolicy;
use crate::error::EngineError;
use crate::observability::{self, Job};
use crate::platform_keys::PlatformKeys;

/// The answer time assumed for a receiving host before its first attempt ends: low, so a burst
/// for a fast host is not spread out too thinly (a slow host corrects it within one attempt).
/// A row handed back while such a host is full is due again this long after the claim at the
/// earliest (longer once the host has been busy longer).
pub const FIRST_LATENCY_GUESS: Duration = Duration::from_millis(100);

/// How soon a claim that failed is tried again (or the poll interval, when shorter).
const CLAIM_RETRY: Duration = Duration::from_secs(1);

/// The most hand-back times a running dispatcher remembers to wake up for.
const MAX_WAKEUPS: usize = 100_000;

/// How the dispatcher behaves; `Default` is the production setting (public receivers only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatcherConfig {
    /// Delays after each failed attempt; N delays allow N + 1 attempts.
    pub schedule: Vec<Duration>,
    /// Deliveries in flight on this node, all hosts together. The node holds at most twice
    /// as many claimed rows (the rest wait in line for their host).
    pub concurrency: usize,
    /// Deliveries in flight on this node to one receiving host (scheme, host, port); as many
    /// more claimed rows may wait in line for it, further ones are handed back for later.
    pub per_host_concurrency: usize,
    /// One attempt, from resolution to the answer's status, at most this long.
    pub timeout: Duration,
    /// How long a claim holds a row; at least twice `timeout`.
    pub lease: Duration,
    /// How often an idle dispatcher looks for due rows.
    pub poll_interval: Duration,
    /// Which receivers may be reached; checked again at delivery, after resolution.
    pub policy: UrlPolicy,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            schedule: default_schedule(),
            concurrency: 32,
            per_host_concurrency: 4,
            timeout: Duration::from_secs(5),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(500),
            policy: UrlPolicy::PUBLIC_ONLY,
        }
    }
}

impl DispatcherConfig {
    /// Refuses a setting the dispatcher cannot keep its promises under, with
    /// [`EngineError::Invalid`] naming the `notify.*` key: no delay or a zero one, no
    /// concurrency, a time-out under 10 ms, a lease shorter than twice the time-out (an attempt
    /// must end before its claim does), a zero poll interval.
    pub fn validate(&self) -> Result<(), EngineError> {
        if self.schedule.is_empty() || self.schedule.iter().any(Duration::is_zero) {
            return Err(EngineError::invalid(
                "notify.schedule",
                "needs at least one delay, each positive",
            ));
        }
        if self.concurrency == 0 || self.per_host_concurrency == 0 {
            return Err(EngineError::invalid(
                "notify.concurrency",
                "concurrency and per_host_concurrency must be at least 1",
            ));
        }
        if self.timeout < Duration::from_millis(10) {
            return Err(EngineError::invalid(
                "notify.timeout",
                "must be at least 10 ms",
            ));
        }
        if self.lease < self.timeout * 2 {
            return Err(EngineError::invalid(
                "notify.lease",
                "must be at least twice notify.timeout, so an attempt ends before its claim does",
            ));
        }
        if self.poll_interval.is_zero() {
            return Err(EngineError::invalid(
                "notify.poll_interval",
                "must be positive",
            ));
        }
        Ok(())
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundSummary {
    /// Rows claimed.
    pub claimed: usize,
    /// Handed back for later because their host was at its limit.
    pub deferred: usize,
    /// Attempts the receiver answered 2xx.
    pub delivered: usize,
    /// Attempts that failed; the row is due again by its schedule, or dead after the last.
    pub failed: usize,
    /// Handed back without an attempt (too little lease left, or no capacity).
    pub released: usize,
}

impl RoundSummary {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Delivered => self.delivered += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Released => self.released += 1,
        }
    }
}

/// What a dispatcher has done since it was made (all rounds, for metrics and logs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchTotals {
    /// Rows claimed.
    pub claimed: u64,
    /// Rows handed back because their host was at its limit.
    pub deferred: u64,
    /// Attempts the receiver answered 2xx.
    pub delivered: u64,
    /// Attempts that failed.
    pub failed: u64,
    /// Rows handed back without an attempt.
    pub released: u64,
}

#[derive(Debug, Default)]
struct Counters {
    claimed: AtomicU64,
    deferred: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    released: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn outcome(&self, outcome: Outcome) {
        let (counter, result) = match outcome {
            Outcome::Delivered => (&self.delivered, "delivered"),
            Outcome::Failed => (&self.failed, "failed"),
            Outcome::Released => (&self.released, "released"),
        };
        Counters::add(counter, 1);
        observability::deliveries(result, 1);
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Delivered,
    Failed,
    Released,
}

/// Delivers the notification outbox. Cheap to clone; clones share capacity.
#[derive(Clone)]
pub struct Dispatcher {
    shared: Arc<Shared>,
}

struct Shared {
    db: Db,
    signer: PlatformKeys,
    config: DispatcherConfig,
    node: String,
    client: reqwest::Client,
    /// Deliveries in flight: `concurrency` permits.
    running: Arc<Semaphore>,
    /// Claimed rows held by this node, delivering or in line: twice `concurrency`.
    claims: Arc<Semaphore>,
    hosts: Arc<HostSlots>,
    schedules: MerchantSchedules,
    /// Finished attempts are recorded through it, many in one transaction.
    recorder: Recorder,
    counters: Counters,
    /// Turned true when the dispatcher stops: deliveries still waiting in line give their
    /// rows back at once instead of waiting for a slot.
    stopping: watch::Sender<bool>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("node", &self.shared.node)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// `node_name` identifies this node in leases (1–64 characters, unique per running node).
    /// Fails with [`EngineError::Invalid`] on a bad `config` (see [`DispatcherConfig`]'s
    /// rules) or node name, and [`EngineError::Internal`] when the HTTP client cannot be built.
    pub fn new(
        db: Db,
        signer: impl Into<PlatformKeys>,
        config: DispatcherConfig,
        node_name: impl Into<String>,
    ) -> Result<Dispatcher, EngineError> {
        config.validate()?;
        let signer = signer.into();
        let node = node_name.into();
        if node.is_empty() || node.chars().count() > 64 {
            return Err(EngineError::invalid(
                "node_name",
                "must be 1 to 64 characters",
            ));
        }
        let client = delivery::build_client(config.policy, config.timeout)?;
        Ok(Dispatcher {
            shared: Arc::new(Shared {
                db,
                signer,
                node,
                client,
                running: Arc::new(Semaphore::new(config.concurrency)),
                claims: Arc::new(Semaphore::new(config.concurrency.saturating_mul(2))),
                hosts: HostSlots::new(config.per_host_concurrency, FIRST_LATENCY_GUESS),
                schedules: MerchantSchedules::new(&config.schedule),
                recorder: Recorder::default(),
                counters: Counters::default(),
                stopping: watch::Sender::new(false),
                config,
            }),
        })
    }

    /// Counts since this dispatcher (and its clones) started.
    pub fn totals(&self) -> DispatchTotals {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DispatchTotals {
            claimed: get(&c.claimed),
            deferred: get(&c.deferred),
            delivered: get(&c.delivered),
            failed: get(&c.failed),
            released: get(&c.released),
        }
    }

    /// One round: claims what is due now (up to the free capacity), delivers it and waits
    /// for those deliveries. For tests and tools; a server uses [`Dispatcher::spawn`].
    pub async fn run_once(&self) -> Result<RoundSummary, EngineError> {
        let mut tasks = JoinSet::new();
        let (mut summary, _) = self.claim_and_start(&mut tasks).await?;
        while let Some(done) = tasks.join_next().await {
            if let Some(outcome) = joined(done) {
                summary.count(outcome);
            }
        }
        Ok(summary)
    }

    /// Delivers until `shutdown` completes, then stops claiming, gives back the rows still
    /// waiting in line for their host, and waits for the deliveries in flight (each bounded by
    /// the time-out) so their attempts are recorded.
    async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut tasks: JoinSet<Outcome> = JoinSet::new();
        let poll = self.shared.config.poll_interval;
        // While deliveries are in flight, claim only once a quarter of the claim capacity is
        // free: a claim per finished delivery would cost a write per delivery (and on SQLite
        // the single write lock) for one row each. The rows still held keep the running slots
        // busy meanwhile (twice `concurrency` are held, at most `concurrency` run).
        let capacity = self.shared.config.concurrency.saturating_mul(2);
        let claim_at = (capacity / 4).max(1);
        tracing::info!(node = %self.shared.node, "notification dispatcher started");
        // When rows this node handed back come due: it claims again then, not a poll later.
        let mut handed_back: BinaryHeap<Reverse<Instant>> = BinaryHeap::new();
        loop {
            while let Some(done) = tasks.try_join_next() {
                joined(done);
            }
            // A claim that failed (the database busy, a pool time-out) is tried again soon, not a
            // poll interval later.
            let mut claim_failed = false;
            let free = self.shared.claims.available_permits();
            if free >= claim_at || (free > 0 && tasks.is_empty()) {
                match self.claim_and_start(&mut tasks).await {
                    Ok((round, waits)) => {
                        let more_due = round.claimed == free;
                        let now = Instant::now();
                        if handed_back.len() < MAX_WAKEUPS {
                            handed_back.extend(waits.into_iter().map(|w| Reverse(now + w)));
                        }
                        // Rows went back to a busy host while there is room: the next claim
                        // reaches other hosts' rows, so make it now.
                        if more_due && round.deferred > 0 {
                            if (&mut shutdown).now_or_never().is_some() {
                                break;
                            }
                            continue;
                        }
                    }
                    Err(e) => {
                        claim_failed = true;
                        tracing::warn!(error = %e, "claiming due notifications failed");
                    }
                }
            }
            let now = Instant::now();
            while handed_back.peek().is_some_and(|Reverse(t)| *t <= now) {
                handed_back.pop();
            }
            let poll = if claim_failed {
                poll.min(CLAIM_RETRY)
            } else {
                poll
            };
            let wake = handed_back
                .peek()
                .map_or(poll, |Reverse(t)| (*t - now).min(poll));
            // Every finished delivery frees a claim slot and may have given its row back (it
            // waited in line past its claim): either way a claim may find work, so it wakes the
            // loop. Without deliveries in flight this branch is idle, never a busy loop.
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(wake) => {}
                Some(done) = tasks.join_next() => { joined(done); }
            }
        }
        self.shared.stopping.send_replace(true);
        while let Some(done) = tasks.join_next().await {
            joined(done);
        }
        tracing::info!(node = %self.shared.node, "notification dispatcher stopped");
    }

    /// Delivers on its own task until `shutdown` completes, then stops claiming, gives back the
    /// rows still waiting in line, and waits for the deliveries in flight (each bounded by the
    /// time-out) so their attempts are recorded.
    pub fn spawn(self, shutdown: impl Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
        tokio::spawn(self.run(shutdown))
    }

    /// Claims up to the free capacity and starts a delivery for each row its host has room
    /// for (delivering or in line); the others go back due when their host should have room.
    /// Also returns how long from now each of those is due. Counted and timed as a round of
    /// [`Job::Dispatcher`].
    async fn claim_and_start(
        &self,
        tasks: &mut JoinSet<Outcome>,
    ) -> Result<(RoundSummary, Vec<Duration>), EngineError> {
        let started = Instant::now();
        let round = self.claim_and_start_round(tasks).await;
        observability::job_round(Job::Dispatcher, started.elapsed(), round.is_ok());
        round
    }

    async fn claim_and_start_round(
        &self,
        tasks: &mut JoinSet<Outcome>,
    ) -> Result<(RoundSummary, Vec<Duration>), EngineError> {
        let s = &self.shared;
        let free = s.claims.available_permits();
        let mut summary = RoundSummary::default();
        if free == 0 {
            return Ok((summary, Vec::new()));
        }
        let now = Utc::now();
        let rows = notifications::claim_due(
            &s.db,
            &s.node,
            now,
            to_delta(s.config.lease),
            u64::try_from(free).unwrap_or(u64::MAX),
        )
        .await?;
        summary.claimed = rows.len();
        Counters::add(&s.counters.claimed, rows.len());
        // Whose key signs each row, for the whole claim in one query per kind; should that
        // fail, each delivery looks its own caller up.
        let mut callers = if rows.is_empty() {
            HashMap::new()
        } else {
            notifications::callers_of(s.db.reader(), &rows)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "looking up the callers of claimed notifications failed");
                    HashMap::new()
                })
        };
        let mut busy = Vec::new();
        let mut waits = Vec::new();
        for row in rows {
            observability::job_lag(Job::Dispatcher, row.next_attempt_at, now);
            let Ok(claim) = Arc::clone(&s.claims).try_acquire_owned() else {
                // Another round of this dispatcher took the capacity meanwhile.
                notifications::release(s.db.conn(), row.id, &s.node, Utc::now()).await?;
                summary.released += 1;
                Counters::add(&s.counters.released, 1);
                observability::deliveries("released", 1);
                continue;
            };
            let key = host_key(&row.notify_url);
            match s.hosts.admit(&key) {
                Some(admission) => {
                    let caller = callers.remove(&row.id);
                    tasks.spawn(deliver(
                        Arc::clone(&self.shared),
                        row,
                        caller,
                        claim,
                        admission,
                    ));
                }
                None => {
                    let wait = s.hosts.pace(&key);
                    waits.push(wait);
                    busy.push((row.id, now + to_delta(wait)));
                }
            }
        }
        if !busy.is_empty() {
            notification_deferral::defer(s.db.conn(), &busy, &s.node, Utc::now()).await?;
            summary.deferred = busy.len();
            Counters::add(&s.counters.deferred, busy.len());
            observability::deliveries("deferred", busy.len());
        }
        Ok((summary, waits))
    }
}

fn joined(done: Result<Outcome, JoinError>) -> Option<Outcome> {
    match done {
        Ok(outcome) => Some(outcome),
        Err(e) => {
            tracing::error!(error = %e, "a notification delivery task failed");
            None
        }
    }
}

/// One claimed row: waits in line for its host and a running slot, attempts it, and records
/// the attempt (claim and slots are held until the recording is written). `caller` is the row's
/// caller when the claim already looked it up.
async fn deliver(
    shared: Arc<Shared>,
    row: notification::Model,
    caller: Option<Option<String>>,
    _claim: OwnedSemaphorePermit,
    admission: Admission,
) -> Outcome {
    let s = &*shared;
    let timeout = s.config.timeout;
    // The attempt must start while at least 1.5 time-outs of the claim remain, so that it ends
    // (time-out included) before any other node may claim the row, with room for clock skew.
    let latest_start = row
        .lease_until
        .map(|until| until - to_delta(timeout + timeout / 2));
    let wait = latest_start
        .and_then(|t| (t - Utc::now()).to_std().ok())
        .unwrap_or(Duration::ZERO);
    let deadline = tokio::time::Instant::now() + wait;
    let mut stopping = s.stopping.subscribe();
    // Waiting in line ends when the dispatcher stops: the row goes back for another node. An
    // attempt once started is never cut short.
    let admitted = tokio::select! {
        biased;
        _ = stopping.wait_for(|stopped| *stopped) => None,
        admitted = async {
            let slot = admission.slot(deadline).await?;
            let running = tokio::time::timeout_at(deadline, Arc::clone(&s.running).acquire_owned())
                .await
                .ok()?
                .ok()?;
            Some((slot, running))
        } => admitted,
    };
    let outcome = match admitted {
        Some((slot, _running)) => {
            let record = attempt(s, &row, caller).await;
            // The host's slot is held until the attempt is recorded: its answer time paces the
            // rows handed back for it, and a row is done only once recorded.
            let outcome = record_finished(s, row, record).await;
            drop(slot);
            outcome
        }
        None => release(s, &row).await,
    };
    s.counters.outcome(outcome);
    outcome
}

/// Gives the row back untouched: it waited in line past the point where an attempt could
/// still end inside its claim. It is due as before, so a claim picks it up again at once.
async fn release(s: &Shared, row: &notification::Model) -> Outcome {
    if let Err(e) = notifications::release(s.db.conn(), row.id, &s.node, Utc::now()).await {
        tracing::warn!(id = row.id, error = %e, "releasing a notification failed");
    }
    Outcome::Released
}

/// The notification's `sign` over its exact `resp_data`, with the key of the caller it answers
/// to (the trade's, refund's or application's `sys_id`; see `PlatformKeys::signer_for`),
/// looked up here unless the claim already did.
async fn sign(
    s: &Shared,
    row: &notification::Model,
    caller: Option<Option<String>>,
) -> Result<(crate::platform_keys::PlatformSigner, String), EngineError> {
    let caller = match caller {
        Some(known) => known,
        None => notifications::caller_of(s.db.reader(), row).await?,
    };
    let signer = s.signer.signer_for(caller.as_deref()).await?;
    let sign = signer.sign_base64(row.resp_data.as_bytes())?;
    Ok((signer, sign))
}

/// Signs and POSTs the row once and describes what happened.
async fn attempt(
    s: &Shared,
    row: &notification::Model,
    caller: Option<Option<String>>,
) -> AttemptRecord {
    match sign(s, row, caller).await {
        Ok((signer, sign)) => {
            let success = RespCode::Success;
            let body = form_body(
                success.code(),
                success.default_desc(),
                &row.resp_data,
                &sign,
            );
            delivery::attempt(
                &s.client,
                &s.config.policy,
                s.config.timeout,
                &row.notify_url,
                signer.key_id(),
                body,
            )
            .await
        }
        Err(e) => AttemptRecord {
            started_at: Utc::now(),
            duration_ms: 0,
            http_status: None,
            error: Some(format!("signing failed: {e}")),
            response_body: None,
            delivered: false,
        },
    }
}

/// Works out the row's next step and records the attempt with it, batched with other
/// deliveries' (see `recorder`). A recording that fails leaves the claim to expire, and the
/// row is retried: the receiver may see it twice (it dedupes by nkp_seq_id), but it is never
/// lost.
async fn record_finished(s: &Shared, row: notification::Model, record: AttemptRecord) -> Outcome {
    let schedule = s.schedules.for_merchant(&s.db, &row.mer_id).await;
    let next = next_step(row.attempt_count, record.delivered, &schedule, Utc::now());
    tracing::debug!(id = row.id, delivered = record.delivered, status = ?record.http_status, error = ?record.error, ?next, "notification attempt");
    let delivered = record.delivered;
    let finished = FinishedAttempt {
        id: row.id,
        attempt: record,
        next,
    };
    let recorded = s.recorder.record(&s.db, &s.node, finished).await;
    tracing::trace!(id = row.id, ?recorded, "notification attempt recorded");
    if delivered {
        Outcome::Delivered
    } else {
        Outcome::Failed
    }
}
