//! Channel-query jobs: processing trades and refunds come due, are claimed under a lease,
//! rescheduled, and leave the queue once settled.

mod fixture;

use chrono::Duration;
use nkpay_store::query_jobs::{self, Reschedule};
use nkpay_store::refunds::{self, Reservation};
use nkpay_store::testing::databases;
use nkpay_store::trades;

#[tokio::test]
async fn due_processing_trades_are_claimed_once_and_rescheduled() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        fixture::insert_trade(&t.db, &seeded, "NKP0001", 100).await; // due at t0+1m
        fixture::paid_trade(&t.db, &seeded, "NKP0002", 100).await; // settled: never due
        let lease = Duration::seconds(30);
        let due_at = fixture::t0() + Duration::minutes(1);

        let early = query_jobs::claim_due_trades(&t.db, "a", fixture::t0(), lease, 10)
            .await
            .unwrap();
        assert!(early.is_empty(), "{}", t.label);
        let claimed = query_jobs::claim_due_trades(&t.db, "a", due_at, lease, 10)
            .await
            .unwrap();
        assert_eq!(
            claimed
                .iter()
                .map(|t| t.nkp_seq_id.as_str())
                .collect::<Vec<_>>(),
            vec!["NKP0001"],
            "{}",
            t.label
        );
        assert!(
            query_jobs::claim_due_trades(&t.db, "b", due_at, lease, 10)
                .await
                .unwrap()
                .is_empty(),
            "{}: held by a",
            t.label
        );

        let next = due_at + Duration::minutes(2);
        let row = [Reschedule {
            nkp_seq_id: "NKP0001".to_owned(),
            next_query_at: Some(next),
        }];
        assert_eq!(
            query_jobs::reschedule_trades(t.db.conn(), &row, "b", due_at)
                .await
                .unwrap(),
            0,
            "{}: b holds no lease",
            t.label
        );
        assert_eq!(
            query_jobs::reschedule_trades(t.db.conn(), &row, "a", due_at)
                .await
                .unwrap(),
            1,
            "{}",
            t.label
        );
        let trade = trades::find_by_nkp_seq_id(t.db.conn(), "NKP0001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(trade.query_attempts, 1, "{}", t.label);
        assert_eq!(trade.next_query_at, Some(next), "{}", t.label);
        assert_eq!(trade.query_lease_owner, None, "{}", t.label);

        let claimed = query_jobs::claim_due_trades(&t.db, "b", next, lease, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "{}", t.label);
        // Settling ends the job even while a lease is held.
        assert!(
            trades::finalize(&t.db, "NKP0001", &fixture::success(), None, next)
                .await
                .unwrap()
        );
        let far = next + Duration::hours(1);
        assert!(
            query_jobs::claim_due_trades(&t.db, "b", far, lease, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

/// A round's reschedules in one call: more rows than one statement carries (64), each with
/// its own next time or none, each counted once; a row another owner holds is left alone.
#[tokio::test]
async fn a_round_of_trades_is_rescheduled_at_once_each_with_its_own_time() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        let ids: Vec<String> = (0..70).map(|i| format!("NKP{i:04}")).collect();
        for id in &ids {
            fixture::insert_trade(&t.db, &seeded, id, 100).await;
        }
        let lease = Duration::seconds(30);
        let due_at = fixture::t0() + Duration::minutes(1);
        let claimed = query_jobs::claim_due_trades(&t.db, "a", due_at, lease, 69)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 69, "{}", t.label);
        let held: Vec<&str> = claimed.iter().map(|c| c.nkp_seq_id.as_str()).collect();
        let other = ids
            .iter()
            .find(|id| !held.contains(&id.as_str()))
            .expect("one trade left unclaimed");
        assert_eq!(
            query_jobs::claim_due_trades(&t.db, "b", due_at, lease, 10)
                .await
                .unwrap()
                .len(),
            1,
            "{}",
            t.label
        );
        // Every trade of the round, and the one b holds: a reschedules its 69 only.
        let next_of =
            |i: usize| (!i.is_multiple_of(3)).then(|| due_at + Duration::seconds(i as i64 + 1));
        let rows: Vec<Reschedule> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| Reschedule {
                nkp_seq_id: id.clone(),
                next_query_at: next_of(i),
            })
            .collect();
        assert_eq!(
            query_jobs::reschedule_trades(t.db.conn(), &rows, "a", due_at)
                .await
                .unwrap(),
            69,
            "{}",
            t.label
        );
        for (i, id) in ids.iter().enumerate() {
            let trade = trades::find_by_nkp_seq_id(t.db.conn(), id)
                .await
                .unwrap()
                .unwrap();
            if id == other {
                assert_eq!(trade.query_attempts, 0, "{}: {id} held by b", t.label);
                assert_eq!(trade.query_lease_owner.as_deref(), Some("b"), "{}", t.label);
                continue;
            }
            assert_eq!(trade.query_attempts, 1, "{}: {id} counted once", t.label);
            assert_eq!(trade.next_query_at, next_of(i), "{}: {id}", t.label);
            assert_eq!(trade.query_lease_owner, None, "{}: {id}", t.label);
            assert_eq!(trade.query_lease_until, None, "{}: {id}", t.label);
        }
        // An hour on: the 46 of a's with a next time (a third have none), and b's, whose
        // lease ran out.
        let later = due_at + Duration::hours(1);
        let again = query_jobs::claim_due_trades(&t.db, "c", later, lease, 100)
            .await
            .unwrap();
        assert_eq!(again.len(), 47, "{}", t.label);
        assert!(again.iter().any(|c| &c.nkp_seq_id == other), "{}", t.label);
    }
}

