//! Issue 15's trade faults, over real HTTP against the simulators with their fault injection,
//! on SQLite and PostgreSQL: a create whose reply is lost after the channel made the order
//! (fault 1: the merchant's replay and the job repeat it and hand out the order; when it keeps
//! failing the trade is closed upstream, then fails), a replayed close (fault 4), and an expired
//! WeChat trade closed when WeChat first allows it (fault 7).

mod support;

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use nkpay_channels::HttpSettings;
use nkpay_core::state::TradeStatus;
use nkpay_engine::jobs;
use nkpay_engine::{ChannelSettings, EngineConfig};
use nkpay_sandbox::Faults;
use nkpay_store::kinds::NotificationKind;
use nkpay_store::{channel_records, notifications};
use serde_json::{Value, json};
use support::*;

const JSPAY: &str = "/v2/trade/payment/jspay";
const CLOSE: &str = "/v2/trade/payment/scanpay/close";
const QUERY: &str = "/v2/trade/payment/scanpay/query";

/// How long a wait for something that only needs time may take: generous, so a loaded
/// machine does not fail it.
const PATIENCE: Duration = Duration::from_secs(60);

/// A channel call gives up after a second (the sandbox holds a timed-out reply 3 s); an
/// unknown create is repeated twice at most.
fn impatient() -> EngineConfig {
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
        create_repeat_limit: 2,
        ..test_config()
    }
}

/// Each channel's create, as the issue gives it: a jspay of 0.34 and the create call the fault
/// is injected on.
struct Case {
    trade_type: &'static str,
    create_call: &'static str,
    extra: fn() -> Value,
}

const CASES: [Case; 2] = [
    Case {
        trade_type: "T_JSAPI",
        create_call: "unifiedorder",
        extra: || json!({ "wx_data": {"openid": "oPayer034"} }),
    },
    Case {
        trade_type: "A_NATIVE",
        create_call: "alipay.trade.precreate",
        extra: || json!({}),
    },
];

impl Case {
    fn data(&self, p: &Platform) -> Value {
        let mut data = p.jspay_data(MER_A, self.trade_type, (self.extra)());
        data["trans_amt"] = json!("0.34");
        data
    }

    /// The channel makes the order, and its reply outlives our time-out `times` times.
    fn lose_replies(&self, p: &Platform, times: u32) {
        p.set_faults(Faults {
            timeout_times: times,
            timeout_ms: 3000,
            apis: vec![self.create_call.into()],
            ..Faults::default()
        });
    }

    /// What the channel holds under `out_trade_no`: how many creates named it, and the
    /// payer's prompt it answers (WeChat `pay_info`'s `prepay_id`, Alipay's `qr_code`).
    fn upstream(&self, p: &Platform, out_trade_no: &str) -> (u32, String) {
        let state = p.state();
        if self.trade_type == "A_NATIVE" {
            let mut found = state
                .alipay
                .trades
                .into_iter()
                .filter(|x| x.out_trade_no == out_trade_no);
            let t = found.next().expect("the trade at Alipay");
            assert!(found.next().is_none(), "one trade at Alipay");
            (t.precreate_calls, t.qr_code)
        } else {
            let mut found = state
                .wechat
                .orders
                .into_iter()
                .filter(|x| x.out_trade_no == out_trade_no);
            let o = found.next().expect("the order at WeChat");
            assert!(found.next().is_none(), "one order at WeChat");
            (o.unifiedorder_calls, o.prepay_id)
        }
    }

    /// The prompt a reply hands the payer, in [`Case::upstream`]'s terms.
    fn prompt(&self, reply: &support::Reply) -> String {
        if self.trade_type == "A_NATIVE" {
            return reply.get("qr_code").to_owned();
        }
        let info: Value = serde_json::from_str(reply.get("pay_info")).expect("pay_info");
        info["package"]
            .as_str()
            .and_then(|p| p.strip_prefix("prepay_id="))
            .expect("package=prepay_id=…")
            .to_owned()
    }

    /// What a reply hands the payer, as the trade stores it.
    fn handed(&self, reply: &support::Reply) -> String {
        let field = if self.trade_type == "A_NATIVE" {
            "qr_code"
        } else {
            "pay_info"
        };
        reply.get(field).to_owned()
    }

