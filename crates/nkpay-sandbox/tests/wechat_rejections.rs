//! Every way the WeChat Pay simulator refuses a call, each answered with the documented error
//! (HTTP 200; unsigned return_code FAIL, or signed result_code FAIL with err_code).

mod client;

use client::*;
use nkpay_crypto::wechat_sign::WechatSignType::{HmacSha256, Md5};

const NOTIFY: &str = "http://127.0.0.1:9/wx/notify";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_or_unauthenticated_calls_get_unsigned_fail() {
    let sb = start().await;
    let path = "/pay/orderquery";
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "post数据为空"),
        ("not xml at all".into(), "XML格式错误"),
        ("<xml><a>1</a>".into(), "XML格式错误"),
        ("<xml><a><b>1</b></a></xml>".into(), "XML格式错误"),
        (
            "<!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml><mch_id>&x;</mch_id></xml>".into(),
            "XML格式错误",
        ),
        (to_xml(&fields(&[("appid", SP_APPID)])), "缺少参数mch_id"),
        (to_xml(&fields(&[("mch_id", "1234567890"), ("sign", "X")])), "商户号mch_id不存在"),
        (to_xml(&wx_base()), "缺少参数sign"),
    ];
    for (body, want) in cases {
        let r = wx_raw(&sb, path, body.clone()).await;
        assert!(r.fail_msg().starts_with(want), "{body:?} -> {}", r.body);
    }
    let mut bad_type = wx_base();
    bad_type.insert("sign_type".into(), "SHA1".into());
    bad_type.insert("sign".into(), "00".into());
    let r = wx_raw(&sb, path, to_xml(&bad_type)).await;
    assert!(
        r.fail_msg().starts_with("sign_type参数格式错误"),
        "{}",
        r.body
    );

    let bytes = b"<xml>\xff\xfe</xml>".to_vec();
    let resp = http()
        .post(format!("{}{path}", sb.base_url()))
        .body(bytes)
        .send()
        .await
        .unwrap();
    let r = parse_xml(&resp.text().await.unwrap());
    assert_eq!(r["return_code"], "FAIL");
    assert!(r["return_msg"].starts_with("编码格式错误"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_signature_is_refused_in_both_sign_types() {
    let sb = start().await;
    let mut f = sign_wx(wx_base(), Md5);
    f.insert("out_trade_no".into(), "tampered-after-signing".into());
    let r = wx_raw(&sb, "/pay/orderquery", to_xml(&f)).await;
    assert_eq!(r.fail_msg(), "签名错误");

    // An HMAC-SHA256 signature sent as MD5 (no sign_type) does not verify either.
    let mut f = sign_wx(wx_base(), HmacSha256);
    f.remove("sign_type");
    let r = wx_raw(&sb, "/pay/orderquery", to_xml(&f)).await;
    assert_eq!(r.fail_msg(), "签名错误");

    // Signed with another key.
    let mut f = wx_base();
    let sign = nkpay_crypto::wechat_sign::sign(&f, "another-key-00000000000000000000", Md5);
    f.insert("sign".into(), sign);
    let r = wx_raw(&sb, "/pay/orderquery", to_xml(&f)).await;
    assert_eq!(r.fail_msg(), "签名错误");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_requests_are_told_to_post() {
    let sb = start().await;
    let resp = http()
        .get(format!("{}/pay/unifiedorder", sb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let r = parse_xml(&resp.text().await.unwrap());
    assert_eq!(r["return_code"], "FAIL");
    assert_eq!(r["return_msg"], "请使用post方法");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_provider_bindings_are_enforced() {
    let sb = start().await;
    let query = |f: Fields| {
        let sb = &sb;
        async move { wx(sb, "/pay/orderquery", f).await }
    };
    let mut f = wx_base();
    f.insert("out_trade_no".into(), "X1".into());

    let mut wrong_appid = f.clone();
    wrong_appid.insert("appid".into(), SUB_APPID.into());
    let r = query(wrong_appid).await;
    assert_eq!(r.err_code(Md5), "APPID_MCHID_NOT_MATCH", "{}", r.body);

    let mut no_appid = f.clone();
    no_appid.remove("appid");
    assert_eq!(query(no_appid).await.err_code(Md5), "LACK_PARAMS");

    let mut no_sub = f.clone();
    no_sub.remove("sub_mch_id");
    let r = query(no_sub).await;
    assert_eq!(r.err_code(Md5), "LACK_PARAMS");
    assert!(r.get("err_code_des").contains("sub_mch_id"), "{}", r.body);

    let mut foreign_sub = f.clone();
    foreign_sub.insert("sub_mch_id".into(), "1999999999".into());
    assert_eq!(query(foreign_sub).await.err_code(Md5), "NOAUTH");

    let mut unbound_appid = f.clone();
    unbound_appid.insert("sub_appid".into(), OTHER_SUB_APPID.into());
    assert_eq!(
        query(unbound_appid).await.err_code(Md5),
        "APPID_MCHID_NOT_MATCH"
    );

    let mut long_nonce = f.clone();
    long_nonce.insert("nonce_str".into(), "n".repeat(33));
    assert_eq!(query(long_nonce).await.err_code(Md5), "INVALID_REQUEST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unifiedorder_checks_fields_and_formats() {
    let sb = start().await;
    let base = order_fields("ORDER-CHECK-1", NOTIFY);
    let with = |k: &str, v: &str| {
        let mut f = base.clone();
        f.insert(k.into(), v.into());
        f
    };
    let without = |k: &str| {
        let mut f = base.clone();
        f.remove(k);
        f
    };
    let cases: Vec<(&str, Fields, &str)> = vec![
        ("no body", without("body"), "LACK_PARAMS"),
        ("no out_trade_no", without("out_trade_no"), "LACK_PARAMS"),
        ("no total_fee", without("total_fee"), "LACK_PARAMS"),
        (
            "no spbill_create_ip",
            without("spbill_create_ip"),
            "LACK_PARAMS",
        ),
        ("no notify_url", without("notify_url"), "LACK_PARAMS"),
        ("no trade_type", without("trade_type"), "LACK_PARAMS"),
        ("no payer", without("sub_openid"), "LACK_PARAMS"),
        (
            "total_fee in yuan",
            with("total_fee", "1.00"),
            "INVALID_REQUEST",
        ),
        ("total_fee zero", with("total_fee", "0"), "INVALID_REQUEST"),
        (
            "total_fee negative",
            with("total_fee", "-1"),
            "INVALID_REQUEST",
        ),
        (
            "total_fee huge",
            with("total_fee", "99999999999"),
            "INVALID_REQUEST",
        ),
        (
            "out_trade_no 33",
            with("out_trade_no", &"A".repeat(33)),
            "INVALID_REQUEST",
        ),
        (
            "out_trade_no chars",
            with("out_trade_no", "A B"),
            "INVALID_REQUEST",
        ),
        (
            "body 128",
            with("body", &"好".repeat(128)),
            "INVALID_REQUEST",
        ),
        (
            "attach 128",
            with("attach", &"a".repeat(128)),
            "INVALID_REQUEST",
        ),
        (
            "time_expire format",
            with("time_expire", "2030-01-01 00:00:00"),
            "INVALID_REQUEST",
        ),
        (
            "time_expire impossible",
            with("time_expire", "20301301000000"),
            "INVALID_REQUEST",
        ),
        (
            "time_expire past",
            with("time_expire", "20200101000000"),
            "INVALID_REQUEST",
        ),
        (
            "time_start format",
            with("time_start", "yesterday"),
            "INVALID_REQUEST",
        ),
        (
            "notify_url query",
            with("notify_url", "http://127.0.0.1:9/n?x=1"),
            "INVALID_REQUEST",
        ),
        (
            "notify_url relative",
            with("notify_url", "/notify"),
            "INVALID_REQUEST",
        ),
        (
            "notify_url long",
            with("notify_url", &format!("http://h/{}", "a".repeat(260))),
            "INVALID_REQUEST",
        ),
        (
            "trade_type NATIVE",
            with("trade_type", "NATIVE"),
            "INVALID_REQUEST",
        ),
        ("fee_type USD", with("fee_type", "USD"), "INVALID_REQUEST"),
        (
            "bad ip",
            with("spbill_create_ip", "localhost"),
            "INVALID_REQUEST",
        ),
        (
            "openid and sub_openid",
            with("openid", "oSpOpenid"),
            "INVALID_REQUEST",
        ),
        (
            "bad sub_openid",
            with("sub_openid", "o pen<id>"),
            "INVALID_REQUEST",
        ),
    ];
    for (what, f, want) in cases {
        let r = wx(&sb, "/pay/unifiedorder", f).await;
        assert_eq!(r.err_code(Md5), want, "{what}: {}", r.body);
    }

    // sub_openid needs sub_appid.
    let mut f = without("sub_appid");
    f.insert("sub_openid".into(), "oSub".into());
    assert_eq!(
        wx(&sb, "/pay/unifiedorder", f).await.err_code(Md5),
        "LACK_PARAMS"
    );
    assert!(sb.state().wechat.orders.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hmac_order_is_accepted_and_answered_in_hmac() {
    let sb = start().await;
    let f = order_fields("HMAC-1", NOTIFY);
    let r = wx_raw(&sb, "/pay/unifiedorder", to_xml(&sign_wx(f, HmacSha256))).await;
    assert_eq!(r.err_code(HmacSha256), "", "{}", r.body);
    assert_eq!(r.get("prepay_id").len(), 36);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_out_trade_no_is_idempotent_only_with_the_same_parameters() {
    let sb = start().await;
    let first = wx_order(&sb, "IDEM-1", NOTIFY).await;
    let again = wx_order(&sb, "IDEM-1", NOTIFY).await;
    assert_eq!(first, again);

    let mut changed = order_fields("IDEM-1", NOTIFY);
    changed.insert("total_fee".into(), "101".into());
    let r = wx(&sb, "/pay/unifiedorder", changed).await;
    assert_eq!(r.err_code(Md5), "OUT_TRADE_NO_USED");
    assert!(r.get("err_code_des").contains("total_fee"), "{}", r.body);

    // Another sub-merchant may use the same out_trade_no.
    let mut other = order_fields("IDEM-1", NOTIFY);
    other.insert("sub_mch_id".into(), OTHER_SUB_MCH.into());
    other.insert("sub_appid".into(), OTHER_SUB_APPID.into());
    assert_eq!(wx(&sb, "/pay/unifiedorder", other).await.err_code(Md5), "");

    let state = sb.state().wechat;
    assert_eq!(state.unifiedorder_calls["IDEM-1"], 4);
    assert_eq!(state.orders.len(), 2);

    wx_pay(&sb, &first).await;
    let r = wx(&sb, "/pay/unifiedorder", order_fields("IDEM-1", NOTIFY)).await;
    assert_eq!(r.err_code(Md5), "ORDERPAID");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_and_closes_answer_with_the_documented_codes() {
    let sb = start().await;
    let q = |no: &str| {
        let mut f = wx_base();
        f.insert("out_trade_no".into(), no.into());
        f
    };
    assert_eq!(
        wx(&sb, "/pay/orderquery", q("NOPE")).await.err_code(Md5),
        "ORDERNOTEXIST"
    );
    assert_eq!(
        wx(&sb, "/pay/orderquery", wx_base()).await.err_code(Md5),
        "LACK_PARAMS"
    );
    assert_eq!(
        wx(&sb, "/pay/closeorder", q("NOPE")).await.err_code(Md5),
        "ORDERNOTEXIST"
    );

    // CLOSE-2 is placed and paid first, so once CLOSE-1 may be closed CLOSE-2 is past the
    // minimum age too: a paid order answers ORDERPAID however old it is.
    let prepay = wx_order(&sb, "CLOSE-2", NOTIFY).await;
    wx_pay(&sb, &prepay).await;
    let placed = std::time::Instant::now();
    wx_order(&sb, "CLOSE-1", NOTIFY).await;
    // Another sub-merchant cannot see it.
    let mut foreign = q("CLOSE-1");
    foreign.insert("sub_mch_id".into(), OTHER_SUB_MCH.into());
    assert_eq!(
        wx(&sb, "/pay/orderquery", foreign).await.err_code(Md5),
        "ORDERNOTEXIST"
    );
    // 300 s of channel time is 0.3 s here: asked again until WeChat allows it, every earlier
    // answer being the too-early refusal, and the close never allowed sooner than that.
    let deadline = placed + std::time::Duration::from_secs(30);
    loop {
        let r = wx(&sb, "/pay/closeorder", q("CLOSE-1")).await;
        if r.err_code(Md5).is_empty() {
            break;
        }
        assert_eq!(r.err_code(Md5), "SYSTEMERROR", "{}", r.body);
        assert!(
            std::time::Instant::now() < deadline,
            "CLOSE-1 never became closable"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(placed.elapsed() >= std::time::Duration::from_millis(300));
    let r = wx(&sb, "/pay/orderquery", q("CLOSE-1")).await;
    assert_eq!(r.err_code(Md5), "");
    assert_eq!(r.get("trade_state"), "CLOSED");
    assert_eq!(
        wx(&sb, "/pay/closeorder", q("CLOSE-1")).await.err_code(Md5),
        "ORDERCLOSED"
    );
    assert_eq!(
        wx(&sb, "/pay/unifiedorder", order_fields("CLOSE-1", NOTIFY))
            .await
            .err_code(Md5),
        "ORDERCLOSED"
    );
    assert_eq!(
        wx(&sb, "/pay/closeorder", q("CLOSE-2")).await.err_code(Md5),
        "ORDERPAID"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_younger_than_five_minutes_is_not_closed() {
    // Channel time at its real pace: the order stays minutes short of closable however slowly
    // this machine runs the test.
    let sb = start_with(|c| c.time_scale = 1.0).await;
    wx_order(&sb, "YOUNG-1", NOTIFY).await;
    let mut f = wx_base();
    f.insert("out_trade_no".into(), "YOUNG-1".into());
    let r = wx(&sb, "/pay/closeorder", f.clone()).await;
    assert_eq!(r.err_code(Md5), "SYSTEMERROR", "{}", r.body);
    assert!(r.get("err_code_des").contains("300"), "{}", r.body);
    let r = wx(&sb, "/pay/orderquery", f).await;
    assert_eq!(r.get("trade_state"), "NOTPAY");
}

fn refund_fields(out_trade_no: &str, out_refund_no: &str, total: &str, fee: &str) -> Fields {
    let mut f = wx_base();
    f.extend(fields(&[
        ("out_trade_no", out_trade_no),
        ("out_refund_no", out_refund_no),
        ("total_fee", total),
        ("refund_fee", fee),
    ]));
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_are_checked_against_the_order() {
    let sb = start().await;
    let refund = |f: Fields| {
        let sb = &sb;
        async move { wx(sb, "/secapi/pay/refund", f).await }
    };
    assert_eq!(
        refund(refund_fields("NOPE", "R1", "100", "10"))
            .await
            .err_code(Md5),
        "ORDERNOTEXIST"
    );
    let prepay = wx_order(&sb, "REF-1", NOTIFY).await;
    assert_eq!(
        refund(refund_fields("REF-1", "R1", "100", "10"))
            .await
            .err_code(Md5),
        "ERROR",
        "an unpaid order cannot be refunded"
    );
    wx_pay(&sb, &prepay).await;
    let cases = vec![
        (
            "total differs",
            refund_fields("REF-1", "R1", "99", "10"),
            "INVALID_REQUEST",
        ),
        (
            "fee in yuan",
            refund_fields("REF-1", "R1", "100", "0.10"),
            "PARAM_ERROR",
        ),
        (
            "fee zero",
            refund_fields("REF-1", "R1", "100", "0"),
            "PARAM_ERROR",
        ),
        (
            "over the total",
            refund_fields("REF-1", "R1", "100", "101"),
            "ERROR",
        ),
        (
            "bad out_refund_no",
            refund_fields("REF-1", "R 1", "100", "10"),
            "PARAM_ERROR",
        ),
        (
            "no refund no",
            {
                let mut f = refund_fields("REF-1", "R1", "100", "10");
                f.remove("out_refund_no");
                f
            },
            "LACK_PARAMS",
        ),
        (
            "no order ref",
            {
                let mut f = refund_fields("REF-1", "R1", "100", "10");
                f.remove("out_trade_no");
                f
            },
            "LACK_PARAMS",
        ),
        (
            "notify_url with query",
            {
                let mut f = refund_fields("REF-1", "R1", "100", "10");
                f.insert("notify_url".into(), "http://127.0.0.1:9/r?a=1".into());
                f
            },
            "PARAM_ERROR",
        ),
    ];
    for (what, f, want) in cases {
        let r = refund(f).await;
        assert_eq!(r.err_code(Md5), want, "{what}: {}", r.body);
    }

    let first = refund(refund_fields("REF-1", "R1", "100", "60")).await;
    assert_eq!(first.err_code(Md5), "");
    let retry = refund(refund_fields("REF-1", "R1", "100", "60")).await;
    assert_eq!(retry.err_code(Md5), "");
    assert_eq!(first.get("refund_id"), retry.get("refund_id"));
    assert_eq!(
        refund(refund_fields("REF-1", "R1", "100", "50"))
            .await
            .err_code(Md5),
        "INVALID_REQUEST",
        "the same out_refund_no with another amount"
    );
    let r = refund(refund_fields("REF-1", "R2", "100", "41")).await;
    assert_eq!(r.err_code(Md5), "ERROR", "only 40 fen are left: {}", r.body);
    assert_eq!(
        refund(refund_fields("REF-1", "R2", "100", "40"))
            .await
            .err_code(Md5),
        ""
    );
    let state = sb.state().wechat;
    assert_eq!(state.refunds_made, 2);
    let order = state
        .orders
        .iter()
        .find(|o| o.out_trade_no == "REF-1")
        .unwrap();
    assert_eq!(order.trade_state, "REFUND");
    assert_eq!(
        order.refunds[0].requests, 2,
        "the accepted call and its retry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_takes_at_most_fifty_refunds() {
    let sb = start().await;
    let prepay = wx_order(&sb, "FIFTY", NOTIFY).await;
    wx_pay(&sb, &prepay).await;
    for n in 0..50 {
        let r = wx(
            &sb,
            "/secapi/pay/refund",
            refund_fields("FIFTY", &format!("R{n}"), "100", "1"),
        )
        .await;
        assert_eq!(r.err_code(Md5), "", "{}", r.body);
    }
    let r = wx(
        &sb,
        "/secapi/pay/refund",
        refund_fields("FIFTY", "R50", "100", "1"),
    )
    .await;
    assert_eq!(r.err_code(Md5), "ERROR");
    assert!(r.get("err_code_des").contains("50"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refundquery_without_refunds_is_refundnotexist() {
    let sb = start().await;
    let mut f = wx_base();
    f.insert("out_trade_no".into(), "NOPE".into());
    assert_eq!(
        wx(&sb, "/pay/refundquery", f).await.err_code(Md5),
        "REFUNDNOTEXIST"
    );
    assert_eq!(
        wx(&sb, "/pay/refundquery", wx_base()).await.err_code(Md5),
        "LACK_PARAMS"
    );
    let prepay = wx_order(&sb, "RQ-1", NOTIFY).await;
    wx_pay(&sb, &prepay).await;
    let mut f = wx_base();
    f.insert("out_trade_no".into(), "RQ-1".into());
    assert_eq!(
        wx(&sb, "/pay/refundquery", f).await.err_code(Md5),
        "REFUNDNOTEXIST"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bill_requests_with_bad_dates_types_or_no_trades_fail() {
    let sb = start().await;
    let bill = |date: &str, ty: &str| {
        let mut f = wx_base();
        f.remove("sub_mch_id");
        f.insert("bill_date".into(), date.into());
        f.insert("bill_type".into(), ty.into());
        f
    };
    let cases = vec![
        (bill("20200101", "ALL"), "No Bill Exist"),
        (bill("2020-01-01", "ALL"), "invalid bill_date"),
        (bill("20201301", "ALL"), "invalid bill_date"),
        (bill("20991231", "ALL"), "invalid bill_date"),
        (bill("20200101", "EVERYTHING"), "invalid bill_type"),
        (
            {
                let mut f = bill("20200101", "ALL");
                f.insert("tar_type".into(), "ZIP".into());
                f
            },
            "invalid tar_type",
        ),
    ];
    for (f, want) in cases {
        let r = wx(&sb, "/pay/downloadbill", f).await;
        assert!(r.fail_msg().starts_with(want), "{}", r.body);
    }
}
