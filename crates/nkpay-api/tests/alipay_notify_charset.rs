//! Issue 15, fault 3: an Alipay notify is read and verified in the charset it declares. A
//! `charset=GBK` notify (Chinese `subject`/`body` percent-encoded in GBK, RSA2 over the GBK
//! bytes of the string to sign, as Alipay's gateway signs it) settles its trade; UTF-8 still
//! does; an unknown charset is refused, recorded with the reason, and changes nothing. Signed
//! with the sandbox's Alipay gateway key. On SQLite and PostgreSQL.

mod refunds_support;
mod support;

use encoding_rs::Encoding;
use nkpay_core::state::TradeStatus;
use nkpay_core::trade_type::ChannelKind;
use nkpay_crypto::alipay_sign;
use nkpay_crypto::rsa_keys::RsaPrivateKey;
use std::collections::BTreeMap;
use support::Platform;

/// What a form leaves unencoded.
const FORM: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'*');

/// A TRADE_SUCCESS notify for trade `nkp_seq_id` of 0.34 yuan, in `charset` (declared as
/// `label`): values percent-encoded in its bytes, signed over its bytes.
fn payment_notify(
    p: &Platform,
    nkp_seq_id: &str,
    charset: &'static Encoding,
    label: &str,
) -> String {
    // One Alipay trade number per trade: ours whole (28 digits, as Alipay's are). A tail of it
    // is not enough: two trades whose milliseconds end alike would share one and the second
    // notify would be refused as naming another trade's Alipay order.
    let trade_no = nkp_seq_id.to_owned();
    let accounts = p.sandbox.accounts();
    let gateway = accounts
        .alipay
        .gateway_private_key
        .clone()
        .expect("gateway key");
    let gateway = RsaPrivateKey::from_pem_or_base64(&gateway).expect("key");
    let app = &accounts.alipay.isv_apps[0];
    let grant = &app.grants[0];
    let mut params: BTreeMap<String, String> = [
        ("notify_type", "trade_status_sync"),
        ("notify_id", "charset0001"),
        ("notify_time", "2026-01-01 12:00:01"),
        ("app_id", app.app_id.as_str()),
        ("auth_app_id", grant.auth_app_id.as_str()),
        ("charset", label),
        ("version", "1.0"),
        ("subject", "拿铁 Latte 大杯"),
        ("body", "桌号 7，少冰"),
        ("out_trade_no", nkp_seq_id),
        ("trade_no", trade_no.as_str()),
        ("trade_status", "TRADE_SUCCESS"),
        ("total_amount", "0.34"),
        ("receipt_amount", "0.34"),
        ("seller_id", grant.user_id.as_str()),
        ("buyer_id", "2088102177846880"),
        ("gmt_payment", "2026-01-01 12:00:00"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let signed = charset
        .encode(&alipay_sign::notify_string_to_sign(&params))
        .0
        .into_owned();
    params.insert(
        "sign".into(),
        gateway.sign_sha256_base64(&signed).expect("sign"),
    );
    params.insert("sign_type".into(), "RSA2".into());
    params
        .iter()
        .map(|(k, v)| {
            let bytes = charset.encode(v).0;
            format!("{k}={}", percent_encoding::percent_encode(&bytes, FORM))
        })
        .collect::<Vec<_>>()
        .join("&")
}

async fn post(p: &Platform, body: String, charset: &str) -> String {
    p.post_callback(
        "/callback/alipay",
        &format!("application/x-www-form-urlencoded; charset={charset}"),
        body,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gbk_notify_settles_its_trade_and_utf8_still_does() {
    for p in Platform::all().await {
        let l = p.label;
        for (charset, label) in [(encoding_rs::GBK, "GBK"), (encoding_rs::UTF_8, "utf-8")] {
            let t = p.unpaid_trade(ChannelKind::Alipay, "0.34").await;
            let body = payment_notify(&p, &t.nkp_seq_id, charset, label);
            assert!(body.is_ascii(), "{body}");
            let answer = post(&p, body, label).await;
            assert_eq!(answer.trim(), "success", "{l} {label}");
            let row = p.trade(&t.nkp_seq_id).await;
            assert_eq!(row.status, TradeStatus::Succeeded, "{l} {label}");
            assert_eq!(row.trans_amt, 34, "{l} {label}");
        }
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_in_an_unknown_charset_is_refused_clearly() {
    for p in Platform::all().await {
        let l = p.label;
        let t = p.unpaid_trade(ChannelKind::Alipay, "0.34").await;
        let body = payment_notify(&p, &t.nkp_seq_id, encoding_rs::BIG5, "big5");
        let answer = post(&p, body, "big5").await;
        assert_eq!(answer.trim(), "fail", "{l}");
        assert_eq!(
            p.trade(&t.nkp_seq_id).await.status,
            TradeStatus::Processing,
            "{l}"
        );
        // GBK bytes declared as UTF-8 are refused as well (they are not UTF-8 text).
        let body = payment_notify(&p, &t.nkp_seq_id, encoding_rs::GBK, "GBK")
            .replace("charset=GBK", "charset=utf-8");
        assert_eq!(post(&p, body, "utf-8").await.trim(), "fail", "{l}");
        assert_eq!(
            p.trade(&t.nkp_seq_id).await.status,
            TradeStatus::Processing,
            "{l}"
        );
        p.stop().await;
    }
}
