//! Every Alipay call of the connector against the embedded sandbox gateway on loopback, fault
//! paths included.

mod notify_inbox;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use nkpay_channels::alipay::{AlipayAccount, AlipayChannel};
use nkpay_channels::{
    BillRequest, BillResult, BillRowKind, Channel, ChannelError, CloseResult, CreateOrder,
    CreateResult, HttpSettings, InboundNotify, MerchantRoute, NotifyAck, NotifyUrls, PayPrompt,
    PayResult, RefundOrder, RefundRef, RefundResult, TradeRef, notify_reply,
};
use nkpay_core::money::Money;
use nkpay_core::secret::Secret;
use nkpay_core::trade_type::{ChannelKind, TradeType};
use nkpay_crypto::alipay_sign;
use nkpay_crypto::rsa_keys::RsaPrivateKey;
use nkpay_sandbox::{Faults, RunningSandbox, Sandbox, SandboxConfig};
use notify_inbox::NotifyInbox;

const BUYER: &str = "2088102177846880";

async fn sandbox(tune: impl FnOnce(&mut SandboxConfig)) -> RunningSandbox {
    let mut config = SandboxConfig::demo();
    config.time_scale = 0.001;
    tune(&mut config);
    Sandbox::start(config).await.unwrap()
}

fn gateway_key(sb: &RunningSandbox) -> RsaPrivateKey {
    let pem = sb.accounts().alipay.gateway_private_key.clone().unwrap();
    RsaPrivateKey::from_pem_or_base64(&pem).unwrap()
}

/// A notify URL nothing listens on, for tests that never wait for a notify.
const NOWHERE: &str = "http://127.0.0.1:9/n";

fn account(sb: &RunningSandbox, notify_url: &str) -> AlipayAccount {
    let app = &sb.accounts().alipay.isv_apps[0];
    AlipayAccount {
        app_id: app.app_id.clone(),
        app_private_key: Secret::new(app.app_private_key.clone().unwrap()),
        alipay_public_key: gateway_key(sb).public_key().to_spki_pem(),
        isv_pid: app.pid.clone(),
        gateway_url: url::Url::parse(&sb.alipay_gateway_url()).unwrap(),
        extra_roots_pem: None,
        notify_urls: NotifyUrls {
            payment: notify_url.into(),
            refund: notify_url.into(),
        },
        http: HttpSettings {
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(5),
            bill_timeout: Duration::from_secs(10),
            resend_limit: 1,
            resend_delay: Duration::from_millis(10),
        },
    }
}

fn channel(sb: &RunningSandbox, notify_url: &str) -> AlipayChannel {
    AlipayChannel::new(account(sb, notify_url)).unwrap()
}

