//! Every refusal of the merchant API answers with its `resp_code`, a `resp_desc` naming the
//! field and the rule, a valid platform signature — and nothing reaches the channel.

mod support;

use chrono::{TimeDelta, Utc};
use nkpay_crypto::envelope::{self, KeyOrder};
use nkpay_engine::shanghai_time;
use nkpay_store::sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use support::*;

const JSPAY: &str = "/v2/trade/payment/jspay";
const QUERY: &str = "/v2/trade/payment/scanpay/query";
const CLOSE: &str = "/v2/trade/payment/scanpay/close";

/// Escapes every non-ASCII character as `\uXXXX`, as Python's `json.dumps(ensure_ascii=True)`
/// (what dg-sdk posts) does.
fn ascii_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

fn shanghai_in(delta: TimeDelta) -> String {
    shanghai_time::format_date_time(Utc::now() + delta)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn envelope_errors_have_their_codes_and_dg_sdk_forms_are_accepted() {
    for p in Platform::all().await {
        let label = p.label;
        let data = p.jspay_data(MER_A, "A_NATIVE", json!({}));

        let not_json = p.sp.post_raw(JSPAY, b"{not json".to_vec()).await;
        assert_eq!(not_json.status, 400, "{label}");
        assert_eq!(not_json.code(), "10000000");

        let no_sys =
            p.sp.post_envelope(
                JSPAY,
                &json!({"product_id": PRODUCT, "data": data, "sign": "x"}).to_string(),
            )
            .await;
        assert_eq!((no_sys.status, no_sys.code()), (200, "10000000"), "{label}");
        assert!(no_sys.desc().starts_with("sys_id"), "{}", no_sys.desc());

        let no_sign =
            p.sp.post_envelope(
                JSPAY,
                &json!({"sys_id": SP, "product_id": PRODUCT, "data": data}).to_string(),
            )
            .await;
        assert_eq!(no_sign.code(), "10000001", "{label}");

        let mut unknown = p.sp.clone();
        unknown.sys_id = "NOSUCHSP".into();
        assert_eq!(unknown.call(JSPAY, data.clone()).await.code(), "10000002");
        let mut wrong_product = p.sp.clone();
        wrong_product.product_id = "OTHER".into();
        assert_eq!(
            wrong_product.call(JSPAY, data.clone()).await.code(),
            "10000002"
        );

        let mut forger = p.sp.clone();
        forger.key = p.other_sp.key.clone();
        let forged = forger.call(JSPAY, data.clone()).await;
        assert_eq!(forged.code(), "10000001", "{label}");
        assert_eq!(
            forged.get("req_seq_id"),
            data["req_seq_id"].as_str().unwrap()
        );

        // Body over the limit.
        let big = json!({"sys_id": SP, "product_id": PRODUCT, "sign": "x", "data": {"pad": "x".repeat(70_000)}});
        let r = p.sp.post_envelope(JSPAY, &big.to_string()).await;
        assert_eq!(r.code(), "10000000");
        assert!(r.desc().contains("bytes"), "{}", r.desc());

        // dg-sdk posts with ensure_ascii=True after signing the raw UTF-8 text; nested
        // objects may be signed sorted at every depth; data may be a string; unknown fields
        // are ignored.
        let d = p.jspay_data(
            MER_A,
            "T_JSAPI",
            json!({"wx_data": {"sub_openid": "oS", "sub_appid": MP_APPID}, "unknown_field": "x"}),
        );
        let sign = envelope::sign_request_data(&d.to_string(), KeyOrder::EveryLevel, &p.sp.key)
            .unwrap()
            .sign;
        let body =
            json!({"sys_id": SP, "product_id": PRODUCT, "data": d, "sign": sign, "extra": 1});
        let r =
            p.sp.post_envelope(JSPAY, &ascii_json(&body.to_string()))
                .await;
        assert_eq!(r.code(), "00000100", "{label}: {:?}", r.data);
        assert_eq!(r.get("remark"), "桌号 7");

        let d = p.jspay_data(MER_A, "A_NATIVE", json!({}));
        let sign = envelope::sign_request_data(&d.to_string(), KeyOrder::TopLevel, &p.sp.key)
            .unwrap()
            .sign;
        let body =
            json!({"sys_id": SP, "product_id": PRODUCT, "data": d.to_string(), "sign": sign});
        let r = p.sp.post_envelope(JSPAY, &body.to_string()).await;
        assert_eq!(r.code(), "00000100", "{label}: {:?}", r.data);
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scope_lets_a_service_provider_act_only_for_its_merchants_and_a_merchant_for_itself() {
    for p in Platform::all().await {
        let label = p.label;
        let jsapi = json!({"wx_data": {"openid": "o1"}});
        let cases = [
            (&p.other_sp, MER_A, "22000000"),
            (&p.mer_b, MER_A, "22000000"),
            (&p.sp, MER_OFF, "22000000"),
            (&p.sp, "6666999999999999", "22000000"),
            (&p.sp, MER_OTHER, "22000000"),
        ];
        for (client, mer_id, code) in cases {
            let r = client
                .call(JSPAY, p.jspay_data(mer_id, "T_JSAPI", jsapi.clone()))
                .await;
            assert_eq!(
                r.code(),
                code,
                "{label} {} for {mer_id}: {}",
                client.sys_id,
                r.desc()
            );
            assert!(r.desc().contains(mer_id), "{}", r.desc());
        }
        // A merchant for itself, named by the Dougong alias huifu_id.
        let mut data = p.jspay_data(MER_B, "T_JSAPI", jsapi.clone());
        let obj = data.as_object_mut().unwrap();
        obj.remove("mer_id");
        obj.insert("huifu_id".into(), json!(MER_B));
        let r = p.mer_b.call(JSPAY, data).await;
        assert_eq!(r.code(), "00000100", "{label}: {:?}", r.data);
        assert_eq!(r.get("mer_id"), MER_B);
        // Its service provider may act for it too, and query it; the other may not.
        let nkp = r.get("nkp_seq_id");
        let q =
            p.sp.call(QUERY, json!({"mer_id": MER_B, "org_nkp_seq_id": nkp}))
                .await;
        assert_eq!(q.code(), "00000000");
        let q = p
            .other_sp
            .call(QUERY, json!({"mer_id": MER_B, "org_nkp_seq_id": nkp}))
            .await;
        assert_eq!(q.code(), "22000000");
        // Another merchant's trade under one's own mer_id is not found.
        let q =
            p.sp.call(QUERY, json!({"mer_id": MER_A, "org_nkp_seq_id": nkp}))
                .await;
        assert_eq!(q.code(), "23000001");
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_invalid_field_and_refused_route_is_named_and_nothing_goes_upstream() {
    for p in Platform::all().await {
        let label = p.label;
        let long_url = format!("http://127.0.0.1/{}", "a".repeat(250));
        // (trade type, fields to merge into a valid request, code, what resp_desc starts with)
        let cases: Vec<(&str, Value, &str, &str)> = vec![
            (
                "A_NATIVE",
                json!({"trans_amt": "1"}),
                "10000000",
                "trans_amt格式错误",
            ),
            (
                "A_NATIVE",
                json!({"trans_amt": "0.001"}),
                "10000000",
                "trans_amt格式错误",
            ),
            (
                "A_NATIVE",
                json!({"trans_amt": "0.00"}),
                "10000000",
                "trans_amt格式错误",
            ),
            (
                "A_NATIVE",
                json!({"trans_amt": "-1.00"}),
                "10000000",
                "trans_amt格式错误",
            ),
            (
                "A_NATIVE",
                json!({"trans_amt": 1.5}),
                "10000000",
                "trans_amt格式错误",
            ),
            (
                "A_NATIVE",
                json!({"trans_amt": ""}),
                "10000000",
                "trans_amt不能为空",
            ),
            (
                "A_NATIVE",
                json!({"goods_desc": "商".repeat(128)}),
                "10000000",
                "goods_desc格式错误",
            ),
            (
                "A_NATIVE",
                json!({"goods_desc": null}),
                "10000000",
                "goods_desc不能为空",
            ),
            (
                "A_NATIVE",
                json!({"time_expire": "2025-01-01 10:00"}),
                "10000000",
                "time_expire格式错误",
            ),
            (
                "A_NATIVE",
                json!({"time_expire": shanghai_in(TimeDelta::seconds(30))}),
                "10000000",
                "time_expire格式错误",
            ),
            (
                "A_NATIVE",
                json!({"time_expire": shanghai_in(TimeDelta::hours(25))}),
                "10000000",
                "time_expire格式错误",
            ),
            (
                "A_NATIVE",
                json!({"notify_url": "ftp://127.0.0.1/n"}),
                "10000000",
                "notify_url不合法",
            ),
            (
                "A_NATIVE",
                json!({"notify_url": long_url}),
                "10000000",
                "notify_url不合法",
            ),
            (
                "A_NATIVE",
                json!({"notify_url": "http://10.1.2.3/n"}),
                "10000000",
                "notify_url不合法",
            ),
            (
                "A_NATIVE",
                json!({"notify_url": "http://169.254.169.254/latest"}),
                "10000000",
                "notify_url不合法",
            ),
            (
                "A_NATIVE",
                json!({"req_seq_id": "a b"}),
                "10000000",
                "req_seq_id格式错误",
            ),
            (
                "A_NATIVE",
                json!({"req_seq_id": "x".repeat(65)}),
                "10000000",
                "req_seq_id格式错误",
            ),
            (
                "A_NATIVE",
                json!({"req_date": "20200101"}),
                "10000000",
                "req_date格式错误",
            ),
            (
                "A_NATIVE",
                json!({"req_date": "20251340"}),
                "10000000",
                "req_date格式错误",
            ),
            (
                "A_NATIVE",
                json!({"remark": "r".repeat(256)}),
                "10000000",
                "remark格式错误",
            ),
            (
                "A_NATIVE",
                json!({"alipay_data": "[1]"}),
                "10000000",
                "alipay_data格式错误",
            ),
            ("T_NATIVE", json!({}), "10000000", "trade_type格式错误"),
            (
                "T_JSAPI",
                json!({"wx_data": "not json"}),
                "10000000",
                "wx_data格式错误",
            ),
            (
                "T_JSAPI",
                json!({"wx_data": {"openid": "o 1"}}),
                "10000000",
                "wx_data.openid格式错误",
            ),
            (
                "T_JSAPI",
                json!({"wx_data": {}}),
                "10000000",
                "wx_data.sub_appid不能为空",
            ),
            (
                "T_JSAPI",
                json!({"wx_data": {"sub_appid": MP_APPID}}),
                "10000000",
                "wx_data.sub_openid不能为空",
            ),
            (
                "T_JSAPI",
                json!({"wx_data": {"sub_appid": "wxffffffffffffffff", "sub_openid": "o"}}),
                "22000001",
                "wx_data.sub_appid未绑定",
            ),
            (
                "T_JSAPI",
                json!({"wx_data": {"sub_appid": MINI_APPID, "sub_openid": "o"}}),
                "22000001",
                "wx_data.sub_appid类型不符",
            ),
            (
                "T_MINIAPP",
                json!({"wx_data": {"openid": "o"}}),
                "10000000",
                "wx_data.sub_appid不能为空",
            ),
            (
                "T_MINIAPP",
                json!({"wx_data": {"sub_appid": MP_APPID, "sub_openid": "o"}}),
                "22000001",
                "wx_data.sub_appid类型不符",
            ),
        ];
        for (trade_type, fields, code, desc) in cases {
            let data = p.jspay_data(MER_A, trade_type, fields.clone());
            let r = p.sp.call(JSPAY, data.clone()).await;
            assert_eq!(
                r.code(),
                code,
                "{label} {trade_type} {fields}: {}",
                r.desc()
            );
            assert!(r.desc().starts_with(desc), "{label} {fields}: {}", r.desc());
            assert_eq!(
                r.get("req_seq_id"),
                data["req_seq_id"].as_str().unwrap_or_default()
            );
        }
        let missing_mer = p.jspay_data(MER_A, "A_NATIVE", json!({"mer_id": null}));
        let r = p.sp.call(JSPAY, missing_mer).await;
        assert_eq!(r.code(), "10000000");
        assert!(r.desc().starts_with("mer_id不能为空"), "{}", r.desc());

        // Merchants without the payment method.
        for (mer_id, trade_type, extra) in [
            (MER_BARE, "T_JSAPI", json!({"wx_data": {"openid": "o"}})),
            (MER_BARE, "A_NATIVE", json!({})),
            (MER_B, "A_NATIVE", json!({})),
        ] {
            let r =
                p.sp.call(JSPAY, p.jspay_data(mer_id, trade_type, extra))
                    .await;
            assert_eq!(
                r.code(),
                "22000001",
                "{label} {mer_id} {trade_type}: {}",
                r.desc()
            );
            assert!(r.desc().contains(mer_id), "{}", r.desc());
        }

        // A refused request never reached the channel and left no trade.
        let state = p.state();
        assert!(state.wechat.unifiedorder_calls.is_empty(), "{label}");
        assert!(state.alipay.precreate_calls.is_empty(), "{label}");
        let trades = nkpay_store::entity::trade::Entity::find()
            .count(p.db.conn())
            .await
            .unwrap();
        assert_eq!(trades, 0, "{label}");
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn query_and_close_name_their_errors() {
    for p in Platform::all().await {
        let label = p.label;
        let unknown = json!({"mer_id": MER_A, "org_nkp_seq_id": "2025010112000000000001999999"});
        let r = p.sp.call(QUERY, unknown).await;
        assert_eq!(r.code(), "23000001", "{label}: {}", r.desc());
        let r = p.sp.call(QUERY, json!({"mer_id": MER_A})).await;
        assert_eq!(r.code(), "10000000");
        assert!(
            r.desc().starts_with("org_req_seq_id不能为空"),
            "{}",
            r.desc()
        );
        let r =
            p.sp.call(QUERY, json!({"mer_id": MER_A, "org_req_seq_id": "abc"}))
                .await;
        assert!(r.desc().starts_with("org_req_date不能为空"), "{}", r.desc());
        let r =
            p.sp.call(
                QUERY,
                json!({"mer_id": MER_A, "org_req_date": "2025-01-01", "org_req_seq_id": "abc"}),
            )
            .await;
        assert!(r.desc().starts_with("org_req_date格式错误"), "{}", r.desc());

        let close = json!({
            "mer_id": MER_A, "req_seq_id": fresh_id(),
            "org_req_date": today(), "org_req_seq_id": "nope"
        });
        let r = p.sp.call(CLOSE, close).await;
        assert!(r.desc().starts_with("req_date不能为空"), "{}", r.desc());
        let close = json!({
            "mer_id": MER_A, "req_date": today(), "req_seq_id": fresh_id(),
            "org_req_date": today(), "org_req_seq_id": "nope"
        });
        assert_eq!(p.sp.call(CLOSE, close).await.code(), "23000001");

        // By request id as well as by nkp_seq_id.
        let data = p.jspay_data(MER_A, "A_NATIVE", json!({}));
        let created = p.sp.call(JSPAY, data.clone()).await;
        let q = p
            .sp
            .call(
                QUERY,
                json!({"mer_id": MER_A, "org_req_date": data["req_date"], "org_req_seq_id": data["req_seq_id"]}),
            )
            .await;
        assert_eq!(q.code(), "00000000", "{label}: {}", q.desc());
        assert_eq!(q.get("org_nkp_seq_id"), created.get("nkp_seq_id"));
        assert_eq!(q.get("trans_stat"), "P");
        p.stop().await;
    }
}
