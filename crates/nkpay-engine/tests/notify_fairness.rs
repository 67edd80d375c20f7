//! Fairness: a slow receiver gets at most its per-host share of the dispatcher, so the other
//! merchants' notifications keep flowing while it takes its time.

mod notify_support;

use std::time::{Duration, Instant};

use nkpay_engine::notify::Dispatcher;
use nkpay_store::kinds::NotificationStatus;
use nkpay_store::testing::databases;
use notify_support::fixtures::*;
use notify_support::receiver::{Hit, Receiver, Reply};
use tokio::sync::oneshot;

const HOLD: Duration = Duration::from_millis(1000);

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_does_not_hold_up_other_receivers() {
    for t in databases().await {
        let slow = Receiver::start(|_| Reply::Hold(HOLD, 200)).await;
        let fast = Receiver::start(|_| Reply::Status(200, "ok".into())).await;
        // The slow host's backlog is older, so a plain oldest-first claim would hand it every slot.
        let mut slow_ids = Vec::new();
        for i in 0..8 {
            slow_ids.push(enqueue(&t.db, MER_ID, &format!("SL{i}"), &slow.url("/n")).await);
        }
        let mut fast_ids = Vec::new();
        for i in 0..8 {
            fast_ids.push(enqueue(&t.db, MER_ID, &format!("FA{i}"), &fast.url("/n")).await);
        }
        let mut cfg = config(&[100]);
        cfg.concurrency = 4;
        cfg.per_host_concurrency = 2;
        cfg.timeout = Duration::from_millis(3000);
        cfg.lease = Duration::from_millis(6000);
        let d = Dispatcher::new(t.db.clone(), signer(), cfg, "node-fair").expect("dispatcher");
        let (stop, stopped) = oneshot::channel::<()>();
        let started = Instant::now();
        let handle = d.clone().spawn(async move {
            let _ = stopped.await;
        });

        let db = &t.db;
        let ids = &fast_ids;
        wait_for(
            "the fast receiver's notifications",
            Duration::from_secs(10),
            || async move {
                let mut all = true;
                for id in ids {
                    all &= row(db, *id).await.status == NotificationStatus::Delivered;
                }
                all
            },
        )
        .await;
        let fast_done = started.elapsed();
        assert!(
            fast_done < HOLD,
            "{}: fast receiver waited {fast_done:?}, behind the slow one",
            t.label
        );
        let ids = &slow_ids;
        wait_for(
            "the slow receiver's notifications",
            Duration::from_secs(20),
            || async move {
                let mut all = true;
                for id in ids {
                    all &= row(db, *id).await.status == NotificationStatus::Delivered;
                }
                all
            },
        )
        .await;
        stop.send(()).ok();
        handle.await.expect("dispatcher stops");

        assert_eq!(
            peak_concurrency(&slow.hits()),
            2,
            "{}: per-host limit",
            t.label
        );
        assert_eq!(slow.hits().len(), 8, "{}: each slow one once", t.label);
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
        cfg.poll_interval = Duration::from_millis(500);
        let d = Dispatcher::new(t.db.clone(), signer(), cfg, "node-burst").expect("dispatcher");
        let (stop, stopped) = oneshot::channel::<()>();
        let started = Instant::now();
        let handle = d.clone().spawn(async move {
            let _ = stopped.await;
        });
        wait_for("the burst", Duration::from_secs(30), || async {
            d.totals().delivered == N as u64
        })
        .await;
        let took = started.elapsed();
        stop.send(()).ok();
        handle.await.expect("dispatcher stops");
        // Two at a time against a receiver that answers in a few milliseconds: rows handed
        // back while the host is full come due at its pace, not after a fixed wait each.
        assert!(
            took < Duration::from_secs(6),
            "{}: {N} took {took:?}",
            t.label
        );
        assert_eq!(peak_concurrency(&fast.hits()), 2, "{}", t.label);
        let totals = d.totals();
        eprintln!(
            "{}: {N} deliveries to one host, 2 at a time, in {took:?}: {totals:?}",
            t.label
        );
        // Each row was handed back a few times at most, not on every poll.
        assert!(totals.deferred < 2 * N as u64, "{}: {totals:?}", t.label);
    }
}
