//! Issue 15, fault 5: an amount over its channel's field is refused at the API, before anything
//! is stored or sent — WeChat's `total_fee` is a 32-bit number of fen (2147483647 at most),
//! Alipay's `total_amount` at most 100000000.00 yuan — and so is a trade over the platform's
//! configurable per-trade cap (`limits.max_trans_amt_fen`). On SQLite and PostgreSQL.

mod refunds_support;
mod support;

use nkpay_core::money::Money;
use nkpay_core::trade_type::ChannelKind;
use refunds_support::{JSPAY, REFUND};
use serde_json::{Value, json};
use support::{MER_A, MP_APPID, Platform, Reply, test_config};

fn wechat_payer() -> Value {
    json!({"wx_data": json!({"sub_appid": MP_APPID, "sub_openid": "o_amount_payer"}).to_string()})
}

async fn jspay(p: &Platform, trade_type: &str, amount: &str) -> Reply {
    let extra = match trade_type {
        "A_NATIVE" => json!({}),
        _ => wechat_payer(),
    };
    let mut data = p.jspay_data(MER_A, trade_type, extra);
    data["trans_amt"] = json!(amount);
    p.sp.call(JSPAY, data).await
}

fn assert_refused_naming(reply: &Reply, field: &str, limit: &str, label: &str) {
    assert_eq!(reply.code(), "10000000", "{label}: {reply:?}");
    assert!(
        reply.desc().starts_with(&format!("{field}格式错误")),
        "{label}: {reply:?}"
    );
    assert!(reply.desc().contains(limit), "{label}: {reply:?}");
    assert_eq!(reply.get("nkp_seq_id"), "", "{label}: nothing was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_over_the_channels_field_are_refused_before_anything_is_sent() {
    for p in Platform::all().await {
        let l = p.label;
        // The input: one fen past WeChat's 32-bit total_fee.
        for trade_type in ["T_JSAPI", "T_MINIAPP"] {
            let reply = jspay(&p, trade_type, "21474836.48").await;
            assert_refused_naming(&reply, "trans_amt", "21474836.47", l);
        }
        assert!(
            p.state().wechat.orders.is_empty(),
            "{l}: nothing reached WeChat"
        );
        // The largest amount WeChat carries is placed.
        let reply = jspay(&p, "T_JSAPI", "21474836.47").await;
        assert_eq!(reply.code(), "00000100", "{l}: {reply:?}");
        // Alipay's field is wider than any amount the API reads (99999999.99 at most).
        let reply = jspay(&p, "A_NATIVE", "21474836.48").await;
        assert_eq!(reply.code(), "00000100", "{l}: {reply:?}");
        let reply = jspay(&p, "A_NATIVE", "99999999.99").await;
        assert_eq!(reply.code(), "00000100", "{l}: {reply:?}");

        // A refund over WeChat's field names ord_amt (before the refundable balance is asked).
        let t = p.paid_trade(ChannelKind::Wechat, "1.00").await;
        let mut data = p.refund_data(&t, "21474836.48");
        data["ord_amt"] = json!("21474836.48");
        let reply = p.sp.call(REFUND, data).await;
        assert_refused_naming(&reply, "ord_amt", "21474836.47", l);
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_trade_cap_refuses_larger_trades_on_every_channel() {
    let config = nkpay_engine::EngineConfig {
        max_trans_amt: Some(Money::from_fen(50_000).expect("fen")),
        ..test_config()
    };
    for p in Platform::all_with(config).await {
        let l = p.label;
        for trade_type in ["T_JSAPI", "A_NATIVE"] {
            let reply = jspay(&p, trade_type, "500.01").await;
            assert_refused_naming(&reply, "trans_amt", "500.00", l);
            let reply = jspay(&p, trade_type, "500.00").await;
            assert_eq!(reply.code(), "00000100", "{l} {trade_type}: {reply:?}");
        }
        p.stop().await;
    }
}
