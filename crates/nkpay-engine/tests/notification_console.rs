//! What the console reads and does: counts and latency, filtered listings, and re-sending a
//! merchant's notifications over a time range, on SQLite and PostgreSQL.

mod notification_support;

use chrono::{TimeDelta, Utc};
use nkpay_engine::EngineError;
use nkpay_engine::notifications::{Dispatcher, console, stats};
use nkpay_store::kinds::{NotificationKind, NotificationStatus};
use nkpay_store::notification_console::NotificationFilter;
use nkpay_store::notifications::{self, NewNotification};
use nkpay_store::testing::databases;
use notification_support::fixtures::*;
use notification_support::receiver::{Receiver, Reply};

const OTHER: &str = "6666000000000002";

/// Waits until the retry of notification `id` is due (the time its row records).
async fn retry_due(db: &nkpay_store::Db, id: i64) {
    wait_for(
        &format!("the retry of notification {id} to come due"),
        std::time::Duration::from_secs(60),
        || async { row(db, id).await.next_attempt_at <= Utc::now() },
    )
    .await;
}

#[tokio::test]
async fn stats_count_each_state_and_the_latency_of_recent_attempts() {
    for t in databases().await {
        let rx = Receiver::start(|h| match h.path.as_str() {
            "/ok" => Reply::Status(200, "ok".into()),
            _ => Reply::Status(500, "no".into()),
        })
        .await;
        let ok = enqueue(&t.db, MER_ID, "T0001", &rx.url("/ok")).await;
        let bad = enqueue(&t.db, MER_ID, "T0002", &rx.url("/bad")).await;
        let d = Dispatcher::new(t.db.clone(), signer(), config(&[1]), "node-stats").expect("d");
        d.run_once().await.expect("round 1");
        retry_due(&t.db, bad).await;
        d.run_once().await.expect("round 2");
        assert_eq!(
            row(&t.db, ok).await.status,
            NotificationStatus::Delivered,
            "{}",
            t.label
        );
        assert_eq!(
            row(&t.db, bad).await.status,
            NotificationStatus::Dead,
            "{}",
            t.label
        );

        let now = Utc::now();
        let later = NewNotification {
            mer_id: MER_ID.into(),
            kind: NotificationKind::Refund,
            subject_nkp_seq_id: "T0003".into(),
            notify_url: rx.url("/ok"),
            resp_data: resp_data(MER_ID, "T0003"),
            first_attempt_at: now + TimeDelta::hours(1),
        };
        notifications::enqueue(t.db.conn(), &later, now)
            .await
            .expect("enqueue");
        enqueue(&t.db, MER_ID, "T0004", &rx.url("/ok")).await;
        enqueue(&t.db, MER_ID, "T0005", &rx.url("/ok")).await;
        // Another node holds one of the due ones right now.
        let held =
            notifications::claim_due(&t.db, "elsewhere", Utc::now(), TimeDelta::seconds(60), 1)
                .await
                .expect("claim");
        assert_eq!(held.len(), 1);

        let s = stats(&t.db, Utc::now()).await.expect("stats");
        assert_eq!(
            (s.pending, s.due, s.in_flight, s.delivered, s.dead),
            (3, 1, 1, 1, 1),
            "{}: {s:?}",
            t.label
        );
        assert_eq!(s.recent_attempts, 3, "{}", t.label);
        let (p50, p95, max) = (
            s.latency_p50_ms.expect("p50"),
            s.latency_p95_ms.expect("p95"),
            s.latency_max_ms.expect("max"),
        );
        assert!(0 <= p50 && p50 <= p95 && p95 <= max && max < 1000, "{s:?}");
    }
}

