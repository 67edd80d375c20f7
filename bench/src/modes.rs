//! What each mode sends and what it needs set up first (untimed): paid trades for the query and
//! refund modes, parked notifications for the notify mode.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use nkpay_store::kinds::NotificationKind;
use nkpay_store::notifications::{self, NewNotification};
use nkpay_store::sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use serde_json::{Value, json};

use crate::load::{self, Client, Load, Outcome, Pace};
use crate::platform::{DemoMerchant, Platform};
use crate::pool::{Data, SeqIds, Signer, sign_all};
use crate::receiver::Receiver;
use hyper::Method;

/// The merchant API paths.
pub const JSPAY: &str = "/v2/trade/payment/jspay";
/// Trade query.
pub const QUERY: &str = "/v2/trade/payment/scanpay/query";
/// Refund.
pub const REFUND: &str = "/v2/trade/payment/scanpay/refund";

/// What the harness measures against the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// `jspay` `T_JSAPI` (WeChat official account), closed-loop.
    Jsapi,
    /// `jspay` `T_MINIAPP` (WeChat mini-program), closed-loop.
    Miniapp,
    /// `jspay` `A_NATIVE` (Alipay QR code), closed-loop.
    Native,
    /// `scanpay/query` of one paid (final) `T_JSAPI` trade, closed-loop.
    Query,
    /// `scanpay/refund` of the whole amount of a paid `T_JSAPI` trade each, closed-loop.
    Refund,
    /// Merchant notification deliveries per second to the harness's receiver.
    Notify,
    /// `jspay` `T_JSAPI` open-loop at `--rate`, or at half the closed-loop maximum of the same
    /// run.
    JsapiOpen,
}

impl Mode {
    /// Every mode, in table order.
    pub const ALL: [Mode; 7] = [
        Mode::Jsapi,
        Mode::JsapiOpen,
        Mode::Miniapp,
        Mode::Native,
        Mode::Query,
        Mode::Refund,
        Mode::Notify,
    ];

    /// The mode as `--mode` spells it (`jsapi-open`).
    pub fn name(self) -> String {
        use clap::ValueEnum;
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_else(|| format!("{self:?}").to_lowercase())
    }

    /// The file a run of this mode writes its latencies to, in its platform's directory:
    /// `latencies-<--mode name>.csv`.
    pub fn latencies_file(self) -> String {
        format!("latencies-{}.csv", self.name())
    }

    /// The first column of this mode's latencies file: when each answer was sent after the
    /// warm-up, or for notifications when each arrived after the first.
    pub fn latencies_at_column(self) -> &'static str {
        match self {
            Mode::Notify => crate::report::ARRIVED_AFTER_FIRST,
            _ => crate::report::SENT_AFTER_WARMUP,
        }
    }

    /// The `resp_code`s that are success for this mode's requests.
    pub fn expected(self) -> &'static [&'static str] {
        match self {
            Mode::Jsapi | Mode::Miniapp | Mode::Native | Mode::JsapiOpen => &["00000100"],
            Mode::Query => &["00000000"],
            Mode::Refund => &["00000100", "00000000"],
            Mode::Notify => &["delivered"],
        }
    }
}

/// The `trade_type` of a create mode.
pub fn trade_type(mode: Mode) -> Option<&'static str> {
    match mode {
        Mode::Jsapi | Mode::JsapiOpen => Some("T_JSAPI"),
        Mode::Miniapp => Some("T_MINIAPP"),
        Mode::Native => Some("A_NATIVE"),
        _ => None,
    }
}

/// One `jspay` request's `data`: 0.01 yuan, the payer under the merchant's bound appid for the
/// WeChat types (`wx_data` as a JSON string, as dg-sdk sends it).
pub fn jspay_data(
    merchant: &DemoMerchant,
    trade_type: &str,
    req_date: &str,
    req_seq_id: &str,
) -> Data {
    let mut d = Data::new();
    d.insert("req_date".into(), req_date.into());
    d.insert("req_seq_id".into(), req_seq_id.into());
    d.insert("huifu_id".into(), merchant.mer_id.clone().into());
    d.insert("trade_type".into(), trade_type.into());
    d.insert("trans_amt".into(), "0.01".into());
    d.insert("goods_desc".into(), "bench 压测".into());
    let appid = match trade_type {
        "T_JSAPI" => merchant.wx_mp_appids.first(),
        "T_MINIAPP" => merchant.wx_miniapp_appids.first(),
        _ => None,
    };
    if let Some(appid) = appid {
        let wx = json!({"sub_appid": appid, "sub_openid": "o_bench_payer"});
        d.insert("wx_data".into(), wx.to_string().into());
    }
    d
}

