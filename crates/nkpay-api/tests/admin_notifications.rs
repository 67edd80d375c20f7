//! The console's notification API over HTTP, on SQLite and PostgreSQL: the bearer-token check,
//! listings with filters and pages, detail with attempts, re-sends and the counts. Calls carry
//! a platform admin's API token (`console_support`).

mod console_support;

use actix_web::http::StatusCode;
use actix_web::test;
use chrono::{TimeDelta, Utc};
use nkpay_store::Db;
use nkpay_store::kinds::NotificationKind;
use nkpay_store::notifications::{self, AttemptRecord, NewNotification, NextStep};
use nkpay_store::testing::databases;
use serde_json::Value;

const MER: &str = "6666000000000001";

async fn enqueue(db: &Db, mer_id: &str, seq: &str) -> i64 {
    let now = Utc::now();
    let new = NewNotification {
        mer_id: mer_id.into(),
        kind: NotificationKind::Trade,
        subject_nkp_seq_id: seq.into(),
        notify_url: "https://shop.example/notify".into(),
        resp_data: format!(r#"{{"mer_id":"{mer_id}","nkp_seq_id":"{seq}"}}"#),
        first_attempt_at: now,
    };
    assert!(
        notifications::enqueue(db.conn(), &new, now)
            .await
            .expect("enqueue")
    );
    notifications::list_for_subject(db.conn(), NotificationKind::Trade, seq)
        .await
        .expect("find")[0]
        .id
}

/// Claims every due row and records one failed attempt that ends it (`Dead`).
async fn fail_all(db: &Db) {
    let now = Utc::now();
    for n in notifications::claim_due(db, "t", now, TimeDelta::seconds(30), 100)
        .await
        .expect("claim")
    {
        let attempt = AttemptRecord {
            started_at: now,
            duration_ms: 42,
            http_status: Some(500),
            error: None,
            response_body: Some("boom".into()),
            delivered: false,
        };
        notifications::record_attempt(db, n.id, "t", &attempt, NextStep::Dead, now)
            .await
            .expect("record");
    }
}

macro_rules! app {
    ($db:expr) => {{
        let console = console_support::Console::new(&$db).await;
        let token = console
            .token(nkpay_store::kinds::AdminRole::PlatformAdmin)
            .await;
        (
            test::init_service(console_support::app(console.engine.clone())).await,
            token,
        )
    }};
}

fn get(token: &str, uri: &str) -> test::TestRequest {
    test::TestRequest::get()
        .uri(uri)
        .insert_header(("Authorization", format!("Bearer {token}")))
}

fn post(token: &str, uri: &str) -> test::TestRequest {
    test::TestRequest::post()
        .uri(uri)
        .insert_header(("Authorization", format!("Bearer {token}")))
}

#[actix_web::test]
async fn calls_without_a_valid_token_are_refused() {
    for t in databases().await {
        let (app, tok) = app!(t.db);
        for req in [
            test::TestRequest::get().uri("/admin/api/notifications"),
            test::TestRequest::get()
                .uri("/admin/api/notifications/stats")
                .insert_header(("Authorization", "Bearer console-token-wrong-000000")),
            test::TestRequest::post()
                .uri("/admin/api/notifications/1/resend")
                .insert_header(("Authorization", tok.clone())),
        ] {
            let res = test::call_service(&app, req.to_request()).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{}", t.label);
            assert_eq!(res.headers().get("www-authenticate").unwrap(), "Bearer");
            let body: Value = test::read_body_json(res).await;
            assert!(body["error"].as_str().unwrap().contains("bearer token"));
        }
    }
}

#[actix_web::test]
async fn listing_filters_pages_and_names_bad_parameters() {
    for t in databases().await {
        let a = enqueue(&t.db, MER, "A1").await;
        fail_all(&t.db).await;
        let b = enqueue(&t.db, MER, "A2").await;
        let c = enqueue(&t.db, "6666000000000002", "A3").await;
        let (app, tok) = app!(t.db);

        let page: Value = test::call_and_read_body_json(
            &app,
            get(&tok, "/admin/api/notifications?limit=2").to_request(),
        )
        .await;
        let ids: Vec<i64> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [c, b], "{}", t.label);
        assert_eq!(page["next_before_id"], b);
        let next: Value = test::call_and_read_body_json(
            &app,
            get(
                &tok,
                &format!("/admin/api/notifications?limit=2&before_id={b}"),
            )
            .to_request(),
        )
        .await;
        assert_eq!(next["items"][0]["id"], a);
        assert_eq!(next["next_before_id"], Value::Null);

        let dead: Value = test::call_and_read_body_json(
            &app,
            get(
                &tok,
                &format!("/admin/api/notifications?status=dead&mer_id={MER}"),
            )
            .to_request(),
        )
        .await;
        assert_eq!(dead["items"].as_array().unwrap().len(), 1);
        let item = &dead["items"][0];
        assert_eq!(item["id"], a);
        assert_eq!(item["notify_type"], "TRADE");
        assert_eq!(item["nkp_seq_id"], "A1");
        assert_eq!(item["next_attempt_at"], Value::Null);

        let pending: Value = test::call_and_read_body_json(
            &app,
            get(&tok, "/admin/api/notifications?status=pending").to_request(),
        )
        .await;
        assert!(pending["items"][0]["next_attempt_at"].is_string());

        let future = (Utc::now() + TimeDelta::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
        let none: Value = test::call_and_read_body_json(
            &app,
            get(&tok, &format!("/admin/api/notifications?from={future}")).to_request(),
        )
        .await;
        assert!(none["items"].as_array().unwrap().is_empty());

        for (uri, needle) in [
            (
                "/admin/api/notifications?status=lost",
                "status must be pending, delivered or dead",
            ),
            (
                "/admin/api/notifications?from=yesterday",
                "from must be an RFC 3339 time",
            ),
            ("/admin/api/notifications?limit=x", "query:"),
        ] {
            let res = test::call_service(&app, get(&tok, uri).to_request()).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{uri}");
            let body: Value = test::read_body_json(res).await;
            assert!(
                body["error"].as_str().unwrap().contains(needle),
                "{uri}: {body}"
            );
        }
    }
}

#[actix_web::test]
async fn detail_shows_attempts_and_a_resend_opens_a_new_chain() {
    for t in databases().await {
        let id = enqueue(&t.db, MER, "D1").await;
        fail_all(&t.db).await;
        let (app, tok) = app!(t.db);

        let d: Value = test::call_and_read_body_json(
            &app,
            get(&tok, &format!("/admin/api/notifications/{id}")).to_request(),
        )
        .await;
        assert_eq!(d["notification"]["status"], "dead", "{}", t.label);
        let attempt = &d["attempts"][0];
        assert_eq!(attempt["http_status"], 500);
        assert_eq!(attempt["duration_ms"], 42);
        assert_eq!(attempt["response_body"], "boom");
        assert_eq!(attempt["delivered"], false);

        let res = test::call_service(
            &app,
            post(&tok, &format!("/admin/api/notifications/{id}/resend")).to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let created: Value = test::read_body_json(res).await;
        let new_id = created["notification"]["id"].as_i64().unwrap();
        assert_ne!(new_id, id);
        assert_eq!(created["notification"]["chain_no"], 1);
        assert_eq!(created["notification"]["status"], "pending");

        let d: Value = test::call_and_read_body_json(
            &app,
            get(&tok, &format!("/admin/api/notifications/{id}")).to_request(),
        )
        .await;
        assert_eq!(d["chains"].as_array().unwrap().len(), 2);
        assert_eq!(d["attempts"].as_array().unwrap().len(), 1, "history kept");

        for req in [
            get(&tok, "/admin/api/notifications/987654"),
            post(&tok, "/admin/api/notifications/987654/resend"),
        ] {
            let res = test::call_service(&app, req.to_request()).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND);
        }
    }
}

#[actix_web::test]
async fn a_range_resend_and_the_stats_answer_in_json() {
    for t in databases().await {
        let from = (Utc::now() - TimeDelta::minutes(1)).to_rfc3339();
        let done = enqueue(&t.db, MER, "R1").await;
        fail_all(&t.db).await;
        let waiting = enqueue(&t.db, MER, "R2").await;
        let to = (Utc::now() + TimeDelta::minutes(1)).to_rfc3339();
        let (app, tok) = app!(t.db);

        let body = serde_json::json!({ "mer_id": MER, "from": from, "to": to });
        let res = test::call_service(
            &app,
            post(&tok, "/admin/api/notifications/resend")
                .set_json(&body)
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{}", t.label);
        let out: Value = test::read_body_json(res).await;
        assert_eq!(out["resent"].as_array().unwrap().len(), 1);
        assert_ne!(out["resent"][0], done);
        assert_eq!(out["skipped_pending"], serde_json::json!([waiting]));

        let backwards = serde_json::json!({ "mer_id": MER, "from": to, "to": from });
        let res = test::call_service(
            &app,
            post(&tok, "/admin/api/notifications/resend")
                .set_json(&backwards)
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let res = test::call_service(
            &app,
            post(&tok, "/admin/api/notifications/resend")
                .set_json(serde_json::json!({ "mer_id": MER }))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);

        let s: Value = test::call_and_read_body_json(
            &app,
            get(&tok, "/admin/api/notifications/stats").to_request(),
        )
        .await;
        assert_eq!(s["pending"], 2, "{}: {s}", t.label);
        assert_eq!(s["due"], 2);
        assert_eq!(s["dead"], 1);
        assert_eq!(s["delivered"], 0);
        assert_eq!(s["recent_attempts"], 1);
        assert_eq!(s["latency_p95_ms"], 42);
    }
}
