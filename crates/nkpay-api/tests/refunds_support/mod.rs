//! Refund steps on top of the end-to-end platform of `support`: a trade paid at the sandbox's
//! payer endpoint, refund requests, the refund job run like `nkpay serve` runs it, and what the
//! platform and the channel stored.
#![allow(dead_code)] // each test binary uses a different part

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use nkpay_channels::HttpSettings;
use nkpay_core::state::{RefundStatus, TradeStatus};
use nkpay_core::trade_type::ChannelKind;
use nkpay_engine::refunds::jobs::{RefundJobReport, run_refunds_once};
use nkpay_engine::{ChannelSettings, Engine, EngineConfig};
use nkpay_store::entity::refund;
use nkpay_store::refunds;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::support::{MER_A, MP_APPID, Platform, Reply, fresh_id, test_config, today};

pub const JSPAY: &str = "/v2/trade/payment/jspay";
pub const QUERY: &str = "/v2/trade/payment/scanpay/query";
pub const CLOSE: &str = "/v2/trade/payment/scanpay/close";
pub const REFUND: &str = "/v2/trade/payment/scanpay/refund";
pub const REFUND_QUERY: &str = "/v2/trade/payment/scanpay/refundquery";

/// How long a test waits for a condition before failing: generous, so a loaded 2-core machine
/// does not flake it.
pub const WAIT: Duration = Duration::from_secs(60);

/// The support configuration with the channel queried soon after a refund (300 ms).
pub fn refund_config() -> EngineConfig {
    EngineConfig {
        query_delays: vec![Duration::from_millis(300)],
        job_interval: Duration::from_millis(100),
        ..test_config()
    }
}

/// One channel call gives up after a second; the connector re-sends once.
pub fn impatient() -> EngineConfig {
    EngineConfig {
        channels: ChannelSettings {
            http: HttpSettings {
                total_timeout: Duration::from_secs(1),
                resend_limit: 1,
                resend_delay: Duration::from_millis(50),
                ..HttpSettings::default()
            },
            ..ChannelSettings::default()
        },
        ..refund_config()
    }
}

/// A round of the refund job as if run a second from now (a new refund is due by then).
pub async fn job_round(p: &Platform) -> RefundJobReport {
    run_refunds_once(&p.engine, Utc::now() + TimeDelta::seconds(1))
        .await
        .expect("refund job round")
}

/// Polls `check` until it is true, or panics after `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The trade and refund jobs of one node, stopped when dropped.
pub struct Jobs(watch::Sender<bool>);

impl Drop for Jobs {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

pub fn spawn_jobs(engine: &Arc<Engine>) -> Jobs {
    let (tx, rx) = watch::channel(false);
    nkpay_engine::jobs::spawn(engine.clone(), rx.clone());
    nkpay_engine::refunds::jobs::spawn(engine.clone(), rx);
    Jobs(tx)
}

/// A refund reply that took the refund on: processing, or already refunded (a WeChat refund
/// notify may settle it before the reply is written).
pub fn accepted(reply: &Reply) -> bool {
    matches!(
        (reply.code(), reply.get("trans_stat")),
        ("00000100", "P") | ("00000000", "S")
    )
}

/// A trade of [`MER_A`] as the merchant knows it.
#[derive(Debug, Clone)]
pub struct TradeIds {
    pub req_date: String,
    pub req_seq_id: String,
    pub nkp_seq_id: String,
    pub channel: ChannelKind,
    /// `pay_info` (WeChat) or `qr_code` (Alipay).
    pub prompt: String,
}

impl Platform {
    /// A trade of `amount` yuan for [`MER_A`], placed at the channel and unpaid.
    pub async fn unpaid_trade(&self, channel: ChannelKind, amount: &str) -> TradeIds {
        let (trade_type, extra) = match channel {
            ChannelKind::Wechat => (
                "T_JSAPI",
                json!({"wx_data": json!({"sub_appid": MP_APPID, "sub_openid": "o_refund_payer"}).to_string()}),
            ),
            ChannelKind::Alipay => ("A_NATIVE", json!({})),
        };
        let mut data = self.jspay_data(MER_A, trade_type, extra);
        data["trans_amt"] = json!(amount);
        let reply = self.sp.call(JSPAY, data.clone()).await;
        assert_eq!(reply.code(), "00000100", "{}: {reply:?}", self.label);
        let prompt = match channel {
            ChannelKind::Wechat => reply.get("pay_info"),
            ChannelKind::Alipay => reply.get("qr_code"),
        };
        TradeIds {
            req_date: reply.get("req_date").to_owned(),
            req_seq_id: reply.get("req_seq_id").to_owned(),
            nkp_seq_id: reply.get("nkp_seq_id").to_owned(),
            channel,
            prompt: prompt.to_owned(),
        }
    }

    /// A trade of `amount` yuan paid by a buyer at the sandbox and settled here by the
    /// channel's payment notify.
    pub async fn paid_trade(&self, channel: ChannelKind, amount: &str) -> TradeIds {
        let t = self.unpaid_trade(channel, amount).await;
        match channel {
            ChannelKind::Wechat => self.pay_wechat(&t.prompt).await,
            ChannelKind::Alipay => self.pay_alipay(&t.prompt).await,
        }
        let paid = self.wait_final(&t.nkp_seq_id).await;
        assert_eq!(
            paid.status,
            TradeStatus::Succeeded,
            "{}: {paid:?}",
            self.label
        );
        t
    }

    /// Refund `data` for `ord_amt` of trade `t`, naming it by its request id.
    pub fn refund_data(&self, t: &TradeIds, ord_amt: &str) -> Value {
        json!({
            "req_date": today(),
            "req_seq_id": fresh_id(),
            "huifu_id": MER_A,
            "ord_amt": ord_amt,
            "org_req_date": t.req_date,
            "org_req_seq_id": t.req_seq_id,
        })
    }

    pub async fn refund(&self, t: &TradeIds, ord_amt: &str) -> Reply {
        self.sp.call(REFUND, self.refund_data(t, ord_amt)).await
    }

    pub async fn refund_row(&self, nkp_seq_id: &str) -> refund::Model {
        refunds::find_by_nkp_seq_id(self.db.conn(), nkp_seq_id)
            .await
            .expect("read refund")
            .unwrap_or_else(|| panic!("{}: no refund {nkp_seq_id}", self.label))
    }

    /// Waits until refund `nkp_seq_id` is final and returns it.
    pub async fn final_refund(&self, nkp_seq_id: &str) -> refund::Model {
        wait_for(
            &format!("refund {nkp_seq_id} to be final"),
            WAIT,
            || async { self.refund_row(nkp_seq_id).await.status != RefundStatus::Processing },
        )
        .await;
        self.refund_row(nkp_seq_id).await
    }

    /// How many distinct refunds the sandbox made for trade `t`, and how many refund calls
    /// named them in all.
    pub fn channel_refunds(&self, t: &TradeIds) -> (usize, u64) {
        let state = self.state();
        let counts =
            |requests: Vec<u32>| (requests.len(), requests.into_iter().map(u64::from).sum());
        match t.channel {
            ChannelKind::Wechat => state
                .wechat
                .orders
                .iter()
                .find(|o| o.out_trade_no == t.nkp_seq_id)
                .map(|o| counts(o.refunds.iter().map(|r| r.requests).collect()))
                .unwrap_or_default(),
            ChannelKind::Alipay => state
                .alipay
                .trades
                .iter()
                .find(|tr| tr.out_trade_no == t.nkp_seq_id)
                .map(|tr| counts(tr.refunds.iter().map(|r| r.requests).collect()))
                .unwrap_or_default(),
        }
    }
}
