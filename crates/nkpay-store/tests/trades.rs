//! Trades: unique keys, lookups, and state changes that happen once however many race.

mod fixture;

use std::sync::Arc;

use nkpay_core::state::TradeStatus;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::StoreError;
use nkpay_store::kinds::NotificationKind;
use nkpay_store::notifications;
use nkpay_store::testing::databases;
use nkpay_store::trades::{self, FinalState, Placement};

#[tokio::test]
async fn duplicate_trade_request_is_refused_as_duplicate() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        let first = fixture::new_trade(&seeded, "NKP0001", "REQ1", 100);
        trades::insert(t.db.conn(), &first, fixture::t0())
            .await
            .unwrap();

        // Same (mer_id, req_date, req_seq_id), new nkp_seq_id.
        let again = fixture::new_trade(&seeded, "NKP0002", "REQ1", 100);
        let err = trades::insert(t.db.conn(), &again, fixture::t0())
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Duplicate { what: "trade", .. }),
            "{}: {err}",
            t.label
        );

        // Same nkp_seq_id, new request id.
        let clash = fixture::new_trade(&seeded, "NKP0001", "REQ2", 100);
        let err = trades::insert(t.db.conn(), &clash, fixture::t0())
            .await
            .unwrap_err();
        assert!(err.is_duplicate(), "{}: {err}", t.label);

        // Another day, same req_seq_id: a different request.
        let mut next_day = fixture::new_trade(&seeded, "NKP0003", "REQ1", 100);
        next_day.req_date = "20261123".into();
        trades::insert(t.db.conn(), &next_day, fixture::t0())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn trade_is_found_by_request_id_platform_id_and_channel_order_id() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        let c = t.db.conn();
        let inserted = trades::insert(
            c,
            &fixture::new_trade(&seeded, "NKP0001", "REQ1", 100),
            fixture::t0(),
        )
        .await
        .unwrap();
        let by_req = trades::find_by_req(c, fixture::MER_ID, "20261122", "REQ1")
            .await
            .unwrap();
        assert_eq!(by_req.as_ref(), Some(&inserted), "{}", t.label);
        let by_nkp = trades::find_by_nkp_seq_id(c, "NKP0001").await.unwrap();
        assert_eq!(by_nkp.as_ref(), Some(&inserted), "{}", t.label);
        assert!(
            trades::find_by_nkp_seq_id(c, "NKP9999")
                .await
                .unwrap()
                .is_none()
        );

        let placed = Placement {
            pay_info: Some(r#"{"appId":"wx8888888888888888"}"#.into()),
            qr_code: None,
            party_order_id: Some("4200000001".into()),
        };
        assert!(
            trades::record_placement(c, "NKP0001", &placed, fixture::t0())
                .await
                .unwrap()
        );
        let by_party = trades::find_by_party_order_id(c, ChannelKind::Wechat, "4200000001")
            .await
            .unwrap()
            .expect("found by transaction_id");
        assert_eq!(by_party.nkp_seq_id, "NKP0001", "{}", t.label);
        assert_eq!(by_party.pay_info, placed.pay_info, "{}", t.label);
        assert_eq!(by_party.version, 1, "{}", t.label);
        assert!(
            trades::find_by_party_order_id(c, ChannelKind::Alipay, "4200000001")
                .await
                .unwrap()
                .is_none(),
            "{}: party ids are per channel",
            t.label
        );
    }
}

#[tokio::test]
async fn party_order_id_is_unique_per_channel() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        let c = t.db.conn();
        fixture::insert_trade(&t.db, &seeded, "NKP0001", 100).await;
        fixture::insert_trade(&t.db, &seeded, "NKP0002", 100).await;
        let placed = Placement {
            party_order_id: Some("4200000001".into()),
            ..Placement::default()
        };
        assert!(
            trades::record_placement(c, "NKP0001", &placed, fixture::t0())
                .await
                .unwrap()
        );
        let err = trades::record_placement(c, "NKP0002", &placed, fixture::t0())
            .await
            .unwrap_err();
        assert!(err.is_duplicate(), "{}: {err}", t.label);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_finalizations_have_exactly_one_winner_and_one_notification() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        fixture::insert_trade(&t.db, &seeded, "NKP0001", 100).await;
        let db = Arc::new(t.db.clone());
        let mut tasks = Vec::new();
        for i in 0..20 {
            let db = Arc::clone(&db);
            tasks.push(tokio::spawn(async move {
                let final_state = FinalState {
                    party_order_id: Some("4200000001".into()),
                    fee_amt: Some(fixture::fen(i)),
                    ..fixture::success()
                };
                let note = fixture::trade_notification("NKP0001", fixture::t0());
                trades::finalize(&db, "NKP0001", &final_state, Some(&note), fixture::t0()).await
            }));
        }
        let mut winners = 0;
        for task in tasks {
            if task
                .await
                .expect("task")
                .unwrap_or_else(|e| panic!("{}: {e}", t.label))
            {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "{}", t.label);
        let notes =
            notifications::list_for_subject(t.db.conn(), NotificationKind::Trade, "NKP0001")
                .await
                .unwrap();
        assert_eq!(notes.len(), 1, "{}", t.label);
        let trade = trades::find_by_nkp_seq_id(t.db.conn(), "NKP0001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(trade.status, TradeStatus::Succeeded, "{}", t.label);
        assert_eq!(trade.version, 1, "{}: exactly one UPDATE landed", t.label);
        assert_eq!(trade.next_query_at, None, "{}: query job ended", t.label);
    }
}

