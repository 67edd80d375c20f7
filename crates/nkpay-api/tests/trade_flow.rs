//! A trade's life over real HTTP: created through the merchant API, paid at the simulator by the
//! payer, notified to /callback, settled once, queried, closed, expired, recovered by the job
//! when a notify is lost — on SQLite and PostgreSQL.

mod support;

use nkpay_core::state::TradeStatus;
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use nkpay_crypto::wechat_sign::{self, WechatSignType};
use nkpay_engine::jobs;
use nkpay_sandbox::Faults;
use nkpay_store::channel_records;
use nkpay_store::incidents;
use nkpay_store::kinds::NotificationKind;
use nkpay_store::notifications;
use nkpay_store::sea_orm::EntityTrait;
use serde_json::{Value, json};
use support::*;

const JSPAY: &str = "/v2/trade/payment/jspay";
const QUERY: &str = "/v2/trade/payment/scanpay/query";
const CLOSE: &str = "/v2/trade/payment/scanpay/close";

fn query_data(mer_id: &str, nkp_seq_id: &str) -> Value {
    json!({ "mer_id": mer_id, "org_nkp_seq_id": nkp_seq_id })
}

fn close_data(mer_id: &str, org_req_date: &str, org_req_seq_id: &str) -> Value {
    json!({
        "req_date": today(),
        "req_seq_id": fresh_id(),
        "mer_id": mer_id,
        "org_req_date": org_req_date,
        "org_req_seq_id": org_req_seq_id,
    })
}

/// The merchant notification enqueued for a trade: its `resp_data` as JSON.
async fn notification_of(p: &Platform, nkp_seq_id: &str) -> Vec<Value> {
    notifications::list_for_subject(p.db.conn(), NotificationKind::Trade, nkp_seq_id)
        .await
        .expect("notifications")
        .into_iter()
        .map(|n| {
            assert_eq!(n.notify_url, NOTIFY_URL);
            serde_json::from_str(&n.resp_data).expect("resp_data JSON")
        })
        .collect()
}

/// The inbound notifies recorded for a trade, once at least `n` are stored (the history's
/// writer stores a notify's record, with its outcome, just after the trade settles).
async fn inbound_of(
    p: &Platform,
    nkp_seq_id: &str,
    n: usize,
) -> Vec<nkpay_store::entity::channel_inbound_message::Model> {
    eventually("the inbound notifies completed", || async {
        let inbound = channel_records::list_inbound_for(p.db.conn(), nkp_seq_id)
            .await
            .unwrap();
        (inbound.len() >= n && inbound.iter().all(|m| m.outcome.is_some())).then_some(inbound)
    })
    .await
}

/// How long a wait for something that only needs time may take: generous, so a loaded
/// machine does not fail it.
const PATIENCE: Duration = Duration::from_secs(60);

