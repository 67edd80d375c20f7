//! The console's trades and refunds over HTTP against the in-process sandbox, on SQLite and
//! PostgreSQL: listing filters and pages, the CSV export's bytes, a paid and notified trade's
//! timeline, a refund from the console through the merchant API's refund path (once per
//! `request_id`, audited, over-refund refused naming `amount`), the refund listing, agent
//! admins kept to their own service provider's merchants, and roles that may not refund.

mod refunds_support;
mod support;

use std::time::Duration;

use nkpay_core::state::RefundStatus;
use nkpay_core::trade_type::ChannelKind;
use nkpay_engine::admin_identity::Actor;
use nkpay_engine::notifications::{Dispatcher, DispatcherConfig, UrlPolicy};
use nkpay_store::kinds::{AdminRole, NotificationKind};
use nkpay_store::{audit_log, notifications, refunds};
use refunds_support::{TradeIds, WAIT, wait_for};
use serde_json::{Value, json};
use support::{MER_A, MER_OTHER, OTHER_SP, Platform, SP, fresh_id, today};

async fn token(p: &Platform, role: AdminRole, sys_id: Option<&str>) -> String {
    p.engine
        .admin_identity()
        .create_token(
            &Actor::local("test"),
            &format!("trades-{}", fresh_id()),
            role,
            sys_id,
        )
        .await
        .expect("token")
        .token
        .into_inner()
}