#[tokio::test]
async fn finalized_trade_does_not_move_again() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        fixture::paid_trade(&t.db, &seeded, "NKP0001", 100).await;
        let close = FinalState {
            status: TradeStatus::Closed,
            ..fixture::success()
        };
        let note = fixture::trade_notification("NKP0001", fixture::t0());
        let moved = trades::finalize(&t.db, "NKP0001", &close, Some(&note), fixture::t0())
            .await
            .unwrap();
        assert!(!moved, "{}", t.label);
        let trade = trades::find_by_nkp_seq_id(t.db.conn(), "NKP0001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(trade.status, TradeStatus::Succeeded, "{}", t.label);
        let notes =
            notifications::list_for_subject(t.db.conn(), NotificationKind::Trade, "NKP0001")
                .await
                .unwrap();
        assert!(
            notes.is_empty(),
            "{}: a lost race writes no notification",
            t.label
        );
    }
}

#[tokio::test]
async fn settling_to_processing_is_refused() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        fixture::insert_trade(&t.db, &seeded, "NKP0001", 100).await;
        let bad = FinalState {
            status: TradeStatus::Processing,
            ..fixture::success()
        };
        let err = trades::finalize(&t.db, "NKP0001", &bad, None, fixture::t0())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid final_state.status: must be a final state (S, F or C)",
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn close_request_is_recorded_once_and_only_on_a_processing_trade() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        let c = t.db.conn();
        fixture::insert_trade(&t.db, &seeded, "NKP0001", 100).await;
        assert!(
            trades::request_close(c, "NKP0001", "20261122", "CLOSE1", fixture::t0())
                .await
                .unwrap()
        );
        assert!(
            !trades::request_close(c, "NKP0001", "20261122", "CLOSE2", fixture::t0())
                .await
                .unwrap()
        );
        let trade = trades::find_by_nkp_seq_id(c, "NKP0001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            trade.close_req_seq_id.as_deref(),
            Some("CLOSE1"),
            "{}",
            t.label
        );
        assert_eq!(trade.close_requested_at, Some(fixture::t0()), "{}", t.label);

        fixture::paid_trade(&t.db, &seeded, "NKP0002", 100).await;
        assert!(
            !trades::request_close(c, "NKP0002", "20261122", "CLOSE3", fixture::t0())
                .await
                .unwrap()
        );
    }
}