#[tokio::test]
async fn expired_trade_query_lease_comes_back() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        fixture::insert_trade(&t.db, &seeded, "NKP0001", 100).await;
        let due_at = fixture::t0() + Duration::minutes(1);
        let lease = Duration::seconds(30);
        assert_eq!(
            query_jobs::claim_due_trades(&t.db, "a", due_at, lease, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        let after = due_at + Duration::seconds(31);
        let back = query_jobs::claim_due_trades(&t.db, "b", after, lease, 10)
            .await
            .unwrap();
        assert_eq!(back.len(), 1, "{}", t.label);
        assert_eq!(
            back[0].query_lease_owner.as_deref(),
            Some("b"),
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn due_processing_refunds_are_claimed_and_rescheduled() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        fixture::paid_trade(&t.db, &seeded, "NKP0001", 1000).await;
        let new = fixture::new_refund("RFD0001", "NKP0001", "R1", 100);
        assert!(matches!(
            refunds::create_reserved(&t.db, &new, fixture::t0())
                .await
                .unwrap(),
            Reservation::Reserved(_)
        ));
        let due_at = fixture::t0() + Duration::minutes(1);
        let lease = Duration::seconds(30);
        let claimed = query_jobs::claim_due_refunds(&t.db, "a", due_at, lease, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "{}", t.label);
        let row = [Reschedule {
            nkp_seq_id: "RFD0001".to_owned(),
            next_query_at: None,
        }];
        assert_eq!(
            query_jobs::reschedule_refunds(t.db.conn(), &row, "a", due_at)
                .await
                .unwrap(),
            1,
            "{}",
            t.label
        );
        let far = due_at + Duration::days(1);
        assert!(
            query_jobs::claim_due_refunds(&t.db, "a", far, lease, 10)
                .await
                .unwrap()
                .is_empty(),
            "{}: no next time means no more queries",
            t.label
        );
    }
}

/// A stopping node gives back claims it has not worked on: one at a time (only its own), or
/// every trade and refund it still holds; they are due as before and claimable at once, their
/// attempt count untouched.
#[tokio::test]
async fn released_claims_are_claimable_at_once_and_only_the_owner_releases() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        for seq in ["NKP0001", "NKP0002", "NKP0003"] {
            fixture::insert_trade(&t.db, &seeded, seq, 100).await;
        }
        fixture::paid_trade(&t.db, &seeded, "NKP0009", 1000).await;
        let new = fixture::new_refund("RFD0001", "NKP0009", "R1", 100);
        refunds::create_reserved(&t.db, &new, fixture::t0())
            .await
            .unwrap();
        let due_at = fixture::t0() + Duration::minutes(1);
        let lease = Duration::seconds(30);
        let claimed = query_jobs::claim_due_trades(&t.db, "a", due_at, lease, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 3, "{}", t.label);
        assert_eq!(
            query_jobs::claim_due_refunds(&t.db, "a", due_at, lease, 10)
                .await
                .unwrap()
                .len(),
            1,
            "{}",
            t.label
        );

        assert!(
            !query_jobs::release_trade(t.db.conn(), "NKP0001", "b", due_at)
                .await
                .unwrap(),
            "{}: not b's",
            t.label
        );
        assert!(
            query_jobs::release_trade(t.db.conn(), "NKP0001", "a", due_at)
                .await
                .unwrap(),
            "{}",
            t.label
        );
        let back = query_jobs::claim_due_trades(&t.db, "b", due_at, lease, 10)
            .await
            .unwrap();
        assert_eq!(
            back.iter()
                .map(|r| (r.nkp_seq_id.as_str(), r.query_attempts))
                .collect::<Vec<_>>(),
            [("NKP0001", 0)],
            "{}: released before its lease ended",
            t.label
        );

        // Everything a still holds, trades and refunds, at once; b's claim stays.
        assert_eq!(
            query_jobs::release_all(t.db.conn(), "a", due_at)
                .await
                .unwrap(),
            3,
            "{}",
            t.label
        );
        let trade = trades::find_by_nkp_seq_id(t.db.conn(), "NKP0001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(trade.query_lease_owner.as_deref(), Some("b"), "{}", t.label);
        assert_eq!(
            query_jobs::claim_due_trades(&t.db, "c", due_at, lease, 10)
                .await
                .unwrap()
                .len(),
            2,
            "{}",
            t.label
        );
        assert_eq!(
            query_jobs::claim_due_refunds(&t.db, "c", due_at, lease, 10)
                .await
                .unwrap()
                .len(),
            1,
            "{}",
            t.label
        );
    }
}
