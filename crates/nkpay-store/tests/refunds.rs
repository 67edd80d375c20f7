//! Refund reservations never exceed the paid amount, however many run at once, and settling
//! a refund moves the trade's sums exactly once.

mod fixture;

use std::sync::Arc;

use nkpay_core::state::RefundStatus;
use nkpay_store::refunds::{self, RefundFinalState, Reservation};
use nkpay_store::testing::databases;
use nkpay_store::trades;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_refunds_of_one_yuan_never_exceed_ten_yuan_paid() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        fixture::paid_trade(&t.db, &seeded, "NKP0001", 1000).await;
        let db = Arc::new(t.db.clone());
        let mut tasks = Vec::new();
        for i in 0..50 {
            let db = Arc::clone(&db);
            tasks.push(tokio::spawn(async move {
                let new =
                    fixture::new_refund(&format!("RFD{i:04}"), "NKP0001", &format!("R{i}"), 100);
                refunds::create_reserved(&db, &new, fixture::t0()).await
            }));
        }
        let mut reserved = 0;
        for task in tasks {
            match task
                .await
                .expect("task")
                .unwrap_or_else(|e| panic!("{}: {e}", t.label))
            {
                Reservation::Reserved(_) => reserved += 1,
                Reservation::Refused => {}
            }
        }
        assert_eq!(reserved, 10, "{}", t.label);
        let trade = trades::find_by_nkp_seq_id(t.db.conn(), "NKP0001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(trade.refund_in_flight_amt, 1000, "{}", t.label);
        assert_eq!(trade.refunded_amt, 0, "{}", t.label);
        let rows = refunds::list_for_trade(t.db.conn(), "NKP0001")
            .await
            .unwrap();
        assert_eq!(rows.len(), 10, "{}: refused refunds leave no row", t.label);
    }
}

#[tokio::test]
async fn refund_of_an_unpaid_trade_is_refused() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        fixture::insert_trade(&t.db, &seeded, "NKP0001", 1000).await;
        let new = fixture::new_refund("RFD0001", "NKP0001", "R1", 100);
        let res = refunds::create_reserved(&t.db, &new, fixture::t0())
            .await
            .unwrap();
        assert_eq!(res, Reservation::Refused, "{}", t.label);
        assert!(
            refunds::find_by_nkp_seq_id(t.db.conn(), "RFD0001")
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn duplicate_refund_request_reserves_nothing() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        fixture::paid_trade(&t.db, &seeded, "NKP0001", 1000).await;
        let first = fixture::new_refund("RFD0001", "NKP0001", "R1", 300);
        assert!(matches!(
            refunds::create_reserved(&t.db, &first, fixture::t0())
                .await
                .unwrap(),
            Reservation::Reserved(_)
        ));
        let again = fixture::new_refund("RFD0002", "NKP0001", "R1", 300);
        let err = refunds::create_reserved(&t.db, &again, fixture::t0())
            .await
            .unwrap_err();
        assert!(err.is_duplicate(), "{}: {err}", t.label);
        let trade = trades::find_by_nkp_seq_id(t.db.conn(), "NKP0001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            trade.refund_in_flight_amt, 300,
            "{}: the duplicate rolled back",
            t.label
        );
        let found = refunds::find_by_req(t.db.conn(), fixture::MER_ID, "20261122", "R1")
            .await
            .unwrap()
            .expect("first refund");
        assert_eq!(found.nkp_seq_id, "RFD0001", "{}", t.label);
    }
}

#[tokio::test]
async fn finalized_refunds_commit_or_release_their_reservation_once() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        fixture::paid_trade(&t.db, &seeded, "NKP0001", 1000).await;
        for (id, req) in [("RFD0001", "R1"), ("RFD0002", "R2")] {
            let new = fixture::new_refund(id, "NKP0001", req, 400);
            refunds::create_reserved(&t.db, &new, fixture::t0())
                .await
                .unwrap();
        }
        // 800 of 1000 in flight: 300 more does not fit.
        let over = fixture::new_refund("RFD0003", "NKP0001", "R3", 300);
        assert_eq!(
            refunds::create_reserved(&t.db, &over, fixture::t0())
                .await
                .unwrap(),
            Reservation::Refused,
            "{}",
            t.label
        );

        let ok = RefundFinalState {
            status: RefundStatus::Succeeded,
            party_refund_id: Some("5030000001".into()),
            end_time: Some(fixture::t0()),
            bank_code: None,
            bank_message: None,
        };
        let failed = RefundFinalState {
            status: RefundStatus::Failed,
            party_refund_id: None,
            end_time: None,
            bank_code: Some("REFUNDCLOSE".into()),
            bank_message: Some("closed".into()),
        };
        assert!(
            refunds::finalize(&t.db, "RFD0001", &ok, None, fixture::t0())
                .await
                .unwrap()
        );
        assert!(
            !refunds::finalize(&t.db, "RFD0001", &ok, None, fixture::t0())
                .await
                .unwrap()
        );
        assert!(
            refunds::finalize(&t.db, "RFD0002", &failed, None, fixture::t0())
                .await
                .unwrap()
        );
        assert!(
            !refunds::finalize(&t.db, "RFD0002", &ok, None, fixture::t0())
                .await
                .unwrap()
        );

        let trade = trades::find_by_nkp_seq_id(t.db.conn(), "NKP0001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(trade.refunded_amt, 400, "{}", t.label);
        assert_eq!(trade.refund_in_flight_amt, 0, "{}", t.label);
        let r1 = refunds::find_by_nkp_seq_id(t.db.conn(), "RFD0001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r1.status, RefundStatus::Succeeded, "{}", t.label);
        assert_eq!(
            r1.party_refund_id.as_deref(),
            Some("5030000001"),
            "{}",
            t.label
        );
        let r2 = refunds::find_by_nkp_seq_id(t.db.conn(), "RFD0002")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r2.status, RefundStatus::Failed, "{}", t.label);

        // What is left (600) can be refunded again.
        let rest = fixture::new_refund("RFD0004", "NKP0001", "R4", 600);
        assert!(matches!(
            refunds::create_reserved(&t.db, &rest, fixture::t0())
                .await
                .unwrap(),
            Reservation::Reserved(_)
        ));
    }
}
