//! Abuse limits (issue 15), over real HTTP on SQLite and PostgreSQL: a caller's burst over its
//! rate gets the signed `90000000` for the excess and normal answers once its allowance is
//! back; channel callbacks over the body cap or over the sender's rate get the channel's
//! failure answer and leave no row in the inbound message table, while the channel's own
//! retry still finalizes the trade; `req_date` other than today is refused on every write
//! endpoint, naming `req_date`.

mod onboarding_support;
mod support;

use std::time::Duration;

use chrono::Utc;
use nkpay_api::limits::LimitsConfig;
use nkpay_core::state::TradeStatus;
use nkpay_engine::EngineConfig;
use nkpay_store::entity::channel_inbound_message;
use nkpay_store::sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use support::*;

const JSPAY: &str = "/v2/trade/payment/jspay";
const QUERY: &str = "/v2/trade/payment/scanpay/query";
const CLOSE: &str = "/v2/trade/payment/scanpay/close";
const REFUND: &str = "/v2/trade/payment/scanpay/refund";
const BUSI_OPEN: &str = "/v2/merchant/busi/open";
const BUSI_CONFIG: &str = "/v2/merchant/busi/config";
const WECHAT_PAY_CALLBACK: &str = "/callback/wechat/pay";
const WECHAT_FAIL: &str = "<return_code><![CDATA[FAIL]]></return_code>";

/// Generous, so a loaded 2-core machine does not flake a wait.
const WAIT: Duration = Duration::from_secs(60);

