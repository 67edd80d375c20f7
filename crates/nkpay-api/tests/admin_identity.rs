//! Who may call the admin API, on SQLite and PostgreSQL: login at `POST /admin/api/session`,
//! access tokens (expired, tampered, foreign ones refused), API tokens (working, revoked,
//! stored only hashed), each role's reach into the notification endpoints (401/403/2xx), and
//! the audit rows a re-send and a user creation leave (actor and address).

mod console_support;

use actix_web::http::StatusCode;
use actix_web::test;
use chrono::{TimeDelta, Utc};
use console_support::{Console, PASSWORD, app};
use nkpay_core::secret::Secret;
use nkpay_engine::admin_identity::{Actor, NewUser, token_hash};
use nkpay_store::kinds::{AdminRole, NotificationKind, RecordStatus};
use nkpay_store::merchants::{self, NewServiceProvider};
use nkpay_store::notifications::{self, NewNotification};
use nkpay_store::testing::databases;
use nkpay_store::{Db, admin_api_tokens, admin_users, audit_log};
use serde_json::{Value, json};

const SYS_ID: &str = "6666000100000000";

async fn enqueue(db: &Db, seq: &str) -> i64 {
    let now = Utc::now();
    let new = NewNotification {
        mer_id: "6666000100000001".into(),
        kind: NotificationKind::Trade,
        subject_nkp_seq_id: seq.into(),
        notify_url: "https://shop.example/notify".into(),
        resp_data: "{}".into(),
        first_attempt_at: now,
    };
    assert!(notifications::enqueue(db.conn(), &new, now).await.unwrap());
    notifications::list_for_subject(db.conn(), NotificationKind::Trade, seq)
        .await
        .unwrap()[0]
        .id
}

fn with_bearer(req: test::TestRequest, token: &str) -> test::TestRequest {
    req.insert_header(("Authorization", format!("Bearer {token}")))
}

fn login(username: &str, password: &str) -> test::TestRequest {
    test::TestRequest::post()
        .uri("/admin/api/session")
        .set_json(json!({ "username": username, "password": password }))
}

