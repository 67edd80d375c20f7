//! Issue 15, fault 2: `bank_message` carries the channel's own code and text only. A create whose
//! reply times out answers without our transport error or the gateway's URL (they stay in the
//! trade's exchange history, for the operator); a channel's business refusal keeps its code and
//! words. On SQLite and PostgreSQL.

mod refunds_support;
mod support;

use nkpay_core::state::TradeStatus;
use nkpay_engine::onboarding::{self, AppidKind, BoundAppid, WechatBusiness};
use nkpay_sandbox::Faults;
use nkpay_store::channel_records;
use refunds_support::{JSPAY, impatient};
use serde_json::{Value, json};
use support::{MER_A, MER_BARE, MP_APPID, Platform, Reply};

/// The whole reply `data` as text, for searching.
fn text(reply: &Reply) -> String {
    serde_json::to_string(&reply.data).expect("reply JSON")
}

/// No trace of our side of the wire: the sandbox's address, a URL, reqwest's words.
fn assert_no_transport_detail(reply: &Reply, p: &Platform) {
    let t = text(reply);
    let sandbox_host = p
        .sandbox
        .base_url()
        .trim_start_matches("http://")
        .to_owned();
    for needle in [
        "http://",
        "https://",
        "error sending request",
        "timed out",
        "no reply",
        sandbox_host.as_str(),
    ] {
        assert!(!t.contains(needle), "{}: {needle:?} in {t}", p.label);
    }
}

fn wechat_payer() -> Value {
    json!({"wx_data": json!({"sub_appid": MP_APPID, "sub_openid": "o_bank_message"}).to_string()})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_reply_times_out_names_no_url_or_transport_error() {
    for p in Platform::all_with(impatient()).await {
        let l = p.label;
        // Every create is made at the channel and answered after our 1 s time-out.
        p.set_faults(Faults {
            timeout_times: 4,
            timeout_ms: 2500,
            apis: vec!["unifiedorder".into(), "alipay.trade.precreate".into()],
            ..Faults::default()
        });
        for (trade_type, extra) in [("T_JSAPI", wechat_payer()), ("A_NATIVE", json!({}))] {
            let mut data = p.jspay_data(MER_A, trade_type, extra);
            data["trans_amt"] = json!("0.34");
            let reply = p.sp.call(JSPAY, data).await;
            assert_eq!(reply.code(), "98888888", "{l} {trade_type}: {reply:?}");
            assert_eq!(reply.get("trans_stat"), "P", "{l} {trade_type}");
            assert_eq!(reply.get("bank_message"), "", "{l} {trade_type}: {reply:?}");
            assert!(reply.desc().contains("query it later"), "{reply:?}");
            assert_no_transport_detail(&reply, &p);

            // The operator still has the reason, in the trade's exchange history.
            p.engine.flush_channel_history().await;
            let history = channel_records::list_exchanges_for(p.db.conn(), reply.get("nkp_seq_id"))
                .await
                .expect("exchanges");
            assert!(
                history.iter().any(|e| e.outcome.contains("no reply")),
                "{l} {trade_type}: {history:?}"
            );
        }
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_refusal_keeps_its_code_and_words() {
    for p in Platform::all().await {
        let l = p.label;
        // A sub-merchant WeChat does not know under the service provider: WeChat answers NOAUTH.
        onboarding::open_wechat_business(
            &p.db,
            &p.sealer,
            &WechatBusiness {
                mer_id: MER_BARE.into(),
                sub_mch_id: "1999999999".into(),
                appids: vec![BoundAppid {
                    appid: MP_APPID.into(),
                    kind: AppidKind::Mp,
                }],
                channel_account_id: None,
                fee_rate_bp: 38,
            },
        )
        .await
        .expect("wechat business");
        let mut data = p.jspay_data(MER_BARE, "T_JSAPI", wechat_payer());
        data["trans_amt"] = json!("0.34");
        let reply = p.sp.call(JSPAY, data).await;
        assert_eq!(reply.code(), "98888888", "{l}: {reply:?}");
        assert_eq!(reply.get("trans_stat"), "F", "{l}: {reply:?}");
        assert_eq!(reply.get("bank_code"), "NOAUTH", "{l}: {reply:?}");
        assert!(
            reply
                .get("bank_message")
                .contains("1999999999 is not a sub-merchant"),
            "{l}: {reply:?}"
        );
        assert_no_transport_detail(&reply, &p);
        let row = p.trade(reply.get("nkp_seq_id")).await;
        assert_eq!(row.status, TradeStatus::Failed, "{l}");
        assert_eq!(row.bank_code.as_deref(), Some("NOAUTH"), "{l}");
        p.stop().await;
    }
}