/// An admin call: status, and the body as text.
async fn call(
    p: &Platform,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", p.base_url))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("admin call");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

async fn get(p: &Platform, token: &str, path: &str) -> (u16, Value) {
    let (status, text) = call(p, token, reqwest::Method::GET, path, None).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

async fn post(p: &Platform, token: &str, path: &str, body: Value) -> (u16, Value) {
    let (status, text) = call(p, token, reqwest::Method::POST, path, Some(body)).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["nkp_seq_id"].as_str().expect("nkp_seq_id").to_owned())
        .collect()
}

/// Delivers due merchant notifications (to the test's unreachable notify URL: each attempt
/// fails and is recorded) until the trade's notification has an attempt.
async fn attempt_notification(p: &Platform, nkp_seq_id: &str) {
    let dispatcher = Dispatcher::new(
        p.db.clone(),
        p.signer.clone(),
        DispatcherConfig {
            schedule: vec![Duration::from_secs(3600); 3],
            concurrency: 2,
            per_host_concurrency: 2,
            timeout: Duration::from_secs(2),
            lease: Duration::from_secs(10),
            poll_interval: Duration::from_millis(20),
            policy: UrlPolicy::WITH_LOOPBACK,
        },
        "trades-test",
    )
    .expect("dispatcher");
    wait_for("a notification attempt", WAIT, || async {
        dispatcher.run_once().await.expect("dispatch round");
        let list =
            notifications::list_for_subject(p.db.conn(), NotificationKind::Trade, nkp_seq_id)
                .await
                .expect("notifications");
        list.first().is_some_and(|n| n.attempt_count > 0)
    })
    .await;
}

#[tokio::test]
async fn trades_are_listed_filtered_paged_and_exported() {
    for p in Platform::all().await {
        let admin = token(&p, AdminRole::PlatformAdmin, None).await;
        let wx = p.paid_trade(ChannelKind::Wechat, "1.00").await;
        let ali = p.paid_trade(ChannelKind::Alipay, "2.00").await;
        let open = p.unpaid_trade(ChannelKind::Wechat, "0.30").await;
        let day = today();

        let (status, all) = get(
            &p,
            &admin,
            &format!("/admin/api/trades?from={day}&to={day}"),
        )
        .await;
        assert_eq!(status, 200, "{}: {all}", p.label);
        assert_eq!(all["total"], 3, "{}: {all}", p.label);
        // Newest first.
        assert_eq!(
            ids(&all),
            [
                open.nkp_seq_id.as_str(),
                ali.nkp_seq_id.as_str(),
                wx.nkp_seq_id.as_str()
            ],
            "{}",
            p.label
        );
        let first = &all["items"][2];
        assert_eq!(first["trans_amt"], "1.00", "{}", p.label);
        assert_eq!(first["trans_amt_fen"], 100, "{}", p.label);
        assert_eq!(first["status"], "S", "{}", p.label);
        assert_eq!(first["mer_id"], MER_A, "{}", p.label);

        for (query, expected) in [
            (
                "status=S",
                vec![ali.nkp_seq_id.as_str(), wx.nkp_seq_id.as_str()],
            ),
            ("status=P", vec![open.nkp_seq_id.as_str()]),
            ("channel=alipay", vec![ali.nkp_seq_id.as_str()]),
            (
                "trade_type=T_JSAPI",
                vec![open.nkp_seq_id.as_str(), wx.nkp_seq_id.as_str()],
            ),
            (
                &*format!("nkp_seq_id={}", wx.nkp_seq_id),
                vec![wx.nkp_seq_id.as_str()],
            ),
            (
                &*format!("out_trade_no={}", ali.nkp_seq_id),
                vec![ali.nkp_seq_id.as_str()],
            ),
            (
                &*format!("req_seq_id={}", open.req_seq_id),
                vec![open.nkp_seq_id.as_str()],
            ),
            (
                &*format!("mer_id={MER_A}&status=S&channel=wechat"),
                vec![wx.nkp_seq_id.as_str()],
            ),
            (&*format!("mer_id={MER_OTHER}"), vec![]),
            ("from=20200101&to=20200102", vec![]),
        ] {
            let (status, list) = get(&p, &admin, &format!("/admin/api/trades?{query}")).await;
            assert_eq!(status, 200, "{} {query}: {list}", p.label);
            assert_eq!(ids(&list), expected, "{} {query}", p.label);
            assert_eq!(list["total"], expected.len(), "{} {query}", p.label);
        }
        // An end may be an RFC 3339 instant instead of a day (`to` then excluded).
        let hour_ago = (chrono::Utc::now() - chrono::TimeDelta::hours(1))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (_, list) = get(&p, &admin, &format!("/admin/api/trades?from={hour_ago}")).await;
        assert_eq!(list["total"], 3, "{}: {list}", p.label);
        let (_, list) = get(&p, &admin, &format!("/admin/api/trades?to={hour_ago}")).await;
        assert_eq!(list["total"], 0, "{}: {list}", p.label);
        let party = p
            .trade(&ali.nkp_seq_id)
            .await
            .party_order_id
            .expect("trade_no");
        let (_, list) = get(
            &p,
            &admin,
            &format!("/admin/api/trades?party_order_id={party}"),
        )
        .await;
        assert_eq!(ids(&list), [ali.nkp_seq_id.as_str()], "{}", p.label);

        // Pages: two per page, the second holds the oldest; the total on both.
        let (_, page2) = get(&p, &admin, "/admin/api/trades?size=2&page=2").await;
        assert_eq!(ids(&page2), [wx.nkp_seq_id.as_str()], "{}", p.label);
        assert_eq!(
            (page2["total"].clone(), page2["page"].clone()),
            (json!(3), json!(2))
        );
        let (_, tail) = get(&p, &admin, "/admin/api/trades?offset=1&limit=1").await;
        assert_eq!(ids(&tail), [ali.nkp_seq_id.as_str()], "{}", p.label);
        assert_eq!(tail["total"], 3, "{}", p.label);

        for (query, field) in [
            ("size=201", "size"),
            ("size=0", "size"),
            ("page=0", "page"),
            ("page=x", "page"),
            ("status=X", "status"),
            ("trade_type=T_H5", "trade_type"),
            ("channel=unionpay", "channel"),
            ("from=2026-11-01", "from"),
            ("from=20261102&to=20261101", "to"),
            ("format=xml", "format"),
            ("limit=500", "limit"),
            ("page=2&offset=1", "offset"),
        ] {
            let (status, err) = get(&p, &admin, &format!("/admin/api/trades?{query}")).await;
            assert_eq!(
                (status, err["field"].as_str()),
                (400, Some(field)),
                "{} {query}: {err}",
                p.label
            );
        }

        // The CSV: a header, then the same rows as the listing, newest first.
        let (status, csv) = call(
            &p,
            &admin,
            reqwest::Method::GET,
            &format!("/admin/api/trades?format=csv&status=S&from={day}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{}: {csv}", p.label);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "nkp_seq_id,mer_id,sys_id,req_date,req_seq_id,trade_type,channel,status,trans_amt,\
             trans_amt_fen,fee_amt_fen,refunded_amt_fen,refund_in_flight_amt_fen,party_order_id,\
             goods_desc,remark,bank_code,bank_message,end_time,created_at",
            "{}",
            p.label
        );
        assert_eq!(lines.len(), 3, "{}: {csv}", p.label);
        let row: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(
            &row[..12],
            [
                ali.nkp_seq_id.as_str(),
                MER_A,
                SP,
                &ali.req_date,
                &ali.req_seq_id,
                "A_NATIVE",
                "alipay",
                "S",
                "2.00",
                "200",
                &p.trade(&ali.nkp_seq_id).await.fee_amt.to_string(),
                "0"
            ],
            "{}",
            p.label
        );
        assert!(
            lines[2].starts_with(&format!("{},", wx.nkp_seq_id)),
            "{}",
            p.label
        );
        p.stop().await;
    }
}

#[tokio::test]
async fn a_paid_trade_shows_its_timeline() {
    for p in Platform::all().await {
        let reader = token(&p, AdminRole::ReadOnly, None).await;
        let t = p.paid_trade(ChannelKind::Wechat, "0.50").await;
        attempt_notification(&p, &t.nkp_seq_id).await;

        let (status, d) = get(&p, &reader, &format!("/admin/api/trades/{}", t.nkp_seq_id)).await;
        assert_eq!(status, 200, "{}: {d}", p.label);
        assert_eq!(d["trade"]["nkp_seq_id"], json!(t.nkp_seq_id), "{}", p.label);
        assert_eq!(d["refundable"], "0.50", "{}", p.label);
        assert_eq!(d["refundable_fen"], 50, "{}", p.label);
        assert_eq!(d["refunds"], json!([]), "{}", p.label);
        let timeline = d["timeline"].as_array().expect("timeline");
        let events: Vec<&str> = timeline
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        // The merchant's request first; then the channel call, the notify, the final state, the
        // notification and its attempt — each present, in time order.
        assert_eq!(events[0], "merchant_request", "{}: {events:?}", p.label);
        assert_eq!(
            timeline[0]["req_seq_id"],
            json!(t.req_seq_id),
            "{}",
            p.label
        );
        for wanted in [
            "channel_call",
            "channel_notify",
            "finalized",
            "notification_queued",
            "notification_attempt",
        ] {
            assert!(
                events.contains(&wanted),
                "{}: no {wanted} in {events:?}",
                p.label
            );
        }
        let times: Vec<&str> = timeline.iter().map(|e| e["at"].as_str().unwrap()).collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted, "{}: the timeline is in time order", p.label);
        let call = timeline
            .iter()
            .find(|e| e["kind"] == "channel_call")
            .unwrap();
        assert_eq!(call["call_name"], "pay/unifiedorder", "{}: {call}", p.label);
        assert!(
            call["request_body"]
                .as_str()
                .unwrap()
                .contains(&t.nkp_seq_id),
            "{}",
            p.label
        );
        assert!(
            call["reply_body"].as_str().unwrap().contains("prepay_id"),
            "{}",
            p.label
        );
        let notify = timeline
            .iter()
            .find(|e| e["kind"] == "channel_notify")
            .unwrap();
        assert_eq!(notify["verified"], true, "{}: {notify}", p.label);
        let fin = timeline.iter().find(|e| e["kind"] == "finalized").unwrap();
        assert_eq!(fin["status"], "S", "{}", p.label);
        let attempt = timeline
            .iter()
            .find(|e| e["kind"] == "notification_attempt")
            .unwrap();
        assert_eq!(attempt["delivered"], false, "{}: {attempt}", p.label);

        let (status, missing) = get(&p, &reader, "/admin/api/trades/NOSUCHTRADE").await;
        assert_eq!(status, 404, "{}: {missing}", p.label);
        p.stop().await;
    }
}

