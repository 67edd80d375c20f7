//! The platform operator's service providers through `/admin/api/service-providers`, on SQLite
//! and PostgreSQL: each role's reach (401/403/200, an agent admin sees only its own), a
//! registered and a generated key (the private key in the create reply only, never stored nor
//! listed), field-named refusals, suspend/activate with their audit rows, and a suspended
//! provider's merchant calls refused `10000002`.

mod console_support;

use actix_web::http::StatusCode;
use actix_web::test;
use console_support::{Console, app};
use nkpay_core::resp_code::RespCode;
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use nkpay_engine::EngineError;
use nkpay_engine::admin_identity::Actor;
use nkpay_store::kinds::AdminRole;
use nkpay_store::testing::databases;
use nkpay_store::{audit_log, merchants};
use serde_json::{Value, json};

const BASE: &str = "/admin/api/service-providers";

fn with_bearer(req: test::TestRequest, token: &str) -> test::TestRequest {
    req.insert_header(("Authorization", format!("Bearer {token}")))
}

/// A create request from 203.0.113.7.
fn create(token: &str, body: Value) -> test::TestRequest {
    with_bearer(test::TestRequest::post().uri(BASE), token)
        .set_json(body)
        .peer_addr("203.0.113.7:40000".parse().unwrap())
}

fn registered(sys_id: &str) -> Value {
    let key = RsaPrivateKey::generate_2048().expect("key");
    json!({
        "sys_id": sys_id,
        "product_id": "NKPAY",
        "name": format!("Agent {sys_id}"),
        "public_key": key.public_key().to_spki_pem(),
    })
}

