//! Secrets round-trip through their sealed columns and never sit there in plaintext.

mod fixture;

use nkpay_core::secret::Secret;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::StoreError;
use nkpay_store::accounts::{self, ChannelCredentials};
use nkpay_store::kinds::AppidKind;
use nkpay_store::merchant_channels::{self, BoundAppid, MerchantChannelSetup};
use nkpay_store::platform_keys::{self, NewPlatformKey};
use nkpay_store::testing::databases;

const TOKEN: &str = "202611BB2e8b6f1a2d2c4f7e9a0b1c2d3e4f5a6b";
const SIGNING_KEY: &str =
    "-----BEGIN PRIVATE KEY-----\nPLATFORMSIGNINGKEYMATERIAL\n-----END PRIVATE KEY-----";

#[tokio::test]
async fn channel_account_secrets_round_trip_and_are_not_stored_in_plaintext() {
    for t in databases().await {
        let sealer = fixture::sealer();
        let seeded = fixture::seed(&t.db, &sealer).await;
        let wx = accounts::find_channel_account(t.db.conn(), seeded.wechat_account.id)
            .await
            .unwrap()
            .expect("stored");
        let row = format!("{wx:?}");
        assert!(
            !row.contains(fixture::WX_API_KEY),
            "{}: plaintext API key in {row}",
            t.label
        );
        assert!(wx.wx_api_key_sealed.is_some(), "{}", t.label);
        match accounts::open_channel_account(&sealer, &wx).unwrap() {
            ChannelCredentials::Wechat(c) => {
                assert_eq!(c.api_key.expose(), fixture::WX_API_KEY, "{}", t.label);
                assert_eq!(c.mch_id, "10000100", "{}", t.label);
                assert!(c.client_cert_pem.is_none(), "{}", t.label);
            }
            other => panic!("{}: expected WeChat credentials, got {other:?}", t.label),
        }

        let ali = accounts::find_default_account(t.db.conn(), ChannelKind::Alipay)
            .await
            .unwrap()
            .expect("default Alipay account");
        assert!(!format!("{ali:?}").contains("PRIVATE KEY"), "{}", t.label);
        match accounts::open_channel_account(&sealer, &ali).unwrap() {
            ChannelCredentials::Alipay(c) => {
                assert_eq!(
                    c.app_private_key.expose(),
                    fixture::ALI_PRIVATE_KEY,
                    "{}",
                    t.label
                );
                assert_eq!(
                    c.isv_pid.as_deref(),
                    Some("2088000000000000"),
                    "{}",
                    t.label
                );
                assert_eq!(format!("{:?}", c.app_private_key), "***");
            }
            other => panic!("{}: expected Alipay credentials, got {other:?}", t.label),
        }
    }
}

#[tokio::test]
async fn sealed_secret_does_not_open_under_another_key() {
    for t in databases().await {
        let sealer = fixture::sealer();
        let seeded = fixture::seed(&t.db, &sealer).await;
        let other = fixture::sealer();
        let err = accounts::open_channel_account(&other, &seeded.wechat_account).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Sealing {
                    what: "WeChat API v2 key",
                    ..
                }
            ),
            "{}: {err}",
            t.label
        );
    }
}

#[tokio::test]
async fn alipay_app_auth_token_is_sealed_on_the_merchant_business() {
    for t in databases().await {
        let sealer = fixture::sealer();
        fixture::seed(&t.db, &sealer).await;
        let setup = MerchantChannelSetup {
            mer_id: fixture::MER_ID.into(),
            channel: ChannelKind::Alipay,
            channel_account_id: None,
            sub_mch_id: None,
            appids: Vec::new(),
            jsapi_pay_dirs: Vec::new(),
            ali_app_auth_token: Some(Secret::new(TOKEN.into())),
            ali_auth_app_id: Some("2021000000000001".into()),
            ali_seller_id: Some("2088000000000001".into()),
            ali_smid: None,
            fee_rate_bp: 60,
        };
        merchant_channels::open_business(&t.db, &sealer, &setup, fixture::t0())
            .await
            .unwrap();
        let stored =
            merchant_channels::find_business(t.db.conn(), fixture::MER_ID, ChannelKind::Alipay)
                .await
                .unwrap()
                .expect("business");
        assert!(!format!("{stored:?}").contains(TOKEN), "{}", t.label);
        let opened = merchant_channels::open_app_auth_token(&sealer, &stored)
            .unwrap()
            .expect("token");
        assert_eq!(opened.expose(), TOKEN, "{}", t.label);
        let _ = BoundAppid {
            appid: String::new(),
            kind: AppidKind::Mp,
        }; // type is public
    }
}

