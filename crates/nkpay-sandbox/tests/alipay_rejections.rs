//! Every way the Alipay gateway refuses a call: 40001 missing arguments, 40002 invalid ones
//! (isv.invalid-signature among them), 20001 for the grant, 40004 business failures — signed,
//! except when the app cannot be identified.

mod client;

use client::*;
use serde_json::json;

const QUERY: &str = "alipay.trade.query";

fn query_params() -> Fields {
    ali_params(QUERY, json!({"out_trade_no": "NOPE"}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_a_known_app_get_unsigned_errors() {
    let sb = start().await;
    let mut p = sign_ali(query_params(), &isv_key());
    p.remove("app_id");
    let r = ali_get(&sb, &p, &response_key(QUERY)).await;
    assert!(!r.signed);
    assert_eq!(
        (r.get("code"), r.get("sub_code")),
        ("40001", "isv.missing-app-id")
    );

    let mut p = query_params();
    p.insert("app_id".into(), "2021999999999999".into());
    let r = ali_get(&sb, &sign_ali(p, &isv_key()), &response_key(QUERY)).await;
    assert!(!r.signed);
    assert_eq!(
        (r.get("code"), r.get("sub_code")),
        ("40002", "isv.invalid-app-id")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn common_parameters_are_checked_with_signed_errors() {
    let sb = start().await;
    let key = response_key(QUERY);
    let case = |edit: &dyn Fn(&mut Fields)| {
        let mut p = query_params();
        edit(&mut p);
        sign_ali(p, &isv_key())
    };
    let cases: Vec<(&str, Fields, (&str, &str))> = vec![
        (
            "charset",
            case(&|p| {
                p.insert("charset".into(), "gbk".into());
            }),
            ("40002", "isv.invalid-charset"),
        ),
        (
            "sign_type RSA",
            case(&|p| {
                p.insert("sign_type".into(), "RSA".into());
            }),
            ("40002", "isv.invalid-signature-type"),
        ),
        (
            "no sign_type",
            case(&|p| {
                p.remove("sign_type");
            }),
            ("40001", "isv.missing-signature-type"),
        ),
        (
            "no timestamp",
            case(&|p| {
                p.remove("timestamp");
            }),
            ("40001", "isv.missing-timestamp"),
        ),
        (
            "bad timestamp",
            case(&|p| {
                p.insert("timestamp".into(), "2025/01/01".into());
            }),
            ("40002", "isv.invalid-timestamp"),
        ),
        (
            "no version",
            case(&|p| {
                p.remove("version");
            }),
            ("40001", "isv.missing-version"),
        ),
        (
            "version 2",
            case(&|p| {
                p.insert("version".into(), "2.0".into());
            }),
            ("40002", "isv.invalid-version"),
        ),
        (
            // Without a token the query is for the ISV app's own account, which has no trades.
            "no token",
            case(&|p| {
                p.remove("app_auth_token");
            }),
            ("40004", "ACQ.TRADE_NOT_EXIST"),
        ),
        (
            "unknown token",
            case(&|p| {
                p.insert("app_auth_token".into(), "202511BBunknown".into());
            }),
            ("20001", "aop.invalid-app-auth-token"),
        ),
        (
            "no biz_content",
            case(&|p| {
                p.remove("biz_content");
            }),
            ("40001", "isv.missing-parameter"),
        ),
        (
            "biz_content not JSON",
            case(&|p| {
                p.insert("biz_content".into(), "{oops".into());
            }),
            ("40002", "isv.invalid-parameter"),
        ),
        (
            "biz_content array",
            case(&|p| {
                p.insert("biz_content".into(), "[1]".into());
            }),
            ("40002", "isv.invalid-parameter"),
        ),
        (
            "notify_url",
            case(&|p| {
                p.insert("notify_url".into(), "not a url".into());
            }),
            ("40002", "isv.invalid-notify-url"),
        ),
    ];
    for (what, p, want) in cases {
        let r = ali_get(&sb, &p, &key).await;
        assert_eq!(r.codes(), want, "{what}: {}", r.body);
    }

    let mut p = sign_ali(query_params(), &isv_key());
    p.remove("sign");
    let r = ali_get(&sb, &p, &key).await;
    assert_eq!(r.codes(), ("40001", "isv.missing-signature"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_are_named_and_known() {
    let sb = start().await;
    let mut p = query_params();
    p.remove("method");
    let r = ali_get(&sb, &sign_ali(p, &isv_key()), "error_response").await;
    assert_eq!(r.codes(), ("40001", "isv.missing-method"));
    let mut p = query_params();
    p.insert("method".into(), "alipay.trade.teleport".into());
    let r = ali_get(&sb, &sign_ali(p, &isv_key()), "error_response").await;
    assert_eq!(r.codes(), ("40002", "isv.invalid-method"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_signature_is_isv_invalid_signature() {
    let sb = start().await;
    let key = response_key(QUERY);
    // Tampered after signing.
    let mut p = sign_ali(query_params(), &isv_key());
    p.insert(
        "biz_content".into(),
        json!({"out_trade_no": "OTHER"}).to_string(),
    );
    assert_eq!(
        ali_get(&sb, &p, &key).await.codes(),
        ("40002", "isv.invalid-signature")
    );
    // Signed with a key that is not the app's.
    let stranger = nkpay_crypto::rsa_keys::RsaPrivateKey::from_pem_or_base64(include_str!(
        "../demo/alipay-gateway-private-key.pem"
    ))
    .unwrap();
    let p = sign_ali(query_params(), &stranger);
    assert_eq!(
        ali_get(&sb, &p, &key).await.codes(),
        ("40002", "isv.invalid-signature")
    );
    // Garbage in sign.
    let mut p = sign_ali(query_params(), &isv_key());
    p.insert("sign".into(), "!!not base64!!".into());
    assert_eq!(
        ali_get(&sb, &p, &key).await.codes(),
        ("40002", "isv.invalid-signature")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_is_only_good_for_the_app_it_was_given_to() {
    let sb = start_with(|c| {
        let mut second = c.accounts.alipay.isv_apps[0].clone();
        second.app_id = "2021000000000002".into();
        second.grants = vec![nkpay_sandbox::AlipayGrant {
            app_auth_token: "202511BBsecondapp".into(),
            auth_app_id: "2021000000000201".into(),
            user_id: "2088000000000201".into(),
            name: "Second".into(),
        }];
        c.accounts.alipay.isv_apps.push(second);
    })
    .await;
    let mut p = query_params();
    p.insert("app_auth_token".into(), "202511BBsecondapp".into());
    let r = ali_get(&sb, &sign_ali(p, &isv_key()), &response_key(QUERY)).await;
    assert_eq!(r.codes(), ("20001", "aop.invalid-app-auth-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parameter_given_twice_with_different_values_is_refused() {
    let sb = start().await;
    let p = sign_ali(query_params(), &isv_key());
    let resp = http()
        .post(sb.alipay_gateway_url())
        .query(&p)
        .form(&[("method", "alipay.trade.close")])
        .send()
        .await
        .unwrap();
    // Which method was meant is unknown, so the reply is an error_response.
    let r = read_ali(
        resp.status().as_u16(),
        resp.text().await.unwrap(),
        "error_response",
    );
    assert_eq!(
        (r.get("code"), r.get("sub_code")),
        ("40002", "isv.invalid-parameter")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn business_fields_are_checked() {
    let sb = start().await;
    let pre = "alipay.trade.precreate";
    let biz = |v: serde_json::Value| {
        let sb = &sb;
        async move { ali(sb, pre, v).await }
    };
    let cases = vec![
        (
            json!({"total_amount": "1.00", "subject": "s"}),
            ("40001", "isv.missing-parameter"),
        ),
        (
            json!({"out_trade_no": "A1", "subject": "s"}),
            ("40001", "isv.missing-parameter"),
        ),
        (
            json!({"out_trade_no": "A1", "total_amount": "1.00"}),
            ("40001", "isv.missing-parameter"),
        ),
        (
            json!({"out_trade_no": "A1", "total_amount": "1.001", "subject": "s"}),
            ("40004", "ACQ.INVALID_PARAMETER"),
        ),
        (
            json!({"out_trade_no": "A1", "total_amount": "0", "subject": "s"}),
            ("40004", "ACQ.INVALID_PARAMETER"),
        ),
        (
            json!({"out_trade_no": "A1", "total_amount": "100000000.01", "subject": "s"}),
            ("40004", "ACQ.INVALID_PARAMETER"),
        ),
        (
            json!({"out_trade_no": "A-1", "total_amount": "1", "subject": "s"}),
            ("40004", "ACQ.INVALID_PARAMETER"),
        ),
        (
            json!({"out_trade_no": "A".repeat(65), "total_amount": "1", "subject": "s"}),
            ("40004", "ACQ.INVALID_PARAMETER"),
        ),
        (
            json!({"out_trade_no": "A1", "total_amount": "1", "subject": "s".repeat(257)}),
            ("40004", "ACQ.INVALID_PARAMETER"),
        ),
        (
            json!({"out_trade_no": "A1", "total_amount": "1", "subject": "s", "timeout_express": "90s"}),
            ("40004", "ACQ.INVALID_PARAMETER"),
        ),
        (
            json!({"out_trade_no": "A1", "total_amount": "1", "subject": "s", "time_expire": "2020-01-01 00:00:00"}),
            ("40004", "ACQ.INVALID_PARAMETER"),
        ),
        (
            json!({"out_trade_no": "A1", "total_amount": "1", "subject": "s", "time_expire": "tomorrow"}),
            ("40004", "ACQ.INVALID_PARAMETER"),
        ),
    ];
    for (v, want) in cases {
        let r = biz(v.clone()).await;
        assert_eq!(r.codes(), want, "{v}: {}", r.body);
    }
    assert!(sb.state().alipay.trades.is_empty());
    let r = ali(&sb, QUERY, json!({})).await;
    assert_eq!(r.codes(), ("40001", "isv.missing-parameter"));
    let r = ali(
        &sb,
        "alipay.trade.fastpay.refund.query",
        json!({"out_trade_no": "A1"}),
    )
    .await;
    assert_eq!(r.codes(), ("40001", "isv.missing-parameter"));
    let r = ali(&sb, "alipay.trade.refund", json!({"out_trade_no": "A1"})).await;
    assert_eq!(r.codes(), ("40001", "isv.missing-parameter"));
    let r = ali(
        &sb,
        "alipay.trade.refund",
        json!({"out_trade_no": "A1", "refund_amount": "-1"}),
    )
    .await;
    assert_eq!(r.codes(), ("40004", "ACQ.INVALID_PARAMETER"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trade_does_not_exist_until_its_qr_code_is_scanned() {
    let sb = start().await;
    let qr = ali_precreate(&sb, "SCAN1", None).await;
    for method in [QUERY, "alipay.trade.close", "alipay.trade.refund"] {
        let r = ali(
            &sb,
            method,
            json!({"out_trade_no": "SCAN1", "refund_amount": "1.00"}),
        )
        .await;
        assert_eq!(r.codes(), ("40004", "ACQ.TRADE_NOT_EXIST"), "{method}");
    }
    let (status, v) = pay_json(&sb, "/sandbox/alipay/scan", json!({"qr_code": qr})).await;
    assert_eq!(status, 200, "{v}");
    let r = ali(&sb, QUERY, json!({"out_trade_no": "SCAN1"})).await;
    assert_eq!(r.codes(), ("10000", ""));
    assert_eq!(r.get("trade_status"), "WAIT_BUYER_PAY");
    // Another sub-merchant's token does not see it.
    let mut p = ali_params(QUERY, json!({"out_trade_no": "SCAN1"}));
    p.insert("app_auth_token".into(), OTHER_TOKEN.into());
    let r = ali_get(&sb, &sign_ali(p, &isv_key()), &response_key(QUERY)).await;
    assert_eq!(r.codes(), ("40004", "ACQ.TRADE_NOT_EXIST"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precreate_is_idempotent_only_with_the_same_content() {
    let sb = start().await;
    let first = ali_precreate(&sb, "IDEM1", None).await;
    let again = ali_precreate(&sb, "IDEM1", None).await;
    assert_eq!(first, again);
    let r = ali(
        &sb,
        "alipay.trade.precreate",
        json!({"out_trade_no": "IDEM1", "total_amount": "2.00", "subject": "tea"}),
    )
    .await;
    assert_eq!(r.codes(), ("40004", "ACQ.CONTEXT_INCONSISTENT"));
    ali_pay(&sb, &first).await;
    let r = ali(
        &sb,
        "alipay.trade.precreate",
        json!({"out_trade_no": "IDEM1", "total_amount": "1.00", "subject": "tea"}),
    )
    .await;
    assert_eq!(r.codes(), ("40004", "ACQ.TRADE_HAS_SUCCESS"));
    assert_eq!(sb.state().alipay.precreate_calls["IDEM1"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_are_checked_against_the_trade() {
    let sb = start().await;
    let refund = |amount: &str, no: &str| {
        let sb = &sb;
        let biz = json!({"out_trade_no": "REF1", "refund_amount": amount, "out_request_no": no});
        async move { ali(sb, "alipay.trade.refund", biz).await }
    };
    let qr = ali_precreate(&sb, "REF1", None).await;
    pay_json(&sb, "/sandbox/alipay/scan", json!({"qr_code": qr})).await;
    assert_eq!(
        refund("0.10", "Q1").await.codes(),
        ("40004", "ACQ.TRADE_STATUS_ERROR")
    );
    ali_pay(&sb, &qr).await;
    assert_eq!(
        refund("1.01", "Q1").await.codes(),
        ("40004", "ACQ.REASON_TRADE_REFUND_FEE_ERR")
    );
    let r = refund("0.60", "Q1").await;
    assert_eq!(r.codes(), ("10000", ""));
    assert_eq!(r.get("fund_change"), "Y");
    assert_eq!(
        refund("0.50", "Q1").await.codes(),
        ("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
    );
    assert_eq!(
        refund("0.41", "Q2").await.codes(),
        ("40004", "ACQ.REASON_TRADE_REFUND_FEE_ERR")
    );
    let r = refund("0.60", "Q1").await;
    assert_eq!(r.get("fund_change"), "N");
    assert_eq!(sb.state().alipay.refunds_made, 1);

    // A trade closed unpaid cannot be refunded.
    let qr = ali_precreate(&sb, "REF2", None).await;
    pay_json(&sb, "/sandbox/alipay/scan", json!({"qr_code": qr})).await;
    assert_eq!(
        ali(&sb, "alipay.trade.close", json!({"out_trade_no": "REF2"}))
            .await
            .codes(),
        ("10000", "")
    );
    let r = ali(
        &sb,
        "alipay.trade.refund",
        json!({"out_trade_no": "REF2", "refund_amount": "1.00"}),
    )
    .await;
    assert_eq!(r.codes(), ("40004", "ACQ.TRADE_HAS_CLOSE"));
    let r = ali(&sb, "alipay.trade.close", json!({"out_trade_no": "REF2"})).await;
    assert_eq!(r.codes(), ("40004", "ACQ.TRADE_STATUS_ERROR"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bill_url_requests_are_checked() {
    let sb = start().await;
    let m = "alipay.data.dataservice.bill.downloadurl.query";
    let cases = vec![
        (
            json!({"bill_date": "2024-01-01"}),
            ("40001", "isv.missing-parameter"),
        ),
        (
            json!({"bill_type": "trade"}),
            ("40001", "isv.missing-parameter"),
        ),
        (
            json!({"bill_type": "trade", "bill_date": "20240101"}),
            ("40002", "isv.invalid-parameter"),
        ),
        (
            json!({"bill_type": "fund", "bill_date": "2024-01-01"}),
            ("40002", "isv.invalid-parameter"),
        ),
        (
            json!({"bill_type": "signcustomer", "bill_date": "2024-01-01"}),
            ("40004", "isp.bill_not_exist"),
        ),
        (
            json!({"bill_type": "trade", "bill_date": "2999-01-01"}),
            ("40004", "isp.bill_not_exist"),
        ),
    ];
    for (biz, want) in cases {
        let r = ali(&sb, m, biz.clone()).await;
        assert_eq!(r.codes(), want, "{biz}: {}", r.body);
    }
    let resp = http()
        .get(format!("{}/sandbox/alipay/bill?token=nope", sb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
