//! Reconciliation (issue 12) against the in-process sandbox, on SQLite and PostgreSQL, with no
//! job running: today's bills (Asia/Shanghai) of both channel accounts, made from the sandbox's
//! real state and changed by its bill faults, reconciled through the admin API.
//!
//! Every injected difference is found and classified (a dropped row: missing there and an
//! incident; a changed amount; a changed fee; an added refund of one of our trades: missing
//! here; an added order that is not ours: foreign, counted only); a WeChat trade paid at the
//! channel whose notify was lost becomes `S` with its merchant notified; an Alipay trade paid
//! after it was closed here is refunded in full, recorded, and not refunded twice by a second
//! run; an Alipay refund made at the channel whose reply and notify were lost becomes `S`; a
//! refund dropped from the bill is missing there. The operator's side: differences listed, exported as CSV, resolved with a note
//! (audited); incidents listed and resolved; read-only may read but not run.

mod refunds_support;
mod support;

use std::collections::HashMap;

use nkpay_core::state::{RefundStatus, TradeStatus};
use nkpay_core::trade_type::ChannelKind;
use nkpay_engine::admin_identity::Actor;
use nkpay_engine::reconciliation::job;
use nkpay_sandbox::{BillFault, Faults};
use nkpay_store::kinds::{AdminRole, NotificationKind, RunStatus};
use nkpay_store::{accounts, audit_log, incidents};
use refunds_support::{CLOSE, REFUND, TradeIds, WAIT, impatient, wait_for};
use serde_json::{Value, json};
use support::{MER_A, NOTIFY_URL, Platform, fresh_id, today};

const RUNS: &str = "/admin/api/reconciliation/runs";
const DIFFERENCES: &str = "/admin/api/reconciliation/differences";

async fn token(p: &Platform, role: AdminRole) -> String {
    p.engine
        .admin_identity()
        .create_token(
            &Actor::local("test"),
            &format!("recon-{}", fresh_id()),
            role,
            (role == AdminRole::AgentAdmin).then_some(support::SP),
        )
        .await
        .expect("token")
        .token
        .into_inner()
}

async fn admin_call(
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

async fn admin_json(
    p: &Platform,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, text) = admin_call(p, token, method, path, body).await;
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, v)
}

async fn account_id(p: &Platform, channel: ChannelKind) -> i64 {
    accounts::find_default_account(p.db.conn(), channel)
        .await
        .expect("account")
        .expect("default account")
        .id
}

/// Runs today's reconciliation of `account` through the admin API; the run and its
/// differences keyed by (kind, order_no, refund_no).
async fn reconcile(
    p: &Platform,
    token: &str,
    account: i64,
) -> (Value, HashMap<(String, String, String), Value>) {
    let (status, run) = admin_json(
        p,
        token,
        reqwest::Method::POST,
        RUNS,
        Some(json!({"channel_account_id": account, "date": today()})),
    )
    .await;
    assert_eq!(status, 201, "{}: {run}", p.label);
    assert_eq!(run["status"], "done", "{}: {run}", p.label);
    let path = format!("{DIFFERENCES}?run_id={}", run["id"]);
    let (status, list) = admin_json(p, token, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{}: {list}", p.label);
    let by_key = list["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
            ((s("kind"), s("order_no"), s("refund_no")), d.clone())
        })
        .collect();
    (run, by_key)
}

