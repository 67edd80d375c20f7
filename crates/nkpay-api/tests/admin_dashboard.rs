//! The console's dashboard over HTTP, on SQLite and PostgreSQL: trades, notifications and
//! incidents written straight into the database at chosen times and states, then every figure
//! of `GET /admin/api/dashboard` compared with what was written — today's (Asia/Shanghai)
//! count, success rate and amount, by trade type and by channel, the 30-day series (a trade of
//! 40 days ago left out), the notification backlog, open incidents — for a platform admin and
//! for agent admins, who see their own service provider's merchants only.

mod support;

use chrono::{DateTime, TimeDelta, Utc};
use nkpay_core::money::Money;
use nkpay_core::state::TradeStatus;
use nkpay_core::trade_type::TradeType;
use nkpay_engine::admin_identity::Actor;
use nkpay_store::kinds::{AdminRole, NotificationKind};
use nkpay_store::notifications::{self, AttemptRecord, NewNotification, NextStep};
use nkpay_store::trades::{self, FinalState, NewTrade};
use nkpay_store::{accounts, incidents};
use serde_json::{Value, json};
use support::{MER_A, MER_OTHER, OTHER_SP, Platform, SP, fresh_id};

async fn token(p: &Platform, role: AdminRole, sys_id: Option<&str>) -> String {
    p.engine
        .admin_identity()
        .create_token(
            &Actor::local("test"),
            &format!("dash-{}", fresh_id()),
            role,
            sys_id,
        )
        .await
        .expect("token")
        .token
        .into_inner()
}

async fn dashboard(p: &Platform, token: &str) -> Value {
    let resp = reqwest::Client::new()
        .get(format!("{}/admin/api/dashboard", p.base_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("dashboard");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    assert_eq!(status, 200, "{}: {text}", p.label);
    serde_json::from_str(&text).expect("JSON")
}

/// Inserts a trade of `mer_id` created at `at`, then moves it to `status` (unless `P`).
async fn trade(
    p: &Platform,
    mer_id: &str,
    sys_id: &str,
    trade_type: TradeType,
    fen: i64,
    status: TradeStatus,
    at: DateTime<Utc>,
) -> String {
    let account = accounts::find_default_account(p.db.conn(), trade_type.channel())
        .await
        .expect("account")
        .expect("default account");
    let id = format!("DASH{}", fresh_id());
    let new = NewTrade {
        nkp_seq_id: id.clone(),
        sys_id: sys_id.into(),
        mer_id: mer_id.into(),
        req_date: at.format("%Y%m%d").to_string(),
        req_seq_id: fresh_id(),
        trade_type,
        channel_account_id: account.id,
        trans_amt: Money::from_fen(fen).expect("amount"),
        fee_rate_bp: 0,
        goods_desc: "dashboard".into(),
        notify_url: None,
        remark: None,
        sub_mch_id: None,
        appid: None,
        sub_appid: None,
        openid: None,
        sub_openid: None,
        time_expire: at + TimeDelta::hours(2),
        next_query_at: None,
        request_hash: "h".into(),
        client_ip: None,
        attach: None,
    };
    trades::insert(p.db.conn(), &new, at).await.expect("insert");
    if status != TradeStatus::Processing {
        let fin = FinalState {
            status,
            party_order_id: None,
            buyer_id: None,
            end_time: Some(at),
            fee_amt: None,
            bank_code: None,
            bank_message: None,
        };
        assert!(
            trades::finalize(&p.db, &id, &fin, None, at)
                .await
                .expect("finalize")
        );
    }
    id
}

async fn notification(p: &Platform, mer_id: &str, step: Option<NextStep>) {
    let now = Utc::now();
    let subject = fresh_id();
    let new = NewNotification {
        mer_id: mer_id.into(),
        kind: NotificationKind::Trade,
        subject_nkp_seq_id: subject.clone(),
        notify_url: "https://shop.example/notify".into(),
        resp_data: "{}".into(),
        first_attempt_at: now,
    };
    assert!(
        notifications::enqueue(p.db.conn(), &new, now)
            .await
            .expect("enqueue")
    );
    let Some(step) = step else { return };
    let n = &notifications::list_for_subject(p.db.conn(), NotificationKind::Trade, &subject)
        .await
        .expect("find")[0];
    // Claim it as a dispatcher would, then record one failed attempt.
    let claimed = notifications::claim_due(&p.db, "dash", now, TimeDelta::seconds(30), 100)
        .await
        .expect("claim");
    assert!(claimed.iter().any(|c| c.id == n.id), "{}", p.label);
    let attempt = AttemptRecord {
        started_at: now,
        duration_ms: 5,
        http_status: Some(500),
        error: None,
        response_body: Some("no".into()),
        delivered: false,
    };
    notifications::record_attempt(&p.db, n.id, "dash", &attempt, step, now)
        .await
        .expect("attempt");
}

fn totals(v: &Value) -> (i64, i64, i64, String) {
    (
        v["count"].as_i64().unwrap(),
        v["succeeded"].as_i64().unwrap(),
        v["amount_fen"].as_i64().unwrap(),
        v["success_rate"].as_str().unwrap().to_owned(),
    )
}

fn keyed(list: &Value, key: &str) -> Vec<(String, (i64, i64, i64, String))> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|v| (v[key].as_str().unwrap().to_owned(), totals(v)))
        .collect()
}

fn row(key: &str, count: i64, ok: i64, fen: i64, rate: &str) -> (String, (i64, i64, i64, String)) {
    (key.to_owned(), (count, ok, fen, rate.to_owned()))
}

