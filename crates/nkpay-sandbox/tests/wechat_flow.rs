//! WeChat Pay end to end: pay, the signed payment notify and its retries, refunds with the
//! encrypted refund notify, bills, and the client certificate secapi/ demands under TLS.

mod client;

use std::io::Read;

use client::*;
use nkpay_crypto::wechat_refund_cipher::decrypt_req_info;
use nkpay_crypto::wechat_sign::{self, WechatSignType::Md5};

fn shanghai_today() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y%m%d")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_sends_a_signed_notify_and_the_order_reads_success() {
    let sb = start().await;
    let rx = Receiver::start(0).await;
    let prepay = wx_order(&sb, "PAY-1", &format!("{}/wx/pay", rx.url)).await;
    let (status, v) = pay_json(
        &sb,
        "/sandbox/wechat/pay",
        serde_json::json!({"prepay_id": prepay, "openid": "oSubOpenid0001", "result": "SUCCESS"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let got = rx.wait_for(1).await;
    assert!(got[0].content_type.starts_with("text/xml"));
    let n = parse_xml(&got[0].body);
    wechat_sign::verify(&n, API_KEY, Md5).expect("notify signed with the API key");
    for (k, want) in [
        ("return_code", "SUCCESS"),
        ("result_code", "SUCCESS"),
        ("appid", SP_APPID),
        ("mch_id", SP_MCH),
        ("sub_appid", SUB_APPID),
        ("sub_mch_id", SUB_MCH),
        ("sub_openid", "oSubOpenid0001"),
        ("trade_type", "JSAPI"),
        ("total_fee", "100"),
        ("cash_fee", "100"),
        ("out_trade_no", "PAY-1"),
    ] {
        assert_eq!(n.get(k).map(String::as_str), Some(want), "{k}");
    }
    for k in [
        "openid",
        "bank_type",
        "transaction_id",
        "time_end",
        "nonce_str",
    ] {
        assert!(n.contains_key(k), "{k} missing");
    }

    let mut q = wx_base();
    q.insert("transaction_id".into(), n["transaction_id"].clone());
    let r = wx(&sb, "/pay/orderquery", q).await;
    assert_eq!(r.err_code(Md5), "");
    assert_eq!(r.get("trade_state"), "SUCCESS");
    assert_eq!(r.get("out_trade_no"), "PAY-1");

    // Paying twice is refused; a stranger cannot pay someone's order.
    let (status, _) = pay_json(
        &sb,
        "/sandbox/wechat/pay",
        serde_json::json!({"prepay_id": prepay}),
    )
    .await;
    assert_eq!(status, 409);
    let other = wx_order(&sb, "PAY-2", &format!("{}/wx/pay", rx.url)).await;
    let (status, _) = pay_json(
        &sb,
        "/sandbox/wechat/pay",
        serde_json::json!({"prepay_id": other, "openid": "oSomeoneElse"}),
    )
    .await;
    assert_eq!(status, 403);
    // The receiver has the notify before the simulator has read the receiver's answer and
    // marked it delivered: wait for that.
    let notify = wait_state(&sb, "the notify marked delivered", |s| {
        s.notifies.first().filter(|n| n.delivered).cloned()
    })
    .await;
    assert_eq!(notify.attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_payment_is_payerror_and_notified_as_fail() {
    let sb = start().await;
    let rx = Receiver::start(0).await;
    let prepay = wx_order(&sb, "FAILPAY", &format!("{}/wx/pay", rx.url)).await;
    let (status, v) = pay_json(
        &sb,
        "/sandbox/wechat/pay",
        serde_json::json!({"prepay_id": prepay, "result": "FAIL"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["trade_state"], "PAYERROR");
    let n = parse_xml(&rx.wait_for(1).await[0].body);
    wechat_sign::verify(&n, API_KEY, Md5).unwrap();
    assert_eq!(n["result_code"], "FAIL");
    assert!(!n.contains_key("transaction_id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_notifies_are_retried_on_the_schedule() {
    let sb = start().await;
    // Refuses twice; the retries come 15 s and 15 s later in channel time (15 ms here).
    let rx = Receiver::start(2).await;
    let prepay = wx_order(&sb, "RETRY-1", &format!("{}/wx/pay", rx.url)).await;
    let begun = std::time::Instant::now();
    wx_pay(&sb, &prepay).await;
    let got = rx.wait_for(3).await;
    // The two retries came no sooner than their delays (a lower bound: load only adds to it).
    assert!(begun.elapsed() >= std::time::Duration::from_millis(30));
    assert_eq!(got[0].body, got[2].body, "a retry repeats the same notify");
    // The simulator marks the notify delivered after the acknowledged attempt and schedules
    // nothing after it.
    let record = wait_state(&sb, "the notify marked delivered", |s| {
        s.notifies.first().filter(|n| n.delivered).cloned()
    })
    .await;
    assert_eq!(record.attempts, 3);
    assert_eq!(rx.received().len(), 3, "no more deliveries after SUCCESS");
}

/// Polls the simulator's state until `pick` finds something (a generous deadline: a loaded
/// machine must not fail it).
async fn wait_state<T>(
    sb: &nkpay_sandbox::RunningSandbox,
    what: &str,
    pick: impl Fn(&nkpay_sandbox::StateSnapshot) -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(found) = pick(&sb.state()) {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            sb.state()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Waits until the WeChat refund `out_refund_no` left PROCESSING; its final status.
async fn wait_refund_settled(sb: &nkpay_sandbox::RunningSandbox, out_refund_no: &str) -> String {
    wait_state(sb, "the refund to settle", |s| {
        s.wechat
            .orders
            .iter()
            .flat_map(|o| &o.refunds)
            .find(|r| r.out_refund_no == out_refund_no && r.refund_status != "PROCESSING")
            .map(|r| r.refund_status.clone())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_nobody_acknowledges_is_given_up_after_sixteen_attempts() {
    // 24 h 4 min of retries at 1/100000 speed: under a second.
    let sb = start_with(|c| c.time_scale = 0.00001).await;
    let rx = Receiver::start(usize::MAX).await;
    let prepay = wx_order(&sb, "GIVEUP", &format!("{}/wx/pay", rx.url)).await;
    wx_pay(&sb, &prepay).await;
    rx.wait_for(16).await;
    let record = wait_state(&sb, "the notify given up", |s| {
        s.notifies.first().filter(|n| n.gave_up).cloned()
    })
    .await;
    assert!(record.gave_up && !record.delivered);
    assert_eq!(record.attempts, 16);
    assert_eq!(rx.received().len(), 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_settles_and_its_notify_decrypts_with_the_api_key() {
    let sb = start().await;
    let rx = Receiver::start(0).await;
    let prepay = wx_order(&sb, "RFN-1", &format!("{}/wx/pay", rx.url)).await;
    wx_pay(&sb, &prepay).await;
    rx.wait_for(1).await;
    let mut f = wx_base();
    f.extend(fields(&[
        ("out_trade_no", "RFN-1"),
        ("out_refund_no", "RFN-1-R1"),
        ("total_fee", "100"),
        ("refund_fee", "30"),
        ("notify_url", &format!("{}/wx/refund", rx.url)),
    ]));
    let r = wx(&sb, "/secapi/pay/refund", f).await;
    assert_eq!(r.err_code(Md5), "", "{}", r.body);
    let refund_id = r.get("refund_id").to_string();

    let got = rx.wait_for(2).await;
    let outer = parse_xml(&got[1].body);
    assert_eq!(outer["return_code"], "SUCCESS");
    assert_eq!(outer["appid"], SP_APPID);
    assert_eq!(outer["mch_id"], SP_MCH);
    assert_eq!(outer["sub_mch_id"], SUB_MCH);
    assert!(
        !outer.contains_key("sign"),
        "refund notifies are not signed"
    );
    let plain = decrypt_req_info(&outer["req_info"], API_KEY).expect("req_info decrypts");
    let inner = parse_xml(
        &plain
            .replace("<root>", "<xml>")
            .replace("</root>", "</xml>"),
    );
    assert_eq!(inner["refund_id"], refund_id);
    assert_eq!(inner["out_refund_no"], "RFN-1-R1");
    assert_eq!(inner["refund_fee"], "30");
    assert_eq!(inner["settlement_refund_fee"], "30");
    assert_eq!(inner["total_fee"], "100");
    assert_eq!(inner["refund_status"], "SUCCESS");
    assert_eq!(inner["success_time"].len(), "yyyy-MM-dd HH:mm:ss".len());

    let mut q = wx_base();
    q.insert("out_trade_no".into(), "RFN-1".into());
    let r = wx(&sb, "/pay/refundquery", q).await;
    assert_eq!(r.err_code(Md5), "");
    assert_eq!(r.get("refund_count"), "1");
    assert_eq!(r.get("refund_status_0"), "SUCCESS");
    assert_eq!(r.get("refund_id_0"), refund_id);
    let mut q = wx_base();
    q.insert("out_trade_no".into(), "RFN-1".into());
    assert_eq!(
        wx(&sb, "/pay/orderquery", q).await.get("trade_state"),
        "REFUND"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_can_be_made_to_end_in_refundclose() {
    let sb =
        start_with(|c| c.faults.refund_outcome = nkpay_sandbox::RefundOutcome::Refundclose).await;
    let prepay = wx_order(&sb, "RCLOSE", "http://127.0.0.1:9/wx/pay").await;
    wx_pay(&sb, &prepay).await;
    let mut f = wx_base();
    f.extend(fields(&[
        ("out_trade_no", "RCLOSE"),
        ("out_refund_no", "RC1"),
        ("total_fee", "100"),
        ("refund_fee", "100"),
    ]));
    assert_eq!(
        wx(&sb, "/secapi/pay/refund", f.clone()).await.err_code(Md5),
        ""
    );
    assert_eq!(wait_refund_settled(&sb, "RC1").await, "REFUNDCLOSE");
    let mut q = wx_base();
    q.insert("out_refund_no".into(), "RC1".into());
    let r = wx(&sb, "/pay/refundquery", q).await;
    assert_eq!(r.get("refund_status_0"), "REFUNDCLOSE");
    // A closed refund gives its amount back.
    f.insert("out_refund_no".into(), "RC2".into());
    assert_eq!(wx(&sb, "/secapi/pay/refund", f).await.err_code(Md5), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bill_lists_payments_and_refunds_with_backticks_and_a_summary() {
    let sb = start().await;
    let prepay = wx_order(&sb, "BILL-1", "http://127.0.0.1:9/wx/pay").await;
    wx_pay(&sb, &prepay).await;
    let mut f = wx_base();
    f.extend(fields(&[
        ("out_trade_no", "BILL-1"),
        ("out_refund_no", "BILL-1-R"),
        ("total_fee", "100"),
        ("refund_fee", "40"),
    ]));
    assert_eq!(wx(&sb, "/secapi/pay/refund", f).await.err_code(Md5), "");
    assert_eq!(wait_refund_settled(&sb, "BILL-1-R").await, "SUCCESS");

    let mut b = wx_base();
    b.insert("bill_date".into(), shanghai_today());
    b.insert("bill_type".into(), "ALL".into());
    let r = wx(&sb, "/pay/downloadbill", b.clone()).await;
    assert_eq!(r.status, 200);
    let lines: Vec<&str> = r.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 5, "{}", r.body);
    assert!(lines[0].starts_with("交易时间,公众账号ID,商户号,特约商户号"));
    assert_eq!(lines[0].split(',').count(), 27);
    for row in &lines[1..3] {
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(cells.len(), 27, "{row}");
        assert!(cells.iter().all(|c| c.starts_with('`')), "{row}");
        assert_eq!(cells[3], format!("`{SUB_MCH}"));
        assert_eq!(cells[6], "`BILL-1");
    }
    assert!(lines[1].contains(",`SUCCESS,") && lines[1].contains(",`1.00,"));
    assert!(lines[2].contains(",`REFUND,") && lines[2].contains(",`BILL-1-R,`0.40,"));
    assert!(lines[3].starts_with("总交易单数,"));
    assert_eq!(lines[4], "`2,`1.00,`0.40,`0.00,`0.01,`2.00,`0.40");

    b.insert("tar_type".into(), "GZIP".into());
    let resp = http()
        .post(format!("{}/pay/downloadbill", sb.base_url()))
        .body(to_xml(&sign_wx(b, Md5)))
        .send()
        .await
        .unwrap();
    let gz = resp.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .expect("gzip");
    assert_eq!(text, r.body);

    // SUCCESS and REFUND bills have their own columns.
    let mut s = wx_base();
    s.insert("bill_date".into(), shanghai_today());
    s.insert("bill_type".into(), "SUCCESS".into());
    let body = wx(&sb, "/pay/downloadbill", s.clone()).await.body;
    assert_eq!(body.lines().next().unwrap().split(',').count(), 20);
    assert_eq!(body.lines().nth(1).unwrap().split(',').count(), 20);
    s.insert("bill_type".into(), "REFUND".into());
    let body = wx(&sb, "/pay/downloadbill", s).await.body;
    assert_eq!(body.lines().next().unwrap().split(',').count(), 29);
    assert_eq!(body.lines().nth(1).unwrap().split(',').count(), 29);
}

struct Pki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    client_identity: String,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, SP_MCH);
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params.signed_by(&client_key, &issuer).unwrap();
    Pki {
        ca_pem: ca.pem(),
        server_cert: server.pem(),
        server_key: server_key.serialize_pem(),
        client_identity: format!("{}{}", client.pem(), client_key.serialize_pem()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_tls_refunds_demand_the_merchant_certificate() {
    let pki = pki();
    let sb = start_with(|c| {
        c.tls = Some(nkpay_sandbox::TlsConfig {
            cert_pem: pki.server_cert.clone(),
            key_pem: pki.server_key.clone(),
            client_ca_pem: pki.ca_pem.clone(),
        });
    })
    .await;
    assert!(sb.base_url().starts_with("https://127.0.0.1:"));
    let ca = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let anonymous = reqwest::Client::builder()
        .add_root_certificate(ca.clone())
        .build()
        .unwrap();
    let identified = reqwest::Client::builder()
        .add_root_certificate(ca)
        .identity(reqwest::Identity::from_pem(pki.client_identity.as_bytes()).unwrap())
        .build()
        .unwrap();
    let prepay_body = to_xml(&sign_wx(order_fields("TLS-1", "http://127.0.0.1:9/n"), Md5));
    let order = anonymous
        .post(format!("{}/pay/unifiedorder", sb.base_url()))
        .body(prepay_body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prepay = parse_xml(&order)["prepay_id"].clone();
    let pay = anonymous
        .post(format!("{}/sandbox/wechat/pay", sb.base_url()))
        .json(&serde_json::json!({"prepay_id": prepay}))
        .send()
        .await
        .unwrap();
    assert_eq!(pay.status(), 200);

    let mut f = wx_base();
    f.extend(fields(&[
        ("out_trade_no", "TLS-1"),
        ("out_refund_no", "TLS-1-R"),
        ("total_fee", "100"),
        ("refund_fee", "100"),
    ]));
    let body = to_xml(&sign_wx(f, Md5));
    let refused = anonymous
        .post(format!("{}/secapi/pay/refund", sb.base_url()))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 200);
    let refused = parse_xml(&refused.text().await.unwrap());
    assert_eq!(refused["return_code"], "FAIL");
    assert!(refused["return_msg"].starts_with("证书错误"));
    assert_eq!(sb.state().wechat.refunds_made, 0);

    let accepted = identified
        .post(format!("{}/secapi/pay/refund", sb.base_url()))
        .body(body)
        .send()
        .await
        .unwrap();
    let accepted = parse_xml(&accepted.text().await.unwrap());
    assert_eq!(accepted["result_code"], "SUCCESS", "{accepted:?}");
    assert_eq!(sb.state().wechat.refunds_made, 1);
}