    async fn pay(&self, p: &Platform, reply: &support::Reply) {
        if self.trade_type == "A_NATIVE" {
            p.pay_alipay(reply.get("qr_code")).await;
        } else {
            p.pay_wechat(reply.get("pay_info")).await;
        }
    }
}

/// The first jspay of `case`, its reply lost: `98888888`, `P`, nothing for the payer.
async fn lost_create(p: &Platform, case: &Case, data: &Value) -> String {
    let l = p.label;
    let first = p.sp.call(JSPAY, data.clone()).await;
    assert_eq!(
        (first.code(), first.get("trans_stat")),
        ("98888888", "P"),
        "{l} {}: {first:?}",
        case.trade_type
    );
    assert!(first.get("pay_info").is_empty() && first.get("qr_code").is_empty());
    let nkp = first.get("nkp_seq_id").to_owned();
    let t = p.trade(&nkp).await;
    assert!(t.create_unknown_at.is_some(), "{l}: {t:?}");
    // The channel made it all the same.
    assert_eq!(case.upstream(p, &nkp).0, 1, "{l}");
    nkp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_create_whose_reply_is_lost_answers_the_order_on_the_merchants_identical_replay() {
    for p in Platform::all_with(impatient()).await {
        let l = p.label;
        for case in &CASES {
            case.lose_replies(&p, 1);
            let data = case.data(&p);
            let nkp = lost_create(&p, case, &data).await;

            // The identical replay repeats the identical create: the same order, handed out.
            let again = p.sp.call(JSPAY, data.clone()).await;
            assert_eq!(
                (
                    again.code(),
                    again.get("trans_stat"),
                    again.get("nkp_seq_id")
                ),
                ("00000100", "P", nkp.as_str()),
                "{l} {}: {again:?}",
                case.trade_type
            );
            let (calls, prompt) = case.upstream(&p, &nkp);
            assert_eq!((calls, case.prompt(&again)), (2, prompt), "{l}");
            let t = p.trade(&nkp).await;
            assert_eq!(t.create_unknown_at, None, "{l}");
            assert!(t.pay_info.is_some() || t.qr_code.is_some(), "{l}");

            // That is the answer from now on, without asking the channel again.
            let third = p.sp.call(JSPAY, data).await;
            assert_eq!(third.data, again.data, "{l}");
            assert_eq!(case.upstream(&p, &nkp).0, 2, "{l}");

            case.pay(&p, &again).await;
            assert_eq!(
                p.wait_final(&nkp).await.status,
                TradeStatus::Succeeded,
                "{l}"
            );
        }
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_create_whose_reply_is_lost_is_placed_by_the_job_without_a_replay() {
    for p in Platform::all_with(impatient()).await {
        let l = p.label;
        for case in &CASES {
            case.lose_replies(&p, 1);
            let data = case.data(&p);
            let nkp = lost_create(&p, case, &data).await;

            // The job's first round for the trade repeats the create instead of asking.
            let due = p.trade(&nkp).await.next_query_at.expect("scheduled");
            let report = jobs::run_trades_once(&p.engine, due).await.unwrap();
            assert_eq!(
                (report.creates_repeated, report.errors),
                (1, 0),
                "{l}: {report:?}"
            );
            let t = p.trade(&nkp).await;
            assert_eq!(
                (t.status, t.create_unknown_at, t.create_repeats),
                (TradeStatus::Processing, None, 1),
                "{l}"
            );
            let (calls, prompt) = case.upstream(&p, &nkp);
            assert_eq!(calls, 2, "{l}");

            // The merchant's replay gets the order the job placed, without another create.
            let again = p.sp.call(JSPAY, data).await;
            assert_eq!(again.code(), "00000100", "{l}: {again:?}");
            assert_eq!(case.prompt(&again), prompt, "{l}");
            assert_eq!(t.pay_info.or(t.qr_code), Some(case.handed(&again)), "{l}");
            assert_eq!(case.upstream(&p, &nkp).0, 2, "{l}");
        }
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_create_that_stays_unknown_is_closed_upstream_then_fails() {
    for p in Platform::all_with(impatient()).await {
        let l = p.label;
        for case in &CASES {
            // Every reply to this create is lost.
            case.lose_replies(&p, 100);
            let data = case.data(&p);
            let nkp = lost_create(&p, case, &data).await;

            // Each job round at the trade's next time: two repeats (lost as well), then the
            // close, carried out once the channel allows it (WeChat: its scaled 5 minutes).
            let mut repeats = 0;
            let deadline = Instant::now() + PATIENCE;
            let t = loop {
                let t = p.trade(&nkp).await;
                if t.status != TradeStatus::Processing {
                    break t;
                }
                assert!(Instant::now() < deadline, "{l}: still processing: {t:?}");
                let at = t.next_query_at.expect("still scheduled");
                let report = jobs::run_trades_once(&p.engine, at).await.unwrap();
                assert_eq!(report.errors, 0, "{l}: {report:?}");
                repeats += report.creates_repeated;
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            assert_eq!((repeats, t.create_repeats), (2, 2), "{l}");
            assert_eq!(t.status, TradeStatus::Closed, "{l}");
            assert_eq!(case.upstream(&p, &nkp).0, 3, "{l}");
            let close_call = if case.trade_type == "A_NATIVE" {
                "alipay.trade.close"
            } else {
                "pay/closeorder"
            };
            p.engine.flush_channel_history().await;
            let exchanges = channel_records::list_exchanges_for(p.db.conn(), &nkp)
                .await
                .unwrap();
            assert!(
                exchanges.iter().any(|e| e.call_name == close_call),
                "{l}: closed upstream first"
            );
            if case.trade_type == "T_JSAPI" {
                let order = p
                    .state()
                    .wechat
                    .orders
                    .into_iter()
                    .find(|o| o.out_trade_no == nkp);
                assert_eq!(order.expect("order").trade_state, "CLOSED", "{l}");
            }
            // F, to the merchant's query and in its notification: it may start a new trade.
            let q =
                p.sp.call(QUERY, json!({"mer_id": MER_A, "org_nkp_seq_id": nkp}))
                    .await;
            assert_eq!(q.get("trans_stat"), "F", "{l}: {q:?}");
            assert_eq!(notified(&p, &nkp).await, vec!["F".to_owned()], "{l}");
        }
        p.stop().await;
    }
}

fn close_data(created: &Value) -> Value {
    json!({
        "req_date": today(),
        "req_seq_id": fresh_id(),
        "mer_id": MER_A,
        "org_req_date": created["req_date"],
        "org_req_seq_id": created["req_seq_id"],
    })
}

fn wechat_data(p: &Platform) -> Value {
    p.jspay_data(MER_A, "T_JSAPI", json!({ "wx_data": {"openid": "o1"} }))
}

/// The `trans_stat` of every merchant notification enqueued about trade `nkp_seq_id`.
async fn notified(p: &Platform, nkp_seq_id: &str) -> Vec<String> {
    notifications::list_for_subject(p.db.conn(), NotificationKind::Trade, nkp_seq_id)
        .await
        .expect("notifications")
        .into_iter()
        .map(|n| {
            let v: Value = serde_json::from_str(&n.resp_data).expect("resp_data JSON");
            v["trans_stat"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_close_gets_the_first_answer_and_other_content_under_its_id_is_refused() {
    for p in Platform::all().await {
        let l = p.label;
        // WeChat, closed at once: accepted, carried out once WeChat allows it (P).
        let data = wechat_data(&p);
        let created = p.sp.call(JSPAY, data.clone()).await;
        let nkp = created.get("nkp_seq_id").to_owned();
        let close = close_data(&data);
        let first = p.sp.call(CLOSE, close.clone()).await;
        assert_eq!(
            (first.code(), first.get("trans_stat")),
            ("00000000", "P"),
            "{l}: {first:?}"
        );
        // The payer pays first: the payment wins.
        p.pay_wechat(created.get("pay_info")).await;
        assert_eq!(
            p.wait_final(&nkp).await.status,
            TradeStatus::Succeeded,
            "{l}"
        );

        // The same close again: the first close's answer, not 23000002.
        let again = p.sp.call(CLOSE, close.clone()).await;
        assert_eq!(again.data, first.data, "{l}");
        // Other content under the same request id: refused as every write refuses it.
        let other_trade = p.sp.call(JSPAY, wechat_data(&p)).await;
        let mut other = close.clone();
        other["org_req_seq_id"] = json!(other_trade.get("req_seq_id"));
        let refused = p.sp.call(CLOSE, other).await;
        assert_eq!(refused.code(), "20000000", "{l}: {refused:?}");
        assert!(refused.desc().contains("different content"), "{refused:?}");
        assert_eq!(
            p.trade(other_trade.get("nkp_seq_id"))
                .await
                .close_requested_at,
            None,
            "{l}: the refused close did nothing"
        );
        // A new close request sees the trade as it is now: paid.
        let new = p.sp.call(CLOSE, close_data(&data)).await;
        assert_eq!(
            (new.code(), new.get("trans_stat"), new.get("org_trans_stat")),
            ("23000002", "F", "S"),
            "{l}: {new:?}"
        );

        // Alipay closes at once (S); its replay is that answer too.
        let data = p.jspay_data(MER_A, "A_NATIVE", json!({}));
        let created = p.sp.call(JSPAY, data.clone()).await;
        assert_eq!(created.code(), "00000100", "{l}: {created:?}");
        let close = close_data(&data);
        let first = p.sp.call(CLOSE, close.clone()).await;
        assert_eq!(
            (
                first.code(),
                first.get("trans_stat"),
                first.get("org_trans_stat")
            ),
            ("00000000", "S", "F"),
            "{l}: {first:?}"
        );
        assert_eq!(p.sp.call(CLOSE, close).await.data, first.data, "{l}");
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_wechat_trade_is_closed_the_moment_wechat_allows_it() {
    // WeChat's own rule: closeorder only 5 minutes after the order.
    let config = EngineConfig {
        wechat_close_min_age: Duration::from_secs(300),
        ..test_config()
    };
    for p in Platform::all_with(config).await {
        let l = p.label;
        // The shortest expiry a merchant may give, 1 minute (here 90 s): it expires long
        // before WeChat allows a close.
        let expire = (Utc::now() + TimeDelta::seconds(90))
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y%m%d%H%M%S")
            .to_string();
        let mut data = wechat_data(&p);
        data["time_expire"] = json!(expire);
        let created = p.sp.call(JSPAY, data).await;
        let placed = Instant::now();
        assert_eq!(created.code(), "00000100", "{l}: {created:?}");
        let nkp = created.get("nkp_seq_id").to_owned();
        let t = p.trade(&nkp).await;
        let allowed = t.created_at + TimeDelta::seconds(300);
        let expiry_close = t.time_expire + TimeDelta::from_std(p.config.expiry_grace).unwrap();
        assert!(expiry_close < allowed, "{l}");

        // The round at the expiry close: the close is owed, but WeChat refuses it yet; the
        // next round is at the very moment it allows it, not on the query back-off.
        let report = jobs::run_trades_once(&p.engine, expiry_close)
            .await
            .unwrap();
        assert_eq!(
            (report.claimed, report.rescheduled),
            (1, 1),
            "{l}: {report:?}"
        );
        let t = p.trade(&nkp).await;
        assert_eq!(t.status, TradeStatus::Processing, "{l}");
        assert_eq!(t.next_query_at, Some(allowed), "{l}");
        let report = jobs::run_trades_once(&p.engine, allowed - TimeDelta::milliseconds(1))
            .await
            .unwrap();
        assert_eq!(report.claimed, 0, "{l}: nothing before that moment");

        // The simulator keeps its own five minutes (scaled by TIME_SCALE): wait until they
        // have passed in its time too, then the round at the allowed moment closes it.
        let simulator_age = Duration::from_secs_f64(300.0 * TIME_SCALE);
        assert!(simulator_age < PATIENCE);
        while placed.elapsed() < simulator_age {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let report = jobs::run_trades_once(&p.engine, allowed).await.unwrap();
        assert_eq!((report.claimed, report.finished), (1, 1), "{l}: {report:?}");
        assert_eq!(p.trade(&nkp).await.status, TradeStatus::Closed, "{l}");
        let order = p
            .state()
            .wechat
            .orders
            .into_iter()
            .find(|o| o.out_trade_no == nkp)
            .expect("order at WeChat");
        assert_eq!(order.trade_state, "CLOSED", "{l}");
        assert_eq!(notified(&p, &nkp).await, vec!["F".to_owned()], "{l}");
        p.stop().await;
    }
}