/// The placement and the first answer go in together, once, and only on a processing trade
/// without an answer: when they are refused, neither is stored.
#[tokio::test]
async fn placement_and_first_answer_are_stored_together_or_not_at_all() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        let c = t.db.conn();
        fixture::insert_trade(&t.db, &seeded, "NKP0001", 100).await;
        let placed = Placement {
            pay_info: Some(r#"{"appId":"wx8888888888888888"}"#.into()),
            qr_code: None,
            party_order_id: None,
        };
        assert!(
            trades::record_placement_and_answer(c, "NKP0001", &placed, "first", fixture::t0())
                .await
                .unwrap(),
            "{}",
            t.label
        );
        let other = Placement {
            pay_info: Some("other".into()),
            ..Placement::default()
        };
        assert!(
            !trades::record_placement_and_answer(c, "NKP0001", &other, "second", fixture::t0())
                .await
                .unwrap(),
            "{}: an answer is kept once",
            t.label
        );
        let trade = trades::find_by_nkp_seq_id(c, "NKP0001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (trade.pay_info.as_deref(), trade.first_response.as_deref()),
            (placed.pay_info.as_deref(), Some("first")),
            "{}",
            t.label
        );
        assert_eq!(trade.version, 1, "{}: one UPDATE", t.label);

        // A trade that is no longer processing takes neither.
        fixture::paid_trade(&t.db, &seeded, "NKP0002", 100).await;
        assert!(
            !trades::record_placement_and_answer(c, "NKP0002", &placed, "late", fixture::t0())
                .await
                .unwrap(),
            "{}",
            t.label
        );
        let paid = trades::find_by_nkp_seq_id(c, "NKP0002")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (paid.pay_info, paid.first_response),
            (None, None),
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn first_response_is_kept_and_never_overwritten() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        let c = t.db.conn();
        fixture::insert_trade(&t.db, &seeded, "NKP0001", 100).await;
        assert!(
            trades::record_first_response(c, "NKP0001", "first", fixture::t0())
                .await
                .unwrap()
        );
        assert!(
            !trades::record_first_response(c, "NKP0001", "second", fixture::t0())
                .await
                .unwrap()
        );
        let trade = trades::find_by_nkp_seq_id(c, "NKP0001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            trade.first_response.as_deref(),
            Some("first"),
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn a_close_request_id_is_taken_once_and_its_first_answer_kept() {
    use nkpay_store::trade_close_requests::{self as closes, NewCloseRequest};
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        let c = t.db.conn();
        let now = fixture::t0();
        trades::insert(c, &fixture::new_trade(&seeded, "NKP0001", "REQ1", 100), now)
            .await
            .unwrap();
        let new = NewCloseRequest {
            mer_id: fixture::MER_ID.into(),
            req_date: "20261122".into(),
            req_seq_id: "CLOSE1".into(),
            org_nkp_seq_id: "NKP0001".into(),
            request_hash: "a".repeat(64),
        };
        let row = closes::insert(c, &new, now).await.unwrap();
        let err = closes::insert(c, &new, now).await.unwrap_err();
        assert!(err.is_duplicate(), "{}: {err}", t.label);
        assert!(
            closes::record_first_response(c, row.id, "first", now)
                .await
                .unwrap()
        );
        assert!(
            !closes::record_first_response(c, row.id, "second", now)
                .await
                .unwrap()
        );
        let found = closes::find_by_req(c, fixture::MER_ID, "20261122", "CLOSE1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            found.first_response.as_deref(),
            Some("first"),
            "{}",
            t.label
        );
        assert_eq!(closes::find(c, row.id).await.unwrap(), Some(found));
        assert!(
            closes::find_by_req(c, fixture::MER_ID, "20261122", "CLOSE2")
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn an_unknown_create_is_repeated_a_bounded_number_of_times_and_resolved_once() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        let c = t.db.conn();
        let now = fixture::t0();
        fixture::insert_trade(&t.db, &seeded, "NKP0001", 34).await;
        // No repeat before the outcome is known to be unknown.
        assert!(
            !trades::take_create_repeat(c, "NKP0001", 2, now)
                .await
                .unwrap()
        );
        assert!(
            trades::record_create_unknown(c, "NKP0001", now)
                .await
                .unwrap()
        );
        assert!(
            !trades::record_create_unknown(c, "NKP0001", now)
                .await
                .unwrap()
        );
        assert!(
            trades::take_create_repeat(c, "NKP0001", 2, now)
                .await
                .unwrap()
        );
        assert!(
            trades::take_create_repeat(c, "NKP0001", 2, now)
                .await
                .unwrap()
        );
        assert!(
            !trades::take_create_repeat(c, "NKP0001", 2, now)
                .await
                .unwrap(),
            "{}: the limit holds",
            t.label
        );
        let placed = Placement {
            pay_info: Some("{\"package\":\"prepay_id=wx1\"}".into()),
            ..Placement::default()
        };
        assert!(
            trades::record_repeated_placement(c, "NKP0001", &placed, "answer", now)
                .await
                .unwrap()
        );
        assert!(
            !trades::record_repeated_placement(c, "NKP0001", &placed, "second", now)
                .await
                .unwrap(),
            "{}: placed once",
            t.label
        );
        let row = trades::find_by_nkp_seq_id(c, "NKP0001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.create_unknown_at, None, "{}", t.label);
        assert_eq!(row.create_repeats, 2);
        assert_eq!(row.pay_info, placed.pay_info);
        assert_eq!(row.first_response.as_deref(), Some("answer"));
        // A trade placed at once is never taken for an unknown one.
        fixture::insert_trade(&t.db, &seeded, "NKP0002", 34).await;
        assert!(
            trades::record_placement(c, "NKP0002", &placed, now)
                .await
                .unwrap()
        );
        assert!(
            !trades::record_create_unknown(c, "NKP0002", now)
                .await
                .unwrap()
        );
    }
}

/// The model `insert` answers is built from what it wrote, not read back: it must be the row
/// as stored, also when the clock has nanoseconds (PostgreSQL keeps microseconds).
#[tokio::test]
async fn inserted_trade_is_the_row_as_stored_to_the_microsecond() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        let c = t.db.conn();
        let now = fixture::t0() + chrono::Duration::nanoseconds(123_456_789);
        let mut new = fixture::new_trade(&seeded, "NKP0001", "REQ1", 100);
        new.next_query_at = Some(now + chrono::Duration::nanoseconds(5_000_999));
        let inserted = trades::insert(c, &new, now).await.unwrap();
        assert!(inserted.id > 0, "{}", t.label);
        assert_eq!(
            inserted.created_at.timestamp_subsec_nanos(),
            123_456_000,
            "{}",
            t.label
        );
        let stored = trades::find_by_nkp_seq_id(c, "NKP0001").await.unwrap();
        assert_eq!(stored.as_ref(), Some(&inserted), "{}", t.label);
    }
}
