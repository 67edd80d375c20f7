//! The console's users, API tokens, audit log and platform keys over HTTP, on SQLite and
//! PostgreSQL: users created (a password generated and shown once), listed without hashes,
//! disabled (they can no longer sign in) and enabled; tokens created, used, listed and revoked
//! (then refused); every change in the audit log, which filters, pages and exports CSV; the
//! platform's public keys; and the roles that may not (403).

mod console_support;

use actix_web::http::StatusCode;
use actix_web::test;
use nkpay_core::secret::Secret;
use nkpay_store::kinds::AdminRole;
use nkpay_store::testing::databases;
use serde_json::{Value, json};

fn bearer(req: test::TestRequest, token: &str) -> test::TestRequest {
    req.insert_header(("Authorization", format!("Bearer {token}")))
}

macro_rules! call {
    ($app:expr, $req:expr) => {{
        let res = test::call_service(&$app, $req.to_request()).await;
        let status = res.status();
        let body = test::read_body(res).await;
        (status, body)
    }};
}

macro_rules! json_call {
    ($app:expr, $req:expr) => {{
        let (status, body) = call!($app, $req);
        let v: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
        (status, v)
    }};
}

#[actix_web::test]
async fn users_are_created_listed_disabled_and_enabled() {
    for t in databases().await {
        let console = console_support::Console::new(&t.db).await;
        let admin = console.admin_token().await;
        let app = test::init_service(console_support::app(console.engine.clone())).await;

        let (status, created) = json_call!(
            app,
            bearer(test::TestRequest::post().uri("/admin/api/users"), &admin)
                .set_json(json!({"username": "alice", "role": "operator"}))
        );
        assert_eq!(status, StatusCode::CREATED, "{}: {created}", t.label);
        assert_eq!(created["user"]["role"], "operator", "{}", t.label);
        assert_eq!(created["user"]["status"], "active", "{}", t.label);
        let password = created["password"]
            .as_str()
            .expect("generated password")
            .to_owned();
        assert_eq!(password.len(), 24, "{}", t.label);
        let (status, given) = json_call!(
            app,
            bearer(test::TestRequest::post().uri("/admin/api/users"), &admin).set_json(
                json!({"username": "bob", "role": "finance", "password": "a long password 1"})
            )
        );
        assert_eq!(status, StatusCode::CREATED, "{}: {given}", t.label);
        assert_eq!(
            given["password"],
            Value::Null,
            "{}: a given password is not echoed",
            t.label
        );

        for (body, field) in [
            (
                json!({"username": "carol", "role": "agent-admin"}),
                "sys_id",
            ),
            (json!({"username": "carol", "role": "boss"}), "role"),
            (json!({"username": "carol"}), "role"),
            (json!({"role": "operator"}), "username"),
            (json!({"username": "alice", "role": "operator"}), "username"),
            (
                json!({"username": "carol", "role": "operator", "password": "short"}),
                "password",
            ),
        ] {
            let (status, err) = json_call!(
                app,
                bearer(test::TestRequest::post().uri("/admin/api/users"), &admin)
                    .set_json(body.clone())
            );
            assert_eq!(status, StatusCode::BAD_REQUEST, "{} {body}: {err}", t.label);
            assert_eq!(err["field"], field, "{} {body}: {err}", t.label);
        }

        let (status, list) = json_call!(
            app,
            bearer(test::TestRequest::get().uri("/admin/api/users"), &admin)
        );
        assert_eq!(status, StatusCode::OK, "{}", t.label);
        let names: Vec<&str> = list["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["alice", "bob"], "{}", t.label);
        assert!(
            !list.to_string().contains("argon2"),
            "{}: no hashes",
            t.label
        );

        let login = |pw: &str| {
            let engine = console.engine.clone();
            let pw = pw.to_owned();
            async move {
                engine
                    .admin_identity()
                    .login("alice", Secret::new(pw))
                    .await
                    .expect("login")
                    .is_some()
            }
        };
        assert!(login(&password).await, "{}", t.label);
        let (status, off) = json_call!(
            app,
            bearer(
                test::TestRequest::post().uri("/admin/api/users/alice/disable"),
                &admin
            )
        );
        assert_eq!(
            (status, off["status"].as_str()),
            (StatusCode::OK, Some("disabled")),
            "{}",
            t.label
        );
        assert!(
            !login(&password).await,
            "{}: a disabled user cannot sign in",
            t.label
        );
        let (status, on) = json_call!(
            app,
            bearer(
                test::TestRequest::post().uri("/admin/api/users/alice/enable"),
                &admin
            )
        );
        assert_eq!(
            (status, on["status"].as_str()),
            (StatusCode::OK, Some("active")),
            "{}",
            t.label
        );
        assert!(login(&password).await, "{}", t.label);
        // Enabling an active user changes nothing and records nothing.
        let (status, _) = call!(
            app,
            bearer(
                test::TestRequest::post().uri("/admin/api/users/alice/enable"),
                &admin
            )
        );
        assert_eq!(status, StatusCode::OK, "{}", t.label);
        let (status, _) = call!(
            app,
            bearer(
                test::TestRequest::post().uri("/admin/api/users/nobody/disable"),
                &admin
            )
        );
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", t.label);

        // The audit log holds each change, newest first, filtered by action.
        let (_, audit) = json_call!(
            app,
            bearer(
                test::TestRequest::get()
                    .uri("/admin/api/audit?actor=local:test&action=admin_user.create"),
                &admin
            )
        );
        assert_eq!(
            audit["total"], 0,
            "{}: the users were made by a token: {audit}",
            t.label
        );
        let (_, audit) = json_call!(
            app,
            bearer(
                test::TestRequest::get().uri("/admin/api/audit?action=admin_user.create"),
                &admin
            )
        );
        let targets: Vec<&str> = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["target"].as_str().unwrap())
            .collect();
        assert_eq!(
            targets,
            ["admin_user:bob", "admin_user:alice"],
            "{}",
            t.label
        );
        let (_, audit) = json_call!(
            app,
            bearer(
                test::TestRequest::get().uri("/admin/api/audit?size=2"),
                &admin
            )
        );
        let actions: Vec<&str> = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            ["admin_user.enable", "admin_user.disable"],
            "{}",
            t.label
        );
        assert_eq!(
            audit["items"][1]["detail"],
            json!({"before": {"status": "active"}, "after": {"status": "disabled"}}),
            "{}",
            t.label
        );
        assert!(
            audit["items"][0]["actor"]
                .as_str()
                .unwrap()
                .starts_with("token:"),
            "{}",
            t.label
        );
        // 2 users + the admin token + disable + enable.
        assert_eq!(audit["total"], 5, "{}: {audit}", t.label);
    }
}