/// A trade query's `data`, naming the trade by `org_req_date` + `org_req_seq_id`.
pub fn query_data(mer_id: &str, trade: &(String, String)) -> Data {
    let mut d = Data::new();
    d.insert("huifu_id".into(), mer_id.into());
    d.insert("org_req_date".into(), trade.0.clone().into());
    d.insert("org_req_seq_id".into(), trade.1.clone().into());
    d
}

/// A refund's `data`: the whole 0.01 yuan of `trade`.
pub fn refund_data(
    mer_id: &str,
    req_date: &str,
    req_seq_id: &str,
    trade: &(String, String),
) -> Data {
    let mut d = query_data(mer_id, trade);
    d.insert("req_date".into(), req_date.into());
    d.insert("req_seq_id".into(), req_seq_id.into());
    d.insert("ord_amt".into(), "0.01".into());
    d
}

/// The `prepay_id` in a `T_JSAPI` reply's `pay_info` (`package` = `prepay_id=…`).
pub fn prepay_id(reply: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(reply).ok()?;
    let pay_info: Value = serde_json::from_str(v.get("data")?.get("pay_info")?.as_str()?).ok()?;
    pay_info
        .get("package")?
        .as_str()?
        .strip_prefix("prepay_id=")
        .map(str::to_owned)
}

/// How many setup trades are paid at the simulator before waiting for their notifies.
const PAY_CHUNK: usize = 1_000;

/// A run that sends every body once, as fast as `connections` allow, keeping the answers: the
/// untimed setup steps.
fn setup_load(connections: usize) -> Load {
    Load {
        connections,
        warmup: Duration::ZERO,
        duration: Duration::from_secs(3600),
        pace: Pace::Closed,
        cycle: false,
        keep_replies: true,
    }
}

