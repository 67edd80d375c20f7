//! `Db::write`: on a SQLite file in a multi-threaded runtime the writes queued together run in
//! one transaction (group commit) and each keeps the atomicity it has alone; on PostgreSQL they
//! run in place. Every scenario runs on both databases: the answers and the rows must be the
//! same. A "gate" write holds the queue (it waits for the test before its first statement) so
//! that the writes behind it are known to be queued when it ends.

mod fixture;

use std::future::Future;
use std::pin::Pin;

use nkpay_store::testing::{TestDb, databases};
use nkpay_store::trades;
use nkpay_store::{Db, MAX_BATCH, StoreError, WriteBatches};
use tokio::sync::oneshot;

type Write = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// A write that waits for `open` before it ends (it makes no statement).
fn gate(db: &Db, open: oneshot::Receiver<()>) -> Write {
    let db = db.clone();
    Box::pin(async move {
        db.write(move |_w| async move {
            let _ = open.await;
            Ok(())
        })
        .await
    })
}

/// A write inserting trade `nkp_seq_id` under request id `req_seq_id`.
fn insert(db: &Db, seeded: &fixture::Seeded, nkp_seq_id: &str, req_seq_id: &str) -> Write {
    let (db, new) = (
        db.clone(),
        fixture::new_trade(seeded, nkp_seq_id, req_seq_id, 100),
    );
    Box::pin(async move {
        db.write(move |w| async move {
            trades::insert(&w.executor(), &new, fixture::t0()).await?;
            Ok(())
        })
        .await
    })
}

/// Polls each write once (which queues it behind the gate, or starts it in place), opens the
/// gate, and gives every answer in order.
async fn run_behind_gate(
    db: &Db,
    writes: Vec<Write>,
) -> (Result<(), StoreError>, Vec<Result<(), StoreError>>) {
    let (open, gated) = oneshot::channel();
    let mut first = gate(db, gated);
    assert!(futures::poll!(first.as_mut()).is_pending());
    let mut writes = writes;
    for w in &mut writes {
        assert!(futures::poll!(w.as_mut()).is_pending());
    }
    open.send(()).expect("the gate waits");
    let first = first.await;
    (first, futures::future::join_all(writes).await)
}

async fn exists(db: &Db, nkp_seq_id: &str) -> bool {
    trades::find_by_nkp_seq_id(db.reader(), nkp_seq_id)
        .await
        .expect("read")
        .is_some()
}

/// The SQLite half of `databases()` (its first), seeded.
async fn sqlite() -> (TestDb, fixture::Seeded) {
    let t = databases().await.into_iter().next().expect("SQLite");
    assert_eq!(t.label, "sqlite");
    let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
    (t, seeded)
}

/// A write after the one under test still runs and lands.
async fn the_queue_goes_on(db: &Db, seeded: &fixture::Seeded, nkp_seq_id: &str) {
    insert(db, seeded, nkp_seq_id, &format!("REQ{nkp_seq_id}"))
        .await
        .expect("a write after the one under test");
    assert!(exists(db, nkp_seq_id).await);
}