#[actix_web::test]
async fn login_with_the_right_password_gives_a_working_access_token_and_wrong_ones_answer_alike() {
    for t in databases().await {
        let console = Console::new(&t.db).await;
        console.user("ops", AdminRole::Operator, None).await;
        console.user("gone", AdminRole::Operator, None).await;
        admin_users::set_admin_user_status(t.db.conn(), "gone", RecordStatus::Disabled, Utc::now())
            .await
            .unwrap();
        let app = test::init_service(app(console.engine.clone())).await;

        let res = test::call_service(&app, login("ops", PASSWORD).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", t.label);
        let body: Value = test::read_body_json(res).await;
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["role"], "operator");
        let expires_in = body["expires_in"].as_i64().unwrap();
        assert!((880..=900).contains(&expires_in), "{expires_in}");
        let access = body["access_token"].as_str().unwrap().to_owned();
        let res = test::call_service(
            &app,
            with_bearer(
                test::TestRequest::get().uri("/admin/api/notifications"),
                &access,
            )
            .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{}", t.label);

        let mut refusals = Vec::new();
        for (user, password) in [
            ("ops", "console-password-12345"),
            ("nobody", PASSWORD),
            ("gone", PASSWORD),
        ] {
            let res = test::call_service(&app, login(user, password).to_request()).await;
            assert_eq!(
                res.status(),
                StatusCode::UNAUTHORIZED,
                "{}: {user}",
                t.label
            );
            refusals.push(test::read_body(res).await);
        }
        assert!(refusals.windows(2).all(|w| w[0] == w[1]), "{refusals:?}");
    }
}

#[actix_web::test]
async fn expired_tampered_and_foreign_access_tokens_are_refused() {
    for t in databases().await {
        let console = Console::new(&t.db).await;
        console.user("ops", AdminRole::Operator, None).await;
        let identity = console.engine.admin_identity();
        let expired = identity
            .issue_access_token("ops", AdminRole::Operator, Utc::now() - TimeDelta::hours(1))
            .unwrap();
        let good = identity
            .issue_access_token("ops", AdminRole::Operator, Utc::now())
            .unwrap();
        let good = good.token.expose().clone();
        // The payload changed (a different user), the signature kept.
        let parts: Vec<&str> = good.split('.').collect();
        let tampered_payload = format!("{}.{}x.{}", parts[0], parts[1], parts[2]);
        let mut sig = parts[2].to_owned();
        let last = sig.pop().unwrap();
        sig.push(if last == 'A' { 'B' } else { 'A' });
        let tampered_sig = format!("{}.{}.{sig}", parts[0], parts[1]);
        // Signed by another platform's key (each test engine has its own random secret).
        let foreign = console
            .foreign()
            .admin_identity()
            .issue_access_token("ops", AdminRole::Operator, Utc::now())
            .unwrap();

        let app = test::init_service(app(console.engine.clone())).await;
        for token in [
            expired.token.expose().as_str(),
            &tampered_payload,
            &tampered_sig,
            foreign.token.expose(),
            "not-a-jwt",
        ] {
            let res = test::call_service(
                &app,
                with_bearer(
                    test::TestRequest::get().uri("/admin/api/notifications"),
                    token,
                )
                .to_request(),
            )
            .await;
            assert_eq!(
                res.status(),
                StatusCode::UNAUTHORIZED,
                "{}: {token}",
                t.label
            );
        }
        let res = test::call_service(
            &app,
            with_bearer(
                test::TestRequest::get().uri("/admin/api/notifications"),
                &good,
            )
            .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{}", t.label);
    }
}

#[actix_web::test]
async fn an_api_token_works_until_revoked_and_is_stored_only_hashed() {
    for t in databases().await {
        let console = Console::new(&t.db).await;
        let made = console
            .engine
            .admin_identity()
            .create_token(&Actor::local("test"), "ci", AdminRole::ReadOnly, None)
            .await
            .unwrap();
        let token = made.token.expose().clone();
        assert!(
            token.starts_with("nkpadm_") && token.len() == 7 + 64,
            "{token}"
        );
        let rows = admin_api_tokens::list(t.db.conn()).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].token_hash, token_hash(&token), "{}", t.label);
        assert!(!format!("{rows:?}").contains(&token[7..]), "{}", t.label);

        let app = test::init_service(app(console.engine.clone())).await;
        let list = || {
            with_bearer(
                test::TestRequest::get().uri("/admin/api/notifications"),
                &token,
            )
            .to_request()
        };
        assert_eq!(
            test::call_service(&app, list()).await.status(),
            StatusCode::OK
        );
        assert!(
            console
                .engine
                .admin_identity()
                .revoke_token(&Actor::local("test"), "ci")
                .await
                .unwrap()
        );
        assert_eq!(
            test::call_service(&app, list()).await.status(),
            StatusCode::UNAUTHORIZED,
            "{}",
            t.label
        );
    }
}

