//! Service providers, merchants, callers and channel businesses with their bound appids.

mod fixture;

use nkpay_core::secret::Secret;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::accounts::{self, NewWechatAccount};
use nkpay_store::kinds::{AppidKind, MerchantKind, RecordStatus};
use nkpay_store::merchant_channels::{self, BoundAppid, MerchantChannelSetup};
use nkpay_store::merchants::{self, Caller, NewMerchant};
use nkpay_store::testing::databases;

fn wechat_setup(appids: Vec<BoundAppid>) -> MerchantChannelSetup {
    MerchantChannelSetup {
        mer_id: fixture::MER_ID.into(),
        channel: ChannelKind::Wechat,
        channel_account_id: None,
        sub_mch_id: Some("1900000109".into()),
        appids,
        jsapi_pay_dirs: vec!["https://shop.example/pay/".into()],
        ali_app_auth_token: None,
        ali_auth_app_id: None,
        ali_seller_id: None,
        ali_smid: None,
        fee_rate_bp: 38,
    }
}

/// The merchant API's one read of a provider with its merchant: found only when the merchant
/// is that provider's; every other case is `None` (then looked up one by one), read from the
/// readers' pool as the engine does.
#[tokio::test]
async fn a_provider_and_its_own_merchant_come_in_one_read() {
    for t in databases().await {
        fixture::seed(&t.db, &fixture::sealer()).await;
        let r = t.db.reader();
        let (sp, m) = merchants::find_provider_with_merchant(r, fixture::SYS_ID, fixture::MER_ID)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{}: the provider's own merchant", t.label));
        assert_eq!(sp.sys_id, fixture::SYS_ID, "{}", t.label);
        assert_eq!(
            (m.mer_id.as_str(), m.sys_id.as_str()),
            (fixture::MER_ID, fixture::SYS_ID)
        );
        assert_eq!(
            Some(sp),
            merchants::find_service_provider(t.db.conn(), fixture::SYS_ID)
                .await
                .unwrap(),
            "{}: the same row as read alone",
            t.label
        );
        assert_eq!(
            Some(m),
            merchants::find_merchant(t.db.conn(), fixture::MER_ID)
                .await
                .unwrap(),
            "{}",
            t.label
        );

        // Another provider's merchant, an unknown merchant, an unknown provider: none.
        let other = merchants::NewServiceProvider {
            sys_id: "6666000000009999".into(),
            product_id: "OTHER".into(),
            name: "Other provider".into(),
            rsa_public_key: "MIIBIjANBgkqOTHER".into(),
        };
        merchants::insert_service_provider(t.db.conn(), &other, fixture::t0())
            .await
            .unwrap();
        for (sys_id, mer_id) in [
            ("6666000000009999", fixture::MER_ID),
            (fixture::SYS_ID, "6666000000000077"),
            ("6666000000000055", fixture::MER_ID),
        ] {
            assert_eq!(
                merchants::find_provider_with_merchant(r, sys_id, mer_id)
                    .await
                    .unwrap(),
                None,
                "{}: {sys_id} / {mer_id}",
                t.label
            );
        }
    }
}

#[tokio::test]
async fn caller_is_a_service_provider_or_a_merchant_with_its_own_key() {
    for t in databases().await {
        fixture::seed(&t.db, &fixture::sealer()).await;
        let c = t.db.conn();
        let sp = merchants::find_caller(c, fixture::SYS_ID).await.unwrap();
        assert!(
            matches!(sp, Some(Caller::ServiceProvider(_))),
            "{}",
            t.label
        );
        // The fixture merchant registered no key: it cannot call for itself.
        assert_eq!(
            merchants::find_caller(c, fixture::MER_ID).await.unwrap(),
            None,
            "{}",
            t.label
        );

        let own = NewMerchant {
            mer_id: "6666000000000002".into(),
            sys_id: fixture::SYS_ID.into(),
            name: "Self caller".into(),
            short_name: None,
            kind: MerchantKind::Ent,
            rsa_public_key: Some("MIIBIjANBgkqSELF".into()),
            notify_schedule: Some("15,15,30".into()),
        };
        merchants::insert_merchant(c, &own, fixture::t0())
            .await
            .unwrap();
        match merchants::find_caller(c, "6666000000000002").await.unwrap() {
            Some(Caller::Merchant(m)) => assert_eq!(m.kind, MerchantKind::Ent, "{}", t.label),
            other => panic!("{}: expected a merchant caller, got {other:?}", t.label),
        }
        let err = merchants::insert_merchant(c, &own, fixture::t0())
            .await
            .unwrap_err();
        assert!(err.is_duplicate(), "{}: {err}", t.label);
        assert_eq!(
            merchants::list_merchants_of(c, fixture::SYS_ID)
                .await
                .unwrap()
                .len(),
            2
        );

        assert!(
            merchants::set_merchant_status(
                c,
                fixture::MER_ID,
                RecordStatus::Disabled,
                fixture::t0()
            )
            .await
            .unwrap()
        );
        let m = merchants::find_merchant(c, fixture::MER_ID)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.status, RecordStatus::Disabled, "{}", t.label);
    }
}

#[tokio::test]
async fn merchant_under_an_unknown_service_provider_is_refused() {
    for t in databases().await {
        let orphan = NewMerchant {
            mer_id: "6666000000000009".into(),
            sys_id: "nobody".into(),
            name: "Orphan".into(),
            short_name: None,
            kind: MerchantKind::Indv,
            rsa_public_key: None,
            notify_schedule: None,
        };
        assert!(
            merchants::insert_merchant(t.db.conn(), &orphan, fixture::t0())
                .await
                .is_err(),
            "{}: foreign key must hold",
            t.label
        );
    }
}