fn key(kind: &str, order: &str, refund: &str) -> (String, String, String) {
    (kind.to_owned(), order.to_owned(), refund.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wechat_bill_differences_are_classified_and_a_lost_notify_is_healed() {
    for p in Platform::all().await {
        let admin = token(&p, AdminRole::Operator).await;
        let account = account_id(&p, ChannelKind::Wechat).await;
        let ok = p.paid_trade(ChannelKind::Wechat, "0.10").await;
        let dropped = p.paid_trade(ChannelKind::Wechat, "0.11").await;
        let amount = p.paid_trade(ChannelKind::Wechat, "0.12").await;
        let fee = p.paid_trade(ChannelKind::Wechat, "0.13").await;
        let our_fee = p.trade(&fee.nkp_seq_id).await.fee_amt;

        // Paid at the channel; the notify never arrives and no job asks: P here.
        p.set_faults(Faults {
            notify_drop_rate: 1.0,
            ..Faults::default()
        });
        let stuck = p.unpaid_trade(ChannelKind::Wechat, "0.14").await;
        p.pay_wechat(&stuck.prompt).await;
        assert_eq!(
            p.trade(&stuck.nkp_seq_id).await.status,
            TradeStatus::Processing
        );
        assert_eq!(
            p.notifications(NotificationKind::Trade, &stuck.nkp_seq_id)
                .await,
            0
        );

        p.set_faults(Faults {
            bill_faults: vec![
                BillFault::Drop {
                    out_trade_no: dropped.nkp_seq_id.clone(),
                    out_refund_no: None,
                },
                BillFault::Change {
                    out_trade_no: amount.nkp_seq_id.clone(),
                    out_refund_no: None,
                    amount_fen: Some(99),
                    fee_fen: None,
                },
                BillFault::Change {
                    out_trade_no: fee.nkp_seq_id.clone(),
                    out_refund_no: None,
                    amount_fen: None,
                    fee_fen: Some(our_fee + 5),
                },
                BillFault::Add {
                    out_trade_no: ok.nkp_seq_id.clone(),
                    out_refund_no: Some("NKPRGHOST0001".into()),
                    amount_fen: 5,
                },
                BillFault::Add {
                    out_trade_no: "OUTSIDE-NKPAY-0001".into(),
                    out_refund_no: None,
                    amount_fen: 500,
                },
            ],
            ..Faults::default()
        });

        let (run, found) = reconcile(&p, &admin, account).await;
        let label = p.label;
        // 5 of our payments, the added refund and the foreign payment; one payment dropped.
        assert_eq!(run["bill_rows"], 6, "{label}: {run}");
        assert_eq!(run["foreign_rows"], 1, "{label}: {run}");
        assert_eq!(run["matched_rows"], 1, "{label}: {run}");
        assert_eq!(run["differences"], 5, "{label}: {found:?}");
        assert_eq!(found.len(), 5, "{label}: {found:?}");

        let missing = &found[&key("missing_there", &dropped.nkp_seq_id, "")];
        assert_eq!(missing["our_amount"], 11);
        assert_eq!(missing["state"], "open");
        let incident = incidents::list_for(p.db.conn(), &dropped.nkp_seq_id)
            .await
            .expect("incidents");
        assert_eq!(incident.len(), 1, "{label}");
        assert_eq!(incident[0].kind, "reconciliation_missing_at_channel");

        let differs = &found[&key("amount_differs", &amount.nkp_seq_id, "")];
        assert_eq!(
            (&differs["our_amount"], &differs["channel_amount"]),
            (&json!(12), &json!(99))
        );

        let fee_row = &found[&key("fee_differs", &fee.nkp_seq_id, "")];
        assert_eq!(fee_row["our_fee"], our_fee);
        assert_eq!(fee_row["channel_fee"], our_fee + 5);

        let ghost = &found[&key("missing_here", &ok.nkp_seq_id, "NKPRGHOST0001")];
        assert_eq!(ghost["row_kind"], "refund");
        assert_eq!(ghost["channel_amount"], 5);

        let healed = &found[&key("state_differs", &stuck.nkp_seq_id, "")];
        assert_eq!(healed["our_state"], "P");
        assert_eq!(healed["state"], "healed", "{label}: {healed}");
        let t = p.trade(&stuck.nkp_seq_id).await;
        assert_eq!(t.status, TradeStatus::Succeeded, "{label}");
        assert_eq!(
            p.notifications(NotificationKind::Trade, &stuck.nkp_seq_id)
                .await,
            1
        );

        operator_side(
            &p,
            &admin,
            &run,
            &found[&key("missing_there", &dropped.nkp_seq_id, "")],
        )
        .await;
        p.stop().await;
    }
}

/// Resolving, the CSV export, incidents, and who may do what.
async fn operator_side(p: &Platform, admin: &str, run: &Value, difference: &Value) {
    let label = p.label;
    let id = difference["id"].as_i64().expect("id");
    let resolve = format!("{DIFFERENCES}/{id}/resolve");
    let (status, refused) = admin_json(
        p,
        admin,
        reqwest::Method::POST,
        &resolve,
        Some(json!({"note": "  "})),
    )
    .await;
    assert_eq!(status, 400, "{label}: {refused}");
    assert_eq!(refused["field"], "note");

    let reader = token(p, AdminRole::ReadOnly).await;
    let (status, _) = admin_call(
        p,
        &reader,
        reqwest::Method::POST,
        &resolve,
        Some(json!({"note": "checked"})),
    )
    .await;
    assert_eq!(status, 403, "{label}");
    let (status, _) = admin_call(
        p,
        &reader,
        reqwest::Method::POST,
        RUNS,
        Some(json!({"channel_account_id": run["channel_account_id"], "date": today()})),
    )
    .await;
    assert_eq!(status, 403, "{label}");
    let (status, runs) = admin_json(p, &reader, reqwest::Method::GET, RUNS, None).await;
    assert_eq!(status, 200, "{label}");
    assert_eq!(runs["runs"][0]["id"], run["id"]);
    let agent = token(p, AdminRole::AgentAdmin).await;
    let (status, _) = admin_call(p, &agent, reqwest::Method::GET, RUNS, None).await;
    assert!(status == 403 || status == 401, "{label}: {status}");
    let (status, bad) = admin_json(
        p,
        admin,
        reqwest::Method::POST,
        RUNS,
        Some(json!({"channel_account_id": run["channel_account_id"], "date": "2026-11-29"})),
    )
    .await;
    assert_eq!(status, 400, "{label}: {bad}");
    assert_eq!(bad["field"], "date");

    let note = "the channel confirmed the payment by telephone";
    let (status, resolved) = admin_json(
        p,
        admin,
        reqwest::Method::POST,
        &resolve,
        Some(json!({ "note": note })),
    )
    .await;
    assert_eq!(status, 200, "{label}: {resolved}");
    assert_eq!(resolved["state"], "resolved");
    assert_eq!(resolved["note"], note);
    let (status, again) = admin_json(
        p,
        admin,
        reqwest::Method::POST,
        &resolve,
        Some(json!({ "note": note })),
    )
    .await;
    assert_eq!(status, 400, "{label}: {again}");
    assert_eq!(again["field"], "state");
    let audit = audit_log::page(p.db.conn(), i64::MAX, 20)
        .await
        .expect("audit");
    let entry = audit
        .iter()
        .find(|e| e.action == "reconciliation.difference_resolve")
        .expect("audited");
    assert_eq!(entry.target, format!("reconciliation_difference:{id}"));
    assert_eq!(entry.detail["note"], note);

    let (status, csv) = admin_call(
        p,
        admin,
        reqwest::Method::GET,
        &format!(
            "/admin/api/reconciliation/differences.csv?run_id={}",
            run["id"]
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{label}");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().expect("header").clone();
    assert_eq!(&headers[0], "id");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len() as i64, run["differences"].as_i64().unwrap_or(-1));
    let state_col = headers.iter().position(|h| h == "state").expect("state");
    let note_col = headers.iter().position(|h| h == "note").expect("note");
    let ours = rows
        .iter()
        .find(|r| r[0] == id.to_string())
        .expect("resolved row");
    assert_eq!((&ours[state_col], &ours[note_col]), ("resolved", note));

    let (status, open) = admin_json(
        p,
        admin,
        reqwest::Method::GET,
        "/admin/api/reconciliation/incidents",
        None,
    )
    .await;
    assert_eq!(status, 200, "{label}");
    let incident = open["incidents"]
        .as_array()
        .expect("incidents")
        .iter()
        .find(|i| i["nkp_seq_id"] == difference["order_no"])
        .expect("the missing-at-channel incident")
        .clone();
    let path = format!(
        "/admin/api/reconciliation/incidents/{}/resolve",
        incident["id"]
    );
    let (status, done) = admin_json(
        p,
        admin,
        reqwest::Method::POST,
        &path,
        Some(json!({ "note": note })),
    )
    .await;
    assert_eq!(
        (status, &done["resolved"]),
        (200, &json!(true)),
        "{label}: {done}"
    );
    let (status, _) = admin_call(
        p,
        admin,
        reqwest::Method::POST,
        &path,
        Some(json!({ "note": note })),
    )
    .await;
    assert_eq!(status, 404, "{label}");
}

/// A refund of `amount` of `t` that the channel settles at once; its `nkp_seq_id`.
async fn refunded(p: &Platform, t: &TradeIds, amount: &str) -> String {
    let reply = p.refund(t, amount).await;
    assert_eq!(reply.get("trans_stat"), "S", "{}: {reply:?}", p.label);
    reply.get("nkp_seq_id").to_owned()
}

/// An A_NATIVE trade closed before the scan, then paid with its still-valid QR code.
async fn closed_then_paid(p: &Platform) -> TradeIds {
    let t = p.unpaid_trade(ChannelKind::Alipay, "0.15").await;
    let c =
        p.sp.call(
            CLOSE,
            json!({
                "req_date": today(),
                "req_seq_id": fresh_id(),
                "mer_id": MER_A,
                "org_req_date": t.req_date,
                "org_req_seq_id": t.req_seq_id,
            }),
        )
        .await;
    assert_eq!(c.code(), "00000000", "{}: {:?}", p.label, c.data);
    assert_eq!(p.trade(&t.nkp_seq_id).await.status, TradeStatus::Closed);
    p.pay_alipay(&t.prompt).await;
    wait_for("the paid-after-close incident", WAIT, || async {
        !incidents::list_for(p.db.conn(), &t.nkp_seq_id)
            .await
            .expect("incidents")
            .is_empty()
    })
    .await;
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alipay_payment_after_close_is_refunded_once_and_refunds_are_reconciled() {
    for p in Platform::all_with(impatient()).await {
        let label = p.label;
        let admin = token(&p, AdminRole::Operator).await;
        let account = account_id(&p, ChannelKind::Alipay).await;
        let ok = p.paid_trade(ChannelKind::Alipay, "0.10").await;
        let closed = closed_then_paid(&p).await;
        // Three refunds of `ok`: one matches, one the bill will not have, and one made at the
        // channel whose reply and notify are lost (processing here).
        let matched = refunded(&p, &ok, "0.03").await;
        let dropped = refunded(&p, &ok, "0.01").await;
        p.set_faults(Faults {
            timeout_times: 2,
            timeout_ms: 2500,
            apis: vec!["alipay.trade.refund".into()],
            notify_drop_rate: 1.0,
            ..Faults::default()
        });
        let mut data = p.refund_data(&ok, "0.02");
        data["notify_url"] = json!(NOTIFY_URL);
        let reply = p.sp.call(REFUND, data).await;
        assert_eq!(reply.get("trans_stat"), "P", "{label}: {reply:?}");
        let lost = reply.get("nkp_seq_id").to_owned();
        p.set_faults(Faults {
            bill_faults: vec![
                BillFault::Add {
                    out_trade_no: "TAKEN-AT-THE-COUNTER-1".into(),
                    out_refund_no: None,
                    amount_fen: 1200,
                },
                BillFault::Drop {
                    out_trade_no: ok.nkp_seq_id.clone(),
                    out_refund_no: Some(dropped.clone()),
                },
            ],
            ..Faults::default()
        });

        let (run, found) = reconcile(&p, &admin, account).await;
        // ok's payment and refund `matched` match; the closed trade's payment and the lost
        // refund are healed; the dropped refund is missing there; one foreign row.
        assert_eq!(run["bill_rows"], 5, "{label}: {run}");
        assert_eq!(run["foreign_rows"], 1, "{label}: {run}");
        assert_eq!(run["matched_rows"], 2, "{label}: {run}");
        assert_eq!(found.len(), 3, "{label}: {found:?}");
        assert_eq!(run["healed"], 2, "{label}: {found:?}");
        assert!(!found.keys().any(|k| k.2 == matched), "{label}");
        let d = &found[&key("state_differs", &closed.nkp_seq_id, "")];
        assert_eq!(d["our_state"], "C");
        assert_eq!(d["state"], "healed", "{label}: {d}");
        let healed = &found[&key("state_differs", &ok.nkp_seq_id, &lost)];
        assert_eq!(
            (&healed["our_state"], &healed["state"]),
            (&json!("P"), &json!("healed"))
        );
        assert_eq!(p.refund_row(&lost).await.status, RefundStatus::Succeeded);
        assert_eq!(p.notifications(NotificationKind::Refund, &lost).await, 1);
        let missing = &found[&key("missing_there", &ok.nkp_seq_id, &dropped)];
        assert_eq!(
            (&missing["row_kind"], &missing["our_amount"]),
            (&json!("refund"), &json!(1))
        );
        let incident = incidents::list_for(p.db.conn(), &dropped)
            .await
            .expect("incidents");
        assert_eq!(incident.len(), 1, "{label}");

        let refunds = nkpay_store::refunds::list_for_trade(p.db.conn(), &closed.nkp_seq_id)
            .await
            .expect("refunds");
        assert_eq!(refunds.len(), 1, "{label}");
        let r = &refunds[0];
        assert_eq!(
            (r.status, r.ord_amt),
            (RefundStatus::Succeeded, 15),
            "{label}: {r:?}"
        );
        assert!(
            d["heal_action"]
                .as_str()
                .unwrap_or_default()
                .contains(&r.nkp_seq_id),
            "{label}: {d}"
        );
        let t = p.trade(&closed.nkp_seq_id).await;
        assert_eq!(
            (t.status, t.refunded_amt),
            (TradeStatus::Closed, 15),
            "{label}"
        );
        assert_eq!(p.channel_refunds(&closed).0, 1, "{label}");

        // A second run sees the payment and its refund; nothing is refunded again.
        let (again, found) = reconcile(&p, &admin, account).await;
        assert_eq!(again["foreign_rows"], 1, "{label}: {again}");
        assert_eq!(again["bill_rows"], 6, "{label}: {again}");
        assert_eq!(again["matched_rows"], 4, "{label}: {again}");
        assert_eq!(found.len(), 2, "{label}: {found:?}");
        let d = &found[&key("state_differs", &closed.nkp_seq_id, "")];
        assert_eq!(d["state"], "healed", "{label}: {d}");
        let refunds = nkpay_store::refunds::list_for_trade(p.db.conn(), &closed.nkp_seq_id)
            .await
            .expect("refunds");
        assert_eq!(refunds.len(), 1, "{label}");
        assert_eq!(p.channel_refunds(&closed).0, 1, "{label}");

        // The job: yesterday for each active account once, then nothing more to do.
        let schedule = job::Schedule::default();
        let now = chrono::Utc::now();
        let runs = job::run_due_once(&p.engine, &schedule, now)
            .await
            .expect("job");
        assert_eq!(runs.len(), 2, "{label}: {runs:?}");
        assert!(
            runs.iter().all(|r| r.status == RunStatus::Done),
            "{label}: {runs:?}"
        );
        let due = job::due_day(&schedule, now).format("%Y%m%d").to_string();
        assert!(
            runs.iter()
                .all(|r| r.bill_date == due && r.started_by.as_deref() == Some("job"))
        );
        let again = job::run_due_once(&p.engine, &schedule, now)
            .await
            .expect("job");
        assert!(again.is_empty(), "{label}: {again:?}");
        p.stop().await;
    }
}