#[actix_web::test]
async fn each_role_reaches_the_notification_endpoints_it_may() {
    for t in databases().await {
        merchants::insert_service_provider(
            t.db.conn(),
            &NewServiceProvider {
                sys_id: SYS_ID.into(),
                product_id: "NKPAY".into(),
                name: "agent".into(),
                rsa_public_key: "unused".into(),
            },
            Utc::now(),
        )
        .await
        .unwrap();
        let id = enqueue(&t.db, "M1").await;
        let console = Console::new(&t.db).await;
        let app = test::init_service(app(console.engine.clone())).await;
        let identity = console.engine.admin_identity();
        // (role, list and stats, re-send)
        let matrix = [
            (
                AdminRole::PlatformAdmin,
                StatusCode::OK,
                StatusCode::CREATED,
            ),
            (AdminRole::Operator, StatusCode::OK, StatusCode::CREATED),
            (AdminRole::Finance, StatusCode::OK, StatusCode::FORBIDDEN),
            (AdminRole::ReadOnly, StatusCode::OK, StatusCode::FORBIDDEN),
            (
                AdminRole::AgentAdmin,
                StatusCode::FORBIDDEN,
                StatusCode::FORBIDDEN,
            ),
        ];
        for (role, read, resend) in matrix {
            let sys_id = (role == AdminRole::AgentAdmin).then_some(SYS_ID);
            let token = identity
                .create_token(&Actor::local("test"), &format!("m-{role}"), role, sys_id)
                .await
                .unwrap()
                .token
                .into_inner();
            for uri in [
                "/admin/api/notifications".to_owned(),
                "/admin/api/notifications/stats".to_owned(),
                format!("/admin/api/notifications/{id}"),
            ] {
                let res = test::call_service(
                    &app,
                    with_bearer(test::TestRequest::get().uri(&uri), &token).to_request(),
                )
                .await;
                assert_eq!(res.status(), read, "{}: {role} GET {uri}", t.label);
            }
            let res = test::call_service(
                &app,
                with_bearer(
                    test::TestRequest::post().uri(&format!("/admin/api/notifications/{id}/resend")),
                    &token,
                )
                .to_request(),
            )
            .await;
            assert_eq!(res.status(), resend, "{}: {role} resend", t.label);
            if resend == StatusCode::FORBIDDEN {
                let body: Value = test::read_body_json(res).await;
                assert!(
                    body["error"].as_str().unwrap().contains(role.as_str()),
                    "{body}"
                );
            }
        }
        let res = test::call_service(
            &app,
            test::TestRequest::post()
                .uri(&format!("/admin/api/notifications/{id}/resend"))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{}", t.label);
    }
}

#[actix_web::test]
async fn a_resend_and_a_user_creation_are_audited_with_actor_and_address() {
    for t in databases().await {
        let id = enqueue(&t.db, "A1").await;
        let console = Console::new(&t.db).await;
        let identity = console.engine.admin_identity();
        let token = identity
            .create_token(&Actor::local("test"), "ops-bot", AdminRole::Operator, None)
            .await
            .unwrap()
            .token
            .into_inner();
        let app = test::init_service(app(console.engine.clone())).await;
        let res = test::call_service(
            &app,
            with_bearer(
                test::TestRequest::post().uri(&format!("/admin/api/notifications/{id}/resend")),
                &token,
            )
            .peer_addr("203.0.113.9:40000".parse().unwrap())
            .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{}", t.label);
        let created: Value = test::read_body_json(res).await;

        let admin = identity
            .authenticate(&console.admin_token().await, Some("198.51.100.4".into()))
            .await
            .unwrap()
            .unwrap();
        identity
            .create_user(
                &admin,
                NewUser {
                    username: "finance-1".into(),
                    role: AdminRole::Finance,
                    sys_id: None,
                    password: Some(Secret::new(PASSWORD.into())),
                },
            )
            .await
            .unwrap();

        let log = audit_log::page(t.db.conn(), i64::MAX, 10).await.unwrap();
        let resend = log
            .iter()
            .find(|e| e.action == "notification.resend")
            .expect("re-send audited");
        assert_eq!(resend.actor, "token:ops-bot", "{}", t.label);
        assert_eq!(resend.target, format!("notification:{id}"));
        assert_eq!(resend.address.as_deref(), Some("203.0.113.9"));
        assert_eq!(resend.detail["new"], created["notification"]["id"]);
        let user = log
            .iter()
            .find(|e| e.action == "admin_user.create" && e.target == "admin_user:finance-1")
            .expect("user creation audited");
        assert_eq!(user.actor, format!("token:{}", admin.name), "{}", t.label);
        assert_eq!(user.address.as_deref(), Some("198.51.100.4"));
        assert_eq!(user.detail["before"], Value::Null);
        assert_eq!(user.detail["after"]["role"], "finance");
        assert!(!user.detail.to_string().contains(PASSWORD));
    }
}

#[actix_web::test]
async fn only_a_platform_admin_creates_users_and_an_agent_admin_needs_a_service_provider() {
    for t in databases().await {
        let console = Console::new(&t.db).await;
        let identity = console.engine.admin_identity();
        let operator = Actor {
            role: AdminRole::Operator,
            ..Actor::local("op")
        };
        let new = |role, sys_id: Option<&str>| NewUser {
            username: "x1".into(),
            role,
            sys_id: sys_id.map(str::to_owned),
            password: None,
        };
        let err = identity
            .create_user(&operator, new(AdminRole::ReadOnly, None))
            .await
            .unwrap_err();
        assert!(
            matches!(err, nkpay_engine::EngineError::Forbidden(_)),
            "{err}"
        );
        for (role, sys_id, field) in [
            (AdminRole::AgentAdmin, None, "sys_id"),
            (AdminRole::AgentAdmin, Some("9999000000000000"), "sys_id"),
            (AdminRole::Operator, Some(SYS_ID), "sys_id"),
        ] {
            let err = identity
                .create_user(&Actor::local("t"), new(role, sys_id))
                .await
                .unwrap_err();
            assert!(err.to_string().starts_with(field), "{}: {err}", t.label);
        }
        let made = identity
            .create_user(&Actor::local("t"), new(AdminRole::ReadOnly, None))
            .await
            .unwrap();
        let password = made.generated_password.expect("generated");
        assert_eq!(password.expose().len(), 24);
        assert!(made.user.password_hash.starts_with("$argon2id$"));
        assert!(identity.login("x1", password).await.unwrap().is_some());
    }
}
