//! The outbox: one row per final state, claims that never overlap, leases that expire, and
//! attempts recorded with what happens next.

mod fixture;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use nkpay_store::kinds::{NotificationKind, NotificationStatus};
use nkpay_store::notifications::{
    self, AttemptRecord, FinishedAttempt, NextStep, RESPONSE_BODY_LIMIT,
};
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

fn finished(id: i64, delivered: bool, next: NextStep) -> FinishedAttempt {
    FinishedAttempt {
        id,
        attempt: attempt(delivered),
        next,
    }
}

/// Enqueues `n` trade notifications due at t0 and claims them all for `owner`; their ids,
/// oldest first.
async fn claimed(db: &nkpay_store::Db, n: usize, owner: &str) -> Vec<i64> {
    for i in 0..n {
        let note = fixture::trade_notification(&format!("NKP{i:04}"), fixture::t0());
        notifications::enqueue(db.conn(), &note, fixture::t0())
            .await
            .unwrap();
    }
    let rows = notifications::claim_due(db, owner, fixture::t0(), Duration::seconds(30), 100)
        .await
        .unwrap();
    assert_eq!(rows.len(), n);
    rows.into_iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn a_batch_records_each_row_with_its_own_next_step_in_one_go() {
    for t in databases().await {
        let ids = claimed(&t.db, 4, "a").await;
        let retry_1 = fixture::t0() + Duration::seconds(15);
        let retry_2 = fixture::t0() + Duration::seconds(45);
        let batch = [
            finished(ids[0], true, NextStep::Delivered),
            finished(ids[1], false, NextStep::RetryAt(retry_1)),
            finished(ids[2], false, NextStep::Dead),
            finished(ids[3], false, NextStep::RetryAt(retry_2)),
        ];
        let now = fixture::t0() + Duration::seconds(1);
        let kept = notifications::record_attempts(&t.db, "a", &batch, now)
            .await
            .unwrap();
        assert_eq!(kept, vec![true; 4], "{}", t.label);
        let mut got = Vec::new();
        for id in &ids {
            let row = notifications::find(t.db.conn(), *id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.attempt_count, 1, "{}", t.label);
            assert_eq!(row.lease_owner, None, "{}", t.label);
            assert_eq!(row.updated_at, now, "{}", t.label);
            let attempts = notifications::list_attempts(t.db.conn(), *id)
                .await
                .unwrap();
            assert_eq!(attempts.len(), 1, "{}", t.label);
            assert_eq!(
                attempts[0].response_body.as_ref().map(String::len),
                Some(RESPONSE_BODY_LIMIT),
                "{}",
                t.label
            );
            got.push((row.status, row.next_attempt_at));
        }
        assert_eq!(
            got,
            vec![
                (NotificationStatus::Delivered, fixture::t0()),
                (NotificationStatus::Pending, retry_1),
                (NotificationStatus::Dead, fixture::t0()),
                (NotificationStatus::Pending, retry_2),
            ],
            "{}",
            t.label
        );
        assert!(
            notifications::record_attempts(&t.db, "a", &[], now)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn a_lost_lease_in_the_middle_of_a_batch_is_detected_for_that_row_only() {
    for t in databases().await {
        let ids = claimed(&t.db, 3, "node-a").await;
        // node-a's lease on the middle row ran out and node-b claimed it (a claim takes the
        // oldest due first, so the middle row is set by hand).
        let later = fixture::t0() + Duration::seconds(31);
        let steal = sea_orm::Statement::from_sql_and_values(
            t.db.backend(),
            "UPDATE notifications SET lease_owner = $1 WHERE id = $2",
            ["node-b".into(), ids[1].into()],
        );
        sea_orm::ConnectionTrait::execute_raw(t.db.conn(), steal)
            .await
            .unwrap();
        let batch: Vec<FinishedAttempt> = ids
            .iter()
            .map(|id| finished(*id, true, NextStep::Delivered))
            .collect();
        let kept = notifications::record_attempts(&t.db, "node-a", &batch, later)
            .await
            .unwrap();
        assert_eq!(kept, vec![true, false, true], "{}", t.label);
        let statuses: Vec<_> = {
            let mut v = Vec::new();
            for id in &ids {
                let row = notifications::find(t.db.conn(), *id)
                    .await
                    .unwrap()
                    .unwrap();
                v.push((row.status, row.lease_owner));
            }
            v
        };
        assert_eq!(
            statuses,
            vec![
                (NotificationStatus::Delivered, None),
                (NotificationStatus::Pending, Some("node-b".to_string())),
                (NotificationStatus::Delivered, None),
            ],
            "{}",
            t.label
        );
        // Every attempt happened, so every one is logged, the lost one too.
        for id in &ids {
            let attempts = notifications::list_attempts(t.db.conn(), *id)
                .await
                .unwrap();
            assert_eq!(attempts.len(), 1, "{}", t.label);
        }
    }
}

#[tokio::test]
async fn a_batch_that_fails_writes_nothing_and_leaves_its_rows_to_be_retried() {
    for t in databases().await {
        let ids = claimed(&t.db, 2, "a").await;
        // An attempt for a notification that does not exist: the foreign key refuses it, and
        // with it the whole batch.
        let batch = [
            finished(ids[0], true, NextStep::Delivered),
            finished(999_999, true, NextStep::Delivered),
            finished(ids[1], true, NextStep::Delivered),
        ];
        let now = fixture::t0() + Duration::seconds(1);
        assert!(
            notifications::record_attempts(&t.db, "a", &batch, now)
                .await
                .is_err(),
            "{}",
            t.label
        );
        for id in &ids {
            let row = notifications::find(t.db.conn(), *id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (row.status, row.attempt_count, row.lease_owner.as_deref()),
                (NotificationStatus::Pending, 0, Some("a")),
                "{}: still claimed, untouched",
                t.label
            );
            assert!(
                notifications::list_attempts(t.db.conn(), *id)
                    .await
                    .unwrap()
                    .is_empty(),
                "{}",
                t.label
            );
        }
        // Once the claim runs out, the rows are claimed again: retried, not lost.
        let after = fixture::t0() + Duration::seconds(31);
        let again = notifications::claim_due(&t.db, "b", after, Duration::seconds(30), 10)
            .await
            .unwrap();
        assert_eq!(
            again.iter().map(|r| r.id).collect::<Vec<_>>(),
            ids,
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn the_callers_of_a_claim_are_looked_up_together_as_each_alone() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        fixture::insert_trade(&t.db, &seeded, "NKP0000", 1).await;
        fixture::insert_trade(&t.db, &seeded, "NKP0002", 1).await;
        // NKP0001 has no trade: its caller is gone.
        claimed(&t.db, 3, "a").await;
        let mut business = fixture::trade_notification("APPLY1", fixture::t0());
        business.kind = NotificationKind::Business;
        notifications::enqueue(t.db.conn(), &business, fixture::t0())
            .await
            .unwrap();
        let mut all = Vec::new();
        for (kind, subject) in [
            (NotificationKind::Trade, "NKP0000"),
            (NotificationKind::Trade, "NKP0001"),
            (NotificationKind::Trade, "NKP0002"),
            (NotificationKind::Business, "APPLY1"),
        ] {
            all.extend(
                notifications::list_for_subject(t.db.conn(), kind, subject)
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(all.len(), 4, "{}", t.label);
        let together = notifications::callers_of(t.db.conn(), &all).await.unwrap();
        let callers: Vec<Option<String>> = all
            .iter()
            .map(|r| together.get(&r.id).cloned().flatten())
            .collect();
        let sys = Some(fixture::SYS_ID.to_string());
        assert_eq!(
            callers,
            vec![sys.clone(), None, sys.clone(), sys],
            "{}",
            t.label
        );
        for row in &all {
            let alone = notifications::caller_of(t.db.conn(), row).await.unwrap();
            assert_eq!(together.get(&row.id), Some(&alone), "{}", t.label);
        }
        assert!(
            notifications::callers_of(t.db.conn(), &[])
                .await
                .unwrap()
                .is_empty()
        );
    }
}