/// Asks `check` every 50 ms until it gives a value; fails after [`PATIENCE`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jsapi_with_platform_openid_is_paid_notified_and_queried() {
    for p in Platform::all().await {
        let data = p.jspay_data(
            MER_A,
            "T_JSAPI",
            json!({ "wx_data": json!({"openid": "oPayer001"}).to_string() }),
        );
        let r = p.sp.call(JSPAY, data.clone()).await;
        assert_eq!(r.code(), "00000100", "{}: {:?}", p.label, r.data);
        assert_eq!(r.get("trans_stat"), "P");
        assert_eq!(r.get("trans_amt"), "0.10");
        assert_eq!(r.get("remark"), "桌号 7");
        let nkp = r.get("nkp_seq_id").to_owned();

        // pay_info is what WeixinJSBridge takes: the platform appid, and a paySign anyone
        // holding the service provider's key can recompute.
        let info: BTreeMap<String, String> =
            serde_json::from_str(r.get("pay_info")).expect("pay_info");
        assert_eq!(info["appId"], p.wechat_sp_appid);
        assert!(info["package"].starts_with("prepay_id="));
        let sign_type: WechatSignType = info["signType"].parse().expect("signType");
        let mut signed = info.clone();
        signed.remove("paySign");
        assert_eq!(
            wechat_sign::sign(&signed, &p.wechat_api_key, sign_type),
            info["paySign"]
        );

        p.pay_wechat(r.get("pay_info")).await;
        let t = p.wait_final(&nkp).await;
        assert_eq!(t.status, TradeStatus::Succeeded, "{}", p.label);
        assert_eq!(t.openid.as_deref(), Some("oPayer001"));
        assert_eq!(t.appid.as_deref(), Some(p.wechat_sp_appid.as_str()));

        let q = p.sp.call(QUERY, query_data(MER_A, &nkp)).await;
        assert_eq!(q.code(), "00000000");
        assert_eq!(q.get("trans_stat"), "S");
        assert_eq!(
            q.get("org_req_seq_id"),
            data["req_seq_id"].as_str().unwrap()
        );
        assert_eq!(
            q.get("party_order_id"),
            t.party_order_id.as_deref().unwrap()
        );
        assert_eq!(q.get("end_time").len(), 14);
        assert_eq!(q.get("fee_amt"), "0.00"); // 0.38% of 0.10 rounds to 0
        assert_eq!(q.get("refunded_amt"), "0.00");

        // Exactly one notification, with the contract's fields, compact and sorted.
        let notes = notification_of(&p, &nkp).await;
        assert_eq!(notes.len(), 1);
        let n = &notes[0];
        assert_eq!(n["notify_type"], "TRADE");
        assert_eq!(n["trans_stat"], "S");
        assert_eq!(n["nkp_seq_id"], nkp.as_str());
        assert_eq!(n["req_seq_id"], data["req_seq_id"]);
        assert_eq!(n["trans_amt"], "0.10");
        assert_eq!(n["party_order_id"], q.get("party_order_id"));
        assert_eq!(n["remark"], "桌号 7");

        // The channel exchange history and the inbound notify are kept.
        p.engine.flush_channel_history().await;
        let exchanges = channel_records::list_exchanges_for(p.db.conn(), &nkp)
            .await
            .unwrap();
        assert!(exchanges.iter().any(|e| e.call_name == "pay/unifiedorder"));
        let inbound = inbound_of(&p, &nkp, 1).await;
        assert!(inbound.iter().any(|m| m.verified));
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jsapi_with_bound_sub_appid_pays_under_the_sub_appid_and_miniapp_too() {
    for p in Platform::all().await {
        for (trade_type, appid) in [("T_JSAPI", MP_APPID), ("T_MINIAPP", MINI_APPID)] {
            let data = p.jspay_data(
                MER_A,
                trade_type,
                json!({ "wx_data": {"sub_appid": appid, "sub_openid": "oSub001"} }),
            );
            let r = p.sp.call(JSPAY, data).await;
            assert_eq!(
                r.code(),
                "00000100",
                "{} {trade_type}: {:?}",
                p.label,
                r.data
            );
            let info: Value = serde_json::from_str(r.get("pay_info")).unwrap();
            assert_eq!(info["appId"], appid);
            let nkp = r.get("nkp_seq_id").to_owned();
            p.pay_wechat(r.get("pay_info")).await;
            let t = p.wait_final(&nkp).await;
            assert_eq!(t.status, TradeStatus::Succeeded);
            assert_eq!(t.sub_appid.as_deref(), Some(appid));
            assert_eq!(t.trade_type.as_str(), trade_type);
            let q = p.sp.call(QUERY, query_data(MER_A, &nkp)).await;
            assert_eq!(q.get("trans_stat"), "S");
            assert_eq!(q.get("buyer_id"), "oSub001");
        }
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alipay_native_qr_code_is_paid_and_queried() {
    for p in Platform::all().await {
        let data = p.jspay_data(MER_A, "A_NATIVE", json!({ "trans_amt": "12.34" }));
        let r = p.sp.call(JSPAY, data).await;
        assert_eq!(r.code(), "00000100", "{}: {:?}", p.label, r.data);
        let qr = r.get("qr_code").to_owned();
        assert!(qr.starts_with("http"), "{qr}");
        assert!(r.data.get("pay_info").is_none());
        let nkp = r.get("nkp_seq_id").to_owned();

        // Not scanned yet: the query refreshes from the channel and it is still waiting.
        let q = p.sp.call(QUERY, query_data(MER_A, &nkp)).await;
        assert_eq!(q.get("trans_stat"), "P");

        p.pay_alipay(&qr).await;
        let t = p.wait_final(&nkp).await;
        assert_eq!(t.status, TradeStatus::Succeeded, "{}", p.label);
        assert_eq!(t.fee_amt, 7); // 0.60% of 12.34 = 7.4 fen
        let q = p.sp.call(QUERY, query_data(MER_A, &nkp)).await;
        assert_eq!(q.get("trans_stat"), "S");
        assert_eq!(q.get("trans_amt"), "12.34");
        assert_eq!(q.get("fee_amt"), "0.07");
        assert!(!q.get("party_order_id").is_empty());
        assert_eq!(notification_of(&p, &nkp).await.len(), 1);
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unpaid_trade_is_closed_and_a_later_payment_becomes_an_incident() {
    for p in Platform::all().await {
        let data = p.jspay_data(MER_A, "A_NATIVE", json!({}));
        let r = p.sp.call(JSPAY, data.clone()).await;
        let nkp = r.get("nkp_seq_id").to_owned();
        let qr = r.get("qr_code").to_owned();
        let c =
            p.sp.call(
                CLOSE,
                close_data(
                    MER_A,
                    data["req_date"].as_str().unwrap(),
                    data["req_seq_id"].as_str().unwrap(),
                ),
            )
            .await;
        assert_eq!(c.code(), "00000000", "{}: {:?}", p.label, c.data);
        assert_eq!(c.get("trans_stat"), "S");
        assert_eq!(c.get("org_trans_stat"), "F");
        assert_eq!(c.get("org_nkp_seq_id"), nkp);
        let t = p.trade(&nkp).await;
        assert_eq!(t.status, TradeStatus::Closed);
        let notes = notification_of(&p, &nkp).await;
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0]["trans_stat"], "F");

        // Alipay's QR code outlives a close before the scan: a payment may still come, and it
        // must be caught for a refund, not lost and not settled.
        p.pay_alipay(&qr).await;
        eventually("the paid-after-close incident", || async {
            let found = incidents::list_for(p.db.conn(), &nkp).await.unwrap();
            (!found.is_empty()).then_some(())
        })
        .await;
        let found = incidents::list_for(p.db.conn(), &nkp).await.unwrap();
        assert_eq!(found.len(), 1, "{}", p.label);
        assert_eq!(found[0].kind, "paid_after_close");
        assert_eq!(p.trade(&nkp).await.status, TradeStatus::Closed);
        assert_eq!(notification_of(&p, &nkp).await.len(), 1);
        p.stop().await;
    }
}

/// A WeChat trade closed at once (too early for WeChat): the create reply, the close reply, and
/// the close request for asking again.
async fn wechat_trade_closed_at_once(p: &Platform) -> (support::Reply, support::Reply, Value) {
    let data = p.jspay_data(MER_A, "T_JSAPI", json!({ "wx_data": {"openid": "o1"} }));
    let created = p.sp.call(JSPAY, data.clone()).await;
    let close = close_data(
        MER_A,
        data["req_date"].as_str().unwrap(),
        data["req_seq_id"].as_str().unwrap(),
    );
    let closed = p.sp.call(CLOSE, close.clone()).await;
    (created, closed, close)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wechat_close_too_early_is_accepted_and_carried_out_by_the_job() {
    for p in Platform::all().await {
        let (r, c, _) = wechat_trade_closed_at_once(&p).await;
        let nkp = r.get("nkp_seq_id").to_owned();
        assert_eq!(c.code(), "00000000", "{}: {:?}", p.label, c.data);
        assert_eq!(c.get("trans_stat"), "P");
        assert_eq!(c.get("org_trans_stat"), "P");
        let t = p.trade(&nkp).await;
        assert!(t.close_requested_at.is_some());
        assert_eq!(t.status, TradeStatus::Processing);

        // The job's round at the due time the close request recorded (the platform's minimum
        // age) comes at once, well inside WeChat's 3 s: the channel still refuses; deferred.
        let due = t.next_query_at.expect("the close is scheduled");
        assert!(due > t.created_at, "{}", p.label);
        let report = jobs::run_trades_once(&p.engine, due - TimeDelta::milliseconds(1))
            .await
            .unwrap();
        assert_eq!(report.claimed, 0, "{}: not before its time", p.label);
        let report = jobs::run_trades_once(&p.engine, due).await.unwrap();
        assert_eq!(report.claimed, 1, "{}", p.label);
        assert_eq!(report.rescheduled, 1);
        assert_eq!(p.trade(&nkp).await.status, TradeStatus::Processing);

        // Each later round at the trade's next recorded time, until WeChat allows the close.
        let report = eventually("the deferred close carried out", || async {
            let t = p.trade(&nkp).await;
            let at = t.next_query_at.expect("still scheduled");
            let report = jobs::run_trades_once(&p.engine, at).await.unwrap();
            assert_eq!(report.claimed, 1, "{}: {report:?}", p.label);
            (report.finished == 1).then_some(report)
        })
        .await;
        assert_eq!(report.finished, 1, "{}: {report:?}", p.label);
        assert_eq!(p.trade(&nkp).await.status, TradeStatus::Closed);
        let order = p
            .state()
            .wechat
            .orders
            .into_iter()
            .find(|o| o.out_trade_no == nkp)
            .expect("order at WeChat");
        assert_eq!(order.trade_state, "CLOSED");
        assert_eq!(notification_of(&p, &nkp).await[0]["trans_stat"], "F");
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payment_landing_before_a_deferred_close_wins() {
    for p in Platform::all().await {
        let (r, c, close) = wechat_trade_closed_at_once(&p).await;
        let nkp = r.get("nkp_seq_id").to_owned();
        assert_eq!(c.get("trans_stat"), "P");

        p.pay_wechat(r.get("pay_info")).await;
        assert_eq!(
            p.wait_final(&nkp).await.status,
            TradeStatus::Succeeded,
            "{}",
            p.label
        );
        let notes = notification_of(&p, &nkp).await;
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0]["trans_stat"], "S");

        // The job has nothing left to close. The same close again gets its first answer;
        // a new close request says the trade is paid.
        let report = jobs::run_trades_once(&p.engine, Utc::now() + TimeDelta::minutes(10))
            .await
            .unwrap();
        assert_eq!(report.claimed, 0);
        assert_eq!(p.sp.call(CLOSE, close.clone()).await.data, c.data);
        let mut again = close;
        again["req_seq_id"] = json!(fresh_id());
        let c = p.sp.call(CLOSE, again).await;
        assert_eq!(c.code(), "23000002");
        assert_eq!(c.get("trans_stat"), "F");
        assert_eq!(c.get("org_trans_stat"), "S");
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_trade_is_closed_upstream_and_here_by_the_job() {
    for p in Platform::all().await {
        let data = p.jspay_data(MER_A, "A_NATIVE", json!({}));
        let r = p.sp.call(JSPAY, data).await;
        let nkp = r.get("nkp_seq_id").to_owned();
        let t = p.trade(&nkp).await;
        // Before expiry the job only asks, and the trade waits.
        let report = jobs::run_trades_once(&p.engine, Utc::now() + TimeDelta::seconds(6))
            .await
            .unwrap();
        assert_eq!(report.rescheduled, 1, "{}: {report:?}", p.label);
        assert_eq!(p.trade(&nkp).await.status, TradeStatus::Processing);

        let after = t.time_expire + TimeDelta::minutes(2);
        let report = jobs::run_trades_once(&p.engine, after).await.unwrap();
        assert_eq!(report.finished, 1, "{}: {report:?}", p.label);
        let t = p.trade(&nkp).await;
        assert_eq!(t.status, TradeStatus::Closed);
        let q = p.sp.call(QUERY, query_data(MER_A, &nkp)).await;
        assert_eq!(q.get("trans_stat"), "F");
        p.engine.flush_channel_history().await;
        let exchanges = channel_records::list_exchanges_for(p.db.conn(), &nkp)
            .await
            .unwrap();
        assert!(
            exchanges
                .iter()
                .any(|e| e.call_name == "alipay.trade.close")
        );
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_notify_is_recovered_by_the_query_job() {
    for p in Platform::all().await {
        p.set_faults(Faults {
            notify_drop_rate: 1.0,
            ..Faults::default()
        });
        let data = p.jspay_data(MER_A, "T_JSAPI", json!({ "wx_data": {"openid": "o1"} }));
        let r = p.sp.call(JSPAY, data).await;
        let nkp = r.get("nkp_seq_id").to_owned();
        p.pay_wechat(r.get("pay_info")).await;
        // The channel dropped its notify (it will never send it): the trade waits for the job.
        eventually("the channel's notify dropped", || async {
            p.state()
                .notifies
                .into_iter()
                .find(|n| n.out_trade_no == nkp && n.dropped && n.attempts == 0)
        })
        .await;
        let t = p.trade(&nkp).await;
        assert_eq!(t.status, TradeStatus::Processing, "{}", p.label);

        // Not due yet: nothing happens; at the recorded due time the job asks.
        let due = t.next_query_at.expect("a query is scheduled");
        let report = jobs::run_trades_once(&p.engine, due - TimeDelta::milliseconds(1))
            .await
            .unwrap();
        assert_eq!(report.claimed, 0);
        let report = jobs::run_trades_once(&p.engine, due).await.unwrap();
        assert_eq!(report.finished, 1, "{}: {report:?}", p.label);
        let t = p.trade(&nkp).await;
        assert_eq!(t.status, TradeStatus::Succeeded);
        assert!(t.party_order_id.is_some());
        assert_eq!(notification_of(&p, &nkp).await.len(), 1);
        p.engine.flush_channel_history().await;
        let exchanges = channel_records::list_exchanges_for(p.db.conn(), &nkp)
            .await
            .unwrap();
        assert!(exchanges.iter().any(|e| e.call_name == "pay/orderquery"));
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_and_late_notifies_are_acknowledged_and_change_nothing() {
    for p in Platform::all().await {
        p.set_faults(Faults {
            notify_duplicate_rate: 1.0,
            ..Faults::default()
        });
        let data = p.jspay_data(MER_A, "T_JSAPI", json!({ "wx_data": {"openid": "o1"} }));
        let r = p.sp.call(JSPAY, data).await;
        let nkp = r.get("nkp_seq_id").to_owned();
        p.pay_wechat(r.get("pay_info")).await;
        let settled = p.wait_final(&nkp).await;
        assert_eq!(settled.status, TradeStatus::Succeeded);
        // Both parallel deliveries were verified; one settled, the other found it final.
        let inbound = inbound_of(&p, &nkp, 2).await;
        assert_eq!(inbound.len(), 2, "{}", p.label);
        assert!(inbound.iter().all(|m| m.verified));
        let outcomes: Vec<&str> = inbound
            .iter()
            .filter_map(|m| m.outcome.as_deref())
            .collect();
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| o.contains("finalized S"))
                .count(),
            1,
            "{outcomes:?}"
        );
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| o.contains("already final S"))
                .count(),
            1
        );

        // A late copy, long after: acknowledged with SUCCESS, nothing moves.
        let late = p
            .post_callback("/callback/wechat/pay", "text/xml", inbound[0].body.clone())
            .await;
        assert!(late.contains("SUCCESS"), "{late}");
        let after = p.trade(&nkp).await;
        assert_eq!(after.version, settled.version);
        assert_eq!(notification_of(&p, &nkp).await.len(), 1);
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_notifies_are_refused_recorded_and_change_nothing() {
    for p in Platform::all().await {
        p.set_faults(Faults {
            notify_bad_signature_rate: 1.0,
            ..Faults::default()
        });
        let data = p.jspay_data(MER_A, "T_JSAPI", json!({ "wx_data": {"openid": "o1"} }));
        let r = p.sp.call(JSPAY, data).await;
        let nkp = r.get("nkp_seq_id").to_owned();
        p.pay_wechat(r.get("pay_info")).await;
        let refused = eventually("the forged notify refused", || async {
            let refused = p
                .state()
                .notifies
                .iter()
                .filter(|n| n.out_trade_no == nkp && n.attempts > 0 && !n.delivered)
                .count();
            (refused > 0).then_some(refused)
        })
        .await;
        assert_eq!(refused, 1, "{}: the forged notify was not refused", p.label);
        let record = p
            .state()
            .notifies
            .into_iter()
            .find(|n| n.out_trade_no == nkp)
            .unwrap();
        assert!(record.forged);
        assert!(record.last_error.unwrap_or_default().contains("FAIL"));
        assert_eq!(p.trade(&nkp).await.status, TradeStatus::Processing);
        assert!(notification_of(&p, &nkp).await.is_empty());

        // A body that is not even a notify: the channel's failure answer, recorded unverified.
        p.engine.flush_channel_history().await;
        let refused = nkpay_store::entity::channel_inbound_message::Entity::find()
            .all(p.db.conn())
            .await
            .unwrap()
            .into_iter()
            .filter(|m| {
                !m.verified
                    && m.outcome
                        .as_deref()
                        .is_some_and(|o| o.starts_with("refused"))
            })
            .count();
        assert!(refused >= 1, "{}: forged notify not recorded", p.label);

        let junk = p
            .post_callback(
                "/callback/alipay",
                "application/x-www-form-urlencoded",
                "trade_status=TRADE_SUCCESS&out_trade_no=x".into(),
            )
            .await;
        assert_ne!(junk.trim(), "success");
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicate_jspay_places_one_upstream_order() {
    for p in Platform::all().await {
        let data = p.jspay_data(MER_A, "T_JSAPI", json!({ "wx_data": {"openid": "o1"} }));
        let calls = (0..6).map(|_| {
            let client = p.sp.clone();
            let data = data.clone();
            tokio::spawn(async move { client.call(JSPAY, data).await })
        });
        let mut replies = Vec::new();
        for c in calls {
            replies.push(c.await.unwrap());
        }
        let nkp = replies[0].get("nkp_seq_id").to_owned();
        for r in &replies {
            assert_eq!(r.code(), "00000100", "{}: {:?}", p.label, r.data);
            assert_eq!(
                r.data, replies[0].data,
                "every duplicate gets the first answer"
            );
        }
        let calls = p.state().wechat.unifiedorder_calls;
        assert_eq!(calls.get(&nkp), Some(&1), "{}: {calls:?}", p.label);
        assert_eq!(calls.len(), 1);

        // Later: the same content replays, other content under the same id is refused.
        let again = p.sp.call(JSPAY, data.clone()).await;
        assert_eq!(again.data, replies[0].data);
        let mut changed = data.clone();
        changed["trans_amt"] = json!("0.11");
        let dup = p.sp.call(JSPAY, changed).await;
        assert_eq!(dup.code(), "20000000");
        assert!(dup.desc().contains("req_seq_id"), "{}", dup.desc());
        assert_eq!(p.state().wechat.unifiedorder_calls.get(&nkp), Some(&1));
        p.stop().await;
    }
}

/// A payment notify signed with the service provider's real key, as WeChat would send it.
fn wechat_paid_notify(p: &Platform, nkp: &str, sub_mch_id: &str, total_fee: &str) -> String {
    let fields: BTreeMap<String, String> = [
        ("return_code", "SUCCESS"),
        ("appid", p.wechat_sp_appid.as_str()),
        ("mch_id", p.wechat_mch_id.as_str()),
        ("sub_mch_id", sub_mch_id),
        ("nonce_str", "n0nce"),
        ("result_code", "SUCCESS"),
        ("openid", "o1"),
        ("trade_type", "JSAPI"),
        ("bank_type", "OTHERS"),
        ("total_fee", total_fee),
        ("cash_fee", total_fee),
        ("transaction_id", "4200000000000000000000000001"),
        ("out_trade_no", nkp),
        ("time_end", "20250101120000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let sign = wechat_sign::sign(&fields, &p.wechat_api_key, WechatSignType::Md5);
    let mut xml = String::from("<xml>");
    for (k, v) in fields.iter().chain([(&"sign".to_owned(), &sign)]) {
        xml.push_str(&format!("<{k}><![CDATA[{v}]]></{k}>"));
    }
    xml.push_str("</xml>");
    xml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paid_notify_with_the_wrong_amount_or_merchant_is_an_incident_and_never_settles() {
    for p in Platform::all().await {
        let data = p.jspay_data(MER_A, "T_JSAPI", json!({ "wx_data": {"openid": "o1"} }));
        let r = p.sp.call(JSPAY, data).await;
        let nkp = r.get("nkp_seq_id").to_owned();
        let sub = p.trade(&nkp).await.sub_mch_id.unwrap();

        let wrong_amount = wechat_paid_notify(&p, &nkp, &sub, "1");
        let answer = p
            .post_callback("/callback/wechat/pay", "text/xml", wrong_amount)
            .await;
        assert!(answer.contains("SUCCESS"), "{answer}");
        let wrong_merchant = wechat_paid_notify(&p, &nkp, "1900000202", "10");
        p.post_callback("/callback/wechat/pay", "text/xml", wrong_merchant)
            .await;
        // Repeats do not pile up incidents.
        let again = wechat_paid_notify(&p, &nkp, &sub, "1");
        p.post_callback("/callback/wechat/pay", "text/xml", again)
            .await;

        let mut kinds: Vec<String> = incidents::list_for(p.db.conn(), &nkp)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.kind)
            .collect();
        kinds.sort();
        assert_eq!(
            kinds,
            ["amount_mismatch", "merchant_mismatch"],
            "{}",
            p.label
        );
        let t = p.trade(&nkp).await;
        assert_eq!(t.status, TradeStatus::Processing);
        assert!(t.party_order_id.is_none());
        assert!(notification_of(&p, &nkp).await.is_empty());

        // The real payment still settles it.
        p.pay_wechat(r.get("pay_info")).await;
        assert_eq!(p.wait_final(&nkp).await.status, TradeStatus::Succeeded);
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_running_the_job_work_on_each_trade_once() {
    for p in Platform::all().await {
        let mut ids = Vec::new();
        for _ in 0..4 {
            let r =
                p.sp.call(JSPAY, p.jspay_data(MER_A, "A_NATIVE", json!({})))
                    .await;
            ids.push(r.get("nkp_seq_id").to_owned());
        }
        let other = p.second_engine(2);
        let at = Utc::now() + TimeDelta::seconds(6);
        let (a, b) = tokio::join!(
            jobs::run_trades_once(&p.engine, at),
            jobs::run_trades_once(&other, at)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.claimed + b.claimed, 4, "{}: {a:?} {b:?}", p.label);
        assert_eq!(a.rescheduled + b.rescheduled, 4);
        p.engine.flush_channel_history().await;
        other.flush_channel_history().await;
        for nkp in &ids {
            let queries = channel_records::list_exchanges_for(p.db.conn(), nkp)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.call_name == "alipay.trade.query")
                .count();
            assert_eq!(queries, 1, "{}: trade {nkp}", p.label);
            let t = p.trade(nkp).await;
            assert_eq!(t.query_attempts, 1);
            assert!(t.query_lease_owner.is_none());
            assert!(t.next_query_at.unwrap() > at);
        }
        p.stop().await;
    }
}
