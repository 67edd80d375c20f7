//! The migration `m20261129_170000_fees` on a database that already has trades (issue 12
//! "Fees"): each existing trade takes its business's rate of that moment as `fee_rate_bp` (0
//! when the merchant has no business on the trade's channel), `refunds.fee_amt` starts at 0, and
//! the migration rolls back and forward again. SQLite and PostgreSQL.

mod fixture;

use nkpay_core::trade_type::ChannelKind;
use nkpay_migration::{Migrator, MigratorTrait};
use nkpay_store::merchant_channels::{self, MerchantChannelSetup};
use nkpay_store::refunds::{self, Reservation};
use nkpay_store::sea_orm::{ConnectionTrait, Statement};
use nkpay_store::testing::databases;
use nkpay_store::trades;

const FEES: &str = "m20261129_170000_fees";

/// How many migrations come after the fee migration, itself included.
fn steps_back_to_before_fees() -> u32 {
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let at = names
        .iter()
        .position(|n| n == FEES)
        .expect("the fee migration is registered");
    u32::try_from(names.len() - at).expect("a few migrations")
}

/// One integer column of one row, read without the entities (which know the new columns).
async fn int_column(db: &nkpay_store::Db, sql: &str) -> i64 {
    let row = db
        .conn()
        .query_one_raw(Statement::from_string(db.backend(), sql.to_owned()))
        .await
        .expect("query")
        .expect("a row");
    row.try_get_by_index::<i64>(0)
        .or_else(|_| row.try_get_by_index::<i32>(0).map(i64::from))
        .expect("an integer")
}

#[tokio::test]
async fn existing_trades_take_their_business_s_rate_and_refunds_start_at_no_fee() {
    for t in databases().await {
        let l = t.label;
        let sealer = fixture::sealer();
        let seeded = fixture::seed(&t.db, &sealer).await;
        merchant_channels::open_business(
            &t.db,
            &sealer,
            &MerchantChannelSetup {
                mer_id: fixture::MER_ID.into(),
                channel: ChannelKind::Wechat,
                channel_account_id: None,
                sub_mch_id: Some("1900000109".into()),
                appids: Vec::new(),
                jsapi_pay_dirs: Vec::new(),
                ali_app_auth_token: None,
                ali_auth_app_id: None,
                ali_seller_id: None,
                ali_smid: None,
                fee_rate_bp: 55,
            },
            fixture::t0(),
        )
        .await
        .expect("wechat business");
        // A WeChat trade (the merchant has a WeChat business) and an Alipay one (it has none).
        fixture::paid_trade(&t.db, &seeded, "NKP0001", 1000).await;
        let mut alipay = fixture::new_trade(&seeded, "NKP0002", "NKP0002", 500);
        alipay.trade_type = nkpay_core::trade_type::TradeType::ANative;
        alipay.channel_account_id = seeded.alipay_account.id;
        trades::insert(t.db.conn(), &alipay, fixture::t0())
            .await
            .expect("alipay trade");
        let res = refunds::create_reserved(
            &t.db,
            &fixture::new_refund("RFD0001", "NKP0001", "R1", 100),
            fixture::t0(),
        )
        .await
        .expect("refund");
        assert!(matches!(res, Reservation::Reserved(_)), "{l}");

        Migrator::down(t.db.conn(), Some(steps_back_to_before_fees()))
            .await
            .unwrap_or_else(|e| panic!("{l}: roll back to before {FEES}: {e}"));
        Migrator::up(t.db.conn(), None)
            .await
            .unwrap_or_else(|e| panic!("{l}: migrate up again: {e}"));

        let rate = |id: &str| format!("SELECT fee_rate_bp FROM trades WHERE nkp_seq_id = '{id}'");
        assert_eq!(int_column(&t.db, &rate("NKP0001")).await, 55, "{l}");
        assert_eq!(int_column(&t.db, &rate("NKP0002")).await, 0, "{l}");
        let refund_fee = "SELECT fee_amt FROM refunds WHERE nkp_seq_id = 'RFD0001'";
        assert_eq!(int_column(&t.db, refund_fee).await, 0, "{l}");
        // The entities read the migrated rows.
        let row = trades::find_by_nkp_seq_id(t.db.conn(), "NKP0001")
            .await
            .expect("read")
            .expect("trade");
        assert_eq!(row.fee_rate_bp, 55, "{l}");
    }
}
