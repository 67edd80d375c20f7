//! Channel notifies are verified by the channel account of the trade they name, on SQLite and
//! PostgreSQL, with no job running so only notifies can settle: a notify signed (or sealed) with
//! another account's key, or sent by the other channel, is refused and changes nothing; a WeChat
//! payment notify that names no sub-merchant does not settle; an account whose stored key is
//! broken does not keep the other accounts' notifies from settling.

mod refunds_support;
mod support;

use std::collections::BTreeMap;

use nkpay_core::secret::Secret;
use nkpay_core::trade_type::ChannelKind;
use nkpay_crypto::rsa_keys::RsaPrivateKey;
use nkpay_crypto::wechat_refund_cipher::encrypt_req_info;
use nkpay_crypto::wechat_sign::{self, WechatSignType};
use nkpay_engine::onboarding::{self, NewAlipayAccount, NewWechatAccount};
use nkpay_sandbox::Faults;
use nkpay_store::entity::channel_account;
use nkpay_store::incidents;
use nkpay_store::kinds::NotificationKind;
use nkpay_store::sea_orm::{ActiveModelTrait, Set};
use refunds_support::{REFUND, TradeIds, WAIT, accepted, wait_for};
use support::{Platform, signed_alipay_form};

/// A WeChat service-provider account of the platform that is not the sandbox's.
const OTHER_APPID: &str = "wx0b0b0b0b0b0b0b02";
const OTHER_MCH_ID: &str = "1900000999";
const OTHER_API_KEY: &str = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b02";

/// Registers one more WeChat service-provider account (at the sandbox's address; it never has
/// to answer there).
async fn register_wechat(
    p: &Platform,
    appid: &str,
    mch_id: &str,
    api_key: &str,
) -> channel_account::Model {
    onboarding::register_wechat_account(
        &p.db,
        &p.sealer,
        &NewWechatAccount {
            name: format!("service provider {mch_id}"),
            gateway_url: p.sandbox.wechat_api_base_url(),
            is_default: false,
            appid: appid.into(),
            mch_id: mch_id.into(),
            api_key: Secret::new(api_key.into()),
            client_cert_pem: None,
            client_key_pem: None,
        },
    )
    .await
    .expect("WeChat account")
}

/// A WeChat XML body of `fields` signed (MD5) with `api_key`.
fn signed_wechat_xml(fields: &[(&str, &str)], api_key: &str) -> String {
    let mut map: BTreeMap<String, String> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let sign = wechat_sign::sign(&map, api_key, WechatSignType::Md5);
    map.insert("sign".into(), sign);
    let body: String = map
        .iter()
        .map(|(k, v)| format!("<{k}><![CDATA[{v}]]></{k}>"))
        .collect();
    format!("<xml>{body}</xml>")
}

/// A paid payment notify of 0.10 for trade `nkp`, as service provider `appid`/`mch_id` would
/// send it, naming `sub_mch_id` when given.
fn wechat_paid(appid: &str, mch_id: &str, api_key: &str, nkp: &str, sub: Option<&str>) -> String {
    let mut fields = vec![
        ("return_code", "SUCCESS"),
        ("result_code", "SUCCESS"),
        ("appid", appid),
        ("mch_id", mch_id),
        ("nonce_str", "n0nce"),
        ("openid", "o_attacker"),
        ("trade_type", "JSAPI"),
        ("total_fee", "10"),
        ("cash_fee", "10"),
        ("transaction_id", "4200000000000000000000000099"),
        ("out_trade_no", nkp),
        ("time_end", "20260101120000"),
    ];
    if let Some(sub) = sub {
        fields.push(("sub_mch_id", sub));
    }
    signed_wechat_xml(&fields, api_key)
}

/// A WeChat refund notify saying refund `refund` of trade `nkp` succeeded, sealed with
/// `api_key` and addressed to `appid`/`mch_id`.
fn wechat_refunded(appid: &str, mch_id: &str, api_key: &str, nkp: &str, refund: &str) -> String {
    let plain = format!(
        "<root><out_trade_no><![CDATA[{nkp}]]></out_trade_no>\
         <out_refund_no><![CDATA[{refund}]]></out_refund_no>\
         <refund_id><![CDATA[50300000000000000099]]></refund_id>\
         <refund_fee><![CDATA[10]]></refund_fee><total_fee><![CDATA[10]]></total_fee>\
         <refund_status><![CDATA[SUCCESS]]></refund_status>\
         <success_time><![CDATA[2026-01-01 12:00:00]]></success_time></root>"
    );
    let req_info = encrypt_req_info(&plain, api_key).expect("encrypt");
    format!(
        "<xml><return_code>SUCCESS</return_code><appid><![CDATA[{appid}]]></appid>\
         <mch_id><![CDATA[{mch_id}]]></mch_id><nonce_str><![CDATA[n0nce]]></nonce_str>\
         <req_info><![CDATA[{req_info}]]></req_info></xml>"
    )
}