#[actix_web::test]
async fn each_role_reaches_what_the_issue_says() {
    for t in databases().await {
        let console = Console::new(&t.db).await;
        let app = test::init_service(app(console.engine.clone())).await;
        let admin = console.admin_token().await;
        for sys_id in ["AGENTA", "AGENTB"] {
            let res =
                test::call_service(&app, create(&admin, registered(sys_id)).to_request()).await;
            assert_eq!(res.status(), StatusCode::CREATED, "{}", t.label);
        }
        let agent = console
            .engine
            .admin_identity()
            .create_token(
                &Actor::local("test"),
                "agent-a",
                AdminRole::AgentAdmin,
                Some("AGENTA"),
            )
            .await
            .unwrap()
            .token
            .into_inner();

        let res = test::call_service(&app, test::TestRequest::get().uri(BASE).to_request()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{}", t.label);

        for role in [AdminRole::Operator, AdminRole::Finance, AdminRole::ReadOnly] {
            let token = console.token(role).await;
            let res = test::call_service(
                &app,
                with_bearer(test::TestRequest::get().uri(BASE), &token).to_request(),
            )
            .await;
            assert_eq!(res.status(), StatusCode::OK, "{role} {}", t.label);
            let body: Value = test::read_body_json(res).await;
            assert_eq!(body["items"].as_array().unwrap().len(), 2, "{role}");
            let res =
                test::call_service(&app, create(&token, registered("AGENTC")).to_request()).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{role} {}", t.label);
            let res = test::call_service(
                &app,
                with_bearer(
                    test::TestRequest::post().uri(&format!("{BASE}/AGENTA/suspend")),
                    &token,
                )
                .to_request(),
            )
            .await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{role} {}", t.label);
        }

        let res = test::call_service(
            &app,
            with_bearer(test::TestRequest::get().uri(BASE), &agent).to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{}", t.label);
        let body: Value = test::read_body_json(res).await;
        let seen: Vec<&str> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sys_id"].as_str().unwrap())
            .collect();
        assert_eq!(seen, ["AGENTA"], "{}", t.label);
        for (sys_id, status) in [
            ("AGENTA", StatusCode::OK),
            ("AGENTB", StatusCode::NOT_FOUND),
        ] {
            let res = test::call_service(
                &app,
                with_bearer(
                    test::TestRequest::get().uri(&format!("{BASE}/{sys_id}")),
                    &agent,
                )
                .to_request(),
            )
            .await;
            assert_eq!(res.status(), status, "{sys_id} {}", t.label);
        }
        let res = test::call_service(&app, create(&agent, registered("AGENTC")).to_request()).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{}", t.label);
    }
}

#[actix_web::test]
async fn a_generated_private_key_is_shown_once_and_stored_nowhere() {
    for t in databases().await {
        let console = Console::new(&t.db).await;
        let app = test::init_service(app(console.engine.clone())).await;
        let admin = console.admin_token().await;
        let res = test::call_service(
            &app,
            create(
                &admin,
                json!({ "sys_id": "GEN1", "product_id": "NKPAY", "name": "Generated", "generate": true }),
            )
            .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{}", t.label);
        let body: Value = test::read_body_json(res).await;
        let private_pem = body["private_key"]
            .as_str()
            .expect("private key shown")
            .to_owned();
        let private = RsaPrivateKey::from_pem_or_base64(&private_pem).unwrap();

        let stored = merchants::find_service_provider(t.db.conn(), "GEN1")
            .await
            .unwrap()
            .unwrap();
        let stored_key = RsaPublicKey::from_pem_or_base64(&stored.rsa_public_key).unwrap();
        let sig = private.sign_sha256(b"hello").unwrap();
        stored_key
            .verify_sha256(b"hello", &sig)
            .expect("pair matches");
        assert!(!stored.rsa_public_key.contains("PRIVATE"));

        for uri in [BASE.to_owned(), format!("{BASE}/GEN1")] {
            let res = test::call_service(
                &app,
                with_bearer(test::TestRequest::get().uri(&uri), &admin).to_request(),
            )
            .await;
            let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
            assert!(!text.contains("private_key"), "{uri}: {text}");
            assert!(!text.contains("PRIVATE KEY"), "{uri}");
        }
        let log = audit_log::page(t.db.conn(), i64::MAX, 10).await.unwrap();
        let entry = log
            .iter()
            .find(|e| e.action == "service_provider.create")
            .expect("creation audited");
        assert!(!entry.detail.to_string().contains("PRIVATE"));
    }
}

#[actix_web::test]
async fn bad_fields_are_refused_by_name() {
    for t in databases().await {
        let console = Console::new(&t.db).await;
        let app = test::init_service(app(console.engine.clone())).await;
        let admin = console.admin_token().await;
        let mut taken = registered("DUP1");
        test::call_service(&app, create(&admin, taken.clone()).to_request()).await;
        let bad_id = registered("bad id!");
        let mut bad_key = registered("KEY1");
        bad_key["public_key"] = "not a key".into();
        let mut both = registered("BOTH1");
        both["generate"] = true.into();
        let mut no_name = registered("NONAME");
        no_name["name"] = "".into();
        taken["name"] = "again".into();
        for (body, field) in [
            (bad_id, "sys_id"),
            (bad_key, "public_key"),
            (both, "public_key"),
            (no_name, "name"),
            (taken, "sys_id"),
        ] {
            let res = test::call_service(&app, create(&admin, body).to_request()).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{field} {}", t.label);
            let body: Value = test::read_body_json(res).await;
            let error = body["error"].as_str().unwrap();
            assert!(error.starts_with(field), "{field}: {error}");
        }
    }
}

#[actix_web::test]
async fn suspending_refuses_the_providers_calls_and_both_changes_are_audited() {
    for t in databases().await {
        let console = Console::new(&t.db).await;
        let app = test::init_service(app(console.engine.clone())).await;
        let admin = console.admin_token().await;
        test::call_service(&app, create(&admin, registered("SUSP1")).to_request()).await;
        let callers = console.engine.callers();
        callers
            .authenticate("SUSP1", "NKPAY")
            .await
            .expect("active");

        let post = |path: &str| {
            with_bearer(
                test::TestRequest::post().uri(&format!("{BASE}/SUSP1/{path}")),
                &admin,
            )
            .peer_addr("198.51.100.8:5000".parse().unwrap())
            .to_request()
        };
        let res = test::call_service(&app, post("suspend")).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", t.label);
        let body: Value = test::read_body_json(res).await;
        assert_eq!(body["status"], "suspended");
        match callers.authenticate("SUSP1", "NKPAY").await {
            Err(EngineError::Refused { code, .. }) => assert_eq!(code, RespCode::UnknownSysId),
            other => panic!("{}: suspended provider accepted: {other:?}", t.label),
        }

        let res = test::call_service(&app, post("activate")).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", t.label);
        callers
            .authenticate("SUSP1", "NKPAY")
            .await
            .expect("active again");

        let res = test::call_service(
            &app,
            with_bearer(
                test::TestRequest::post().uri(&format!("{BASE}/NOPE/suspend")),
                &admin,
            )
            .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{}", t.label);

        let log = audit_log::page(t.db.conn(), i64::MAX, 10).await.unwrap();
        let suspend = log
            .iter()
            .find(|e| e.action == "service_provider.suspend")
            .expect("suspension audited");
        assert!(suspend.actor.starts_with("token:"), "{}", suspend.actor);
        assert_eq!(suspend.target, "service_provider:SUSP1");
        assert_eq!(suspend.address.as_deref(), Some("198.51.100.8"));
        assert_eq!(suspend.detail["before"]["status"], "active");
        assert_eq!(suspend.detail["after"]["status"], "disabled");
        let activate = log
            .iter()
            .find(|e| e.action == "service_provider.activate")
            .expect("activation audited");
        assert_eq!(activate.detail["before"]["status"], "disabled");
        assert_eq!(activate.detail["after"]["status"], "active");
        let created = log
            .iter()
            .find(|e| e.action == "service_provider.create")
            .expect("creation audited");
        assert_eq!(created.address.as_deref(), Some("203.0.113.7"));
        assert_eq!(created.detail["after"]["sys_id"], "SUSP1");
    }
}

#[actix_web::test]
async fn fee_floors_are_stored_as_basis_points_and_audited() {
    for t in databases().await {
        let console = Console::new(&t.db).await;
        let app = test::init_service(app(console.engine.clone())).await;
        let admin = console.admin_token().await;
        test::call_service(&app, create(&admin, registered("FEE1")).to_request()).await;
        let put = |token: &str, body: Value| {
            with_bearer(
                test::TestRequest::put().uri(&format!("{BASE}/FEE1/fee-floors")),
                token,
            )
            .set_json(body)
            .to_request()
        };
        let res = test::call_service(
            &app,
            put(
                &admin,
                json!({ "floors": { "T_JSAPI": { "fee_rate": "0.38" }, "A_NATIVE": { "fee_rate_bp": 60 } } }),
            ),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{}", t.label);
        let body: Value = test::read_body_json(res).await;
        assert_eq!(body["fee_floors"]["T_JSAPI"]["fee_rate_bp"], 38);
        assert_eq!(body["fee_floors"]["A_NATIVE"]["fee_rate"], "0.60");

        let res = test::call_service(
            &app,
            put(
                &admin,
                json!({ "floors": { "T_JSAPI": { "fee_rate": "0.2" } } }),
            ),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{}", t.label);

        for (body, field) in [
            (
                json!({ "floors": { "T_JSAPI": { "fee_rate": "0.385" } } }),
                "floors.T_JSAPI.fee_rate",
            ),
            (
                json!({ "floors": { "B_CARD": { "fee_rate_bp": 1 } } }),
                "floors.B_CARD",
            ),
            (
                json!({ "floors": { "T_MINIAPP": { "fee_rate_bp": 10001 } } }),
                "fee_floors.T_MINIAPP",
            ),
        ] {
            let res = test::call_service(&app, put(&admin, body)).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{field} {}", t.label);
            let body: Value = test::read_body_json(res).await;
            let error = body["error"].as_str().unwrap();
            assert!(error.starts_with(field), "{field}: {error}");
        }
        let ops = console.token(AdminRole::Operator).await;
        let res = test::call_service(
            &app,
            put(
                &ops,
                json!({ "floors": { "T_JSAPI": { "fee_rate_bp": 1 } } }),
            ),
        )
        .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{}", t.label);
        let res = test::call_service(
            &app,
            with_bearer(
                test::TestRequest::get().uri(&format!("{BASE}/FEE1/fee-floors")),
                &ops,
            )
            .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{}", t.label);
        let body: Value = test::read_body_json(res).await;
        assert_eq!(body["fee_floors"]["T_JSAPI"]["fee_rate_bp"], 20);
        assert_eq!(body["fee_floors"]["A_NATIVE"]["fee_rate_bp"], 60);
        assert!(body["fee_floors"].get("T_MINIAPP").is_none());

        let log = audit_log::page(t.db.conn(), i64::MAX, 10).await.unwrap();
        let second = log
            .iter()
            .find(|e| e.action == "service_provider.fee_floors")
            .expect("floors audited");
        assert_eq!(second.detail["before"]["T_JSAPI"], 38, "{}", t.label);
        assert_eq!(second.detail["after"]["T_JSAPI"], 20);
        assert_eq!(second.detail["after"]["A_NATIVE"], 60);
    }
}
