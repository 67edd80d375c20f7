//! Deliveries per second: the dispatcher's full loop (claim under lease, sign with RSA-2048,
//! POST, record the attempt) against a fast receiver on loopback, on SQLite and, when it
//! answers, PostgreSQL. `cargo bench -p nkpay-engine --bench notification_throughput`.

#[path = "../tests/notification_support/mod.rs"]
mod notification_support;

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use nkpay_engine::notifications::Dispatcher;
use nkpay_store::kinds::NotificationKind;
use nkpay_store::notifications::{self, NewNotification};
use nkpay_store::sea_orm::{ConnectionTrait, Statement};
use nkpay_store::testing::{TestDb, databases};
use notification_support::fixtures::{MER_ID, config, resp_data, signer};
use notification_support::receiver::{Receiver, Reply};

/// Notifications per measured iteration.
const BATCH: usize = 500;

fn deliveries(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dbs: Vec<TestDb> = rt.block_on(databases());
    let rx = rt.block_on(Receiver::start(|_| Reply::Status(200, "ok".into())));
    let url = rx.url("/notify");

    let mut group = c.benchmark_group("notify_deliveries");
    group
        .throughput(Throughput::Elements(BATCH as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(15));
    for t in &dbs {
        let mut cfg = config(&[60_000]);
        cfg.concurrency = 64;
        cfg.per_host_concurrency = 64;
        cfg.timeout = Duration::from_secs(5);
        cfg.lease = Duration::from_secs(60);
        cfg.poll_interval = Duration::from_millis(5);
        let d = Dispatcher::new(t.db.clone(), signer(), cfg, "bench").expect("dispatcher");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = {
            let _in_runtime = rt.enter();
            d.clone().spawn(async move {
                let _ = stopped.await;
            })
        };
        let mut next_seq = 0usize;
        group.bench_function(t.label, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        park_batch(&t.db, &url, &mut next_seq).await;
                        let expected = d.totals().delivered + BATCH as u64;
                        let start = Instant::now();
                        release_batch(&t.db).await;
                        // Counted once the attempt is recorded, not just received.
                        while d.totals().delivered < expected {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        total += start.elapsed();
                    }
                    total
                })
            })
        });
        stop.send(()).ok();
        rt.block_on(handle).expect("dispatcher stops");
    }
    group.finish();
}

/// Inserts a batch due tomorrow, so inserting is not measured.
async fn park_batch(db: &nkpay_store::Db, url: &str, next_seq: &mut usize) {
    let now = Utc::now();
    for _ in 0..BATCH {
        *next_seq += 1;
        let seq = format!("B{:08}", *next_seq);
        let new = NewNotification {
            mer_id: MER_ID.into(),
            kind: NotificationKind::Trade,
            subject_nkp_seq_id: seq.clone(),
            notify_url: url.to_string(),
            resp_data: resp_data(MER_ID, &seq),
            first_attempt_at: now + TimeDelta::days(1),
        };
        notifications::enqueue(db.conn(), &new, now)
            .await
            .expect("enqueue");
    }
}

/// Makes the parked batch due now, in one statement.
async fn release_batch(db: &nkpay_store::Db) {
    let backend = db.backend();
    db.conn()
        .execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE notifications SET next_attempt_at = $1 WHERE status = 'pending'",
            [Utc::now().into()],
        ))
        .await
        .expect("release the batch");
}

criterion_group!(benches, deliveries);
criterion_main!(benches);
