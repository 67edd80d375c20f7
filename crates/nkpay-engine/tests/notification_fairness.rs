//! Fairness: a slow receiver gets at most its per-host share of the dispatcher, so the other
//! merchants' notifications keep flowing while it takes its time.

mod notification_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::TimeDelta;
use nkpay_engine::notifications::Dispatcher;
use nkpay_engine::notifications::dispatcher::FIRST_LATENCY_GUESS;
use nkpay_store::Db;
use nkpay_store::kinds::NotificationStatus;
use nkpay_store::testing::databases;
use notification_support::fixtures::*;
use notification_support::receiver::{Hit, Receiver, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Generous: the waits below only need time, and a loaded 2-core machine must not fail them.
const PATIENCE: Duration = Duration::from_secs(120);

/// The most requests the receiver was handling at one moment.
fn peak_concurrency(hits: &[Hit]) -> usize {
    hits.iter()
        .map(|h| {
            hits.iter()
                .filter(|o| o.received <= h.received && h.received < o.finished)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// A receiving host that holds every request until the test opens its gate, then answers
/// 200: however long the other receivers take, it stays busy until then.
struct GatedReceiver {
    url: String,
    gate: watch::Sender<bool>,
    stats: Arc<GateStats>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct GateStats {
    received: AtomicUsize,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    answered: AtomicUsize,
}

impl GatedReceiver {
    async fn start() -> GatedReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/n", listener.local_addr().expect("addr"));
        let (gate, opened) = watch::channel(false);
        let stats = Arc::new(GateStats::default());
        let shared = Arc::clone(&stats);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(hold_until_open(stream, opened.clone(), Arc::clone(&shared)));
            }
        });
        GatedReceiver {
            url,
            gate,
            stats,
            task,
        }
    }

    fn open(&self) {
        self.gate.send_replace(true);
    }

    fn in_flight(&self) -> usize {
        self.stats.in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for GatedReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request (head and Content-Length body), waits for the gate, answers 200.
async fn hold_until_open(
    mut stream: TcpStream,
    mut opened: watch::Receiver<bool>,
    stats: Arc<GateStats>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let complete = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break true;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    if !complete {
        return;
    }
    stats.received.fetch_add(1, Ordering::SeqCst);
    let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    stats.peak.fetch_max(now, Ordering::SeqCst);
    let _ = opened.wait_for(|open| *open).await;
    // Counted out before the answer goes out: the dispatcher may start its next request to this
    // host as soon as it has read this answer, possibly before this task runs again, and the
    // two must not be counted as in flight together.
    stats.in_flight.fetch_sub(1, Ordering::SeqCst);
    let reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    if stream.write_all(reply.as_bytes()).await.is_ok() {
        stats.answered.fetch_add(1, Ordering::SeqCst);
    }
}

async fn all_delivered(db: &Db, ids: &[i64]) -> bool {
    for id in ids {
        if row(db, *id).await.status != NotificationStatus::Delivered {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_does_not_hold_up_other_receivers() {
    for t in databases().await {
        let slow = GatedReceiver::start().await;
        let fast = Receiver::start(|_| Reply::Status(200, "ok".into())).await;
        // The slow host's backlog is older, so a plain oldest-first claim would hand it every slot.
        let mut slow_ids = Vec::new();
        for i in 0..8 {
            slow_ids.push(enqueue(&t.db, MER_ID, &format!("SL{i}"), &slow.url).await);
        }
        let mut fast_ids = Vec::new();
        for i in 0..8 {
            fast_ids.push(enqueue(&t.db, MER_ID, &format!("FA{i}"), &fast.url("/n")).await);
        }
        let mut cfg = config(&[100]);
        cfg.concurrency = 4;
        cfg.per_host_concurrency = 2;
        // Longer than the test waits: a held request is never cut short and retried.
        cfg.timeout = PATIENCE;
        cfg.lease = PATIENCE * 3;
        let d = Dispatcher::new(t.db.clone(), signer(), cfg, "node-fair").expect("dispatcher");
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = d.clone().spawn(async move {
            let _ = stopped.await;
        });

        // The slow host holds its first deliveries for as long as this test likes: the fast
        // receiver's notifications all go out meanwhile.
        let db = &t.db;
        wait_for("the slow host holding its share", PATIENCE, || async {
            slow.in_flight() == 2
        })
        .await;
        wait_for(
            "the fast receiver's notifications while the slow host holds",
            PATIENCE,
            || all_delivered(db, &fast_ids),
        )
        .await;
        assert_eq!(
            slow.stats.answered.load(Ordering::SeqCst),
            0,
            "{}: the fast ones waited for the slow host",
            t.label
        );
        assert_eq!(slow.in_flight(), 2, "{}: per-host limit", t.label);
        for id in &slow_ids {
            assert_ne!(
                row(db, *id).await.status,
                NotificationStatus::Delivered,
                "{}",
                t.label
            );
        }

        slow.open();
        wait_for("the slow receiver's notifications", PATIENCE, || {
            all_delivered(db, &slow_ids)
        })
        .await;
        stop.send(()).ok();
        handle.await.expect("dispatcher stops");

        assert_eq!(
            slow.stats.peak.load(Ordering::SeqCst),
            2,
            "{}: per-host limit",
            t.label
        );
        assert_eq!(
            slow.stats.received.load(Ordering::SeqCst),
            8,
            "{}: each slow one once",
            t.label
        );
        assert_eq!(fast.hits().len(), 8);
        let totals = d.totals();
        assert!(
            totals.deferred > 0,
            "{}: busy-host rows were handed back: {totals:?}",
            t.label
        );
        assert_eq!(totals.delivered, 16);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_for_one_fast_receiver_is_not_throttled_by_its_host_limit() {
    const N: usize = 300;
    for t in databases().await {
        let fast = Receiver::start(|_| Reply::Status(200, "ok".into())).await;
        for i in 0..N {
            enqueue(&t.db, MER_ID, &format!("BU{i:04}"), &fast.url("/n")).await;
        }
        let mut cfg = config(&[60_000]);
        cfg.concurrency = 8;
        cfg.per_host_concurrency = 2;
        // Far longer than the test waits: only the host's pace, never a poll, can bring the
        // rows handed back while the host is full.
        cfg.poll_interval = Duration::from_secs(3600);
        let d = Dispatcher::new(t.db.clone(), signer(), cfg, "node-burst").expect("dispatcher");
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = d.clone().spawn(async move {
            let _ = stopped.await;
        });
        wait_for("the burst", PATIENCE, || async {
            d.totals().delivered == N as u64
        })
        .await;
        stop.send(()).ok();
        handle.await.expect("dispatcher stops");
        // Never more than two at a time against the host. (Whether two ever overlap depends on
        // scheduling when the receiver answers in microseconds, so that is not asserted here;
        // the slow-host test above shows the limit is used in full.) All N arriving with an
        // hour-long poll shows rows handed back while the host is full come due at its pace.
        let peak = peak_concurrency(&fast.hits());
        assert!((1..=2).contains(&peak), "{}: peak {peak}", t.label);
        let totals = d.totals();
        eprintln!(
            "{}: {N} deliveries to one host, 2 at a time: {totals:?}",
            t.label
        );
        // How often rows went back is a figure, not a bound: it grows when the machine is
        // slower than the host's pace (1.0 to 2.1 hand-backs per row measured, loaded CI at
        // the top). That a row handed back waits for its host's pace rather than coming due
        // at once is asserted exactly by the test below.
    }
}

/// One round against a host that holds every request: the host's share is admitted (two
/// delivering, two in line) and the rest go back due no sooner than the first-guess pace after
/// the claim, never due at once (which would have the dispatcher claim them again straight
/// away, round after round, while the host is full).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_handed_back_while_their_host_is_full_wait_for_its_pace() {
    const N: usize = 10;
    for t in databases().await {
        let held = GatedReceiver::start().await;
        let mut ids = Vec::new();
        for i in 0..N {
            ids.push(enqueue(&t.db, MER_ID, &format!("PA{i}"), &held.url).await);
        }
        let mut cfg = config(&[60_000]);
        cfg.concurrency = 8;
        cfg.per_host_concurrency = 2;
        cfg.timeout = PATIENCE;
        cfg.lease = PATIENCE * 3;
        let lease = TimeDelta::from_std(cfg.lease).expect("lease");
        let d = Dispatcher::new(t.db.clone(), signer(), cfg, "node-pace").expect("dispatcher");
        let round = tokio::spawn({
            let d = d.clone();
            async move { d.run_once().await }
        });

        // Claimed in one statement (all ten leased), then six handed back (four leased).
        let db = &t.db;
        let ids_ref = &ids;
        let held_ref = &held;
        wait_for("the round to hand rows back", PATIENCE, || async move {
            let mut leased = 0;
            for id in ids_ref {
                leased += usize::from(row(db, *id).await.lease_owner.is_some());
            }
            leased == 4 && held_ref.in_flight() == 2
        })
        .await;
        let guess = TimeDelta::from_std(FIRST_LATENCY_GUESS).expect("guess");
        let mut rows = Vec::new();
        for id in &ids {
            rows.push(row(db, *id).await);
        }
        // The claim's own clock reading: a row still held was leased until then plus the
        // lease, and the rows handed back were made due from the same reading. PostgreSQL
        // keeps microseconds (rounded): the bound allows for that, nothing more.
        let claimed_at = rows
            .iter()
            .filter_map(|r| r.lease_until)
            .min()
            .expect("a row still held")
            - lease
            - TimeDelta::microseconds(1);
        let mut handed_back = 0;
        for r in rows.iter().filter(|r| r.lease_owner.is_none()) {
            let id = r.id;
            handed_back += 1;
            assert!(
                r.next_attempt_at >= claimed_at + guess,
                "{}: row {id} due {} (claimed at {claimed_at}): due at once",
                t.label,
                r.next_attempt_at
            );
            assert!(attempts(db, id).await.is_empty(), "{}: row {id}", t.label);
        }
        assert_eq!(handed_back, N - 4, "{}", t.label);

        held.open();
        let summary = round.await.expect("round task").expect("round");
        assert_eq!(
            (summary.claimed, summary.deferred, summary.delivered),
            (N, N - 4, 4),
            "{}: {summary:?}",
            t.label
        );
        assert_eq!(held.stats.received.load(Ordering::SeqCst), 4, "{}", t.label);
    }
}