/// The trade is still processing, untouched, and the merchant heard nothing.
async fn assert_unchanged(p: &Platform, t: &TradeIds) {
    let row = p.trade(&t.nkp_seq_id).await;
    assert_eq!(row.status.as_str(), "P", "{}: {row:?}", p.label);
    assert!(row.party_order_id.is_none(), "{}", p.label);
    assert_eq!(
        p.notifications(NotificationKind::Trade, &t.nkp_seq_id)
            .await,
        0,
        "{}",
        p.label
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_signed_with_another_accounts_key_is_refused_and_changes_nothing() {
    for p in Platform::all().await {
        let l = p.label;
        register_wechat(&p, OTHER_APPID, OTHER_MCH_ID, OTHER_API_KEY).await;
        let t = p.unpaid_trade(ChannelKind::Wechat, "0.10").await;
        let sub = p.trade(&t.nkp_seq_id).await.sub_mch_id.expect("sub_mch_id");

        // Genuinely signed by the other account, addressed to it, naming our trade.
        let body = wechat_paid(
            OTHER_APPID,
            OTHER_MCH_ID,
            OTHER_API_KEY,
            &t.nkp_seq_id,
            Some(&sub),
        );
        let answer = p
            .post_callback("/callback/wechat/pay", "text/xml", body)
            .await;
        assert!(answer.contains("FAIL"), "{l}: {answer}");
        assert_unchanged(&p, &t).await;
        let log = p.inbound(&t.nkp_seq_id).await;
        assert!(
            log.iter()
                .any(|(verified, o)| !verified && o.starts_with("refused") && o.contains("sign")),
            "{l}: {log:?}"
        );

        // Its refund notify, sealed with its own key, naming our trade: refused too.
        let body = wechat_refunded(
            OTHER_APPID,
            OTHER_MCH_ID,
            OTHER_API_KEY,
            &t.nkp_seq_id,
            "NKPR_FOREIGN_0001",
        );
        let answer = p
            .post_callback("/callback/wechat/refund", "text/xml", body)
            .await;
        assert!(answer.contains("FAIL"), "{l}: {answer}");
        assert_unchanged(&p, &t).await;

        // The payer's real payment still settles the trade through its own account.
        p.pay_wechat(&t.prompt).await;
        assert_eq!(
            p.wait_final(&t.nkp_seq_id).await.status.as_str(),
            "S",
            "{l}"
        );
        assert_eq!(
            p.notifications(NotificationKind::Trade, &t.nkp_seq_id)
                .await,
            1,
            "{l}"
        );
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_notify_sealed_by_another_account_finalizes_no_refund_of_ours() {
    for p in Platform::all().await {
        let l = p.label;
        register_wechat(&p, OTHER_APPID, OTHER_MCH_ID, OTHER_API_KEY).await;
        let t = p.paid_trade(ChannelKind::Wechat, "0.10").await;
        // The sandbox's own refund notify never arrives; no job runs: the refund stays P.
        p.set_faults(Faults {
            notify_drop_rate: 1.0,
            ..Faults::default()
        });
        let reply = p.sp.call(REFUND, p.refund_data(&t, "0.10")).await;
        assert!(accepted(&reply), "{l}: {reply:?}");
        let refund = reply.get("nkp_seq_id").to_owned();

        let body = wechat_refunded(
            OTHER_APPID,
            OTHER_MCH_ID,
            OTHER_API_KEY,
            &t.nkp_seq_id,
            &refund,
        );
        let answer = p
            .post_callback("/callback/wechat/refund", "text/xml", body)
            .await;
        assert!(answer.contains("FAIL"), "{l}: {answer}");
        let r = p.refund_row(&refund).await;
        assert_eq!(r.status.as_str(), "P", "{l}: {r:?}");
        let row = p.trade(&t.nkp_seq_id).await;
        assert_eq!((row.refunded_amt, row.refund_in_flight_amt), (0, 10), "{l}");

        // The same notify sealed by the trade's own account settles it.
        let body = wechat_refunded(
            &p.wechat_sp_appid,
            &p.wechat_mch_id,
            &p.wechat_api_key,
            &t.nkp_seq_id,
            &refund,
        );
        let answer = p
            .post_callback("/callback/wechat/refund", "text/xml", body)
            .await;
        assert!(answer.contains("SUCCESS"), "{l}: {answer}");
        assert_eq!(p.refund_row(&refund).await.status.as_str(), "S", "{l}");
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alipay_notify_naming_a_wechat_trade_is_refused() {
    for p in Platform::all().await {
        let l = p.label;
        let t = p.unpaid_trade(ChannelKind::Wechat, "0.10").await;
        let gateway = p
            .sandbox
            .accounts()
            .alipay
            .gateway_private_key
            .clone()
            .expect("gateway key");
        let gateway = RsaPrivateKey::from_pem_or_base64(&gateway).expect("key");
        let app = &p.sandbox.accounts().alipay.isv_apps[0];
        // Signed by Alipay's own key for our ISV app; it names no seller to compare.
        let body = signed_alipay_form(
            &[
                ("notify_type", "trade_status_sync"),
                ("notify_id", "cross0001"),
                ("notify_time", "2026-01-01 12:00:01"),
                ("app_id", app.app_id.as_str()),
                ("out_trade_no", t.nkp_seq_id.as_str()),
                ("trade_no", "2026010122001400000000000099"),
                ("trade_status", "TRADE_SUCCESS"),
                ("total_amount", "0.10"),
                ("buyer_id", "2088102177846880"),
                ("gmt_payment", "2026-01-01 12:00:00"),
            ],
            &gateway,
        );
        let answer = p
            .post_callback(
                "/callback/alipay",
                "application/x-www-form-urlencoded",
                body,
            )
            .await;
        assert_eq!(answer.trim(), "fail", "{l}");
        assert_unchanged(&p, &t).await;
        let log = p.inbound(&t.nkp_seq_id).await;
        assert!(
            log.iter()
                .any(|(_, o)| o.starts_with("refused") && o.contains("wechat")),
            "{l}: {log:?}"
        );
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechat_payment_notify_without_sub_mch_id_does_not_finalize() {
    for p in Platform::all().await {
        let l = p.label;
        let t = p.unpaid_trade(ChannelKind::Wechat, "0.10").await;
        let body = wechat_paid(
            &p.wechat_sp_appid,
            &p.wechat_mch_id,
            &p.wechat_api_key,
            &t.nkp_seq_id,
            None,
        );
        let answer = p
            .post_callback("/callback/wechat/pay", "text/xml", body)
            .await;
        // Verified by the trade's own account, so acknowledged; but it is not believed.
        assert!(answer.contains("SUCCESS"), "{l}: {answer}");
        assert_unchanged(&p, &t).await;
        let kinds: Vec<String> = incidents::list_for(p.db.conn(), &t.nkp_seq_id)
            .await
            .expect("incidents")
            .into_iter()
            .map(|i| i.kind)
            .collect();
        assert_eq!(kinds, ["merchant_mismatch"], "{l}");
        p.stop().await;
    }
}

/// Breaks a stored account's sealed secret, as a bad migration or a wrong master key would.
async fn corrupt(p: &Platform, account: channel_account::Model) {
    let mut broken: channel_account::ActiveModel = account.into();
    broken.wx_api_key_sealed = Set(Some("not sealed".into()));
    broken.ali_app_private_key_sealed = Set(Some("not sealed".into()));
    broken.update(p.db.conn()).await.expect("corrupt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_with_a_broken_key_does_not_stop_other_accounts_notifies() {
    for p in Platform::all().await {
        let l = p.label;
        // Copies of the sandbox's accounts (same ids, so every notify addresses them too), whose
        // stored keys cannot be opened.
        let broken_wechat =
            register_wechat(&p, &p.wechat_sp_appid, &p.wechat_mch_id, &p.wechat_api_key).await;
        corrupt(&p, broken_wechat).await;
        let app = p.sandbox.accounts().alipay.isv_apps[0].clone();
        let broken_alipay = onboarding::register_alipay_account(
            &p.db,
            &p.sealer,
            &NewAlipayAccount {
                name: "broken Alipay".into(),
                gateway_url: p.sandbox.alipay_gateway_url(),
                is_default: false,
                app_id: app.app_id.clone(),
                app_private_key: Secret::new(app.app_private_key.clone().expect("key")),
                alipay_public_key: p.sandbox.accounts_json()["alipay"]["alipay_public_key"]
                    .as_str()
                    .expect("gateway key")
                    .to_owned(),
                isv_pid: Some(app.pid.clone()),
            },
        )
        .await
        .expect("account");
        corrupt(&p, broken_alipay).await;

        // Payment notifies of both channels settle (paid_trade waits for it).
        let wechat = p.paid_trade(ChannelKind::Wechat, "0.10").await;
        p.paid_trade(ChannelKind::Alipay, "0.10").await;

        // A WeChat refund notify, addressed to both accounts, is decrypted by the working one.
        let reply = p.sp.call(REFUND, p.refund_data(&wechat, "0.10")).await;
        assert!(accepted(&reply), "{l}: {reply:?}");
        let refund = reply.get("nkp_seq_id").to_owned();
        wait_for("the refund notify to settle the refund", WAIT, || async {
            p.refund_row(&refund).await.status.as_str() == "S"
        })
        .await;
        p.stop().await;
    }
}