fn route(sb: &RunningSandbox) -> MerchantRoute {
    let grant = &sb.accounts().alipay.isv_apps[0].grants[0];
    MerchantRoute::Alipay {
        app_auth_token: Secret::new(grant.app_auth_token.clone()),
        seller_id: Some(grant.user_id.clone()),
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", Utc::now().timestamp_nanos_opt().unwrap_or(0))
}

fn order(sb: &RunningSandbox, id: &str, fen: i64) -> CreateOrder {
    CreateOrder {
        nkp_seq_id: id.into(),
        trade_type: TradeType::ANative,
        amount: Money::from_fen(fen).unwrap(),
        description: "Demo coffee".into(),
        time_expire: Utc::now() + chrono::Duration::hours(2),
        placed_at: Utc::now(),
        client_ip: None,
        payer: None,
        attach: None,
        merchant: route(sb),
    }
}

fn trade(sb: &RunningSandbox, id: &str) -> TradeRef {
    TradeRef {
        nkp_seq_id: id.into(),
        merchant: route(sb),
    }
}

fn qr_code(result: &CreateResult) -> String {
    match result {
        CreateResult::Created(PayPrompt::QrCode(qr)) => qr.clone(),
        other => panic!("expected a QR code, got {other:?}"),
    }
}

/// The buyer's side: `scan` opens the trade, `pay` pays it.
async fn buyer(sb: &RunningSandbox, action: &str, qr: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}/sandbox/alipay/{action}", sb.base_url()))
        .json(&serde_json::json!({"qr_code": qr, "buyer_id": BUYER}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

async fn inbox() -> NotifyInbox {
    NotifyInbox::start(notify_reply(ChannelKind::Alipay, NotifyAck::Accepted).body).await
}

async fn paid_trade(
    sb: &RunningSandbox,
    ch: &AlipayChannel,
    inbox: &mut NotifyInbox,
    fen: i64,
) -> String {
    let id = unique("ALP");
    let created = ch.create(&order(sb, &id, fen)).await.unwrap();
    buyer(sb, "pay", &qr_code(&created.value)).await;
    let notify = ch.parse_notify(&inbox.next().await).unwrap();
    assert!(matches!(
        notify,
        InboundNotify::Payment {
            result: PayResult::Paid { .. },
            ..
        }
    ));
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trade_is_precreated_scanned_paid_notified_and_queried() {
    let sb = sandbox(|_| {}).await;
    let mut inbox = inbox().await;
    let ch = channel(&sb, &inbox.url);
    let id = unique("ALA");

    let created = ch.create(&order(&sb, &id, 1234)).await.unwrap();
    assert_eq!(created.exchanges.len(), 1);
    assert_eq!(created.exchanges[0].call, "alipay.trade.precreate");
    // The grant is a secret: the recorded request shows it masked.
    let token = match route(&sb) {
        MerchantRoute::Alipay { app_auth_token, .. } => app_auth_token.expose().clone(),
        MerchantRoute::Wechat { .. } => unreachable!(),
    };
    assert!(!created.exchanges[0].request_body.contains(&token));
    assert!(
        created.exchanges[0]
            .request_body
            .contains("app_auth_token=***")
    );
    let qr = qr_code(&created.value);

    // Before the scan the trade does not exist at Alipay: not paid, still payable.
    assert_eq!(
        ch.query(&trade(&sb, &id)).await.unwrap().value,
        PayResult::NotPaid
    );
    buyer(&sb, "scan", &qr).await;
    assert_eq!(
        ch.query(&trade(&sb, &id)).await.unwrap().value,
        PayResult::NotPaid
    );

    buyer(&sb, "pay", &qr).await;
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
        panic!("expected a paid notify, got {notify:?}");
    };
    assert_eq!(nkp_seq_id, id);
    assert_eq!(
        sub_merchant,
        sb.accounts().alipay.isv_apps[0]
            .grants
            .first()
            .map(|g| g.user_id.clone())
    );
    assert_eq!(amount.fen(), 1234);
    assert_eq!(buyer_id.as_deref(), Some(BUYER));
    assert!(paid_at.is_some());

    match ch.query(&trade(&sb, &id)).await.unwrap().value {
        PayResult::Paid {
            party_order_id: queried,
            amount,
            buyer_id,
            ..
        } => {
            assert_eq!(queried, party_order_id);
            assert_eq!(amount.fen(), 1234);
            assert_eq!(buyer_id.as_deref(), Some(BUYER));
        }
        other => panic!("expected paid, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_before_a_scan_is_not_opened_and_after_a_scan_closes() {
    let sb = sandbox(|_| {}).await;
    let mut inbox = inbox().await;
    let ch = channel(&sb, &inbox.url);
    let id = unique("ALC");
    let created = ch.create(&order(&sb, &id, 100)).await.unwrap();
    assert_eq!(
        ch.close(&trade(&sb, &id)).await.unwrap().value,
        CloseResult::NotOpened
    );

    buyer(&sb, "scan", &qr_code(&created.value)).await;
    assert_eq!(
        ch.close(&trade(&sb, &id)).await.unwrap().value,
        CloseResult::Closed
    );
    assert_eq!(
        ch.query(&trade(&sb, &id)).await.unwrap().value,
        PayResult::Closed
    );

    let paid = paid_trade(&sb, &ch, &mut inbox, 100).await;
    assert!(matches!(
        ch.close(&trade(&sb, &paid)).await.unwrap().value,
        CloseResult::Failed { code, .. } if code == "ACQ.TRADE_STATUS_ERROR"
    ));
}

fn refund_order(
    sb: &RunningSandbox,
    trade_id: &str,
    refund_id: &str,
    total: i64,
    fen: i64,
) -> RefundOrder {
    RefundOrder {
        trade: trade(sb, trade_id),
        refund_nkp_seq_id: refund_id.into(),
        trade_amount: Money::from_fen(total).unwrap(),
        amount: Money::from_fen(fen).unwrap(),
        reason: Some("customer asked".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_moves_money_once_is_notified_and_queried() {
    let sb = sandbox(|_| {}).await;
    let mut inbox = inbox().await;
    let ch = channel(&sb, &inbox.url);
    let id = paid_trade(&sb, &ch, &mut inbox, 1234).await;
    let refund_id = unique("ALR");

    let first = ch
        .refund(&refund_order(&sb, &id, &refund_id, 1234, 200))
        .await
        .unwrap();
    assert!(
        matches!(first.value, RefundResult::Succeeded { .. }),
        "{:?}",
        first.value
    );
    // The same out_request_no again moves no money: not a success by itself.
    let again = ch
        .refund(&refund_order(&sb, &id, &refund_id, 1234, 200))
        .await
        .unwrap();
    assert_eq!(
        again.value,
        RefundResult::Processing {
            party_refund_id: None
        }
    );

    let notify = ch.parse_notify(&inbox.next().await).unwrap();
    assert!(
        matches!(&notify, InboundNotify::Refund { nkp_seq_id, refund_nkp_seq_id, result: RefundResult::Succeeded { .. } }
            if *nkp_seq_id == id && *refund_nkp_seq_id == refund_id),
        "{notify:?}"
    );

    let queried = ch
        .refund_query(&RefundRef {
            trade: trade(&sb, &id),
            refund_nkp_seq_id: refund_id.clone(),
        })
        .await
        .unwrap();
    assert!(
        matches!(queried.value, RefundResult::Succeeded { amount: Some(a), .. } if a.fen() == 200),
        "{:?}",
        queried.value
    );
    let absent = ch
        .refund_query(&RefundRef {
            trade: trade(&sb, &id),
            refund_nkp_seq_id: "NO-SUCH-REFUND".into(),
        })
        .await
        .unwrap();
    assert_eq!(absent.value, RefundResult::NotFound);

    let over = ch
        .refund(&refund_order(&sb, &id, &unique("ALRO"), 1234, 1100))
        .await
        .unwrap();
    assert!(
        matches!(&over.value, RefundResult::Failed { code, .. } if code == "ACQ.REASON_TRADE_REFUND_FEE_ERR"),
        "{:?}",
        over.value
    );
    let state = sb.state().alipay;
    assert_eq!(state.refunds_made, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_error_on_precreate_is_unknown_and_a_refund_is_resent_under_the_same_number() {
    let sb = sandbox(|_| {}).await;
    let mut inbox = inbox().await;
    let ch = channel(&sb, &inbox.url);
    sb.set_faults(Faults {
        system_error_times: 1,
        apis: vec!["alipay.trade.precreate".into()],
        ..Faults::default()
    })
    .unwrap();
    let created = ch.create(&order(&sb, &unique("ALS"), 100)).await.unwrap();
    assert_eq!(created.exchanges.len(), 1, "precreate is not re-sent");
    assert!(
        matches!(created.value, CreateResult::Unknown { reason } if reason.contains("ACQ.SYSTEM_ERROR"))
    );

    let id = paid_trade(&sb, &ch, &mut inbox, 500).await;
    sb.set_faults(Faults {
        system_error_times: 1,
        system_error_after_processing: true,
        apis: vec!["alipay.trade.refund".into()],
        ..Faults::default()
    })
    .unwrap();
    let refund_id = unique("ALRS");
    let asked = ch
        .refund(&refund_order(&sb, &id, &refund_id, 500, 100))
        .await
        .unwrap();
    assert_eq!(asked.exchanges.len(), 2);
    assert_eq!(
        asked.exchanges[0].request_body,
        asked.exchanges[1].request_body
    );
    // The first call refunded before failing; the re-send found it done and moved nothing.
    assert_eq!(
        asked.value,
        RefundResult::Processing {
            party_refund_id: None
        }
    );
    let state = sb.state().alipay;
    assert_eq!((state.refund_requests, state.refunds_made), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_out_is_unknown() {
    let sb = sandbox(|_| {}).await;
    let mut acct = account(&sb, NOWHERE);
    acct.http.total_timeout = Duration::from_millis(300);
    let ch = AlipayChannel::new(acct).unwrap();
    sb.set_faults(Faults {
        timeout_times: 1,
        timeout_ms: 2_000,
        ..Faults::default()
    })
    .unwrap();
    let queried = ch.query(&trade(&sb, "ANY")).await.unwrap();
    assert_eq!(queried.exchanges.len(), 1);
    assert!(
        queried.exchanges[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("timed out")
    );
    assert!(matches!(queried.value, PayResult::Unknown { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_grant_and_bad_signature_are_refused_with_their_gateway_codes() {
    let sb = sandbox(|_| {}).await;
    let ch = channel(&sb, NOWHERE);
    let mut o = order(&sb, &unique("ALG"), 100);
    o.merchant = MerchantRoute::Alipay {
        app_auth_token: Secret::new("202511BBnot-a-grant".into()),
        seller_id: None,
    };
    assert!(matches!(
        ch.create(&o).await.unwrap().value,
        CreateResult::Failed { code, .. } if code == "aop.invalid-app-auth-token"
    ));

    let mut acct = account(&sb, NOWHERE);
    acct.app_private_key = Secret::new(RsaPrivateKey::generate_2048().unwrap().to_pkcs8_pem());
    let wrong_key = AlipayChannel::new(acct).unwrap();
    let o = order(&sb, &unique("ALK"), 100);
    assert!(matches!(
        wrong_key.create(&o).await.unwrap().value,
        CreateResult::Failed { code, .. } if code == "isv.invalid-signature"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_notify_is_rejected() {
    let sb = sandbox(|c| c.faults.notify_bad_signature_rate = 1.0).await;
    let mut inbox = inbox().await;
    let ch = channel(&sb, &inbox.url);
    let created = ch.create(&order(&sb, &unique("ALF"), 100)).await.unwrap();
    buyer(&sb, "pay", &qr_code(&created.value)).await;
    let err = ch.parse_notify(&inbox.next().await).unwrap_err();
    assert!(matches!(err, ChannelError::NotifyRejected { .. }), "{err}");
}

/// A notify signed by the gateway for another amount than the order's verifies, and the
/// connector surfaces that amount for the engine to compare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_with_an_amount_other_than_the_orders_is_surfaced_with_its_amount() {
    let sb = sandbox(|_| {}).await;
    let mut inbox = inbox().await;
    let ch = channel(&sb, &inbox.url);
    let id = unique("ALM");
    let created = ch.create(&order(&sb, &id, 1234)).await.unwrap();
    buyer(&sb, "pay", &qr_code(&created.value)).await;
    let body = inbox.next().await;
    let mut params: BTreeMap<String, String> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(params["total_amount"], "12.34");
    params.insert("total_amount".into(), "0.01".into());
    params.remove("sign");
    let sign = gateway_key(&sb)
        .sign_sha256_base64(alipay_sign::notify_string_to_sign(&params).as_bytes())
        .unwrap();
    params.insert("sign".into(), sign);
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    match ch.parse_notify(body.as_bytes()).unwrap() {
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
async fn todays_bill_zip_lists_the_payment_and_the_refund_to_the_fen() {
    let sb = sandbox(|_| {}).await;
    let mut inbox = inbox().await;
    let ch = channel(&sb, &inbox.url);
    let id = paid_trade(&sb, &ch, &mut inbox, 1234).await;
    let refund_id = unique("ALRB");
    ch.refund(&refund_order(&sb, &id, &refund_id, 1234, 34))
        .await
        .unwrap();

    let today = (Utc::now() + chrono::Duration::hours(8)).date_naive();
    let fetched = ch
        .bill(&BillRequest {
            date: today,
            merchant: Some(route(&sb)),
        })
        .await
        .unwrap();
    assert_eq!(fetched.exchanges.len(), 2, "URL query, then the download");
    assert!(fetched.exchanges[1].reply_body.starts_with("[binary"));
    let BillResult::Ready(bill) = fetched.value else {
        panic!("expected a bill, got {:?}", fetched.value);
    };
    let pay = bill
        .rows
        .iter()
        .find(|r| r.nkp_seq_id == id && r.kind == BillRowKind::Payment)
        .expect("payment row");
    assert_eq!(pay.amount.fen(), 1234);
    assert!(pay.fee_fen >= 0);
    let refund = bill
        .rows
        .iter()
        .find(|r| {
            r.kind == BillRowKind::Refund && r.refund_nkp_seq_id.as_deref() == Some(&refund_id)
        })
        .expect("refund row");
    assert_eq!(refund.amount.fen(), 34);
    assert_eq!(refund.party_order_id, pay.party_order_id);

    let tomorrow = today.succ_opt().unwrap();
    let none = ch
        .bill(&BillRequest {
            date: tomorrow,
            merchant: Some(route(&sb)),
        })
        .await
        .unwrap();
    assert!(
        matches!(none.value, BillResult::NoBill { .. }),
        "{:?}",
        none.value
    );
}

// ---- probe -------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_is_ok_with_the_right_keys_and_names_what_is_wrong_otherwise() {
    let sb = sandbox(|_| {}).await;
    let probed = channel(&sb, NOWHERE).probe().await.unwrap();
    assert!(probed.value.ok, "{:?}", probed.value);
    assert_eq!(probed.value.code, "ACQ.TRADE_NOT_EXIST");
    assert_eq!(probed.exchanges.len(), 1);
    assert_eq!(probed.exchanges[0].call, "alipay.trade.query");
    assert!(!probed.exchanges[0].request_body.contains("app_auth_token"));

    let mut wrong_key = account(&sb, NOWHERE);
    wrong_key.app_private_key = Secret::new(RsaPrivateKey::generate_2048().unwrap().to_pkcs8_pem());
    let probed = AlipayChannel::new(wrong_key)
        .unwrap()
        .probe()
        .await
        .unwrap();
    assert!(!probed.value.ok);
    assert_eq!(probed.value.code, "isv.invalid-signature");

    let mut wrong_app = account(&sb, NOWHERE);
    wrong_app.app_id = "2021000000009999".into();
    let probed = AlipayChannel::new(wrong_app)
        .unwrap()
        .probe()
        .await
        .unwrap();
    assert!(!probed.value.ok);
    assert_eq!(probed.value.code, "isv.invalid-app-id");

    let mut wrong_alipay_key = account(&sb, NOWHERE);
    wrong_alipay_key.alipay_public_key = RsaPrivateKey::generate_2048()
        .unwrap()
        .public_key()
        .to_spki_pem();
    let probed = AlipayChannel::new(wrong_alipay_key)
        .unwrap()
        .probe()
        .await
        .unwrap();
    assert!(!probed.value.ok);
    assert_eq!(probed.value.code, "UNTRUSTED_REPLY");
}

// ---- third-party app authorization -------------------------------------------------------------

/// Opens the authorization page as the merchant would, with the sandbox's instant approval,
/// and returns where it sends the merchant back.
async fn authorize(url: &str) -> url::Url {
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{url}&sandbox_auto_authorize=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap_or_default());
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    url::Url::parse(&location).unwrap()
}

fn query_param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn route_of(token: &Secret<String>, seller: &str) -> MerchantRoute {
    MerchantRoute::Alipay {
        app_auth_token: token.clone(),
        seller_id: Some(seller.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_authorizes_the_app_and_its_token_places_trades_until_refreshed() {
    let sb = sandbox(|_| {}).await;
    let ch = channel(&sb, NOWHERE);
    let page = ch.app_to_app_auth_url("https://pay.example.com/alipay/authorized?m=7", "st-1");
    assert!(
        page.starts_with(&format!(
            "{}/oauth2/appToAppAuth.htm?app_id=",
            sb.base_url()
        )),
        "{page}"
    );
    // The page itself shows a button posting back to it.
    let shown = reqwest::get(&page).await.unwrap();
    assert_eq!(shown.status(), 200);
    assert!(shown.text().await.unwrap().contains("method=\"post\""));

    let back = authorize(&page).await;
    assert_eq!(back.host_str(), Some("pay.example.com"));
    assert_eq!(query_param(&back, "m").as_deref(), Some("7"));
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-1"));
    assert_eq!(
        query_param(&back, "app_id"),
        Some(sb.accounts().alipay.isv_apps[0].app_id.clone())
    );
    let code = query_param(&back, "app_auth_code").unwrap();

    let granted = ch.exchange_app_auth_code(&code).await.unwrap();
    let grant = granted.value;
    assert!(
        grant.user_id.starts_with("2088") && grant.user_id.len() == 16,
        "{}",
        grant.user_id
    );
    assert_eq!(grant.expires_in_secs, 31_536_000);
    assert!(grant.re_expires_in_secs > grant.expires_in_secs);
    let recorded = &granted.exchanges[0];
    assert!(
        !recorded.request_body.contains(&code),
        "{}",
        recorded.request_body
    );
    assert!(
        !recorded
            .reply_body
            .contains(grant.app_auth_token.expose().as_str())
    );
    assert!(
        !recorded
            .reply_body
            .contains(grant.app_refresh_token.expose().as_str())
    );

    let used = ch.exchange_app_auth_code(&code).await.unwrap_err();
    assert!(
        matches!(&used, ChannelError::Refused { code, exchanges, .. } if code == "isv.code-invalid" && exchanges.len() == 1),
        "{used}"
    );

    // The new grant's token places a trade at once.
    let mut placed = order(&sb, &unique("ALA"), 300);
    placed.merchant = route_of(&grant.app_auth_token, &grant.user_id);
    let created = ch.create(&placed).await.unwrap();
    assert!(
        matches!(created.value, CreateResult::Created(_)),
        "{:?}",
        created.value
    );

    let status = ch
        .query_app_auth_token(&grant.app_auth_token)
        .await
        .unwrap()
        .value;
    assert!(status.valid);
    assert_eq!(
        (status.user_id.as_str(), status.auth_app_id.as_str()),
        (grant.user_id.as_str(), grant.auth_app_id.as_str())
    );

    let refreshed = ch
        .refresh_app_auth_token(&grant.app_refresh_token)
        .await
        .unwrap()
        .value;
    assert_ne!(
        refreshed.app_auth_token.expose(),
        grant.app_auth_token.expose()
    );
    assert_eq!(refreshed.user_id, grant.user_id);

    placed.nkp_seq_id = unique("ALO");
    let refused = ch.create(&placed).await.unwrap();
    assert!(
        matches!(&refused.value, CreateResult::Failed { code, .. } if code == "aop.invalid-app-auth-token"),
        "{:?}",
        refused.value
    );
    placed.merchant = route_of(&refreshed.app_auth_token, &grant.user_id);
    let created = ch.create(&placed).await.unwrap();
    assert!(
        matches!(created.value, CreateResult::Created(_)),
        "{:?}",
        created.value
    );

    assert!(
        !ch.query_app_auth_token(&grant.app_auth_token)
            .await
            .unwrap()
            .value
            .valid
    );
    assert!(
        ch.query_app_auth_token(&refreshed.app_auth_token)
            .await
            .unwrap()
            .value
            .valid
    );
    let stale = ch
        .refresh_app_auth_token(&grant.app_refresh_token)
        .await
        .unwrap_err();
    assert!(
        matches!(&stale, ChannelError::Refused { code, .. } if code == "isv.refresh-token-invalid"),
        "{stale}"
    );

    let seen = sb.state().alipay.app_auth;
    assert_eq!(seen.page_grants.len(), 1);
    assert!(seen.page_grants[0].code_exchanged);
    assert_eq!(seen.page_grants[0].refreshes, 1);
    assert_eq!((seen.code_exchanges, seen.refresh_calls), (2, 2));
    let exported = sb.accounts_json();
    let grants = exported["alipay"]["isv_apps"][0]["grants"]
        .as_array()
        .unwrap();
    assert!(
        grants
            .iter()
            .any(|g| g["app_auth_token"] == refreshed.app_auth_token.expose().as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_refuses_an_unknown_app_or_a_missing_redirect() {
    let sb = sandbox(|_| {}).await;
    for query in [
        "app_id=2021000000009999&redirect_uri=https%3A%2F%2Fpay.example.com%2F",
        "app_id=2021000000000001",
        "app_id=2021000000000001&redirect_uri=not-a-url",
    ] {
        let r = reqwest::get(format!(
            "{}/oauth2/appToAppAuth.htm?{query}&sandbox_auto_authorize=true",
            sb.base_url()
        ))
        .await
        .unwrap();
        assert_eq!(r.status(), 400, "{query}");
    }
    let err = channel(&sb, NOWHERE)
        .exchange_app_auth_code("never-issued")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChannelError::Refused { code, .. } if code == "isv.code-invalid"),
        "{err}"
    );
}
