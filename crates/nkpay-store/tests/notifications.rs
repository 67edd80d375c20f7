//! The outbox: one row per final state, claims that never overlap, leases that expire, and
//! attempts recorded with what happens next.

mod fixture;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use nkpay_store::kinds::{NotificationKind, NotificationStatus};
use nkpay_store::notifications::{self, AttemptRecord, NextStep, RESPONSE_BODY_LIMIT};
use nkpay_store::testing::databases;

fn attempt(delivered: bool) -> AttemptRecord {
    AttemptRecord {
        started_at: fixture::t0(),
        duration_ms: 12,
        http_status: Some(if delivered { 200 } else { 500 }),
        error: None,
        response_body: Some("x".repeat(5000)),
        delivered,
    }
}

#[tokio::test]
async fn enqueueing_the_same_final_state_twice_writes_one_row() {
    for t in databases().await {
        fixture::seed(&t.db, &fixture::sealer()).await;
        let n = fixture::trade_notification("NKP0001", fixture::t0());
        assert!(
            notifications::enqueue(t.db.conn(), &n, fixture::t0())
                .await
                .unwrap(),
            "{}",
            t.label
        );
        assert!(
            !notifications::enqueue(t.db.conn(), &n, fixture::t0())
                .await
                .unwrap(),
            "{}",
            t.label
        );
        let rows = notifications::list_for_subject(t.db.conn(), NotificationKind::Trade, "NKP0001")
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{}", t.label);
        assert_eq!(rows[0].status, NotificationStatus::Pending, "{}", t.label);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_claimers_never_get_the_same_row() {
    for t in databases().await {
        for i in 0..40 {
            let n = fixture::trade_notification(&format!("NKP{i:04}"), fixture::t0());
            notifications::enqueue(t.db.conn(), &n, fixture::t0())
                .await
                .unwrap();
        }
        let db = Arc::new(t.db.clone());
        let mut tasks = Vec::new();
        for node in 0..8 {
            let db = Arc::clone(&db);
            tasks.push(tokio::spawn(async move {
                let owner = format!("node-{node}");
                let mut mine = Vec::new();
                // Bounded, so a claim that hands rows out again fails instead of spinning.
                for _ in 0..40 {
                    let now = fixture::t0() + Duration::seconds(1);
                    let got = notifications::claim_due(&db, &owner, now, Duration::seconds(60), 3)
                        .await
                        .expect("claim");
                    if got.is_empty() {
                        break;
                    }
                    for n in got {
                        assert_eq!(n.lease_owner.as_deref(), Some(owner.as_str()));
                        mine.push(n.id);
                    }
                }
                mine
            }));
        }
        let mut seen = HashSet::new();
        for task in tasks {
            for id in task.await.expect("task") {
                assert!(seen.insert(id), "{}: row {id} claimed twice", t.label);
            }
        }
        assert_eq!(seen.len(), 40, "{}: every due row was claimed", t.label);
    }
}

#[tokio::test]
async fn rows_not_yet_due_are_not_claimed() {
    for t in databases().await {
        let n = fixture::trade_notification("NKP0001", fixture::t0() + Duration::seconds(15));
        notifications::enqueue(t.db.conn(), &n, fixture::t0())
            .await
            .unwrap();
        let early = notifications::claim_due(&t.db, "a", fixture::t0(), Duration::seconds(30), 10)
            .await
            .unwrap();
        assert!(early.is_empty(), "{}", t.label);
        let due = notifications::claim_due(
            &t.db,
            "a",
            fixture::t0() + Duration::seconds(15),
            Duration::seconds(30),
            10,
        )
        .await
        .unwrap();
        assert_eq!(due.len(), 1, "{}", t.label);
    }
}

#[tokio::test]
async fn expired_lease_comes_back_and_the_old_owner_can_no_longer_write() {
    for t in databases().await {
        let n = fixture::trade_notification("NKP0001", fixture::t0());
        notifications::enqueue(t.db.conn(), &n, fixture::t0())
            .await
            .unwrap();
        let lease = Duration::seconds(30);
        let a = notifications::claim_due(&t.db, "node-a", fixture::t0(), lease, 10)
            .await
            .unwrap();
        assert_eq!(a.len(), 1, "{}", t.label);
        let id = a[0].id;

        let b_early = notifications::claim_due(
            &t.db,
            "node-b",
            fixture::t0() + Duration::seconds(10),
            lease,
            10,
        )
        .await
        .unwrap();
        assert!(b_early.is_empty(), "{}: lease still held", t.label);

        // node-a died; its lease runs out.
        let later = fixture::t0() + Duration::seconds(31);
        let b = notifications::claim_due(&t.db, "node-b", later, lease, 10)
            .await
            .unwrap();
        assert_eq!(
            b.iter().map(|n| n.id).collect::<Vec<_>>(),
            vec![id],
            "{}",
            t.label
        );

        let retry = NextStep::RetryAt(later + Duration::seconds(15));
        let stale =
            notifications::record_attempt(&t.db, id, "node-a", &attempt(false), retry, later)
                .await
                .unwrap();
        assert!(!stale, "{}: node-a lost the lease", t.label);
        let fresh = notifications::record_attempt(
            &t.db,
            id,
            "node-b",
            &attempt(true),
            NextStep::Delivered,
            later,
        )
        .await
        .unwrap();
        assert!(fresh, "{}", t.label);

        let row = notifications::find(t.db.conn(), id).await.unwrap().unwrap();
        assert_eq!(row.status, NotificationStatus::Delivered, "{}", t.label);
        assert_eq!(row.attempt_count, 1, "{}", t.label);
        assert_eq!(row.lease_owner, None, "{}", t.label);
        let attempts = notifications::list_attempts(t.db.conn(), id).await.unwrap();
        assert_eq!(
            attempts.len(),
            2,
            "{}: both attempts happened and are logged",
            t.label
        );
        assert_eq!(
            attempts[1].response_body.as_ref().map(String::len),
            Some(RESPONSE_BODY_LIMIT),
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn failed_attempt_reschedules_and_exhausted_schedule_ends_dead() {
    for t in databases().await {
        let n = fixture::trade_notification("NKP0001", fixture::t0());
        notifications::enqueue(t.db.conn(), &n, fixture::t0())
            .await
            .unwrap();
        let lease = Duration::seconds(30);
        let id = notifications::claim_due(&t.db, "a", fixture::t0(), lease, 1)
            .await
            .unwrap()[0]
            .id;
        let next = fixture::t0() + Duration::seconds(15);
        assert!(
            notifications::record_attempt(
                &t.db,
                id,
                "a",
                &attempt(false),
                NextStep::RetryAt(next),
                fixture::t0()
            )
            .await
            .unwrap()
        );
        let row = notifications::find(t.db.conn(), id).await.unwrap().unwrap();
        assert_eq!(
            (row.status.as_str(), row.next_attempt_at),
            ("pending", next),
            "{}",
            t.label
        );
        assert!(
            notifications::claim_due(&t.db, "a", fixture::t0(), lease, 1)
                .await
                .unwrap()
                .is_empty()
        );

        let id2 = notifications::claim_due(&t.db, "a", next, lease, 1)
            .await
            .unwrap()[0]
            .id;
        assert_eq!(id2, id);
        assert!(
            notifications::record_attempt(&t.db, id, "a", &attempt(false), NextStep::Dead, next)
                .await
                .unwrap()
        );
        let row = notifications::find(t.db.conn(), id).await.unwrap().unwrap();
        assert_eq!(
            (row.status.as_str(), row.attempt_count),
            ("dead", 2),
            "{}",
            t.label
        );
        let far = next + Duration::days(2);
        assert!(
            notifications::claim_due(&t.db, "a", far, lease, 1)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn resend_opens_a_new_chain_due_now() {
    for t in databases().await {
        let n = fixture::trade_notification("NKP0001", fixture::t0());
        notifications::enqueue(t.db.conn(), &n, fixture::t0())
            .await
            .unwrap();
        let first =
            notifications::list_for_subject(t.db.conn(), NotificationKind::Trade, "NKP0001")
                .await
                .unwrap()
                .remove(0);
        let later = fixture::t0() + Duration::hours(30);
        let again = notifications::resend(&t.db, first.id, later).await.unwrap();
        let third = notifications::resend(&t.db, first.id, later).await.unwrap();
        assert_eq!((again.chain_no, third.chain_no), (1, 2), "{}", t.label);
        assert_eq!(again.resp_data, first.resp_data, "{}", t.label);
        assert_eq!(again.next_attempt_at, later, "{}", t.label);
        let err = notifications::resend(&t.db, 999_999, later)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "notification 999999 not found",
            "{}",
            t.label
        );
    }
}