#[tokio::test]
async fn listings_filter_by_status_merchant_and_page_newest_first() {
    for t in databases().await {
        let rx = Receiver::start(|_| Reply::Status(200, "ok".into())).await;
        let a = enqueue(&t.db, MER_ID, "L0001", &rx.url("/")).await;
        let b = enqueue(&t.db, OTHER, "L0002", &rx.url("/")).await;
        let c = enqueue(&t.db, MER_ID, "L0003", &rx.url("/")).await;
        Dispatcher::new(t.db.clone(), signer(), config(&[10]), "n")
            .expect("d")
            .run_once()
            .await
            .expect("round");
        let d = enqueue(&t.db, MER_ID, "L0004", &rx.url("/")).await;

        let ids = |rows: Vec<nkpay_store::entity::notification::Model>| {
            rows.into_iter().map(|r| r.id).collect::<Vec<_>>()
        };
        let all = NotificationFilter::default();
        assert_eq!(
            ids(console::list(&t.db, &all, 50).await.expect("list")),
            [d, c, b, a]
        );
        let mine = NotificationFilter {
            mer_id: Some(MER_ID.into()),
            ..Default::default()
        };
        assert_eq!(
            ids(console::list(&t.db, &mine, 2).await.expect("list")),
            [d, c]
        );
        let next = NotificationFilter {
            before_id: Some(c),
            ..mine.clone()
        };
        assert_eq!(
            ids(console::list(&t.db, &next, 2).await.expect("list")),
            [a]
        );
        let pending = NotificationFilter {
            status: Some(NotificationStatus::Pending),
            ..Default::default()
        };
        assert_eq!(
            ids(console::list(&t.db, &pending, 50).await.expect("list")),
            [d]
        );
        let future = NotificationFilter {
            created_from: Some(Utc::now() + TimeDelta::minutes(1)),
            ..Default::default()
        };
        assert!(
            console::list(&t.db, &future, 50)
                .await
                .expect("list")
                .is_empty()
        );
        let by_seq = NotificationFilter {
            subject_nkp_seq_id: Some("L0002".into()),
            ..Default::default()
        };
        assert_eq!(
            ids(console::list(&t.db, &by_seq, 50).await.expect("list")),
            [b]
        );
    }
}

#[tokio::test]
async fn a_range_resend_opens_one_new_chain_per_finished_notification_of_the_merchant() {
    for t in databases().await {
        let rx = Receiver::start(|h| match h.path.as_str() {
            "/ok" => Reply::Status(200, "ok".into()),
            _ => Reply::Status(500, "no".into()),
        })
        .await;
        let from = Utc::now() - TimeDelta::seconds(1);
        let delivered = enqueue(&t.db, MER_ID, "R0001", &rx.url("/ok")).await;
        let dead = enqueue(&t.db, MER_ID, "R0002", &rx.url("/bad")).await;
        let other = enqueue(&t.db, OTHER, "R0003", &rx.url("/ok")).await;
        let d = Dispatcher::new(t.db.clone(), signer(), config(&[1]), "n").expect("d");
        d.run_once().await.expect("round 1");
        retry_due(&t.db, dead).await;
        d.run_once().await.expect("round 2");
        let pending = enqueue(&t.db, MER_ID, "R0004", &rx.url("/ok")).await;
        let to = Utc::now() + TimeDelta::seconds(1);
        assert_eq!(
            row(&t.db, dead).await.status,
            NotificationStatus::Dead,
            "{}",
            t.label
        );

        let done = console::resend_range(&t.db, MER_ID, from, to, Utc::now())
            .await
            .expect("range resend");
        assert_eq!(done.resent.len(), 2, "{}: {done:?}", t.label);
        assert_eq!(done.skipped_pending, [pending]);
        for (old, new) in [(delivered, done.resent[0]), (dead, done.resent[1])] {
            let n = row(&t.db, new).await;
            let o = row(&t.db, old).await;
            assert_eq!((n.chain_no, n.status.as_str()), (1, "pending"));
            assert_eq!(n.subject_nkp_seq_id, o.subject_nkp_seq_id);
            assert_eq!(attempts(&t.db, old).await.len(), o.attempt_count as usize);
        }
        assert_eq!(row(&t.db, other).await.chain_no, 0);
        assert!(
            console::list(
                &t.db,
                &NotificationFilter {
                    mer_id: Some(OTHER.into()),
                    ..Default::default()
                },
                50
            )
            .await
            .expect("list")
            .len()
                == 1,
            "{}: another merchant's notifications are untouched",
            t.label
        );

        // Run again at once: every subject now has a pending chain, nothing is doubled.
        let again = console::resend_range(&t.db, MER_ID, from, to, Utc::now())
            .await
            .expect("again");
        assert!(again.resent.is_empty(), "{again:?}");
        assert_eq!(again.skipped_pending.len(), 3);

        let bad = console::resend_range(&t.db, MER_ID, to, from, Utc::now()).await;
        assert!(matches!(bad, Err(EngineError::Invalid { .. })), "{bad:?}");
        let wide =
            console::resend_range(&t.db, MER_ID, from - TimeDelta::days(40), to, Utc::now()).await;
        assert!(matches!(wide, Err(EngineError::Invalid { .. })), "{wide:?}");
    }
}
