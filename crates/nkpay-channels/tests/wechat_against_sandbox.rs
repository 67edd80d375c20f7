//! Every WeChat Pay call of the connector against the embedded sandbox on loopback, fault paths
//! included. The sandbox shares no code with the connector, so agreement here is agreement on
//! the protocol.

mod notify_inbox;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use nkpay_channels::wechat::{
    CLOSE_MIN_AGE, SubDevConfig, SubDevConfigResult, WechatAccount, WechatChannel, WechatSignType,
};
use nkpay_channels::{
    BillRequest, BillResult, BillRowKind, Channel, ChannelError, ClientIdentity, CloseResult,
    CreateOrder, CreateResult, HttpSettings, InboundNotify, MerchantRoute, NotifyAck, NotifyUrls,
    PayPrompt, PayResult, RefundOrder, RefundRef, RefundResult, TradeRef, WechatPayer,
    notify_reply,
};
use nkpay_core::money::Money;
use nkpay_core::secret::Secret;
use nkpay_core::trade_type::{ChannelKind, TradeType};
use nkpay_crypto::wechat_sign;
use nkpay_sandbox::{Faults, RunningSandbox, Sandbox, SandboxConfig, TlsConfig};
use notify_inbox::NotifyInbox;

const SUB_MCH: &str = "1900000201";
const SUB_APPID: &str = "wx1a2b3c4d5e6f7a81";

async fn sandbox(tune: impl FnOnce(&mut SandboxConfig)) -> RunningSandbox {
    let mut config = SandboxConfig::demo();
    // WeChat's 5-minute close rule and refund settling shrink to milliseconds.
    config.time_scale = 0.001;
    config.timings.close_min_age_secs = 0.0;
    tune(&mut config);
    Sandbox::start(config).await.unwrap()
}

/// A notify URL nothing listens on, for tests that never wait for a notify.
const NOWHERE: &str = "http://127.0.0.1:9/n";

fn account(sb: &RunningSandbox, sign_type: WechatSignType, notify_url: &str) -> WechatAccount {
    let sp = &sb.accounts().wechat.service_providers[0];
    WechatAccount {
        appid: sp.appid.clone(),
        mch_id: sp.mch_id.clone(),
        api_key: Secret::new(sp.api_key.clone()),
        sign_type,
        base_url: url::Url::parse(&sb.wechat_api_base_url()).unwrap(),
        client_identity: None,
        extra_roots_pem: None,
        server_ip: "127.0.0.1".into(),
        notify_urls: NotifyUrls {
            payment: notify_url.into(),
            refund: notify_url.into(),
        },
        close_min_age: CLOSE_MIN_AGE,
        http: HttpSettings {
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(5),
            bill_timeout: Duration::from_secs(10),
            resend_limit: 1,
            resend_delay: Duration::from_millis(10),
        },
    }
}

fn channel(sb: &RunningSandbox, sign_type: WechatSignType, notify_url: &str) -> WechatChannel {
    WechatChannel::new(account(sb, sign_type, notify_url)).unwrap()
}

