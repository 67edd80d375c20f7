//! The fee a refund returns is computed while its transaction holds the trade (issue 12
//! "Fees", `nkpay_core::fee::refund_fee`): refunds of one trade settled all at once return, in
//! total, exactly `floor(fee × refunded / trans_amt)` — the whole fee once all is refunded —,
//! each its share rounded down or one fen more, and the notification enqueued with each carries
//! that refund's fee. A failed refund returns nothing. SQLite and PostgreSQL.

mod fixture;

use std::sync::Arc;

use nkpay_core::fee;
use nkpay_core::money::Money;
use nkpay_core::state::{RefundStatus, TradeStatus};
use nkpay_store::kinds::NotificationKind;
use nkpay_store::notifications::{self, NewNotification};
use nkpay_store::refunds::{self, RefundFinalState, Reservation};
use nkpay_store::testing::databases;
use nkpay_store::trades::{self, FinalState};

/// 10.01 yuan at 0.70%: 7.007 fen, charged 7 fen.
const TRANS_AMT: i64 = 1001;
const RATE_BP: i32 = 70;

fn settled(status: RefundStatus) -> RefundFinalState {
    RefundFinalState {
        status,
        party_refund_id: None,
        end_time: Some(fixture::t0()),
        bank_code: None,
        bank_message: None,
    }
}

/// A trade of [`TRANS_AMT`] paid with its fee at [`RATE_BP`].
async fn paid_with_fee(db: &nkpay_store::Db, seeded: &fixture::Seeded) -> i64 {
    fixture::insert_trade(db, seeded, "NKP0001", TRANS_AMT).await;
    let charged = fee::trade_fee(fixture::fen(TRANS_AMT), RATE_BP).expect("fee");
    let paid = FinalState {
        fee_amt: Some(charged),
        ..fixture::success()
    };
    assert!(
        trades::finalize(db, "NKP0001", &paid, None, fixture::t0())
            .await
            .expect("pay")
    );
    assert_eq!(
        trades::find_by_nkp_seq_id(db.conn(), "NKP0001")
            .await
            .expect("read")
            .expect("trade")
            .status,
        TradeStatus::Succeeded
    );
    charged.fen()
}

async fn reserve(db: &nkpay_store::Db, id: &str, amount: i64) {
    let new = fixture::new_refund(id, "NKP0001", id, amount);
    let res = refunds::create_reserved(db, &new, fixture::t0())
        .await
        .expect("reserve");
    assert!(matches!(res, Reservation::Reserved(_)), "{id}: {res:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refunds_settled_at_once_return_exactly_the_fee_and_notify_each_share() {
    for t in databases().await {
        let l = t.label;
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        let charged = paid_with_fee(&t.db, &seeded).await;
        assert_eq!(charged, 7, "{l}");
        // 13 refunds of 0.77 yuan make 10.01: each share is 7 × 77 / 1001 = 0.54 fen.
        let ids: Vec<String> = (0..13).map(|i| format!("RFD{i:04}")).collect();
        for id in &ids {
            reserve(&t.db, id, 77).await;
        }
        let db = Arc::new(t.db.clone());
        let mut tasks = Vec::new();
        for id in ids.clone() {
            let db = Arc::clone(&db);
            tasks.push(tokio::spawn(async move {
                let subject = id.clone();
                let notice = move |fee: Money| {
                    Some(NewNotification {
                        mer_id: fixture::MER_ID.into(),
                        kind: NotificationKind::Refund,
                        subject_nkp_seq_id: subject,
                        notify_url: "https://merchant.example/refund-notify".into(),
                        resp_data: fee.to_yuan(),
                        first_attempt_at: fixture::t0(),
                    })
                };
                let won = refunds::finalize_with(
                    &db,
                    &id,
                    &settled(RefundStatus::Succeeded),
                    notice,
                    fixture::t0(),
                )
                .await;
                (id, won)
            }));
        }
        let mut total = 0;
        for task in tasks {
            let (id, won) = task.await.expect("task");
            assert!(won.unwrap_or_else(|e| panic!("{l} {id}: {e}")), "{l} {id}");
            let r = refunds::find_by_nkp_seq_id(t.db.conn(), &id)
                .await
                .expect("read")
                .expect("refund");
            assert!(r.fee_amt == 0 || r.fee_amt == 1, "{l} {id}: {}", r.fee_amt);
            let notes = notifications::list_for_subject(t.db.conn(), NotificationKind::Refund, &id)
                .await
                .expect("notifications");
            assert_eq!(notes.len(), 1, "{l} {id}");
            assert_eq!(
                notes[0].resp_data,
                Money::yuan_of_fen(r.fee_amt),
                "{l} {id}"
            );
            total += r.fee_amt;
        }
        assert_eq!(total, charged, "{l}: exactly the whole fee came back");
        let trade = trades::find_by_nkp_seq_id(t.db.conn(), "NKP0001")
            .await
            .expect("read")
            .expect("trade");
        assert_eq!(
            (
                trade.refunded_amt,
                trade.refund_in_flight_amt,
                trade.fee_amt
            ),
            (TRANS_AMT, 0, 7),
            "{l}"
        );
    }
}

#[tokio::test]
async fn a_failed_refund_returns_no_fee_and_the_next_one_takes_the_share() {
    for t in databases().await {
        let l = t.label;
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        paid_with_fee(&t.db, &seeded).await;
        reserve(&t.db, "RFD0001", 500).await;
        let failed = RefundFinalState {
            bank_code: Some("REFUND_FAIL".into()),
            ..settled(RefundStatus::Failed)
        };
        assert!(
            refunds::finalize(&t.db, "RFD0001", &failed, None, fixture::t0())
                .await
                .expect("fail")
        );
        let r = refunds::find_by_nkp_seq_id(t.db.conn(), "RFD0001")
            .await
            .expect("read")
            .expect("refund");
        assert_eq!((r.status, r.fee_amt), (RefundStatus::Failed, 0), "{l}");

        // 5.00 of 10.01 refunded: floor(7 × 500 / 1001) = 3 fen; the rest returns the other 4.
        for (id, amount, returned) in [("RFD0002", 500, 3), ("RFD0003", 501, 4)] {
            reserve(&t.db, id, amount).await;
            let ok = settled(RefundStatus::Succeeded);
            assert!(
                refunds::finalize(&t.db, id, &ok, None, fixture::t0())
                    .await
                    .expect("settle")
            );
            // A second settle changes nothing.
            assert!(
                !refunds::finalize(&t.db, id, &ok, None, fixture::t0())
                    .await
                    .expect("again")
            );
            let r = refunds::find_by_nkp_seq_id(t.db.conn(), id)
                .await
                .expect("read")
                .expect("refund");
            assert_eq!(r.fee_amt, returned, "{l} {id}");
        }
    }
}