#[actix_web::test]
async fn tokens_are_created_used_and_revoked() {
    for t in databases().await {
        let console = console_support::Console::new(&t.db).await;
        let admin = console.admin_token().await;
        let app = test::init_service(console_support::app(console.engine.clone())).await;

        let (status, made) = json_call!(
            app,
            bearer(test::TestRequest::post().uri("/admin/api/tokens"), &admin)
                .set_json(json!({"name": "reporting", "role": "read-only"}))
        );
        assert_eq!(status, StatusCode::CREATED, "{}: {made}", t.label);
        let secret = made["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("nkpadm_"), "{}", t.label);
        let id = made["token"]["id"].as_i64().unwrap();
        let (status, _) = call!(
            app,
            bearer(
                test::TestRequest::get().uri("/admin/api/dashboard"),
                &secret
            )
        );
        assert_eq!(status, StatusCode::OK, "{}: the new token works", t.label);
        let (status, err) = json_call!(
            app,
            bearer(test::TestRequest::post().uri("/admin/api/tokens"), &admin)
                .set_json(json!({"name": "reporting", "role": "read-only"}))
        );
        assert_eq!(
            (status, err["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("name")),
            "{}",
            t.label
        );

        let (_, list) = json_call!(
            app,
            bearer(test::TestRequest::get().uri("/admin/api/tokens"), &admin)
        );
        let mine = list["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .expect("listed")
            .clone();
        assert_eq!(mine["role"], "read-only", "{}", t.label);
        assert_eq!(mine["status"], "active", "{}", t.label);
        assert!(!list.to_string().contains("hash"), "{}", t.label);

        let (status, revoked) = json_call!(
            app,
            bearer(
                test::TestRequest::delete().uri(&format!("/admin/api/tokens/{id}")),
                &admin
            )
        );
        assert_eq!(status, StatusCode::OK, "{}: {revoked}", t.label);
        assert_eq!(revoked["status"], "disabled", "{}", t.label);
        assert!(revoked["revoked_at"].is_string(), "{}", t.label);
        let (status, _) = call!(
            app,
            bearer(
                test::TestRequest::get().uri("/admin/api/dashboard"),
                &secret
            )
        );
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{}: a revoked token is refused",
            t.label
        );
        let (status, _) = call!(
            app,
            bearer(
                test::TestRequest::delete().uri("/admin/api/tokens/999999"),
                &admin
            )
        );
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", t.label);

        // The audit CSV: a header, then one line per entry, newest first.
        let (_, page) = json_call!(
            app,
            bearer(test::TestRequest::get().uri("/admin/api/audit"), &admin)
        );
        let (status, csv) = call!(
            app,
            bearer(
                test::TestRequest::get().uri("/admin/api/audit?format=csv"),
                &admin
            )
        );
        assert_eq!(status, StatusCode::OK, "{}", t.label);
        let csv = String::from_utf8(csv.to_vec()).unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(
            reader.headers().unwrap(),
            vec!["id", "at", "actor", "action", "target", "address", "detail"],
            "{}",
            t.label
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(
            rows.len() as u64,
            page["total"].as_u64().unwrap(),
            "{}",
            t.label
        );
        assert_eq!(&rows[0][3], "api_token.revoke", "{}", t.label);
        assert_eq!(&rows[0][4], "api_token:reporting", "{}", t.label);
        let detail: Value = serde_json::from_str(&rows[0][6]).unwrap();
        assert_eq!(detail["after"]["status"], "disabled", "{}", t.label);
        let day = support_today();
        let (_, none) = json_call!(
            app,
            bearer(
                test::TestRequest::get().uri("/admin/api/audit?from=20200101&to=20200101"),
                &admin
            )
        );
        assert_eq!(none["total"], 0, "{}", t.label);
        let (_, all) = json_call!(
            app,
            bearer(
                test::TestRequest::get().uri(&format!("/admin/api/audit?from={day}&to={day}")),
                &admin
            )
        );
        assert_eq!(all["total"], page["total"], "{}", t.label);
    }
}

fn support_today() -> String {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y%m%d")
        .to_string()
}

#[actix_web::test]
async fn platform_keys_show_public_halves_only() {
    for t in databases().await {
        let console = console_support::Console::new(&t.db).await;
        let reader = console.token(AdminRole::ReadOnly).await;
        let app = test::init_service(console_support::app(console.engine.clone())).await;
        let (status, keys) = json_call!(
            app,
            bearer(
                test::TestRequest::get().uri("/admin/api/platform-keys"),
                &reader
            )
        );
        assert_eq!(status, StatusCode::OK, "{}: {keys}", t.label);
        let keys = keys["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{}", t.label);
        assert_eq!(
            keys[0]["key_id"],
            console.engine.signer().newest().key_id(),
            "{}",
            t.label
        );
        assert_eq!(keys[0]["status"], "active", "{}", t.label);
        assert!(
            keys[0]["public_key"]
                .as_str()
                .unwrap()
                .contains("PUBLIC KEY"),
            "{}",
            t.label
        );
        let text = serde_json::to_string(keys).unwrap();
        assert!(
            !text.contains("PRIVATE") && !text.contains("sealed"),
            "{}",
            t.label
        );
    }
}

#[actix_web::test]
async fn only_platform_admins_manage_users_tokens_and_read_the_audit_log() {
    for t in databases().await {
        let console = console_support::Console::new(&t.db).await;
        let app = test::init_service(console_support::app(console.engine.clone())).await;
        for role in [AdminRole::Operator, AdminRole::Finance, AdminRole::ReadOnly] {
            let tok = console.token(role).await;
            for req in [
                test::TestRequest::get().uri("/admin/api/users"),
                test::TestRequest::post()
                    .uri("/admin/api/users")
                    .set_json(json!({"username": "mallory", "role": "platform-admin"})),
                test::TestRequest::post().uri("/admin/api/users/mallory/enable"),
                test::TestRequest::get().uri("/admin/api/tokens"),
                test::TestRequest::post()
                    .uri("/admin/api/tokens")
                    .set_json(json!({"name": "x", "role": "platform-admin"})),
                test::TestRequest::delete().uri("/admin/api/tokens/1"),
                test::TestRequest::get().uri("/admin/api/audit"),
            ] {
                let (status, body) = call!(app, bearer(req, &tok));
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{} {role}: {}",
                    t.label,
                    String::from_utf8_lossy(&body)
                );
            }
        }
        // Nobody without a token reads anything.
        let (status, _) = call!(app, test::TestRequest::get().uri("/admin/api/audit"));
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", t.label);
        let (status, _) = call!(
            app,
            test::TestRequest::get().uri("/admin/api/platform-keys")
        );
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", t.label);
        assert!(
            nkpay_store::admin_users::list_admin_users(t.db.conn())
                .await
                .unwrap()
                .is_empty(),
            "{}: nobody was created",
            t.label
        );
    }
}