#[tokio::test]
async fn the_dashboard_shows_exactly_what_the_database_holds() {
    for p in Platform::all().await {
        let now = Utc::now();
        let yesterday = now - TimeDelta::days(1);
        let long_ago = now - TimeDelta::days(40);
        use TradeStatus::*;
        use TradeType::*;
        // Today: MER_A (of SP) four trades, MER_OTHER (of OTHER_SP) one.
        let a1 = trade(&p, MER_A, SP, TJsapi, 100, Succeeded, now).await;
        trade(&p, MER_A, SP, TJsapi, 250, Failed, now).await;
        trade(&p, MER_A, SP, ANative, 333, Succeeded, now).await;
        trade(&p, MER_A, SP, TMiniapp, 7, Processing, now).await;
        let o1 = trade(&p, MER_OTHER, OTHER_SP, ANative, 500, Succeeded, now).await;
        // Yesterday and 40 days ago.
        trade(&p, MER_A, SP, TJsapi, 1000, Succeeded, yesterday).await;
        trade(&p, MER_A, SP, ANative, 1, Closed, yesterday).await;
        trade(&p, MER_A, SP, TJsapi, 9900, Succeeded, long_ago).await;
        // Notifications: MER_A one waiting, one failing; MER_OTHER one given up.
        notification(&p, MER_A, None).await;
        notification(
            &p,
            MER_A,
            Some(NextStep::RetryAt(now + TimeDelta::hours(1))),
        )
        .await;
        notification(&p, MER_OTHER, Some(NextStep::Dead)).await;
        // Incidents: one open about each merchant's trade, one resolved.
        incidents::open_incident(p.db.conn(), "test", Some(&a1), "a", now)
            .await
            .unwrap();
        incidents::open_incident(p.db.conn(), "test", Some(&o1), "o", now)
            .await
            .unwrap();
        let gone = incidents::open_incident(p.db.conn(), "test", Some(&a1), "r", now)
            .await
            .unwrap();
        assert!(incidents::resolve(p.db.conn(), gone.id, now).await.unwrap());

        let admin = token(&p, AdminRole::PlatformAdmin, None).await;
        let d = dashboard(&p, &admin).await;
        let today = support::today();
        assert_eq!(d["day"], json!(today), "{}", p.label);
        assert_eq!(
            totals(&d["today"]),
            (5, 3, 933, "60.00".into()),
            "{}: {d}",
            p.label
        );
        assert_eq!(d["today"]["amount"], "9.33", "{}", p.label);
        assert_eq!(d["today"]["success_rate_bp"], 6000, "{}", p.label);
        assert_eq!(
            keyed(&d["by_trade_type"], "trade_type"),
            [
                row("A_NATIVE", 2, 2, 833, "100.00"),
                row("T_JSAPI", 2, 1, 100, "50.00"),
                row("T_MINIAPP", 1, 0, 0, "0.00"),
            ],
            "{}",
            p.label
        );
        assert_eq!(
            keyed(&d["by_channel"], "channel"),
            [
                row("alipay", 2, 2, 833, "100.00"),
                row("wechat", 3, 1, 100, "33.33")
            ],
            "{}",
            p.label
        );
        let days = d["days"].as_array().expect("days");
        assert_eq!(days.len(), 30, "{}", p.label);
        assert_eq!(days[29]["day"], json!(today), "{}", p.label);
        assert_eq!(
            totals(&days[29]),
            (5, 3, 933, "60.00".into()),
            "{}",
            p.label
        );
        assert_eq!(
            days[28]["day"],
            json!(
                yesterday
                    .with_timezone(&chrono_tz::Asia::Shanghai)
                    .format("%Y%m%d")
                    .to_string()
            ),
            "{}",
            p.label
        );
        assert_eq!(
            totals(&days[28]),
            (2, 1, 1000, "50.00".into()),
            "{}",
            p.label
        );
        let in_series: i64 = days.iter().map(|v| v["count"].as_i64().unwrap()).sum();
        assert_eq!(
            in_series, 7,
            "{}: the trade of 40 days ago is outside",
            p.label
        );
        assert_eq!(
            d["notification_backlog"],
            json!({"pending": 1, "failing": 1, "exhausted": 1}),
            "{}",
            p.label
        );
        assert_eq!(d["open_incidents"], 2, "{}", p.label);

        // An agent admin: its own merchants' figures only.
        let agent = token(&p, AdminRole::AgentAdmin, Some(SP)).await;
        let d = dashboard(&p, &agent).await;
        assert_eq!(
            totals(&d["today"]),
            (4, 2, 433, "50.00".into()),
            "{}: {d}",
            p.label
        );
        assert_eq!(
            keyed(&d["by_channel"], "channel"),
            [
                row("alipay", 1, 1, 333, "100.00"),
                row("wechat", 3, 1, 100, "33.33")
            ],
            "{}",
            p.label
        );
        assert_eq!(
            d["notification_backlog"],
            json!({"pending": 1, "failing": 1, "exhausted": 0}),
            "{}",
            p.label
        );
        assert_eq!(d["open_incidents"], 1, "{}", p.label);
        let other = token(&p, AdminRole::AgentAdmin, Some(OTHER_SP)).await;
        let d = dashboard(&p, &other).await;
        assert_eq!(
            totals(&d["today"]),
            (1, 1, 500, "100.00".into()),
            "{}: {d}",
            p.label
        );
        assert_eq!(d["days"][28]["count"], 0, "{}", p.label);
        assert_eq!(d["open_incidents"], 1, "{}", p.label);

        // Every role reads it.
        for role in [AdminRole::Operator, AdminRole::Finance, AdminRole::ReadOnly] {
            let d = dashboard(&p, &token(&p, role, None).await).await;
            assert_eq!(d["today"]["count"], 5, "{} {role}", p.label);
        }
        p.stop().await;
    }
}