fn route() -> MerchantRoute {
    MerchantRoute::Wechat {
        sub_mch_id: SUB_MCH.into(),
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", Utc::now().timestamp_nanos_opt().unwrap_or(0))
}

fn order(id: &str, fen: i64, payer: WechatPayer) -> CreateOrder {
    CreateOrder {
        nkp_seq_id: id.into(),
        trade_type: TradeType::TJsapi,
        amount: Money::from_fen(fen).unwrap(),
        description: "Demo coffee".into(),
        time_expire: Utc::now() + chrono::Duration::hours(2),
        placed_at: Utc::now(),
        client_ip: Some("203.0.113.7".into()),
        payer: Some(payer),
        attach: Some("table 7".into()),
        merchant: route(),
    }
}

fn sub_payer() -> WechatPayer {
    WechatPayer::Sub {
        sub_appid: SUB_APPID.into(),
        sub_openid: "oSubOpenid0001".into(),
    }
}

fn trade(id: &str) -> TradeRef {
    TradeRef {
        nkp_seq_id: id.into(),
        merchant: route(),
    }
}

/// The pay_info JSON of a created order.
fn pay_info(result: &CreateResult) -> serde_json::Value {
    match result {
        CreateResult::Created(PayPrompt::PayInfo(json)) => serde_json::from_str(json).unwrap(),
        other => panic!("expected pay_info, got {other:?}"),
    }
}

fn prepay_id(info: &serde_json::Value) -> String {
    info["package"]
        .as_str()
        .unwrap()
        .strip_prefix("prepay_id=")
        .unwrap()
        .to_owned()
}

/// The payer pays the prepay on the sandbox's payer side.
async fn payer_pays(sb: &RunningSandbox, prepay_id: &str) {
    // The payer side is test harness: it trusts whatever certificate the sandbox shows.
    let r = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .post(format!("{}/sandbox/wechat/pay", sb.base_url()))
        .json(&serde_json::json!({"prepay_id": prepay_id, "result": "SUCCESS"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

async fn inbox() -> NotifyInbox {
    NotifyInbox::start(notify_reply(ChannelKind::Wechat, NotifyAck::Accepted).body).await
}

/// Creates an order, pays it, and returns it with its parsed payment notify.
async fn paid_order(
    sb: &RunningSandbox,
    ch: &WechatChannel,
    inbox: &mut NotifyInbox,
    fen: i64,
) -> (String, InboundNotify) {
    let id = unique("WXP");
    let created = ch.create(&order(&id, fen, sub_payer())).await.unwrap();
    payer_pays(sb, &prepay_id(&pay_info(&created.value))).await;
    let notify = ch.parse_notify(&inbox.next().await).unwrap();
    (id, notify)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_is_created_paid_notified_and_queried_with_md5() {
    let sb = sandbox(|_| {}).await;
    let mut inbox = inbox().await;
    let ch = channel(&sb, WechatSignType::Md5, &inbox.url);
    let id = unique("WXA");

    let created = ch.create(&order(&id, 1234, sub_payer())).await.unwrap();
    assert_eq!(created.exchanges.len(), 1);
    assert_eq!(created.exchanges[0].call, "pay/unifiedorder");
    assert_eq!(created.exchanges[0].status, Some(200));
    let info = pay_info(&created.value);
    // Sub-appid payer: the client pays under the sub-merchant's appid, signed like the order.
    assert_eq!(info["appId"], SUB_APPID);
    assert_eq!(info["signType"], "MD5");
    let signed: BTreeMap<String, String> =
        ["appId", "timeStamp", "nonceStr", "package", "signType"]
            .iter()
            .map(|k| (k.to_string(), info[*k].as_str().unwrap().to_owned()))
            .chain([("sign".into(), info["paySign"].as_str().unwrap().to_owned())])
            .collect();
    let key = &sb.accounts().wechat.service_providers[0].api_key;
    assert!(wechat_sign::verify(&signed, key, WechatSignType::Md5).is_ok());

    assert_eq!(
        ch.query(&trade(&id)).await.unwrap().value,
        PayResult::NotPaid
    );

    payer_pays(&sb, &prepay_id(&info)).await;
    let notify = ch.parse_notify(&inbox.next().await).unwrap();
    let InboundNotify::Payment {
        nkp_seq_id,
        sub_merchant,
        result:
            PayResult::Paid {
                party_order_id,
                amount,
                buyer_id,
                paid_at,
            },
    } = notify
    else {
        panic!("expected a paid payment notify, got {notify:?}");
    };
    assert_eq!(nkp_seq_id, id);
    assert_eq!(sub_merchant.as_deref(), Some(SUB_MCH));
    assert_eq!(amount.fen(), 1234);
    assert_eq!(buyer_id.as_deref(), Some("oSubOpenid0001"));
    assert!(paid_at.is_some());

    match ch.query(&trade(&id)).await.unwrap().value {
        PayResult::Paid {
            party_order_id: queried,
            amount,
            ..
        } => {
            assert_eq!(queried, party_order_id);
            assert_eq!(amount.fen(), 1234);
        }
        other => panic!("expected paid, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_openid_order_pays_under_the_service_provider_appid_with_hmac() {
    let sb = sandbox(|_| {}).await;
    let mut inbox = inbox().await;
    let ch = channel(&sb, WechatSignType::HmacSha256, &inbox.url);
    let id = unique("WXH");
    let payer = WechatPayer::Platform {
        openid: "oPlatformOpenid01".into(),
    };
    let created = ch.create(&order(&id, 1, payer)).await.unwrap();
    let info = pay_info(&created.value);
    assert_eq!(
        info["appId"],
        sb.accounts().wechat.service_providers[0].appid
    );
    assert_eq!(info["signType"], "HMAC-SHA256");
    payer_pays(&sb, &prepay_id(&info)).await;
    // The notify of an HMAC order is HMAC-signed and verifies.
    let notify = ch.parse_notify(&inbox.next().await).unwrap();
    assert!(matches!(
        notify,
        InboundNotify::Payment { result: PayResult::Paid { amount, .. }, .. } if amount.fen() == 1
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaid_order_closes_and_a_paid_one_reports_paid() {
    let sb = sandbox(|_| {}).await;
    let mut inbox = inbox().await;
    let ch = channel(&sb, WechatSignType::Md5, &inbox.url);
    let id = unique("WXC");
    ch.create(&order(&id, 100, sub_payer())).await.unwrap();
    assert_eq!(
        ch.close(&trade(&id)).await.unwrap().value,
        CloseResult::Closed
    );
    assert_eq!(
        ch.query(&trade(&id)).await.unwrap().value,
        PayResult::Closed
    );
    assert_eq!(
        ch.close(&trade(&id)).await.unwrap().value,
        CloseResult::Closed
    );

    let (paid, _) = paid_order(&sb, &ch, &mut inbox, 100).await;
    assert_eq!(
        ch.close(&trade(&paid)).await.unwrap().value,
        CloseResult::AlreadyPaid
    );
    assert_eq!(
        ch.query(&trade("NEVER-PLACED")).await.unwrap().value,
        PayResult::NotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_within_five_minutes_is_too_early() {
    let sb = sandbox(|c| {
        c.time_scale = 1.0;
        c.timings.close_min_age_secs = 300.0;
    })
    .await;
    let ch = channel(&sb, WechatSignType::Md5, NOWHERE);
    let id = unique("WXE");
    ch.create(&order(&id, 100, sub_payer())).await.unwrap();
    assert_eq!(
        ch.close(&trade(&id)).await.unwrap().value,
        CloseResult::TooEarly
    );
}

fn refund_order(trade_id: &str, refund_id: &str, total: i64, fen: i64) -> RefundOrder {
    RefundOrder {
        trade: trade(trade_id),
        refund_nkp_seq_id: refund_id.into(),
        trade_amount: Money::from_fen(total).unwrap(),
        amount: Money::from_fen(fen).unwrap(),
        reason: Some("customer asked".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_is_accepted_notified_encrypted_and_queried() {
    let sb = sandbox(|_| {}).await;
    let mut inbox = inbox().await;
    let ch = channel(&sb, WechatSignType::Md5, &inbox.url);
    let (id, _) = paid_order(&sb, &ch, &mut inbox, 1234).await;
    let refund_id = unique("WXR");

    let asked = ch
        .refund(&refund_order(&id, &refund_id, 1234, 200))
        .await
        .unwrap();
    assert_eq!(asked.exchanges[0].call, "secapi/pay/refund");
    let RefundResult::Processing {
        party_refund_id: Some(party_refund_id),
    } = asked.value
    else {
        panic!("expected an accepted refund, got {:?}", asked.value);
    };

    let notify = ch.parse_notify(&inbox.next().await).unwrap();
    assert_eq!(
        notify,
        InboundNotify::Refund {
            nkp_seq_id: id.clone(),
            refund_nkp_seq_id: refund_id.clone(),
            result: match &notify {
                InboundNotify::Refund {
                    result: RefundResult::Succeeded { refunded_at, .. },
                    ..
                } => RefundResult::Succeeded {
                    party_refund_id: Some(party_refund_id.clone()),
                    amount: Some(Money::from_fen(200).unwrap()),
                    refunded_at: *refunded_at,
                },
                other => panic!("expected a successful refund notify, got {other:?}"),
            },
        }
    );

    let queried = ch
        .refund_query(&RefundRef {
            trade: trade(&id),
            refund_nkp_seq_id: refund_id.clone(),
        })
        .await
        .unwrap();
    assert!(matches!(
        queried.value,
        RefundResult::Succeeded { amount: Some(a), party_refund_id: Some(p), .. }
            if a.fen() == 200 && p == party_refund_id
    ));
    let unknown = ch
        .refund_query(&RefundRef {
            trade: trade(&id),
            refund_nkp_seq_id: "NO-SUCH-REFUND".into(),
        })
        .await
        .unwrap();
    assert_eq!(unknown.value, RefundResult::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemerror_on_unified_order_is_resent_once_with_the_same_body_then_unknown() {
    let sb = sandbox(|_| {}).await;
    let ch = channel(&sb, WechatSignType::Md5, NOWHERE);
    sb.set_faults(Faults {
        system_error_times: 1,
        apis: vec!["unifiedorder".into()],
        ..Faults::default()
    })
    .unwrap();
    let created = ch
        .create(&order(&unique("WXS"), 100, sub_payer()))
        .await
        .unwrap();
    assert_eq!(created.exchanges.len(), 2);
    assert_eq!(
        created.exchanges[0].request_body,
        created.exchanges[1].request_body
    );
    assert!(matches!(created.value, CreateResult::Created(_)));

    sb.set_faults(Faults {
        system_error_rate: 1.0,
        apis: vec!["unifiedorder".into()],
        ..Faults::default()
    })
    .unwrap();
    let created = ch
        .create(&order(&unique("WXS"), 100, sub_payer()))
        .await
        .unwrap();
    assert_eq!(
        created.exchanges.len(),
        2,
        "resend_limit 1: one re-send only"
    );
    assert!(
        matches!(created.value, CreateResult::Unknown { reason } if reason.contains("SYSTEMERROR"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_out_is_unknown_and_unified_order_is_not_resent_but_repeating_it_answers_the_same_order()
 {
    let sb = sandbox(|_| {}).await;
    let mut acct = account(&sb, WechatSignType::Md5, NOWHERE);
    acct.http.total_timeout = Duration::from_millis(300);
    let ch = WechatChannel::new(acct).unwrap();
    sb.set_faults(Faults {
        timeout_times: 1,
        timeout_ms: 2_000,
        ..Faults::default()
    })
    .unwrap();
    let id = unique("WXT");
    let mut o = order(&id, 100, sub_payer());
    // Placed a while ago: a repeat must not send a fresh time_start.
    o.placed_at = Utc::now() - chrono::Duration::seconds(90);
    let created = ch.create(&o).await.unwrap();
    assert_eq!(created.exchanges.len(), 1);
    assert!(
        created.exchanges[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("timed out")
    );
    assert!(matches!(created.value, CreateResult::Unknown { .. }));

    // The sandbox made the order; the same create again answers it, not OUT_TRADE_NO_USED.
    let again = ch.create(&o).await.unwrap();
    let made = sb.state().wechat;
    let order = made.orders.iter().find(|x| x.out_trade_no == id).unwrap();
    assert_eq!(prepay_id(&pay_info(&again.value)), order.prepay_id);
    assert_eq!(order.unifiedorder_calls, 2);
    assert_eq!(
        made.orders.iter().filter(|x| x.out_trade_no == id).count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_that_timed_out_is_resent_under_the_same_number_and_refunds_once() {
    let sb = sandbox(|_| {}).await;
    let mut inbox = inbox().await;
    let mut acct = account(&sb, WechatSignType::Md5, &inbox.url);
    acct.http.total_timeout = Duration::from_millis(500);
    let ch = WechatChannel::new(acct).unwrap();
    let (id, _) = paid_order(&sb, &ch, &mut inbox, 1000).await;
    sb.set_faults(Faults {
        timeout_times: 1,
        timeout_ms: 2_000,
        apis: vec!["refund".into()],
        ..Faults::default()
    })
    .unwrap();
    let refund_id = unique("WXRT");
    let asked = ch
        .refund(&refund_order(&id, &refund_id, 1000, 300))
        .await
        .unwrap();
    assert_eq!(asked.exchanges.len(), 2);
    assert_eq!(
        asked.exchanges[0].request_body,
        asked.exchanges[1].request_body
    );
    assert!(matches!(asked.value, RefundResult::Processing { .. }));
    // The sandbox took the first request too; the re-send refunded nothing more.
    let state = sb.state().wechat;
    assert_eq!((state.refund_requests, state.refunds_made), (2, 1));
    let order = state.orders.iter().find(|o| o.out_trade_no == id).unwrap();
    assert_eq!(order.refunds.len(), 1);
    assert_eq!(
        (order.refunds[0].refund_fee, order.refunds[0].requests),
        (300, 2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_notify_is_rejected() {
    let sb = sandbox(|c| {
        c.faults.notify_bad_signature_rate = 1.0;
    })
    .await;
    let mut inbox = inbox().await;
    let ch = channel(&sb, WechatSignType::Md5, &inbox.url);
    let id = unique("WXF");
    let created = ch.create(&order(&id, 100, sub_payer())).await.unwrap();
    payer_pays(&sb, &prepay_id(&pay_info(&created.value))).await;
    let err = ch.parse_notify(&inbox.next().await).unwrap_err();
    assert!(matches!(err, ChannelError::NotifyRejected { .. }), "{err}");
    assert!(err.to_string().contains("signature"), "{err}");
}

/// The channel (here: anyone holding the API key) signs a notify for another amount than the
/// order's; it verifies, and the connector hands the engine that amount to compare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_with_an_amount_other_than_the_orders_is_surfaced_with_its_amount() {
    let sb = sandbox(|_| {}).await;
    let mut inbox = inbox().await;
    let ch = channel(&sb, WechatSignType::Md5, &inbox.url);
    let id = unique("WXM");
    let created = ch.create(&order(&id, 1234, sub_payer())).await.unwrap();
    payer_pays(&sb, &prepay_id(&pay_info(&created.value))).await;
    let body = String::from_utf8(inbox.next().await).unwrap();

    let mut fields: BTreeMap<String, String> = quick_xml::de::from_str(&body).unwrap();
    assert_eq!(fields["total_fee"], "1234");
    fields.insert("total_fee".into(), "1".into());
    fields.remove("sign");
    let key = &sb.accounts().wechat.service_providers[0].api_key;
    let sign = wechat_sign::sign(&fields, key, WechatSignType::Md5);
    fields.insert("sign".into(), sign);
    let forged_amount = quick_xml::se::to_string_with_root("xml", &fields).unwrap();
    let notify = ch.parse_notify(forged_amount.as_bytes()).unwrap();
    match notify {
        InboundNotify::Payment {
            nkp_seq_id,
            result: PayResult::Paid { amount, .. },
            ..
        } => {
            assert_eq!(nkp_seq_id, id);
            assert_eq!(amount.fen(), 1);
            assert_ne!(
                amount,
                Money::from_fen(1234).unwrap(),
                "the engine sees the mismatch"
            );
        }
        other => panic!("expected a paid notify, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todays_bill_lists_the_payment_and_the_refund_to_the_fen() {
    let sb = sandbox(|_| {}).await;
    let mut inbox = inbox().await;
    let ch = channel(&sb, WechatSignType::Md5, &inbox.url);
    let (id, _) = paid_order(&sb, &ch, &mut inbox, 1234).await;
    let refund_id = unique("WXRB");
    ch.refund(&refund_order(&id, &refund_id, 1234, 34))
        .await
        .unwrap();
    let _refund_notify = inbox.next().await;

    let today = (Utc::now() + chrono::Duration::hours(8)).date_naive();
    let bill = ch
        .bill(&BillRequest {
            date: today,
            merchant: Some(route()),
        })
        .await
        .unwrap();
    let BillResult::Ready(bill) = bill.value else {
        panic!("expected a bill, got {:?}", bill.value);
    };
    let pay = bill
        .rows
        .iter()
        .find(|r| r.nkp_seq_id == id && r.kind == BillRowKind::Payment)
        .expect("payment row");
    assert_eq!(pay.amount.fen(), 1234);
    assert!(pay.fee_fen >= 0);
    assert_eq!(pay.sub_merchant.as_deref(), Some(SUB_MCH));
    let refund = bill
        .rows
        .iter()
        .find(|r| {
            r.kind == BillRowKind::Refund && r.refund_nkp_seq_id.as_deref() == Some(&refund_id)
        })
        .expect("refund row");
    assert_eq!(refund.amount.fen(), 34);
    assert!(refund.fee_fen <= 0);
    let summary = bill.summary.expect("summary");
    assert_eq!(summary.rows, bill.rows.len() as u64);

    let long_ago = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    let none = ch
        .bill(&BillRequest {
            date: long_ago,
            merchant: Some(route()),
        })
        .await
        .unwrap();
    assert!(
        matches!(none.value, BillResult::NoBill { .. }),
        "{:?}",
        none.value
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate it signed.
struct Pki {
    ca_pem: String,
    server: TlsConfig,
    client_cert_pem: String,
    client_key_pem: String,
    client_key_der: Vec<u8>,
    client_cert_der: Vec<u8>,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, &ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client_cert = CertificateParams::new(vec!["apiclient".to_string()])
        .unwrap()
        .signed_by(&client_key, &issuer)
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        server: TlsConfig {
            cert_pem: server_cert.pem(),
            key_pem: server_key.serialize_pem(),
            client_ca_pem: ca_cert.pem(),
        },
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
        client_key_der: client_key.serialize_der(),
        client_cert_der: client_cert.der().to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_over_mutual_tls_needs_the_client_certificate_from_pem_or_pkcs12() {
    let pki = pki();
    let server = pki.server.clone();
    let sb = sandbox(move |c| c.tls = Some(server)).await;
    assert!(sb.base_url().starts_with("https://"));
    let mut inbox = inbox().await;
    let notify_url = inbox.url.clone();
    let with = |identity: Option<ClientIdentity>| {
        let mut acct = account(&sb, WechatSignType::Md5, &notify_url);
        acct.extra_roots_pem = Some(pki.ca_pem.clone());
        acct.client_identity = identity;
        WechatChannel::new(acct).unwrap()
    };
    let pem = with(Some(ClientIdentity::Pem {
        cert_pem: pki.client_cert_pem.clone(),
        key_pem: Secret::new(pki.client_key_pem.clone()),
    }));
    let (id, _) = paid_order(&sb, &pem, &mut inbox, 500).await;

    let bare = with(None);
    let refused = bare
        .refund(&refund_order(&id, &unique("WXRC"), 500, 100))
        .await
        .unwrap();
    assert!(
        matches!(&refused.value, RefundResult::Failed { code, message } if code == "FAIL" && message.contains("证书")),
        "{:?}",
        refused.value
    );

    let accepted = pem
        .refund(&refund_order(&id, &unique("WXRP"), 500, 100))
        .await
        .unwrap();
    assert!(
        matches!(accepted.value, RefundResult::Processing { .. }),
        "{:?}",
        accepted.value
    );

    let p12 = {
        use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
        let mut store = KeyStore::new();
        store.add_entry(
            "apiclient",
            KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(
                b"1".to_vec(),
                PrivateKey::from_der(&pki.client_key_der).unwrap(),
                [Certificate::from_der(&pki.client_cert_der).unwrap()],
            )),
        );
        store.writer("1900000109").write().unwrap()
    };
    let pkcs12 = with(Some(ClientIdentity::Pkcs12 {
        der: Secret::new(p12),
        password: Secret::new("1900000109".into()),
    }));
    let accepted = pkcs12
        .refund(&refund_order(&id, &unique("WXRK"), 500, 100))
        .await
        .unwrap();
    assert!(
        matches!(accepted.value, RefundResult::Processing { .. }),
        "{:?}",
        accepted.value
    );
}

/// A connector trusting the sandbox's TLS CA, with the client certificate `client` (cert PEM,
/// key PEM) or none.
fn tls_channel(
    sb: &RunningSandbox,
    pki: &Pki,
    client: Option<(&str, &str)>,
    sign_type: WechatSignType,
) -> WechatChannel {
    let mut acct = account(sb, sign_type, NOWHERE);
    acct.extra_roots_pem = Some(pki.ca_pem.clone());
    acct.client_identity = client.map(|(cert_pem, key_pem)| ClientIdentity::Pem {
        cert_pem: cert_pem.into(),
        key_pem: Secret::new(key_pem.into()),
    });
    WechatChannel::new(acct).unwrap()
}

/// [`tls_channel`] with the CA's own client certificate.
fn certified_channel(sb: &RunningSandbox, pki: &Pki, sign_type: WechatSignType) -> WechatChannel {
    tls_channel(
        sb,
        pki,
        Some((&pki.client_cert_pem, &pki.client_key_pem)),
        sign_type,
    )
}

// ---- probe -------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_proves_the_api_key_and_a_wrong_key_is_not_ok() {
    let sb = sandbox(|_| {}).await;
    let probed = channel(&sb, WechatSignType::HmacSha256, NOWHERE)
        .probe()
        .await
        .unwrap();
    assert!(probed.value.ok, "{:?}", probed.value);
    assert_eq!(probed.value.code, "NO_BILL");
    assert_eq!(probed.exchanges.len(), 1);
    assert_eq!(probed.exchanges[0].call, "pay/downloadbill");
    assert!(!probed.exchanges[0].request_body.contains("sub_mch_id"));

    let mut wrong = account(&sb, WechatSignType::Md5, NOWHERE);
    wrong.api_key = Secret::new("ffffffffffffffffffffffffffffffff".into());
    let probed = WechatChannel::new(wrong).unwrap().probe().await.unwrap();
    assert!(!probed.value.ok);
    assert!(probed.value.message.contains("签名"), "{:?}", probed.value);

    let mut gone = account(&sb, WechatSignType::Md5, NOWHERE);
    gone.base_url = url::Url::parse("http://127.0.0.1:9/").unwrap();
    let probed = WechatChannel::new(gone).unwrap().probe().await.unwrap();
    assert!(!probed.value.ok);
    assert_eq!(probed.value.code, "NO_REPLY");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_with_a_client_certificate_proves_it_over_mutual_tls() {
    let ours = pki();
    let server = ours.server.clone();
    let sb = sandbox(move |c| c.tls = Some(server)).await;
    let probed = certified_channel(&sb, &ours, WechatSignType::Md5)
        .probe()
        .await
        .unwrap();
    assert!(probed.value.ok, "{:?}", probed.value);
    let calls: Vec<&str> = probed.exchanges.iter().map(|e| e.call.as_str()).collect();
    assert_eq!(calls, ["pay/downloadbill", "secapi/mch/querysubdevconfig"]);

    // A certificate of another CA: every handshake fails (the certificate is shown on every
    // connection), so WeChat never answers the first call already.
    let stranger = pki();
    let client = Some((
        stranger.client_cert_pem.as_str(),
        stranger.client_key_pem.as_str(),
    ));
    let probed = tls_channel(&sb, &ours, client, WechatSignType::Md5)
        .probe()
        .await
        .unwrap();
    assert!(!probed.value.ok, "{:?}", probed.value);
    assert_eq!(probed.value.code, "NO_REPLY");
    assert_eq!(probed.exchanges.len(), 1);
}

// ---- sub-merchant development configuration ----------------------------------------------------

/// WeChat issues a sub_mch_id to the demo service provider.
async fn new_sub_merchant(sb: &RunningSandbox) -> String {
    let r = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .post(format!("{}/sandbox/wechat/sub-merchants", sb.base_url()))
        .json(&serde_json::json!({"mch_id": sb.accounts().wechat.service_providers[0].mch_id, "name": "New Tea"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    let sub = body["sub_mch_id"].as_str().unwrap().to_owned();
    assert!(
        sub.len() == 10 && sub.bytes().all(|b| b.is_ascii_digit()),
        "{sub}"
    );
    sub
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_sub_merchant_gets_paths_and_an_appid_bound_and_pays_under_that_appid() {
    let pki = pki();
    let server = pki.server.clone();
    let sb = sandbox(move |c| c.tls = Some(server)).await;
    let ch = certified_channel(&sb, &pki, WechatSignType::HmacSha256);
    let sub = new_sub_merchant(&sb).await;

    let path = |n: u32| SubDevConfig::JsapiPath(format!("https://shop.example.com/pay{n}/"));
    let bound = ch.add_sub_dev_config(&sub, &path(1)).await.unwrap();
    assert_eq!(bound.value, SubDevConfigResult::Bound);
    assert_eq!(bound.exchanges[0].call, "secapi/mch/addsubdevconfig");
    // Binding the same path again is done already: a re-send after a time-out is harmless.
    let again = ch.add_sub_dev_config(&sub, &path(1)).await.unwrap();
    assert_eq!(again.value, SubDevConfigResult::Bound);
    let appid = SubDevConfig::SubAppid("wx9f8e7d6c5b4a3921".into());
    assert_eq!(
        ch.add_sub_dev_config(&sub, &appid).await.unwrap().value,
        SubDevConfigResult::Bound
    );
    for n in 2..=5 {
        let r = ch.add_sub_dev_config(&sub, &path(n)).await.unwrap();
        assert_eq!(r.value, SubDevConfigResult::Bound, "path {n}");
    }
    let sixth = ch.add_sub_dev_config(&sub, &path(6)).await.unwrap();
    assert!(
        matches!(&sixth.value, SubDevConfigResult::Refused { code, .. } if code == "INVALID_REQUEST"),
        "{:?}",
        sixth.value
    );
    let err = ch
        .add_sub_dev_config(
            &sub,
            &SubDevConfig::JsapiPath("https://shop.example.com/pay".into()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ChannelError::InvalidInput {
                field: "jsapi_path",
                ..
            }
        ),
        "{err}"
    );

    let listed = ch.query_sub_dev_config(&sub).await.unwrap().value;
    assert_eq!(
        listed.jsapi_paths,
        (1..=5)
            .map(|n| format!("https://shop.example.com/pay{n}/"))
            .collect::<Vec<_>>()
    );
    assert_eq!(listed.sub_appids, ["wx9f8e7d6c5b4a3921"]);

    let state = sb.state();
    let seen = &state.wechat.sub_dev_configs[&sub];
    assert_eq!(seen.addsubdevconfig_calls, 8);
    assert_eq!(seen.querysubdevconfig_calls, 1);
    assert_eq!(seen.appids, ["wx9f8e7d6c5b4a3921"]);
    assert_eq!(seen.jsapi_paths.len(), 5);

    // unifiedorder takes the bound appid for this sub-merchant, and refuses another.
    let mut paying = order(
        &unique("WXN"),
        100,
        WechatPayer::Sub {
            sub_appid: "wx9f8e7d6c5b4a3921".into(),
            sub_openid: "oNewTea0001".into(),
        },
    );
    paying.merchant = MerchantRoute::Wechat {
        sub_mch_id: sub.clone(),
    };
    let created = ch.create(&paying).await.unwrap();
    assert_eq!(pay_info(&created.value)["appId"], "wx9f8e7d6c5b4a3921");
    paying.nkp_seq_id = unique("WXU");
    paying.payer = Some(WechatPayer::Sub {
        sub_appid: SUB_APPID.into(),
        sub_openid: "oNewTea0001".into(),
    });
    let refused = ch.create(&paying).await.unwrap();
    assert!(
        matches!(&refused.value, CreateResult::Failed { code, .. } if code == "APPID_MCHID_NOT_MATCH"),
        "{:?}",
        refused.value
    );

    // The exported accounts hold the runtime sub-merchant with its appid.
    let exported = sb.accounts_json();
    let subs = exported["wechat"]["service_providers"][0]["sub_merchants"]
        .as_array()
        .unwrap();
    let new = subs
        .iter()
        .find(|m| m["sub_mch_id"] == sub.as_str())
        .unwrap();
    assert_eq!(new["bound_appids"][0], "wx9f8e7d6c5b4a3921");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_dev_config_needs_the_certificate_and_a_sub_merchant_of_the_provider() {
    let pki = pki();
    let server = pki.server.clone();
    let sb = sandbox(move |c| c.tls = Some(server)).await;
    let bare = tls_channel(&sb, &pki, None, WechatSignType::Md5);
    let refused = bare
        .add_sub_dev_config(
            SUB_MCH,
            &SubDevConfig::SubAppid("wx0000000000000001".into()),
        )
        .await
        .unwrap();
    assert!(
        matches!(&refused.value, SubDevConfigResult::Refused { code, message } if code == "FAIL" && message.contains("证书")),
        "{:?}",
        refused.value
    );
    let ch = certified_channel(&sb, &pki, WechatSignType::Md5);
    let err = ch.query_sub_dev_config("1999999999").await.unwrap_err();
    assert!(
        matches!(&err, ChannelError::Refused { code, exchanges, .. } if code == "INVALID_REQUEST" && exchanges.len() == 1),
        "{err}"
    );
    // A configured sub-merchant lists its configured appids.
    let listed = ch.query_sub_dev_config(SUB_MCH).await.unwrap().value;
    assert_eq!(
        listed.sub_appids,
        ["wx1a2b3c4d5e6f7a81", "wx1a2b3c4d5e6f7a82"]
    );
    assert!(listed.jsapi_paths.is_empty());

    // A SYSTEMERROR leaves the outcome unknown, with the exchange kept.
    sb.set_faults(Faults {
        system_error_times: 1,
        apis: vec!["addsubdevconfig".into()],
        ..Default::default()
    })
    .unwrap();
    let err = ch
        .add_sub_dev_config(
            SUB_MCH,
            &SubDevConfig::JsapiPath("https://a.example.com/p/".into()),
        )
        .await
        .unwrap_err();
    assert!(matches!(&err, ChannelError::Unanswered { .. }), "{err}");
    assert_eq!(err.exchanges().len(), 1);
    assert!(err.exchanges()[0].reply_body.contains("SYSTEMERROR"));
}