/// The inbound notify records, once the history's writer stored what it was handed.
async fn inbound_rows(p: &Platform) -> u64 {
    p.engine.flush_channel_history().await;
    channel_inbound_message::Entity::find()
        .count(p.db.conn())
        .await
        .expect("count inbound")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_over_the_callers_rate_gets_90000000_and_normal_answers_after_refill() {
    let limits = LimitsConfig {
        per_sys_id_per_sec: 1,
        per_sys_id_burst: 5,
        ..LimitsConfig::off()
    };
    for p in Platform::all_with_limits(test_config(), limits).await {
        let created =
            p.sp.call(JSPAY, p.jspay_data(MER_A, "A_NATIVE", json!({})))
                .await;
        assert_eq!(
            created.code(),
            "00000100",
            "{}: {:?}",
            p.label,
            created.data
        );
        let nkp = created.get("nkp_seq_id").to_owned();
        let query = json!({"mer_id": MER_A, "org_nkp_seq_id": nkp});

        // A burst of 20 sent at once, after the create spent one of the 5.
        let started = tokio::time::Instant::now();
        let burst = futures_join_all(&p.sp, QUERY, &query, 20).await;
        // What may have come back while the burst was answered: 1 per second begun.
        let refilled = started.elapsed().as_secs() as usize + 1;
        let passed = burst.iter().filter(|r| r.code() == "00000000").count();
        let refused: Vec<_> = burst.iter().filter(|r| r.code() == "90000000").collect();
        assert_eq!(passed + refused.len(), 20, "{}: {burst:?}", p.label);
        assert!(
            passed >= 4 && passed <= 4 + refilled && !refused.is_empty(),
            "{}: {passed} passed",
            p.label
        );
        for r in &refused {
            assert!(r.desc().contains("sys_id"), "{}", r.desc());
        }
        println!(
            "{}: burst of 20 at 1/s burst 5 (one spent): {passed} passed, {} refused 90000000",
            p.label,
            refused.len()
        );

        // Another caller has its own allowance.
        let other = p
            .mer_b
            .call(QUERY, json!({"mer_id": MER_B, "org_nkp_seq_id": "N0"}))
            .await;
        assert_ne!(other.code(), "90000000", "{}", p.label);

        // The allowance comes back: a normal answer again within the deadline.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let r = p.sp.call(QUERY, query.clone()).await;
            if r.code() == "00000000" {
                assert_eq!(r.get("org_nkp_seq_id"), nkp);
                break;
            }
            assert_eq!(r.code(), "90000000", "{}: {:?}", p.label, r.data);
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: never refilled",
                p.label
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        p.stop().await;
    }
}

/// `n` copies of one call sent concurrently.
async fn futures_join_all(client: &Client, path: &str, data: &Value, n: usize) -> Vec<Reply> {
    let calls = (0..n).map(|_| {
        let client = client.clone();
        let data = data.clone();
        let path = path.to_owned();
        tokio::spawn(async move { client.call(&path, data).await })
    });
    let mut out = Vec::new();
    for c in calls.collect::<Vec<_>>() {
        out.push(c.await.expect("call"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callbacks_over_the_cap_or_rate_are_refused_unstored_and_the_channels_retry_gets_through() {
    let limits = LimitsConfig {
        callback_per_addr_per_sec: 1,
        callback_burst: 3,
        callback_body_limit_bytes: 2048,
        ..LimitsConfig::off()
    };
    for p in Platform::all_with_limits(test_config(), limits).await {
        let before = inbound_rows(&p).await;

        // Over the body cap: WeChat's failure answer, nothing stored.
        let big = format!("<xml><junk>{}</junk></xml>", "x".repeat(4096));
        let answer = p.post_callback(WECHAT_PAY_CALLBACK, "text/xml", big).await;
        assert!(answer.contains(WECHAT_FAIL), "{}: {answer}", p.label);
        assert_eq!(
            inbound_rows(&p).await,
            before,
            "{}: oversized body stored",
            p.label
        );

        // A flood of 20 small forged notifies from one address: the first few are read (and
        // recorded, refused), the rest refused unread. The oversized one spent one of the 3.
        for _ in 0..20 {
            let answer = p
                .post_callback(WECHAT_PAY_CALLBACK, "text/xml", "<xml></xml>".into())
                .await;
            assert!(answer.contains(WECHAT_FAIL), "{}: {answer}", p.label);
        }
        let stored = inbound_rows(&p).await - before;
        assert!(
            (2..20).contains(&stored),
            "{}: {stored} of 20 stored",
            p.label
        );
        println!(
            "{}: callback flood of 20 at 1/s burst 3: {stored} stored",
            p.label
        );

        // A real payment's notify comes from the same address (the simulator on loopback),
        // possibly refused at first; WeChat's retries get through and the trade is paid.
        let r =
            p.sp.call(
                JSPAY,
                p.jspay_data(
                    MER_A,
                    "T_JSAPI",
                    json!({"wx_data": json!({"openid": "oPayer001"}).to_string()}),
                ),
            )
            .await;
        assert_eq!(r.code(), "00000100", "{}: {:?}", p.label, r.data);
        p.pay_wechat(r.get("pay_info")).await;
        let t = p.wait_final(r.get("nkp_seq_id")).await;
        assert_eq!(t.status, TradeStatus::Succeeded, "{}", p.label);
        p.stop().await;
    }
}

fn yesterday() -> String {
    (Utc::now().with_timezone(&chrono_tz::Asia::Shanghai) - chrono::Duration::days(1))
        .format("%Y%m%d")
        .to_string()
}

fn assert_refuses_req_date(label: &str, path: &str, r: &Reply) {
    assert_eq!(r.code(), "10000000", "{label} {path}: {:?}", r.data);
    assert!(
        r.desc().starts_with("req_date格式错误") && r.desc().contains("today"),
        "{label} {path}: {}",
        r.desc()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_req_date_of_yesterday_is_refused_on_every_write_endpoint() {
    let config = EngineConfig {
        req_date_tolerance_days: 0,
        ..test_config()
    };
    for p in Platform::all_with(config).await {
        let y = yesterday();
        let old = |mut d: Value| {
            d["req_date"] = y.clone().into();
            d
        };
        let org = json!({"org_req_date": today(), "org_req_seq_id": "absent1"});
        let mut calls: Vec<(&str, Value)> = vec![
            (JSPAY, old(p.jspay_data(MER_A, "A_NATIVE", json!({})))),
            (
                CLOSE,
                old(json!({"req_seq_id": fresh_id(), "mer_id": MER_A}).merged(&org)),
            ),
            (
                REFUND,
                old(
                    json!({"req_seq_id": fresh_id(), "mer_id": MER_A, "ord_amt": "0.01"})
                        .merged(&org),
                ),
            ),
            (
                onboarding_support::ENT,
                old(onboarding_support::ent_data(SP, None)),
            ),
            (
                onboarding_support::INDV,
                old(onboarding_support::indv_data(SP, None)),
            ),
            (
                BUSI_OPEN,
                old(json!({
                    "req_seq_id": fresh_id(), "huifu_id": MER_BARE, "upper_huifu_id": SP,
                    "wx_conf_list": json!([{"pay_scene": "1", "fee_rate": "0.60"}]).to_string(),
                })),
            ),
            (
                BUSI_CONFIG,
                old(json!({
                    "req_seq_id": fresh_id(), "huifu_id": MER_A, "fee_type": "02",
                    "wx_woa_app_id": "wx00000000000000f1",
                })),
            ),
        ];
        for (path, data) in calls.drain(..) {
            let r = p.sp.call(path, data).await;
            assert_refuses_req_date(p.label, path, &r);
        }
        p.stop().await;
    }
}

trait Merged {
    fn merged(self, other: &Value) -> Value;
}

impl Merged for Value {
    fn merged(mut self, other: &Value) -> Value {
        if let (Value::Object(a), Value::Object(b)) = (&mut self, other) {
            a.extend(b.clone());
        }
        self
    }
}