fn delta(before: Option<WriteBatches>, after: Option<WriteBatches>) -> Option<(u64, u64)> {
    Some((
        after?.batches - before?.batches,
        after?.writes - before?.writes,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_queued_together_commit_together_and_each_is_visible_once_answered() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        let before = t.db.write_batches();
        let writes = (0..10)
            .map(|i| {
                insert(
                    &t.db,
                    &seeded,
                    &format!("NKPB{i:02}"),
                    &format!("REQB{i:02}"),
                )
            })
            .collect();
        let (gate, answers) = run_behind_gate(&t.db, writes).await;
        gate.unwrap_or_else(|e| panic!("{}: {e}", t.label));
        for (i, a) in answers.into_iter().enumerate() {
            a.unwrap_or_else(|e| panic!("{}: write {i}: {e}", t.label));
            assert!(
                exists(&t.db, &format!("NKPB{i:02}")).await,
                "{}: {i}",
                t.label
            );
        }
        match t.label {
            // The gate and the ten behind it: one transaction.
            "sqlite" => assert_eq!(
                delta(before, t.db.write_batches()),
                Some((1, 11)),
                "{}",
                t.label
            ),
            _ => assert_eq!(
                t.db.write_batches(),
                None,
                "{}: writes run in place",
                t.label
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_fails_alone_and_ends_its_batch() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        fixture::insert_trade(&t.db, &seeded, "NKPF00", 100).await;
        let before = t.db.write_batches();
        let writes = vec![
            insert(&t.db, &seeded, "NKPF01", "REQF01"),
            // Same nkp_seq_id as the trade inserted first: refused by its unique key.
            insert(&t.db, &seeded, "NKPF00", "REQF02"),
            insert(&t.db, &seeded, "NKPF03", "REQF03"),
        ];
        let (gate, answers) = run_behind_gate(&t.db, writes).await;
        gate.unwrap_or_else(|e| panic!("{}: {e}", t.label));
        let [a1, a2, a3]: [Result<(), StoreError>; 3] = answers.try_into().expect("three");
        a1.unwrap_or_else(|e| panic!("{}: {e}", t.label));
        assert!(
            a2.as_ref().is_err_and(StoreError::is_duplicate),
            "{}: {a2:?}",
            t.label
        );
        a3.unwrap_or_else(|e| panic!("{}: {e}", t.label));
        assert!(exists(&t.db, "NKPF01").await, "{}", t.label);
        assert!(exists(&t.db, "NKPF03").await, "{}", t.label);
        if t.label == "sqlite" {
            // {gate, NKPF01, the duplicate} and then {NKPF03}.
            assert_eq!(delta(before, t.db.write_batches()), Some((2, 4)));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_drops_its_own_transaction_leaves_nothing_and_the_others_stay() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        let (db, new) = (
            t.db.clone(),
            fixture::new_trade(&seeded, "NKPR01", "REQR01", 100),
        );
        let undone: Write = Box::pin(async move {
            db.write(move |w| async move {
                let txn = w.begin_write().await?;
                trades::insert(&*txn, &new, fixture::t0()).await?;
                // Dropped without commit: rolled back (a savepoint inside a batch).
                drop(txn);
                Err(StoreError::Invalid {
                    field: "test",
                    rule: "refused after writing".to_owned(),
                })
            })
            .await
        });
        let writes = vec![
            insert(&t.db, &seeded, "NKPR00", "REQR00"),
            undone,
            insert(&t.db, &seeded, "NKPR02", "REQR02"),
        ];
        let (gate, answers) = run_behind_gate(&t.db, writes).await;
        gate.unwrap_or_else(|e| panic!("{}: {e}", t.label));
        let [a0, a1, a2]: [Result<(), StoreError>; 3] = answers.try_into().expect("three");
        a0.unwrap_or_else(|e| panic!("{}: {e}", t.label));
        assert!(
            matches!(a1, Err(StoreError::Invalid { field: "test", .. })),
            "{}: {a1:?}",
            t.label
        );
        a2.unwrap_or_else(|e| panic!("{}: {e}", t.label));
        assert!(exists(&t.db, "NKPR00").await, "{}", t.label);
        assert!(!exists(&t.db, "NKPR01").await, "{}: rolled back", t.label);
        assert!(exists(&t.db, "NKPR02").await, "{}", t.label);
    }
}

/// SQLite only: on PostgreSQL a write runs in place, so its panic is the caller's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_panics_rolls_its_batch_back_and_the_queue_goes_on() {
    let (t, seeded) = sqlite().await;
    let db = t.db.clone();
    let panics: Write = Box::pin(async move {
        db.write(move |_w| async move {
            if true {
                panic!("a write's bug (expected by this test)");
            }
            Ok(())
        })
        .await
    });
    let writes = vec![insert(&t.db, &seeded, "NKPP00", "REQP00"), panics];
    let (gate, answers) = run_behind_gate(&t.db, writes).await;
    let [a0, a1]: [Result<(), StoreError>; 2] = answers.try_into().expect("two");
    // The whole batch is undone and every write in it is told so.
    assert!(matches!(gate, Err(StoreError::Db(_))), "{gate:?}");
    assert!(matches!(a0, Err(StoreError::Db(_))), "{a0:?}");
    assert!(matches!(a1, Err(StoreError::Db(_))), "{a1:?}");
    assert!(!exists(&t.db, "NKPP00").await);
    the_queue_goes_on(&t.db, &seeded, "NKPP01").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_never_runs_more_than_max_batch_writes() {
    let (t, seeded) = sqlite().await;
    let before = t.db.write_batches();
    let n = MAX_BATCH + 5;
    let writes = (0..n)
        .map(|i| {
            insert(
                &t.db,
                &seeded,
                &format!("NKPM{i:03}"),
                &format!("REQM{i:03}"),
            )
        })
        .collect();
    let (gate, answers) = run_behind_gate(&t.db, writes).await;
    gate.expect("gate");
    for a in answers {
        a.expect("insert");
    }
    // The gate and MAX_BATCH - 1 writes, then the other 6.
    let n = u64::try_from(n).expect("small");
    assert_eq!(delta(before, t.db.write_batches()), Some((2, n + 1)));
}

/// SQLite only: a write inside a write would wait for its own batch; it is refused instead,
/// and the queue goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_inside_a_write_is_refused_instead_of_waiting_for_itself() {
    let (t, seeded) = sqlite().await;
    let inner = insert(&t.db, &seeded, "NKPN01", "REQN01");
    let nested = t.db.write(move |_w| async move { Ok(inner.await) }).await;
    let inner = nested.expect("the outer write");
    assert!(
        matches!(&inner, Err(StoreError::Db(e)) if e.to_string().contains("inside a write")),
        "{inner:?}"
    );
    assert!(!exists(&t.db, "NKPN01").await);
    the_queue_goes_on(&t.db, &seeded, "NKPN02").await;
}

/// A write inserting trade `nkp_seq_id` in a transaction of its own, then committing it or
/// rolling it back; `Ok` either way.
fn insert_in_own_txn(db: &Db, seeded: &fixture::Seeded, nkp_seq_id: &str, commit: bool) -> Write {
    let (db, new) = (
        db.clone(),
        fixture::new_trade(seeded, nkp_seq_id, &format!("REQ{nkp_seq_id}"), 100),
    );
    Box::pin(async move {
        db.write(move |w| async move {
            let txn = w.begin_write().await?;
            trades::insert(&*txn, &new, fixture::t0()).await?;
            if commit {
                txn.commit().await
            } else {
                txn.rollback().await
            }
        })
        .await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_rolls_its_own_transaction_back_and_succeeds_keeps_the_batch_going() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        let before = t.db.write_batches();
        let writes = vec![
            insert_in_own_txn(&t.db, &seeded, "NKPK01", false),
            insert_in_own_txn(&t.db, &seeded, "NKPK02", true),
            insert(&t.db, &seeded, "NKPK03", "REQNKPK03"),
        ];
        let (gate, answers) = run_behind_gate(&t.db, writes).await;
        gate.unwrap_or_else(|e| panic!("{}: {e}", t.label));
        for a in answers {
            a.unwrap_or_else(|e| panic!("{}: {e}", t.label));
        }
        assert!(!exists(&t.db, "NKPK01").await, "{}: rolled back", t.label);
        assert!(exists(&t.db, "NKPK02").await, "{}", t.label);
        assert!(exists(&t.db, "NKPK03").await, "{}", t.label);
        if t.label == "sqlite" {
            // One batch: the rollback was the write's own, not a failure.
            assert_eq!(delta(before, t.db.write_batches()), Some((1, 4)));
        }
    }
}

/// SQLite only: a write's answer waits for its batch's `COMMIT`, and until then its row is not
/// on the readers' pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_answered_only_once_its_batch_committed() {
    let (t, seeded) = sqlite().await;
    let (open, gated) = oneshot::channel();
    let mut first = gate(&t.db, gated);
    assert!(futures::poll!(first.as_mut()).is_pending());
    let mut written = insert(&t.db, &seeded, "NKPC01", "REQC01");
    assert!(futures::poll!(written.as_mut()).is_pending());
    // The batch's last write: says when it runs (the insert before it has run) and waits.
    let (running, runs) = oneshot::channel();
    let (close, closed) = oneshot::channel::<()>();
    let db = t.db.clone();
    let mut last: Write = Box::pin(async move {
        db.write(move |_w| async move {
            let _ = running.send(());
            let _ = closed.await;
            Ok(())
        })
        .await
    });
    assert!(futures::poll!(last.as_mut()).is_pending());
    open.send(()).expect("the gate waits");
    runs.await.expect("the last write runs");
    assert!(
        futures::poll!(written.as_mut()).is_pending(),
        "answered before its batch committed"
    );
    assert!(!exists(&t.db, "NKPC01").await, "visible before the COMMIT");
    close.send(()).expect("the last write waits");
    let (first, written, last) = futures::join!(first, written, last);
    first.expect("gate");
    written.expect("insert");
    last.expect("last");
    assert!(exists(&t.db, "NKPC01").await);
}