#[tokio::test]
async fn rotating_platform_keys_keeps_one_active_key_with_its_private_half_sealed() {
    for t in databases().await {
        let sealer = fixture::sealer();
        let key = |id: &str, private: String| NewPlatformKey {
            key_id: id.into(),
            private_key: Secret::new(private),
            public_key: format!("PUB-{id}"),
        };
        let k1 = key("k1", SIGNING_KEY.into());
        let k2 = key("k2", format!("{SIGNING_KEY}2"));
        let t0 = fixture::t0();
        let retire_at = t0 + chrono::Duration::days(30);
        platform_keys::create_first(t.db.conn(), &sealer, &k1, t0)
            .await
            .unwrap();
        // A second first key (another node starting at the same time) is refused.
        let err = platform_keys::create_first(t.db.conn(), &sealer, &key("k0", "x".into()), t0)
            .await
            .unwrap_err();
        assert!(err.is_duplicate(), "{}: {err}", t.label);
        let tx = t.db.begin_write().await.unwrap();
        platform_keys::rotate_to(&tx, &sealer, &k2, retire_at, t0)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        // A rotation to an existing key id fails whole: its transaction is rolled back.
        let tx = t.db.begin_write().await.unwrap();
        let err = platform_keys::rotate_to(&tx, &sealer, &k1, retire_at, t0)
            .await
            .unwrap_err();
        assert!(err.is_duplicate(), "{}: {err}", t.label);
        drop(tx);

        let active = platform_keys::active_key(t.db.conn())
            .await
            .unwrap()
            .expect("active key");
        assert_eq!(active.key_id, "k2", "{}", t.label);
        assert!(
            !active.private_key_sealed.contains("PRIVATE KEY"),
            "{}",
            t.label
        );
        let opened = platform_keys::open_private_key(&sealer, &active).unwrap();
        assert_eq!(opened.expose(), &format!("{SIGNING_KEY}2"), "{}", t.label);

        let all = platform_keys::list_keys(t.db.conn()).await.unwrap();
        let states: Vec<_> = all
            .iter()
            .map(|k| (k.key_id.as_str(), k.status.as_str()))
            .collect();
        assert_eq!(
            states,
            vec![("k2", "active"), ("k1", "retiring")],
            "{}",
            t.label
        );
        assert_eq!(all[1].retired_at, Some(retire_at), "{}", t.label);

        // Both sign until the retirement date; then only the active one, and k1 is retired.
        let usable = |at| {
            let conn = t.db.conn().clone();
            async move {
                platform_keys::usable_keys(&conn, at)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|k| k.key_id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(usable(t0).await, ["k2", "k1"], "{}", t.label);
        assert_eq!(usable(retire_at).await, ["k2"], "{}", t.label);
        assert_eq!(
            platform_keys::retire_due(t.db.conn(), t0).await.unwrap(),
            0,
            "{}",
            t.label
        );
        assert_eq!(
            platform_keys::retire_due(t.db.conn(), retire_at)
                .await
                .unwrap(),
            1,
            "{}",
            t.label
        );
        let k1_row = platform_keys::find_key(t.db.conn(), "k1")
            .await
            .unwrap()
            .expect("k1");
        assert_eq!(k1_row.status.as_str(), "retired", "{}", t.label);
    }
}

#[tokio::test]
async fn a_caller_keeps_its_platform_key_until_switched_or_moved() {
    for t in databases().await {
        let t0 = fixture::t0();
        let conn = t.db.conn();
        // The first assignment wins; a second one (another node) reads it.
        let first = platform_keys::assign_if_absent(conn, "SP1", "k1", t0)
            .await
            .unwrap();
        assert_eq!(first, "k1", "{}", t.label);
        let again = platform_keys::assign_if_absent(conn, "SP1", "k2", t0)
            .await
            .unwrap();
        assert_eq!(again, "k1", "{}", t.label);
        // Moving off a key the caller no longer has changes nothing.
        assert!(
            !platform_keys::move_assignment(conn, "SP1", "k9", "k2", t0)
                .await
                .unwrap(),
            "{}",
            t.label
        );
        assert!(
            platform_keys::move_assignment(conn, "SP1", "k1", "k2", t0)
                .await
                .unwrap(),
            "{}",
            t.label
        );
        let before = platform_keys::assign(conn, "SP1", "k3", t0).await.unwrap();
        assert_eq!(before.as_deref(), Some("k2"), "{}", t.label);
        let before = platform_keys::assign(conn, "SP2", "k3", t0).await.unwrap();
        assert_eq!(before, None, "{}", t.label);
        let all: Vec<_> = platform_keys::list_assignments(conn)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.sys_id, a.key_id))
            .collect();
        assert_eq!(
            all,
            [("SP1".into(), "k3".into()), ("SP2".into(), "k3".into())],
            "{}",
            t.label
        );
    }
}
