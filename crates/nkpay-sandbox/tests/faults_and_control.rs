//! Fault injection (system errors before and after processing, time-outs, latency, lost,
//! duplicated, reordered and forged notifies), the control endpoints, the payer API's refusals
//! and the cashier page.

mod client;

use std::time::{Duration, Instant};

use client::*;
use nkpay_crypto::wechat_sign::{self, WechatSignType::Md5};
use nkpay_sandbox::Faults;
use serde_json::json;

async fn post_faults(sb: &nkpay_sandbox::RunningSandbox, body: &str) -> (u16, serde_json::Value) {
    post_json(sb, "/sandbox/faults", body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_set_over_http_and_bad_settings_are_refused() {
    let sb = start().await;
    let (status, v) = post_faults(
        &sb,
        r#"{"system_error_times": 1, "apis": ["unifiedorder"]}"#,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["system_error_times"], 1);
    assert_eq!(sb.faults().apis, vec!["unifiedorder".to_string()]);
    for bad in [
        r#"{"notify_drop_rate": 2}"#,
        r#"{"no_such_fault": 1}"#,
        "not json",
    ] {
        let (status, v) = post_faults(&sb, bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(v["error"].as_str().is_some());
    }
    let (status, _) = post_faults(&sb, "{}").await;
    assert_eq!(status, 200);
    assert_eq!(sb.faults(), Faults::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_error_before_processing_leaves_nothing_behind() {
    let sb = start().await;
    sb.set_faults(Faults {
        system_error_times: 1,
        ..Faults::default()
    })
    .unwrap();
    let r = wx(
        &sb,
        "/pay/unifiedorder",
        order_fields("SE-1", "http://127.0.0.1:9/n"),
    )
    .await;
    assert_eq!(r.err_code(Md5), "SYSTEMERROR");
    assert!(sb.state().wechat.orders.is_empty());
    // The retry with the same parameters goes through.
    wx_order(&sb, "SE-1", "http://127.0.0.1:9/n").await;

    sb.set_faults(Faults {
        system_error_rate: 1.0,
        ..Faults::default()
    })
    .unwrap();
    let r = ali(&sb, "alipay.trade.query", json!({"out_trade_no": "X"})).await;
    assert_eq!(r.codes(), ("40004", "ACQ.SYSTEM_ERROR"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_error_after_processing_hides_a_refund_that_was_made() {
    let sb = start().await;
    let prepay = wx_order(&sb, "SEA-1", "http://127.0.0.1:9/n").await;
    wx_pay(&sb, &prepay).await;
    sb.set_faults(Faults {
        system_error_times: 1,
        system_error_after_processing: true,
        apis: vec!["refund".into()],
        ..Faults::default()
    })
    .unwrap();
    let mut f = wx_base();
    f.extend(fields(&[
        ("out_trade_no", "SEA-1"),
        ("out_refund_no", "SEA-1-R"),
        ("total_fee", "100"),
        ("refund_fee", "100"),
    ]));
    let r = wx(&sb, "/secapi/pay/refund", f.clone()).await;
    assert_eq!(r.err_code(Md5), "SYSTEMERROR");
    let r = wx(&sb, "/secapi/pay/refund", f).await;
    assert_eq!(r.err_code(Md5), "");
    let state = sb.state().wechat;
    assert_eq!(state.refunds_made, 1, "the channel saw exactly one refund");
    assert_eq!(state.refund_requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_holds_the_reply_past_the_clients_patience() {
    let sb = start().await;
    sb.set_faults(Faults {
        timeout_times: 1,
        timeout_ms: 1500,
        ..Faults::default()
    })
    .unwrap();
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let body = to_xml(&sign_wx(order_fields("TO-1", "http://127.0.0.1:9/n"), Md5));
    let err = impatient
        .post(format!("{}/pay/unifiedorder", sb.base_url()))
        .body(body)
        .send()
        .await
        .expect_err("the client times out");
    assert!(err.is_timeout());
    // The order was placed all the same: a query finds it.
    let mut q = wx_base();
    q.insert("out_trade_no".into(), "TO-1".into());
    let r = wx(&sb, "/pay/orderquery", q).await;
    assert_eq!(r.get("trade_state"), "NOTPAY");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_is_added_to_every_call() {
    let sb = start().await;
    sb.set_faults(Faults {
        latency_ms: 200,
        ..Faults::default()
    })
    .unwrap();
    let begun = Instant::now();
    let r = wx(&sb, "/pay/orderquery", wx_base()).await;
    assert_eq!(r.err_code(Md5), "LACK_PARAMS");
    assert!(begun.elapsed() >= Duration::from_millis(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_notifies_never_arrive() {
    let sb = start_with(|c| c.faults.notify_drop_rate = 1.0).await;
    let rx = Receiver::start(0).await;
    let prepay = wx_order(&sb, "DROP-1", &format!("{}/wx/pay", rx.url)).await;
    wx_pay(&sb, &prepay).await;
    let record = &sb.state().notifies[0];
    assert!(record.dropped && !record.delivered && record.attempts == 0);
    // A later notify to the same receiver, not dropped, arrives; the dropped one never does.
    sb.set_faults(Faults::default()).unwrap();
    let prepay = wx_order(&sb, "DROP-2", &format!("{}/wx/pay", rx.url)).await;
    wx_pay(&sb, &prepay).await;
    let got = rx.wait_for(1).await;
    assert!(got[0].body.contains("DROP-2"), "{got:?}");
    let state = sb.state();
    let dropped = state
        .notifies
        .iter()
        .find(|n| n.out_trade_no == "DROP-1")
        .expect("DROP-1 notify");
    assert!(dropped.dropped && !dropped.delivered && dropped.attempts == 0);
    assert!(rx.received().iter().all(|r| !r.body.contains("DROP-1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_notifies_arrive_twice() {
    let sb = start_with(|c| c.faults.notify_duplicate_rate = 1.0).await;
    let rx = Receiver::start(0).await;
    let qr = ali_precreate(&sb, "DUP1", Some(&format!("{}/ali/n", rx.url))).await;
    ali_pay(&sb, &qr).await;
    let got = rx.wait_for(2).await;
    assert_eq!(got[0].body, got[1].body);
    assert!(sb.state().notifies[0].duplicated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reordered_notify_is_overtaken_by_a_later_one() {
    let sb = start().await;
    let rx = Receiver::start(0).await;
    let qr = ali_precreate(&sb, "ORD1", Some(&format!("{}/ali/n", rx.url))).await;
    sb.set_faults(Faults {
        notify_reorder_rate: 1.0,
        notify_reorder_delay_ms: 400,
        ..Faults::default()
    })
    .unwrap();
    ali_pay(&sb, &qr).await;
    sb.set_faults(Faults::default()).unwrap();
    let r = ali(
        &sb,
        "alipay.trade.refund",
        json!({"out_trade_no": "ORD1", "refund_amount": "0.10", "out_request_no": "O1"}),
    )
    .await;
    assert_eq!(r.codes(), ("10000", ""));
    let got = rx.wait_for(2).await;
    assert!(
        got[0].body.contains("out_biz_no=O1"),
        "the refund notify came first"
    );
    assert!(!got[1].body.contains("out_biz_no"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_notifies_fail_verification() {
    let sb = start_with(|c| c.faults.notify_bad_signature_rate = 1.0).await;
    let rx = Receiver::start(0).await;
    let prepay = wx_order(&sb, "FORGE-1", &format!("{}/wx/pay", rx.url)).await;
    wx_pay(&sb, &prepay).await;
    let n = parse_xml(&rx.wait_for(1).await[0].body);
    assert!(wechat_sign::verify(&n, API_KEY, Md5).is_err());
    let qr = ali_precreate(&sb, "FORGE2", Some(&format!("{}/ali/n", rx.url))).await;
    ali_pay(&sb, &qr).await;
    let got = rx.wait_for(2).await;
    let form: std::collections::BTreeMap<String, String> =
        url::form_urlencoded::parse(got[1].body.as_bytes())
            .into_owned()
            .collect();
    assert!(nkpay_crypto::alipay_sign::verify_notify(&form, &gateway_public_key()).is_err());
    assert!(sb.state().notifies.iter().all(|n| n.forged));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payer_api_refuses_what_a_buyer_could_not_do() {
    let sb = start().await;
    let cases = vec![
        (
            "/sandbox/wechat/pay",
            json!({"prepay_id": "wx-unknown"}),
            404,
        ),
        ("/sandbox/wechat/pay", json!({"openid": "o"}), 400),
        (
            "/sandbox/wechat/pay",
            json!({"prepay_id": "x", "result": "MAYBE"}),
            400,
        ),
        (
            "/sandbox/alipay/pay",
            json!({"qr_code": "bax-unknown"}),
            404,
        ),
        (
            "/sandbox/alipay/pay",
            json!({"qr_code": "x", "buyer_id": "12345"}),
            400,
        ),
        (
            "/sandbox/alipay/scan",
            json!({"qr_code": "bax-unknown"}),
            404,
        ),
    ];
    for (path, body, want) in cases {
        let (status, v) = pay_json(&sb, path, body.clone()).await;
        assert_eq!(status, want, "{path} {body}: {v}");
        assert!(v["error"].as_str().is_some(), "{v}");
    }
    let resp = http()
        .post(format!("{}/sandbox/wechat/pay", sb.base_url()))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = http()
        .get(format!("{}/no/such/route", sb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cashier_page_shows_the_order_and_pays_it() {
    let sb = start().await;
    let rx = Receiver::start(0).await;
    let prepay = wx_order(&sb, "PAGE-1", &format!("{}/wx/pay", rx.url)).await;
    let page = http()
        .get(format!(
            "{}/sandbox/cashier?prepay_id={prepay}",
            sb.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("¥1.00") && html.contains("PAGE-1") && html.contains("coffee"));
    let done = http()
        .post(format!("{}/sandbox/cashier", sb.base_url()))
        .form(&[
            ("kind", "wechat"),
            ("prepay_id", prepay.as_str()),
            ("payer", ""),
            ("result", "SUCCESS"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(done.contains("Paid"), "{done}");
    rx.wait_for(1).await;

    // Opening an Alipay QR code link is the scan.
    let qr = ali_precreate(&sb, "PAGE2", None).await;
    let html = http().get(&qr).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("WAIT_BUYER_PAY") && html.contains("PAGE2"),
        "{html}"
    );
    let r = ali(&sb, "alipay.trade.query", json!({"out_trade_no": "PAGE2"})).await;
    assert_eq!(r.get("trade_status"), "WAIT_BUYER_PAY");

    let html = http()
        .get(format!(
            "{}/sandbox/cashier?prepay_id=<b>nope</b>",
            sb.base_url()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Cannot pay") && !html.contains("<b>nope"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_and_accounts_are_served_as_json() {
    let sb = start().await;
    let prepay = wx_order(&sb, "ST-1", "http://127.0.0.1:9/n").await;
    let state: serde_json::Value = http()
        .get(format!("{}/sandbox/state", sb.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["wechat"]["unifiedorder_calls"]["ST-1"], 1);
    assert_eq!(state["wechat"]["orders"][0]["prepay_id"], prepay.as_str());
    let accounts: serde_json::Value = http()
        .get(format!("{}/sandbox/accounts", sb.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accounts, sb.accounts_json());
    let sp = &accounts["wechat"]["service_providers"][0];
    assert_eq!(sp["mch_id"], SP_MCH);
    assert_eq!(sp["api_key"], API_KEY);
    assert_eq!(sp["sub_merchants"][0]["appids"][1]["kind"], "miniapp");
    let app = &accounts["alipay"]["isv_apps"][0];
    assert_eq!(app["grants"][0]["app_auth_token"], TOKEN);
    assert!(
        app["app_private_key"]
            .as_str()
            .unwrap()
            .contains("PRIVATE KEY")
    );
    assert!(
        app["alipay_public_key"]
            .as_str()
            .unwrap()
            .contains("PUBLIC KEY")
    );
    assert_eq!(accounts["alipay"]["gateway_url"], sb.alipay_gateway_url());

    // The export is a valid configuration for another sandbox.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.json");
    sb.write_accounts(&path).unwrap();
    let config = nkpay_sandbox::SandboxConfig::load_file(&path).unwrap();
    let again = nkpay_sandbox::Sandbox::start(config).await.unwrap();
    assert_eq!(
        again.accounts_json()["wechat"]["service_providers"],
        accounts["wechat"]["service_providers"]
    );
    assert_eq!(
        again.accounts_json()["alipay"]["isv_apps"],
        accounts["alipay"]["isv_apps"]
    );
    again.shutdown().await;
}

#[test]
fn a_toml_configuration_names_its_own_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.toml");
    std::fs::write(
        &path,
        r#"
time_scale = 0.01

[faults]
latency_ms = 5

[[wechat.service_providers]]
appid = "wx0000000000000001"
mch_id = "1600000001"
api_key = "k"

[[wechat.service_providers.sub_merchants]]
sub_mch_id = "1600000101"
appids = [{ appid = "wx0000000000000101", kind = "miniapp" }]
"#,
    )
    .unwrap();
    let config = nkpay_sandbox::SandboxConfig::load_file(&path).unwrap();
    assert_eq!(config.time_scale, 0.01);
    assert_eq!(config.faults.latency_ms, 5);
    let sp = &config.accounts.wechat.service_providers[0];
    assert_eq!(sp.mch_id, "1600000001");
    assert_eq!(
        sp.sub_merchants[0].appids[0].kind,
        nkpay_sandbox::AppKind::Miniapp
    );

    std::fs::write(&path, "[faults]\nlatency = 5\n").unwrap();
    let err = nkpay_sandbox::SandboxConfig::load_file(&path).unwrap_err();
    assert!(err.to_string().contains("latency"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configurations_are_refused_at_start() {
    let mut twice = nkpay_sandbox::SandboxConfig::demo();
    let sp = twice.accounts.wechat.service_providers[0].clone();
    twice.accounts.wechat.service_providers.push(sp);
    let err = nkpay_sandbox::Sandbox::start(twice).await.err().unwrap();
    assert!(err.to_string().contains("1900000109"), "{err}");

    let mut bad_key = nkpay_sandbox::SandboxConfig::demo();
    bad_key.accounts.alipay.isv_apps[0].app_public_key = "not a key".into();
    let err = nkpay_sandbox::Sandbox::start(bad_key).await.err().unwrap();
    assert!(err.to_string().contains("app_public_key"), "{err}");

    let mut scale = nkpay_sandbox::SandboxConfig::demo();
    scale.time_scale = 0.0;
    assert!(nkpay_sandbox::Sandbox::start(scale).await.is_err());
}