async fn console_refund(
    p: &Platform,
    token: &str,
    t: &TradeIds,
    request_id: &str,
    amount: &str,
) -> (u16, Value) {
    post(
        p,
        token,
        &format!("/admin/api/trades/{}/refund", t.nkp_seq_id),
        json!({"request_id": request_id, "amount": amount, "reason": "客户要求 customer asked"}),
    )
    .await
}

#[tokio::test]
async fn the_console_refunds_once_per_request_id_through_the_engine() {
    for p in Platform::all().await {
        let operator = token(&p, AdminRole::Operator, None).await;
        let admin = token(&p, AdminRole::PlatformAdmin, None).await;
        let t = p.paid_trade(ChannelKind::Alipay, "1.00").await;

        let (status, first) = console_refund(&p, &operator, &t, "ticket-42", "0.40").await;
        assert_eq!(status, 201, "{}: {first}", p.label);
        assert_eq!(first["created"], true, "{}", p.label);
        let refund_id = first["refund"]["nkp_seq_id"].as_str().unwrap().to_owned();
        assert_eq!(first["refund"]["ord_amt"], "0.40", "{}", p.label);
        assert_eq!(first["refund"]["req_seq_id"], "OPRticket-42", "{}", p.label);
        assert_eq!(
            first["refund"]["org_nkp_seq_id"],
            json!(t.nkp_seq_id),
            "{}",
            p.label
        );
        assert_eq!(
            first["refund"]["remark"], "客户要求 customer asked",
            "{}",
            p.label
        );

        // The same request again: the same refund, not a second one.
        // (`ord_amt` is read as `amount`.)
        let path = format!("/admin/api/trades/{}/refund", t.nkp_seq_id);
        let (status, again) = post(
            &p,
            &operator,
            &path,
            json!({"request_id": "ticket-42", "ord_amt": "0.40", "reason": "客户要求 customer asked"}),
        )
        .await;
        assert_eq!(status, 200, "{}: {again}", p.label);
        assert_eq!(again["created"], false, "{}", p.label);
        assert_eq!(
            again["refund"]["nkp_seq_id"],
            json!(refund_id),
            "{}",
            p.label
        );
        let rows = refunds::list_for_trade(p.db.conn(), &t.nkp_seq_id)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{}: {rows:?}", p.label);
        assert_eq!(
            p.channel_refunds(&t).0,
            1,
            "{}: one refund at the channel",
            p.label
        );
        let done = p.final_refund(&refund_id).await;
        assert_eq!(
            done.status,
            RefundStatus::Succeeded,
            "{}: {done:?}",
            p.label
        );

        // The request id with other content is refused, naming it; so is more than is left.
        let (status, err) = console_refund(&p, &operator, &t, "ticket-42", "0.10").await;
        assert_eq!(
            (status, err["field"].as_str()),
            (400, Some("request_id")),
            "{}: {err}",
            p.label
        );
        let (status, err) = console_refund(&p, &operator, &t, "ticket-43", "0.61").await;
        assert_eq!(
            (status, err["field"].as_str()),
            (400, Some("amount")),
            "{}: {err}",
            p.label
        );
        assert!(
            err["error"].as_str().unwrap().contains("0.60"),
            "{}: {err}",
            p.label
        );
        for (body, field) in [
            (json!({"amount": "0.10"}), "request_id"),
            (json!({"request_id": "a b", "amount": "0.10"}), "request_id"),
            (json!({"request_id": "x1"}), "amount"),
            (json!({"request_id": "x1", "amount": "0.1"}), "amount"),
            (
                json!({"request_id": "x1", "amount": "0.10", "reason": "长".repeat(256)}),
                "reason",
            ),
        ] {
            let path = format!("/admin/api/trades/{}/refund", t.nkp_seq_id);
            let (status, err) = post(&p, &operator, &path, body.clone()).await;
            assert_eq!(
                (status, err["field"].as_str()),
                (400, Some(field)),
                "{} {body}: {err}",
                p.label
            );
        }
        let unpaid = p.unpaid_trade(ChannelKind::Wechat, "0.20").await;
        let (status, err) = console_refund(&p, &operator, &unpaid, "ticket-44", "0.10").await;
        assert_eq!(
            (status, err["field"].as_str()),
            (400, Some("nkp_seq_id")),
            "{}: {err}",
            p.label
        );

        // What is left, in the detail; the refund listed and exported.
        let (_, d) = get(&p, &admin, &format!("/admin/api/trades/{}", t.nkp_seq_id)).await;
        assert_eq!(d["refundable_fen"], 60, "{}: {d}", p.label);
        assert_eq!(d["refunds"].as_array().unwrap().len(), 1, "{}", p.label);
        let events: Vec<&str> = d["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert!(
            events.contains(&"refund_request"),
            "{}: {events:?}",
            p.label
        );
        let (status, list) = get(
            &p,
            &admin,
            &format!("/admin/api/refunds?org_nkp_seq_id={}", t.nkp_seq_id),
        )
        .await;
        assert_eq!(status, 200, "{}: {list}", p.label);
        assert_eq!(ids(&list), [refund_id.as_str()], "{}", p.label);
        assert_eq!(list["items"][0]["status"], "S", "{}", p.label);
        let (_, none) = get(&p, &admin, "/admin/api/refunds?status=F").await;
        assert_eq!(none["total"], 0, "{}", p.label);
        let (status, csv) = call(
            &p,
            &admin,
            reqwest::Method::GET,
            "/admin/api/refunds?format=csv",
            None,
        )
        .await;
        assert_eq!(status, 200, "{}", p.label);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2, "{}: {csv}", p.label);
        assert!(
            lines[0].starts_with("nkp_seq_id,org_nkp_seq_id,mer_id,"),
            "{}",
            p.label
        );
        assert!(
            lines[1].starts_with(&format!("{refund_id},{},{MER_A},", t.nkp_seq_id)),
            "{}: {csv}",
            p.label
        );

        // Audited once, with the operator and the amounts.
        let entries: Vec<_> = audit_log::page(p.db.conn(), i64::MAX, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "trade.refund")
            .collect();
        assert_eq!(entries.len(), 1, "{}: {entries:?}", p.label);
        assert_eq!(
            entries[0].target,
            format!("trade:{}", t.nkp_seq_id),
            "{}",
            p.label
        );
        assert!(entries[0].actor.starts_with("token:"), "{}", p.label);
        assert_eq!(entries[0].detail["after"]["ord_amt"], 40, "{}", p.label);
        p.stop().await;
    }
}

