//! Alipay end to end: precreate, scan and pay, the signed notify, refunds with fund_change and
//! their notifies, the QR code that still pays after a close-before-scan, and the bill zip.

mod client;

use std::collections::BTreeMap;
use std::io::Read;

use client::*;
use nkpay_crypto::alipay_sign::verify_notify;
use serde_json::json;

fn form(body: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_a_qr_code_notifies_with_a_gateway_signed_form() {
    let sb = start().await;
    let rx = Receiver::start(0).await;
    let qr = ali_precreate(&sb, "PAY1", Some(&format!("{}/ali/notify", rx.url))).await;
    assert!(
        qr.starts_with(&format!("{}/sandbox/cashier?qr=", sb.base_url())),
        "{qr}"
    );
    let (status, v) = pay_json(
        &sb,
        "/sandbox/alipay/pay",
        json!({"qr_code": qr, "buyer_id": "2088102000000077", "result": "SUCCESS"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let got = rx.wait_for(1).await;
    assert!(
        got[0]
            .content_type
            .starts_with("application/x-www-form-urlencoded")
    );
    let n = form(&got[0].body);
    verify_notify(&n, &gateway_public_key()).expect("notify verifies with the gateway key");
    for (k, want) in [
        ("notify_type", "trade_status_sync"),
        ("trade_status", "TRADE_SUCCESS"),
        ("app_id", ISV_APP_ID),
        ("auth_app_id", "2021000000000101"),
        ("seller_id", "2088000000000101"),
        ("buyer_id", "2088102000000077"),
        ("out_trade_no", "PAY1"),
        ("total_amount", "1.00"),
        ("receipt_amount", "1.00"),
        ("sign_type", "RSA2"),
    ] {
        assert_eq!(n.get(k).map(String::as_str), Some(want), "{k}");
    }
    let funds: serde_json::Value = serde_json::from_str(&n["fund_bill_list"]).unwrap();
    assert_eq!(funds[0]["amount"], "1.00");
    for k in [
        "notify_id",
        "notify_time",
        "trade_no",
        "gmt_payment",
        "sign",
    ] {
        assert!(n.contains_key(k), "{k}");
    }
    let r = ali(
        &sb,
        "alipay.trade.query",
        json!({"trade_no": n["trade_no"]}),
    )
    .await;
    assert_eq!(r.codes(), ("10000", ""));
    assert_eq!(r.get("trade_status"), "TRADE_SUCCESS");
    assert_eq!(r.get("buyer_user_id"), "2088102000000077");
    assert_eq!(r.get("send_pay_date"), n["gmt_payment"]);

    // A forged copy of the notify does not verify.
    let mut forged = n.clone();
    forged.insert("total_amount".into(), "0.01".into());
    assert!(verify_notify(&forged, &gateway_public_key()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qr_code_closed_before_its_scan_can_still_be_paid() {
    let sb = start().await;
    let rx = Receiver::start(0).await;
    let qr = ali_precreate(&sb, "LATE1", Some(&format!("{}/ali/notify", rx.url))).await;
    let r = ali(&sb, "alipay.trade.close", json!({"out_trade_no": "LATE1"})).await;
    assert_eq!(r.codes(), ("40004", "ACQ.TRADE_NOT_EXIST"));
    ali_pay(&sb, &qr).await;
    let n = form(&rx.wait_for(1).await[0].body);
    assert_eq!(n["trade_status"], "TRADE_SUCCESS");
    assert_eq!(n["out_trade_no"], "LATE1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trade_closed_after_its_scan_cannot_be_paid() {
    let sb = start().await;
    let qr = ali_precreate(&sb, "CLOSED1", None).await;
    pay_json(&sb, "/sandbox/alipay/scan", json!({"qr_code": qr})).await;
    let r = ali(
        &sb,
        "alipay.trade.close",
        json!({"out_trade_no": "CLOSED1"}),
    )
    .await;
    assert_eq!(r.codes(), ("10000", ""));
    let (status, _) = pay_json(&sb, "/sandbox/alipay/pay", json!({"qr_code": qr})).await;
    assert_eq!(status, 409);
    let r = ali(
        &sb,
        "alipay.trade.query",
        json!({"out_trade_no": "CLOSED1"}),
    )
    .await;
    assert_eq!(r.get("trade_status"), "TRADE_CLOSED");
    let r = ali(
        &sb,
        "alipay.trade.precreate",
        json!({"out_trade_no": "CLOSED1", "total_amount": "1.00", "subject": "tea"}),
    )
    .await;
    assert_eq!(r.codes(), ("40004", "ACQ.TRADE_HAS_CLOSE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_payment_closes_the_trade_and_notifies_it() {
    let sb = start().await;
    let rx = Receiver::start(0).await;
    let qr = ali_precreate(&sb, "FAIL1", Some(&format!("{}/ali/notify", rx.url))).await;
    let (status, v) = pay_json(
        &sb,
        "/sandbox/alipay/pay",
        json!({"qr_code": qr, "result": "FAIL"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["trade_status"], "TRADE_CLOSED");
    let n = form(&rx.wait_for(1).await[0].body);
    verify_notify(&n, &gateway_public_key()).unwrap();
    assert_eq!(n["trade_status"], "TRADE_CLOSED");
    assert!(!n.contains_key("gmt_payment"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_move_money_once_per_out_request_no_and_notify() {
    let sb = start().await;
    let rx = Receiver::start(0).await;
    let qr = ali_precreate(&sb, "RF1", Some(&format!("{}/ali/notify", rx.url))).await;
    ali_pay(&sb, &qr).await;
    rx.wait_for(1).await;
    let refund = |amount: &str, no: &str| {
        let sb = &sb;
        let biz = json!({"out_trade_no": "RF1", "refund_amount": amount, "out_request_no": no});
        async move { ali(sb, "alipay.trade.refund", biz).await }
    };
    let r = refund("0.30", "RQ1").await;
    assert_eq!(r.codes(), ("10000", ""));
    assert_eq!((r.get("fund_change"), r.get("refund_fee")), ("Y", "0.30"));
    let r = refund("0.30", "RQ1").await;
    assert_eq!((r.get("fund_change"), r.get("refund_fee")), ("N", "0.30"));
    let r = refund("0.70", "RQ2").await;
    assert_eq!((r.get("fund_change"), r.get("refund_fee")), ("Y", "1.00"));

    let got = rx.wait_for(3).await;
    assert_eq!(got.len(), 3, "a retried refund is not notified again");
    let first = form(&got[1].body);
    verify_notify(&first, &gateway_public_key()).unwrap();
    assert_eq!(first["out_biz_no"], "RQ1");
    assert_eq!(first["refund_fee"], "0.30");
    assert_eq!(first["trade_status"], "TRADE_SUCCESS");
    assert!(first.contains_key("gmt_refund"));
    let last = form(&got[2].body);
    assert_eq!(last["out_biz_no"], "RQ2");
    assert_eq!(
        last["trade_status"], "TRADE_CLOSED",
        "a full refund closes the trade"
    );

    let q = ali(
        &sb,
        "alipay.trade.fastpay.refund.query",
        json!({"out_trade_no": "RF1", "out_request_no": "RQ1"}),
    )
    .await;
    assert_eq!(q.codes(), ("10000", ""));
    assert_eq!(
        (q.get("refund_status"), q.get("refund_amount")),
        ("REFUND_SUCCESS", "0.30")
    );
    let q = ali(
        &sb,
        "alipay.trade.fastpay.refund.query",
        json!({"out_trade_no": "RF1", "out_request_no": "NEVER"}),
    )
    .await;
    assert_eq!(q.codes(), ("10000", ""));
    assert_eq!(q.get("refund_status"), "");
    let state = sb.state().alipay;
    assert_eq!((state.refund_requests, state.refunds_made), (3, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_takes_a_query_a_form_or_both() {
    let sb = start().await;
    let p = sign_ali(
        ali_params(
            "alipay.trade.precreate",
            json!({"out_trade_no": "FORM1", "total_amount": "0.01", "subject": "茶 tea"}),
        ),
        &isv_key(),
    );
    let key = "alipay_trade_precreate_response";
    let resp = http()
        .post(sb.alipay_gateway_url())
        .form(&p)
        .send()
        .await
        .unwrap();
    let r = read_ali(resp.status().as_u16(), resp.text().await.unwrap(), key);
    assert_eq!(r.codes(), ("10000", ""));
    // Common parameters in the query, biz_content in the form.
    let (query, body): (Fields, Fields) = p.into_iter().partition(|(k, _)| k != "biz_content");
    let resp = http()
        .post(sb.alipay_gateway_url())
        .query(&query)
        .form(&body)
        .send()
        .await
        .unwrap();
    let r = read_ali(resp.status().as_u16(), resp.text().await.unwrap(), key);
    assert_eq!(r.codes(), ("10000", ""));
    assert_eq!(sb.state().alipay.precreate_calls["FORM1"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bill_is_a_zip_of_gbk_csvs_with_hash_framing() {
    let sb = start().await;
    let qr = ali_precreate(&sb, "BILL1", None).await;
    ali_pay(&sb, &qr).await;
    let r = ali(
        &sb,
        "alipay.trade.refund",
        json!({"out_trade_no": "BILL1", "refund_amount": "0.25", "out_request_no": "B1"}),
    )
    .await;
    assert_eq!(r.codes(), ("10000", ""));
    let today = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m-%d")
        .to_string();
    let r = ali(
        &sb,
        "alipay.data.dataservice.bill.downloadurl.query",
        json!({"bill_type": "trade", "bill_date": today}),
    )
    .await;
    assert_eq!(r.codes(), ("10000", ""));
    let url = r.get("bill_download_url").to_string();
    let bytes = http()
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a zip");
    assert_eq!(zip.len(), 2);
    let mut texts = BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut raw = Vec::new();
        f.read_to_end(&mut raw).unwrap();
        let (text, _, bad) = encoding_rs::GBK.decode(&raw);
        assert!(!bad, "GBK");
        texts.insert(f.name().to_string(), text.into_owned());
    }
    let stamp = today.replace('-', "");
    let detail = &texts[&format!("2088000000000101_{stamp}_业务明细.csv")];
    let summary = &texts[&format!("2088000000000101_{stamp}_业务明细(汇总).csv")];
    let lines: Vec<&str> = detail.lines().collect();
    assert_eq!(lines[0], "#支付宝业务明细查询");
    assert_eq!(lines[1], "#账号：[2088000000000101]");
    assert!(lines[4].starts_with("支付宝交易号,商户订单号,业务类型"));
    assert!(lines[5].contains(",BILL1,交易,tea,") && lines[5].contains(",1.00,1.00,"));
    assert!(
        lines[6].contains(",BILL1,退款,")
            && lines[6].contains(",-0.25,-0.25,")
            && lines[6].contains(",B1,")
    );
    assert!(lines[7].starts_with("#---"));
    assert_eq!(lines[8], "#交易合计：1笔，退款合计：1笔");
    assert!(lines[9].starts_with("#导出时间："));
    assert!(summary.contains("\r\n合计,,1,1,0.75,0.75,"), "{summary}");

    // Another sub-merchant's bill does not show it.
    let mut p = ali_params(
        "alipay.data.dataservice.bill.downloadurl.query",
        json!({"bill_type": "trade", "bill_date": today}),
    );
    p.insert("app_auth_token".into(), OTHER_TOKEN.into());
    let r = ali_get(
        &sb,
        &sign_ali(p, &isv_key()),
        "alipay_data_dataservice_bill_downloadurl_query_response",
    )
    .await;
    let bytes = http()
        .get(r.get("bill_download_url"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut raw = Vec::new();
    zip.by_index(0).unwrap().read_to_end(&mut raw).unwrap();
    let (text, _, _) = encoding_rs::GBK.decode(&raw);
    assert!(!text.contains("BILL1"));
    assert!(text.contains("#交易合计：0笔，退款合计：0笔"));
}
