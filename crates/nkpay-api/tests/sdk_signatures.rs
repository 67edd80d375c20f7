//! Issue 15, fault 6, end to end: a jspay whose `goods_desc` carries U+2028, `<`, `>` and `&`,
//! signed the way Dougong's Go SDK builds the string (`json.Marshal`: keys sorted at every depth,
//! `""` kept, U+2028/U+2029 escaped, `<>&` put back) and posted as it posts it, is taken
//! (`00000100`), not refused `10000001`; so is Go's plain encoder output; the same body with a
//! changed amount is still refused `10000001`. The per-SDK strings are pinned in
//! `nkpay-crypto` `envelope.rs`. On SQLite and PostgreSQL.

mod refunds_support;
mod support;

use refunds_support::JSPAY;
use support::{MER_A, MP_APPID, Platform, fresh_id, today};

/// The body the Go SDK posts, and the string it signs (the same text: `FormatSignSrcText` of
/// the data map, the `<>&` escapes undone).
fn go_sdk_data(req_seq_id: &str, amount: &str, html_escaped: bool) -> String {
    let desc = if html_escaped {
        "拿铁\\u2028\\u003c特价\\u003e\\u0026"
    } else {
        "拿铁\\u2028<特价>&"
    };
    let wx_data = format!(r#"{{\"sub_appid\":\"{MP_APPID}\",\"sub_openid\":\"o_go_sdk\"}}"#);
    format!(
        r#"{{"goods_desc":"{desc}","huifu_id":"{MER_A}","notify_url":"","remark":"","req_date":"{}","req_seq_id":"{req_seq_id}","trade_type":"T_JSAPI","trans_amt":"{amount}","wx_data":"{wx_data}"}}"#,
        today()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jspay_signed_like_the_go_sdk_is_taken_and_a_forged_one_is_not() {
    for p in Platform::all().await {
        let l = p.label;
        for html_escaped in [false, true] {
            let id = fresh_id();
            let data = go_sdk_data(&id, "0.34", html_escaped);
            let sign = p.sp.key.sign_sha256_base64(data.as_bytes()).expect("sign");
            let body = |data: &str| {
                format!(
                    r#"{{"data":{data},"product_id":"{}","sign":"{sign}","sys_id":"{}"}}"#,
                    p.sp.product_id, p.sp.sys_id
                )
            };
            let reply = p.sp.post_envelope(JSPAY, &body(&data)).await;
            assert_eq!(reply.code(), "00000100", "{l} {html_escaped}: {reply:?}");
            assert!(!reply.get("pay_info").is_empty(), "{l}: {reply:?}");

            let forged = go_sdk_data(&fresh_id(), "3.40", html_escaped);
            let reply = p.sp.post_envelope(JSPAY, &body(&forged)).await;
            assert_eq!(reply.code(), "10000001", "{l} {html_escaped}: {reply:?}");
        }
        p.stop().await;
    }
}
