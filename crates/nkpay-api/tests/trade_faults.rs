//! Issue 15's trade faults, over real HTTP against the simulators with their fault injection,
//! on SQLite and PostgreSQL: a replayed close (fault 4) and an expired WeChat trade closed
//! when WeChat first allows it (fault 7).

mod support;

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use nkpay_core::state::TradeStatus;
use nkpay_engine::EngineConfig;
use nkpay_engine::jobs;
use nkpay_store::kinds::NotificationKind;
use nkpay_store::notifications;
use serde_json::{Value, json};
use support::*;

const JSPAY: &str = "/v2/trade/payment/jspay";
const CLOSE: &str = "/v2/trade/payment/scanpay/close";

/// How long a wait for something that only needs time may take: generous, so a loaded
/// machine does not fail it.
const PATIENCE: Duration = Duration::from_secs(60);

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