#[tokio::test]
async fn reopening_a_business_replaces_its_bound_appids() {
    for t in databases().await {
        let sealer = fixture::sealer();
        fixture::seed(&t.db, &sealer).await;
        let c = t.db.conn();
        let first = wechat_setup(vec![
            BoundAppid {
                appid: "wxmp0000000000001".into(),
                kind: AppidKind::Mp,
            },
            BoundAppid {
                appid: "wxmini000000000001".into(),
                kind: AppidKind::Miniapp,
            },
        ]);
        let opened = merchant_channels::open_business(&t.db, &sealer, &first, fixture::t0())
            .await
            .unwrap();
        let bound = merchant_channels::find_bound_appid(c, fixture::MER_ID, "wxmini000000000001")
            .await
            .unwrap()
            .expect("bound");
        assert_eq!(bound.kind, AppidKind::Miniapp, "{}", t.label);
        assert_eq!(
            merchant_channels::jsapi_pay_dirs(&opened).unwrap(),
            vec!["https://shop.example/pay/".to_owned()],
            "{}",
            t.label
        );

        let second = wechat_setup(vec![BoundAppid {
            appid: "wxmp0000000000002".into(),
            kind: AppidKind::Mp,
        }]);
        let reopened = merchant_channels::open_business(&t.db, &sealer, &second, fixture::t0())
            .await
            .unwrap();
        assert_eq!(reopened.id, opened.id, "{}: updated in place", t.label);
        let appids: Vec<_> = merchant_channels::list_bound_appids(c, fixture::MER_ID)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.appid)
            .collect();
        assert_eq!(appids, vec!["wxmp0000000000002".to_owned()], "{}", t.label);
        assert_eq!(
            merchant_channels::list_businesses(c, fixture::MER_ID)
                .await
                .unwrap()
                .len(),
            1
        );

        let twice = wechat_setup(vec![
            BoundAppid {
                appid: "wxdup".into(),
                kind: AppidKind::Mp,
            },
            BoundAppid {
                appid: "wxdup".into(),
                kind: AppidKind::Miniapp,
            },
        ]);
        let err = merchant_channels::open_business(&t.db, &sealer, &twice, fixture::t0())
            .await
            .unwrap_err();
        assert!(err.is_duplicate(), "{}: {err}", t.label);
        let still: Vec<_> = merchant_channels::list_bound_appids(c, fixture::MER_ID)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.appid)
            .collect();
        assert_eq!(
            still,
            vec!["wxmp0000000000002".to_owned()],
            "{}: failed re-open rolled back",
            t.label
        );
    }
}

/// Routing's one read: the business, the account it runs under (its own, else the channel's
/// defaults) and the binding of the asked `sub_appid`, each as its own lookup finds it.
#[tokio::test]
async fn route_rows_read_business_account_and_binding_in_one_statement() {
    for t in databases().await {
        let sealer = fixture::sealer();
        let seeded = fixture::seed(&t.db, &sealer).await;
        let (r, l) = (t.db.reader(), t.label);
        let rows = |appid: Option<&'static str>| {
            merchant_channels::find_route_rows(r, fixture::MER_ID, ChannelKind::Wechat, appid)
        };
        let none = rows(Some("wxmp0000000000001")).await.unwrap();
        assert!(none.business.is_none(), "{l}: no business yet");
        assert!(
            none.accounts.is_empty() && none.bound_appid.is_none(),
            "{l}"
        );

        let opened = merchant_channels::open_business(
            &t.db,
            &sealer,
            &wechat_setup(vec![BoundAppid {
                appid: "wxmp0000000000001".into(),
                kind: AppidKind::Mp,
            }]),
            fixture::t0(),
        )
        .await
        .unwrap();
        let bound = rows(Some("wxmp0000000000001")).await.unwrap();
        assert_eq!(bound.business.as_ref(), Some(&opened), "{l}");
        let default = accounts::find_default_account(r, ChannelKind::Wechat)
            .await
            .unwrap();
        assert_eq!(bound.accounts.first(), default.as_ref(), "{l}: the default");
        assert_eq!(bound.accounts.len(), 1, "{l}: one default account");
        assert_eq!(
            bound.bound_appid.map(|b| (b.appid, b.kind)),
            Some(("wxmp0000000000001".to_owned(), AppidKind::Mp)),
            "{l}"
        );
        let unbound = rows(Some("wxmp9999999999999")).await.unwrap();
        assert!(unbound.bound_appid.is_none(), "{l}: not bound");
        assert_eq!(unbound.business.as_ref(), Some(&opened), "{l}");
        assert!(rows(None).await.unwrap().bound_appid.is_none(), "{l}");

        // A business under its own account reads that account, not the defaults.
        let own = accounts::insert_wechat_account(
            t.db.conn(),
            &sealer,
            &NewWechatAccount {
                name: "WeChat SP 2".into(),
                gateway_url: "http://127.0.0.1:1/".into(),
                is_default: false,
                appid: "wxd930ea5d5a258f40".into(),
                mch_id: "10000101".into(),
                api_key: Secret::new(fixture::WX_API_KEY.into()),
                client_cert_pem: None,
                client_key_pem: None,
            },
            fixture::t0(),
        )
        .await
        .unwrap();
        assert_ne!(own.id, seeded.wechat_account.id);
        let mut setup = wechat_setup(Vec::new());
        setup.channel_account_id = Some(own.id);
        merchant_channels::open_business(&t.db, &sealer, &setup, fixture::t0())
            .await
            .unwrap();
        let with_own = rows(None).await.unwrap();
        assert_eq!(with_own.accounts, vec![own], "{l}: its own account only");
        assert_eq!(
            with_own.business.and_then(|b| b.channel_account_id),
            Some(with_own.accounts[0].id),
            "{l}"
        );
    }
}
