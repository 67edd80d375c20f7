//! The schema applies cleanly on both databases, a second run is a no-op, and every entity
//! reads its table.

mod fixture;

use nkpay_core::state::TradeStatus;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::entity::*;
use nkpay_store::sea_orm::{EntityTrait, PaginatorTrait};
use nkpay_store::testing::databases;

#[tokio::test]
async fn migrations_apply_cleanly_and_a_second_run_changes_nothing() {
    for t in databases().await {
        nkpay_store::migrate(&t.db)
            .await
            .unwrap_or_else(|e| panic!("{}: second migrate: {e}", t.label));
        nkpay_store::migrate(&t.db)
            .await
            .unwrap_or_else(|e| panic!("{}: third migrate: {e}", t.label));
        let c = t.db.conn();
        // Each entity selects every column it declares, so a mismatch with the migration fails.
        assert_eq!(
            service_provider::Entity::find().count(c).await.unwrap(),
            0,
            "{}",
            t.label
        );
        merchant::Entity::find().all(c).await.unwrap();
        merchant_channel::Entity::find().all(c).await.unwrap();
        merchant_appid::Entity::find().all(c).await.unwrap();
        channel_account::Entity::find().all(c).await.unwrap();
        platform_key::Entity::find().all(c).await.unwrap();
        trade::Entity::find().all(c).await.unwrap();
        refund::Entity::find().all(c).await.unwrap();
        notification::Entity::find().all(c).await.unwrap();
        notification_attempt::Entity::find().all(c).await.unwrap();
        channel_inbound_message::Entity::find()
            .all(c)
            .await
            .unwrap();
        channel_exchange::Entity::find().all(c).await.unwrap();
        incident::Entity::find().all(c).await.unwrap();
        admin_user::Entity::find().all(c).await.unwrap();
        audit_log::Entity::find().all(c).await.unwrap();
        statement_file::Entity::find().all(c).await.unwrap();
        node_lease::Entity::find().all(c).await.unwrap();
    }
}

#[tokio::test]
async fn seeded_rows_read_back_through_the_entities() {
    for t in databases().await {
        let sealer = fixture::sealer();
        let seeded = fixture::seed(&t.db, &sealer).await;
        let trade = fixture::insert_trade(&t.db, &seeded, "NKP0001", 1234).await;
        assert_eq!(trade.trans_amt, 1234, "{}", t.label);
        assert_eq!(trade.status, TradeStatus::Processing, "{}", t.label);
        assert_eq!(trade.channel, ChannelKind::Wechat, "{}", t.label);
        assert_eq!(trade.created_at, fixture::t0(), "{}", t.label);
        assert_eq!(trade.goods_desc, "一杯咖啡", "{}", t.label);
    }
}

#[tokio::test]
async fn sqlite_connect_creates_the_parent_directory() {
    let dir = std::env::temp_dir().join(format!("nkpay-store-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let url = format!("sqlite://{}/nested/nkpay.db", dir.display());
    let db = nkpay_store::connect(&url).await.expect("connect");
    nkpay_store::migrate(&db).await.expect("migrate");
    assert!(dir.join("nested/nkpay.db").exists());
    db.close().await.expect("close");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[tokio::test]
async fn unknown_url_scheme_is_refused_by_name() {
    let err = nkpay_store::connect("mysql://root@localhost/x")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "database URL must start with sqlite: or postgres:// (got scheme \"mysql\")"
    );
}