#[tokio::test]
async fn roles_and_agents_are_kept_to_what_they_may() {
    for p in Platform::all().await {
        let t = p.paid_trade(ChannelKind::Wechat, "0.80").await;
        let own_agent = token(&p, AdminRole::AgentAdmin, Some(SP)).await;
        let other_agent = token(&p, AdminRole::AgentAdmin, Some(OTHER_SP)).await;
        let detail = format!("/admin/api/trades/{}", t.nkp_seq_id);

        let (status, d) = get(&p, &own_agent, &detail).await;
        assert_eq!(status, 200, "{}: {d}", p.label);
        let (_, list) = get(&p, &own_agent, "/admin/api/trades").await;
        assert_eq!(ids(&list), [t.nkp_seq_id.as_str()], "{}", p.label);

        let (status, d) = get(&p, &other_agent, &detail).await;
        assert_eq!(
            status, 404,
            "{}: another provider's trade is absent: {d}",
            p.label
        );
        let (_, list) = get(&p, &other_agent, "/admin/api/trades").await;
        assert_eq!(list["total"], 0, "{}: {list}", p.label);
        let (_, list) = get(&p, &other_agent, "/admin/api/refunds").await;
        assert_eq!(list["total"], 0, "{}: {list}", p.label);

        for role in [
            AdminRole::Finance,
            AdminRole::ReadOnly,
            AdminRole::AgentAdmin,
        ] {
            let sys_id = (role == AdminRole::AgentAdmin).then_some(SP);
            let tok = token(&p, role, sys_id).await;
            let (status, _) = get(&p, &tok, &detail).await;
            assert_eq!(status, 200, "{} {role}: reads trades", p.label);
            let (status, err) = console_refund(&p, &tok, &t, "nope-1", "0.10").await;
            assert_eq!(status, 403, "{} {role}: {err}", p.label);
        }
        let (status, _) = call(
            &p,
            "nkpadm_wrong",
            reqwest::Method::GET,
            "/admin/api/trades",
            None,
        )
        .await;
        assert_eq!(status, 401, "{}", p.label);
        assert!(
            refunds::list_for_trade(p.db.conn(), &t.nkp_seq_id)
                .await
                .unwrap()
                .is_empty(),
            "{}: no refund was made",
            p.label
        );
        p.stop().await;
    }
}