/// `n` `T_JSAPI` trades of 0.01 yuan, created, paid at the WeChat simulator's payer endpoint
/// ([`PAY_CHUNK`] at a time) and seen `S` in the platform's database (the channel notify
/// handled), their ids under `tag` (unique within the run); then the simulator has no notify
/// left to deliver. Returns their `(req_date, req_seq_id)`.
///
/// Errors: a create or a payment was refused, or the trades were not all paid and their
/// notifies delivered within `n / 20 + 60` seconds.
pub async fn paid_trades(
    platform: &Platform,
    signer: &Signer,
    ids: &SeqIds,
    tag: &str,
    n: usize,
    connections: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    let merchant = platform.credentials.merchant()?;
    let date = crate::pool::shanghai_today();
    let trades: Vec<(String, String)> = (0..n).map(|i| (date.clone(), ids.id(tag, i))).collect();
    let datas = trades
        .iter()
        .map(|(d, s)| jspay_data(merchant, "T_JSAPI", d, s))
        .collect();
    let bodies = Arc::new(sign_all(signer, datas)?);
    let created = load::run(platform.addr, JSPAY, bodies, &setup_load(connections)).await?;
    let mut pays = Vec::with_capacity(n);
    for (i, reply) in created.replies.iter().enumerate() {
        let id = reply
            .as_deref()
            .and_then(prepay_id)
            .with_context(|| format!("trade {i} of the setup has no prepay_id: {reply:?}"))?;
        pays.push(Bytes::from(
            json!({"prepay_id": id, "result": "SUCCESS"}).to_string(),
        ));
    }
    // Paid in chunks, each seen `S` before the next is paid: the simulator sends every notify
    // at once, and thousands at a time (in the platform's own process) ran out of file
    // descriptors and past the simulator's 5 s time-out, so their repeats, 15 s and more later
    // on WeChat's schedule, fell inside the measured run.
    let db = nkpay_store::connect(&platform.database_url).await?;
    let like = format!("{}%", ids.prefix(tag));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(n as u64 / 20 + 60);
    let mut sent = 0;
    for chunk in pays.chunks(PAY_CHUNK) {
        let paid = load::run(
            platform.sandbox_addr,
            "/sandbox/wechat/pay",
            Arc::new(chunk.to_vec()),
            &setup_load(connections),
        )
        .await?;
        if let Some((k, v)) = paid
            .outcomes
            .iter()
            .find(|(k, _)| k.starts_with("http_") || k.as_str() == "io")
        {
            bail!("the simulator refused {v} payments: {k}");
        }
        sent += chunk.len();
        loop {
            let row = db
                .conn()
                .query_one_raw(Statement::from_sql_and_values(
                    db.backend(),
                    "SELECT COUNT(*) AS n FROM trades WHERE req_seq_id LIKE $1 AND status = 'S'",
                    [like.clone().into()],
                ))
                .await?
                .context("COUNT(*) returned no row")?;
            let done: i64 = row.try_get("", "n")?;
            if done as usize >= sent {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("only {done} of {sent} setup trades were paid in time");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // A trade is paid once a delivery of its notify was handled; one the platform answered
    // after the simulator's time-out would be sent again later, inside the measured run.
    // Wait until the simulator has no delivery left to make.
    let mut sandbox = Client::new(platform.sandbox_addr);
    loop {
        let pending = deliveries_pending(&mut sandbox).await?;
        if pending == 0 {
            return Ok(trades);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("the simulator still had {pending} notifies to deliver");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How many of the simulator's channel notifies are neither delivered nor given up nor
/// dropped (`GET /sandbox/state`).
///
/// Errors: the simulator did not answer 200 with its state.
async fn deliveries_pending(sandbox: &mut Client) -> anyhow::Result<usize> {
    let (status, body) = sandbox
        .call(Method::GET, "/sandbox/state", Bytes::new())
        .await?;
    anyhow::ensure!(status == 200, "GET /sandbox/state answered {status}");
    pending_in_state(&body)
}

/// [`deliveries_pending`] of a `GET /sandbox/state` body.
fn pending_in_state(body: &[u8]) -> anyhow::Result<usize> {
    let state: Value = serde_json::from_slice(body).context("GET /sandbox/state")?;
    let notifies = state
        .get("notifies")
        .and_then(Value::as_array)
        .context("GET /sandbox/state has no notifies list")?;
    let flag = |n: &Value, name: &str| n.get(name).and_then(Value::as_bool).unwrap_or(false);
    Ok(notifies
        .iter()
        .filter(|n| !flag(n, "delivered") && !flag(n, "gave_up") && !flag(n, "dropped"))
        .count())
}

/// The notify mode: `n` notifications to a fresh receiver are written to the platform's
/// database due tomorrow (untimed), then made due in one UPDATE; the platform's own dispatcher
/// delivers them. Latency runs from that UPDATE to each arrival; the rate is over the first to
/// the last arrival (the dispatcher's idle poll, `notify.poll_interval_ms`, before the first
/// claim is not a delivery cost).
///
/// Errors: the database refused the writes, or not all `n` arrived within `n / 50 + 60`
/// seconds.
pub async fn notify(platform: &Platform, ids: &SeqIds, n: usize) -> anyhow::Result<Outcome> {
    let merchant = platform.credentials.merchant()?;
    let receiver = Receiver::start().await?;
    let db = nkpay_store::connect(&platform.database_url).await?;
    let now = Utc::now();
    let txn = db.conn().begin().await?;
    for i in 0..n {
        let seq = ids.id("nt", i);
        let resp_data = json!({
            "resp_code": "00000000", "resp_desc": "成功", "huifu_id": merchant.mer_id,
            "req_seq_id": seq, "trans_stat": "S", "trans_amt": "0.01",
        });
        let new = NewNotification {
            mer_id: merchant.mer_id.clone(),
            kind: NotificationKind::Trade,
            subject_nkp_seq_id: seq,
            notify_url: receiver.url.clone(),
            resp_data: resp_data.to_string(),
            first_attempt_at: now + TimeDelta::days(1),
        };
        notifications::enqueue(&txn, &new, now).await?;
    }
    txn.commit().await?;
    let released = std::time::Instant::now();
    db.conn()
        .execute_raw(Statement::from_sql_and_values(
            db.backend(),
            "UPDATE notifications SET next_attempt_at = $1 WHERE notify_url = $2 AND status = 'pending'",
            [Utc::now().into(), receiver.url.clone().into()],
        ))
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(n as u64 / 50 + 60);
    while receiver.arrivals.count() < n {
        if tokio::time::Instant::now() >= deadline {
            let got = receiver.arrivals.count();
            receiver.stop().await;
            bail!("only {got} of {n} notifications arrived in time");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let times = receiver.arrivals.times();
    receiver.stop().await;
    arrivals_outcome(released, &times)
}

/// The notify mode's figures from the arrival times: latency from `released`, window from the
/// first to the last arrival.
///
/// Errors: nothing arrived.
pub fn arrivals_outcome(
    released: std::time::Instant,
    times: &[std::time::Instant],
) -> anyhow::Result<Outcome> {
    let (first, last) = match (times.iter().min(), times.iter().max()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => bail!("no notification arrived"),
    };
    let mut histogram = load::histogram()?;
    let mut latencies = Vec::with_capacity(times.len());
    for t in times {
        let us =
            u64::try_from(t.saturating_duration_since(released).as_micros()).unwrap_or(u64::MAX);
        histogram.saturating_record(us.max(1));
        // All were released at once: a delivery's place in the run is its arrival.
        latencies.push(load::Latency {
            at: t.saturating_duration_since(first),
            micros: us,
        });
    }
    latencies.sort_unstable();
    Ok(Outcome {
        histogram,
        window: last - first,
        outcomes: [("delivered".to_owned(), times.len() as u64)].into(),
        replies: Vec::new(),
        latencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merchant() -> DemoMerchant {
        DemoMerchant {
            mer_id: "6666000000000001".into(),
            wx_mp_appids: vec!["wxmp".into()],
            wx_miniapp_appids: vec!["wxmini".into()],
            alipay: true,
        }
    }

    /// Only deliveries still to be made count: delivered, given up and dropped ones do not,
    /// nor does a record the simulator wrote without a flag.
    #[test]
    fn pending_deliveries_are_those_neither_delivered_nor_given_up_nor_dropped() {
        let state = json!({"orders": [], "notifies": [
            {"delivered": true, "gave_up": false, "dropped": false},
            {"delivered": false, "gave_up": false, "dropped": false, "attempts": 1},
            {"delivered": false, "gave_up": true, "dropped": false},
            {"delivered": false, "gave_up": false, "dropped": true},
            {"delivered": false, "gave_up": false, "dropped": false, "attempts": 0},
        ]});
        let body = serde_json::to_vec(&state).expect("json");
        assert_eq!(pending_in_state(&body).expect("state"), 2);
        assert!(pending_in_state(br#"{"orders": []}"#).is_err());
    }

    #[test]
    fn each_trade_type_names_the_payer_under_its_own_appid() {
        let m = merchant();
        let js = jspay_data(&m, "T_JSAPI", "20261130", "bn1");
        let wx: Value = serde_json::from_str(js["wx_data"].as_str().unwrap()).unwrap();
        assert_eq!(wx["sub_appid"], "wxmp");
        let mini = jspay_data(&m, "T_MINIAPP", "20261130", "bn2");
        assert!(mini["wx_data"].as_str().unwrap().contains("wxmini"));
        let native = jspay_data(&m, "A_NATIVE", "20261130", "bn3");
        assert!(!native.contains_key("wx_data"));
        assert_eq!(native["huifu_id"], "6666000000000001");
        assert_eq!(native["trans_amt"], "0.01");
    }

    #[test]
    fn a_refund_names_its_trade_and_the_whole_amount() {
        let trade = ("20261130".to_owned(), "bnpt1".to_owned());
        let r = refund_data("m", "20261130", "bnrf1", &trade);
        assert_eq!(r["org_req_seq_id"], "bnpt1");
        assert_eq!(r["org_req_date"], "20261130");
        assert_eq!(r["req_seq_id"], "bnrf1");
        assert_eq!(r["ord_amt"], "0.01");
    }

    #[test]
    fn the_prepay_id_is_read_from_pay_info() {
        let reply = br#"{"data":{"resp_code":"00000100","pay_info":"{\"appId\":\"wx\",\"package\":\"prepay_id=wx123\"}"},"sign":"s"}"#;
        assert_eq!(prepay_id(reply).as_deref(), Some("wx123"));
        assert_eq!(prepay_id(br#"{"data":{"resp_code":"10000000"}}"#), None);
    }

    #[test]
    fn notify_figures_run_from_the_release_and_between_arrivals() {
        let released = std::time::Instant::now();
        let times: Vec<_> = [500u64, 600, 700, 1500]
            .iter()
            .map(|ms| released + Duration::from_millis(*ms))
            .collect();
        let out = arrivals_outcome(released, &times).unwrap();
        assert_eq!(out.window, Duration::from_millis(1000));
        assert_eq!(out.histogram.len(), 4);
        assert_eq!(out.rate(), 4.0);
        assert!(out.histogram.max() >= 1_499_000);
        assert_eq!(out.outcomes["delivered"], 4);
        let placed: Vec<(u64, u64)> = out
            .latencies
            .iter()
            .map(|l| (l.at.as_millis() as u64, l.micros / 1000))
            .collect();
        assert_eq!(placed, [(0, 500), (100, 600), (200, 700), (1000, 1500)]);
        assert!(arrivals_outcome(released, &[]).is_err());
    }

    #[test]
    fn latencies_files_are_named_as_the_command_line_names_the_mode() {
        assert_eq!(Mode::JsapiOpen.latencies_file(), "latencies-jsapi-open.csv");
        assert_eq!(Mode::Native.latencies_file(), "latencies-native.csv");
        assert_eq!(Mode::Notify.latencies_at_column(), "arrived_after_first_ms");
        assert_eq!(Mode::Query.latencies_at_column(), "sent_after_warmup_ms");
        let names: std::collections::BTreeSet<String> =
            Mode::ALL.iter().map(|m| m.latencies_file()).collect();
        assert_eq!(names.len(), Mode::ALL.len(), "one file per mode");
    }

    #[test]
    fn modes_expect_their_success_codes() {
        assert_eq!(Mode::Query.expected(), &["00000000"]);
        assert_eq!(trade_type(Mode::JsapiOpen), Some("T_JSAPI"));
        assert_eq!(trade_type(Mode::Refund), None);
    }
}
