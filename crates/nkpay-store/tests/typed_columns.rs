//! Status, channel, trade type and kind columns are read as their enums: a stored string that is
//! not one of the known values is an error naming the type, never a default.

mod fixture;

use chrono::Duration;
use nkpay_core::state::RefundStatus;
use nkpay_store::merchants;
use nkpay_store::refunds;
use nkpay_store::sea_orm::ConnectionTrait;
use nkpay_store::testing::databases;
use nkpay_store::trades;
use nkpay_store::{Db, StoreError};

/// Writes `sql` behind the entities' back, as a bad migration or a manual fix could.
async fn raw(db: &Db, sql: &str) {
    db.conn().execute_unprepared(sql).await.expect(sql);
}

/// Sets `column` of the `table` row `nkp_seq_id` to `value` with raw SQL.
async fn set_column(db: &Db, table: &str, nkp_seq_id: &str, column: &str, value: &str) {
    let sql = format!("UPDATE {table} SET {column} = '{value}' WHERE nkp_seq_id = '{nkp_seq_id}'");
    raw(db, &sql).await;
}

/// Asserts `err` is the corrupt-column error for `what`, naming the `bad` value.
fn assert_corrupt(label: &str, err: &StoreError, what: &str, bad: &str) {
    match err {
        StoreError::Corrupt { what: w, reason } => {
            assert_eq!(*w, what, "{label}: {err}");
            assert!(reason.contains(&format!("{bad:?}")), "{label}: {err}");
        }
        other => panic!("{label}: expected Corrupt for {what}, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_trade_status_channel_or_trade_type_is_an_error() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        fixture::insert_trade(&t.db, &seeded, "NKP0001", 100).await;

        for (column, bad, what) in [
            ("status", "X", "TradeStatus"),
            ("channel", "unionpay", "ChannelKind"),
            ("trade_type", "T_NATIVE", "TradeType"),
        ] {
            set_column(&t.db, "trades", "NKP0001", column, bad).await;
            let err = trades::find_by_nkp_seq_id(t.db.conn(), "NKP0001")
                .await
                .unwrap_err();
            assert_corrupt(t.label, &err, what, bad);
            let err = trades::list_by_merchant(
                t.db.conn(),
                fixture::MER_ID,
                fixture::t0() - Duration::days(1),
                fixture::t0() + Duration::days(1),
                10,
            )
            .await
            .unwrap_err();
            assert_corrupt(t.label, &err, what, bad);
            // Put the known value back before the next column.
            let good = match column {
                "status" => "P",
                "channel" => "wechat",
                _ => "T_JSAPI",
            };
            set_column(&t.db, "trades", "NKP0001", column, good).await;
        }
        let trade = trades::find_by_nkp_seq_id(t.db.conn(), "NKP0001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(trade.trans_amt, 100, "{}", t.label);
    }
}

#[tokio::test]
async fn unknown_refund_status_is_an_error() {
    for t in databases().await {
        let seeded = fixture::seed(&t.db, &fixture::sealer()).await;
        fixture::paid_trade(&t.db, &seeded, "NKP0001", 100).await;
        refunds::create_reserved(
            &t.db,
            &fixture::new_refund("RFD0001", "NKP0001", "RREQ1", 40),
            fixture::t0(),
        )
        .await
        .unwrap();
        // "C" is a trade status, not a refund one.
        set_column(&t.db, "refunds", "RFD0001", "status", "C").await;
        let err = refunds::find_by_nkp_seq_id(t.db.conn(), "RFD0001")
            .await
            .unwrap_err();
        assert_corrupt(t.label, &err, "RefundStatus", "C");

        set_column(&t.db, "refunds", "RFD0001", "status", "P").await;
        let refund = refunds::find_by_nkp_seq_id(t.db.conn(), "RFD0001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(refund.status, RefundStatus::Processing, "{}", t.label);
    }
}

#[tokio::test]
async fn unknown_stored_word_is_an_error() {
    for t in databases().await {
        fixture::seed(&t.db, &fixture::sealer()).await;
        raw(
            &t.db,
            &format!(
                "UPDATE merchants SET status = 'Active' WHERE mer_id = '{}'",
                fixture::MER_ID
            ),
        )
        .await;
        let err = merchants::find_merchant(t.db.conn(), fixture::MER_ID)
            .await
            .unwrap_err();
        assert_corrupt(t.label, &err, "RecordStatus", "Active");
    }
}
