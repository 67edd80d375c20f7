//! The platform operator's service providers through `/admin/api/service-providers`, on SQLite
//! and PostgreSQL: each role's reach (401/403/200, an agent admin sees only its own), a
//! registered and a generated key (the private key in the create reply only, never stored nor
//! listed), field-named refusals, suspend/activate with their audit rows, and a suspended
//! provider's merchant calls refused `10000002`. Key replacement with an overlap window: the
//! old key verifies merchant API requests (signed as dg-sdk signs) until the window ends, the
//! new one at once, the old one is refused `10000001` after it (the window put in the past in
//! the database, or ended by `DELETE keys/previous`: no waiting); who may replace; a generated
//! replacement key shown once; fingerprints in listings and audit rows, never keys.

mod console_support;

use actix_web::http::StatusCode;
use actix_web::test;
use console_support::{Console, app};
use nkpay_core::resp_code::RespCode;
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use nkpay_engine::admin_identity::Actor;
use nkpay_engine::{EngineConfig, EngineError};
use nkpay_store::kinds::AdminRole;
use nkpay_store::testing::databases;
use nkpay_store::{audit_log, merchants};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const BASE: &str = "/admin/api/service-providers";

fn with_bearer(req: test::TestRequest, token: &str) -> test::TestRequest {
    req.insert_header(("Authorization", format!("Bearer {token}")))
}

/// A new API token `name` of an agent admin bound to service provider `sys_id`.
async fn agent_token(console: &Console, name: &str, sys_id: &str) -> String {
    console
        .engine
        .admin_identity()
        .create_token(
            &Actor::local("test"),
            name,
            AdminRole::AgentAdmin,
            Some(sys_id),
        )
        .await
        .expect("agent token")
        .token
        .into_inner()
}

/// A create request from 203.0.113.7.
fn create(token: &str, body: Value) -> test::TestRequest {
    with_bearer(test::TestRequest::post().uri(BASE), token)
        .set_json(body)
        .peer_addr("203.0.113.7:40000".parse().unwrap())
}

fn registered(sys_id: &str) -> Value {
    registered_with(sys_id, &RsaPrivateKey::generate_2048().expect("key"))
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
        let agent = agent_token(&console, "agent-a", "AGENTA").await;

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

// ---- key replacement with an overlap window ----

/// A new service provider `sys_id` registered with a fresh key, returned.
async fn provider(console: &Console, sys_id: &str) -> RsaPrivateKey {
    let key = RsaPrivateKey::generate_2048().expect("key");
    console
        .engine
        .service_providers()
        .create(
            &Actor::local("test"),
            nkpay_engine::service_providers::NewProvider {
                sys_id: sys_id.into(),
                product_id: "NKPAY".into(),
                name: format!("Agent {sys_id}"),
                key: nkpay_engine::service_providers::ProviderKey::Registered(
                    key.public_key().to_spki_pem(),
                ),
            },
        )
        .await
        .expect("provider");
    key
}

/// A create request for `sys_id` with `key`'s public half.
fn registered_with(sys_id: &str, key: &RsaPrivateKey) -> Value {
    json!({
        "sys_id": sys_id,
        "product_id": "NKPAY",
        "name": format!("Agent {sys_id}"),
        "public_key": key.public_key().to_spki_pem(),
    })
}

fn keys_request(token: &str, sys_id: &str, body: Value) -> test::TestRequest {
    with_bearer(
        test::TestRequest::post().uri(&format!("{BASE}/{sys_id}/keys")),
        token,
    )
    .set_json(body)
    .peer_addr("192.0.2.44:41000".parse().unwrap())
}

fn end_overlap_request(token: &str, sys_id: &str) -> test::TestRequest {
    with_bearer(
        test::TestRequest::delete().uri(&format!("{BASE}/{sys_id}/keys/previous")),
        token,
    )
    .peer_addr("192.0.2.45:41000".parse().unwrap())
}

/// A scan-pay query from `sys_id` signed with `key` as dg-sdk signs (top-level keys sorted,
/// compact) for an unknown merchant: with a good signature the caller is proven and the
/// merchant refused `22000000`; with a bad one the answer is `10000001`.
fn merchant_call(sys_id: &str, key: &RsaPrivateKey) -> test::TestRequest {
    let today = chrono::Utc::now().format("%Y%m%d").to_string();
    let data = json!({
        "req_date": today,
        "req_seq_id": "KEYQ1",
        "huifu_id": "6666000000009999",
        "org_req_date": today,
        "org_req_seq_id": "ORIG1",
    });
    let signed = nkpay_crypto::envelope::sign_request_data(
        &data.to_string(),
        nkpay_crypto::envelope::KeyOrder::TopLevel,
        key,
    )
    .expect("sign");
    let body =
        json!({ "sys_id": sys_id, "product_id": "NKPAY", "data": data, "sign": signed.sign });
    test::TestRequest::post()
        .uri(nkpay_api::open::QUERY)
        .insert_header(("content-type", "application/json;charset=utf-8"))
        .set_payload(body.to_string())
}

/// The `resp_code` of a merchant API reply.
async fn resp_code(res: actix_web::dev::ServiceResponse) -> String {
    assert_eq!(res.status(), StatusCode::OK);
    let reply: Value = test::read_body_json(res).await;
    reply["data"]["resp_code"]
        .as_str()
        .expect("resp_code")
        .to_owned()
}

/// The `resp_code` the merchant API answers [`merchant_call`].
macro_rules! merchant_call_code {
    ($app:expr, $sys_id:expr, $key:expr) => {
        resp_code(test::call_service($app, merchant_call($sys_id, $key).to_request()).await).await
    };
}

/// `previous.valid_until` is `hours` after `asked` (the time the replacement was sent), give or
/// take the minute the call may have taken.
fn assert_window(previous: &Value, asked: chrono::DateTime<chrono::Utc>, hours: i64) {
    let valid_until: chrono::DateTime<chrono::Utc> = previous["valid_until"]
        .as_str()
        .expect("valid_until")
        .parse()
        .expect("RFC 3339");
    let window = valid_until - asked;
    let expected = chrono::Duration::hours(hours);
    assert!(
        window >= expected && window < expected + chrono::Duration::minutes(1),
        "valid until {valid_until}, asked at {asked}, overlap {hours} h"
    );
}

const PROVEN: &str = "22000000";
const UNKNOWN_SYS_ID: &str = "10000002";
const SIGNATURE_INVALID: &str = "10000001";

fn fingerprint_of(key: &RsaPrivateKey) -> String {
    key.public_key().sha256_fingerprint()
}

/// Puts the end of `sys_id`'s overlap window at `at`, as if that much time had passed.
async fn set_valid_until(db: &nkpay_store::Db, sys_id: &str, at: chrono::DateTime<chrono::Utc>) {
    use nkpay_store::entity::service_provider;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let res = service_provider::Entity::update_many()
        .col_expr(
            service_provider::Column::PreviousKeyValidUntil,
            Expr::value(at),
        )
        .filter(service_provider::Column::SysId.eq(sys_id))
        .exec(db.conn())
        .await
        .expect("update");
    assert_eq!(res.rows_affected, 1);
}

#[actix_web::test]
async fn a_replaced_key_verifies_until_its_overlap_ends_and_the_new_one_at_once() {
    for t in databases().await {
        let l = t.label;
        // This test moves the overlap window in the database behind the engine's back, so the
        // engine reads its callers on every request (a change through the engine empties its
        // cache itself: a_suspension_takes_effect_…).
        let console = Console::with_config(
            &t.db,
            EngineConfig {
                merchant_refresh: Duration::ZERO,
                ..EngineConfig::default()
            },
        )
        .await;
        let app =
            test::init_service(app(console.engine.clone()).configure(nkpay_api::open::configure))
                .await;
        let admin = console.admin_token().await;
        let (old, new, stranger) = (
            RsaPrivateKey::generate_2048().unwrap(),
            RsaPrivateKey::generate_2048().unwrap(),
            RsaPrivateKey::generate_2048().unwrap(),
        );
        let res = test::call_service(
            &app,
            create(&admin, registered_with("ROLL1", &old)).to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{l}");
        let body: Value = test::read_body_json(res).await;
        assert_eq!(body["keys"]["current"]["fingerprint"], fingerprint_of(&old));
        assert!(body["keys"]["previous"].is_null(), "{l}");
        assert_eq!(merchant_call_code!(&app, "ROLL1", &old), PROVEN, "{l}");
        assert_eq!(
            merchant_call_code!(&app, "ROLL1", &new),
            SIGNATURE_INVALID,
            "{l}"
        );

        let asked = chrono::Utc::now();
        let res = test::call_service(
            &app,
            keys_request(
                &admin,
                "ROLL1",
                json!({ "public_key": new.public_key().to_spki_pem(), "overlap_hours": 2 }),
            )
            .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{l}");
        let body: Value = test::read_body_json(res).await;
        assert!(
            body.get("private_key").is_none(),
            "{l}: a registered key has none"
        );
        assert_eq!(body["keys"]["current"]["fingerprint"], fingerprint_of(&new));
        assert_eq!(body["public_key"], new.public_key().to_spki_pem().trim());
        let previous = &body["keys"]["previous"];
        assert_eq!(previous["fingerprint"], fingerprint_of(&old), "{l}");
        assert_eq!(previous["accepted"], true, "{l}");
        assert_window(previous, asked, 2);

        // Within the overlap both keys verify; any other key does not.
        assert_eq!(merchant_call_code!(&app, "ROLL1", &new), PROVEN, "{l}");
        assert_eq!(merchant_call_code!(&app, "ROLL1", &old), PROVEN, "{l}");
        assert_eq!(
            merchant_call_code!(&app, "ROLL1", &stranger),
            SIGNATURE_INVALID,
            "{l}"
        );

        // Once the window is over, the old key is refused and the listing says so.
        set_valid_until(
            &t.db,
            "ROLL1",
            chrono::Utc::now() - chrono::Duration::seconds(1),
        )
        .await;
        assert_eq!(
            merchant_call_code!(&app, "ROLL1", &old),
            SIGNATURE_INVALID,
            "{l}"
        );
        assert_eq!(merchant_call_code!(&app, "ROLL1", &new), PROVEN, "{l}");
        let res = test::call_service(
            &app,
            with_bearer(
                test::TestRequest::get().uri(&format!("{BASE}/ROLL1")),
                &admin,
            )
            .to_request(),
        )
        .await;
        let body: Value = test::read_body_json(res).await;
        assert_eq!(body["keys"]["previous"]["accepted"], false, "{l}");
        assert_eq!(
            body["keys"]["previous"]["fingerprint"],
            fingerprint_of(&old)
        );

        // The window reopened (an operator's mistake undone in the database) and then ended
        // early through the API: refused at once.
        set_valid_until(
            &t.db,
            "ROLL1",
            chrono::Utc::now() + chrono::Duration::hours(1),
        )
        .await;
        assert_eq!(merchant_call_code!(&app, "ROLL1", &old), PROVEN, "{l}");
        let res = test::call_service(&app, end_overlap_request(&admin, "ROLL1").to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{l}");
        let body: Value = test::read_body_json(res).await;
        assert!(body["keys"]["previous"].is_null(), "{l}: {body}");
        assert_eq!(body["keys"]["current"]["fingerprint"], fingerprint_of(&new));
        assert_eq!(
            merchant_call_code!(&app, "ROLL1", &old),
            SIGNATURE_INVALID,
            "{l}"
        );
        assert_eq!(merchant_call_code!(&app, "ROLL1", &new), PROVEN, "{l}");
        let res = test::call_service(&app, end_overlap_request(&admin, "ROLL1").to_request()).await;
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "{l}: no previous key any more"
        );

        // A second replacement during an overlap drops the oldest key at once.
        let third = RsaPrivateKey::generate_2048().unwrap();
        for key in [&old, &third] {
            let res = test::call_service(
                &app,
                keys_request(
                    &admin,
                    "ROLL1",
                    json!({ "public_key": key.public_key().to_spki_pem() }),
                )
                .to_request(),
            )
            .await;
            assert_eq!(res.status(), StatusCode::OK, "{l}");
        }
        assert_eq!(merchant_call_code!(&app, "ROLL1", &third), PROVEN, "{l}");
        assert_eq!(merchant_call_code!(&app, "ROLL1", &old), PROVEN, "{l}");
        assert_eq!(
            merchant_call_code!(&app, "ROLL1", &new),
            SIGNATURE_INVALID,
            "{l}"
        );

        // A suspended provider stays refused whichever key signs.
        console
            .engine
            .service_providers()
            .set_status(
                &Actor::local("test"),
                "ROLL1",
                nkpay_store::kinds::RecordStatus::Disabled,
            )
            .await
            .unwrap();
        assert_eq!(merchant_call_code!(&app, "ROLL1", &old), "10000002", "{l}");
    }
}

#[actix_web::test]
async fn key_replacement_is_the_platform_admins_and_an_agent_admins_for_its_own() {
    for t in databases().await {
        let l = t.label;
        let console = Console::new(&t.db).await;
        let app =
            test::init_service(app(console.engine.clone()).configure(nkpay_api::open::configure))
                .await;
        let admin = console.admin_token().await;
        for sys_id in ["AGENTA", "AGENTB"] {
            let res =
                test::call_service(&app, create(&admin, registered(sys_id)).to_request()).await;
            assert_eq!(res.status(), StatusCode::CREATED, "{l}");
        }
        let agent = agent_token(&console, "agent-a-keys", "AGENTA").await;
        let new_key = || json!({ "public_key": RsaPrivateKey::generate_2048().unwrap().public_key().to_spki_pem() });

        let res = test::call_service(
            &app,
            test::TestRequest::post()
                .uri(&format!("{BASE}/AGENTA/keys"))
                .set_json(new_key())
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{l}");
        let mut calls = Vec::new();
        for role in [AdminRole::Operator, AdminRole::Finance, AdminRole::ReadOnly] {
            let token = console.token(role).await;
            calls.push((
                keys_request(&token, "AGENTA", new_key()),
                StatusCode::FORBIDDEN,
            ));
            calls.push((end_overlap_request(&token, "AGENTA"), StatusCode::FORBIDDEN));
        }
        calls.extend([
            // An agent admin replaces its own provider's key and ends its overlap; another
            // provider's is not found to it.
            (keys_request(&agent, "AGENTA", new_key()), StatusCode::OK),
            (end_overlap_request(&agent, "AGENTA"), StatusCode::OK),
            (
                keys_request(&agent, "AGENTB", new_key()),
                StatusCode::NOT_FOUND,
            ),
            (end_overlap_request(&agent, "AGENTB"), StatusCode::NOT_FOUND),
            // The platform admin replaces any; an unknown provider is not found.
            (keys_request(&admin, "AGENTB", new_key()), StatusCode::OK),
            (
                keys_request(&admin, "NOPE", new_key()),
                StatusCode::NOT_FOUND,
            ),
            (end_overlap_request(&admin, "NOPE"), StatusCode::NOT_FOUND),
        ]);
        for (i, (request, status)) in calls.into_iter().enumerate() {
            let res = test::call_service(&app, request.to_request()).await;
            assert_eq!(res.status(), status, "call {i} {l}");
        }

        let log = audit_log::page(t.db.conn(), i64::MAX, 50).await.unwrap();
        let by_agent = log
            .iter()
            .find(|e| {
                e.action == "service_provider.key_replace" && e.target == "service_provider:AGENTA"
            })
            .expect("agent's replacement audited");
        assert_eq!(by_agent.actor, "token:agent-a-keys", "{l}");
        assert!(
            !log.iter()
                .any(|e| e.target == "service_provider:AGENTB" && e.actor == "token:agent-a-keys"),
            "{l}: nothing of AGENTB done by AGENTA's admin"
        );
    }
}

#[actix_web::test]
async fn bad_replacements_are_refused_by_name() {
    for t in databases().await {
        let l = t.label;
        let console = Console::new(&t.db).await;
        let app =
            test::init_service(app(console.engine.clone()).configure(nkpay_api::open::configure))
                .await;
        let admin = console.admin_token().await;
        let key = provider(&console, "BADK1").await;
        let fresh = || {
            RsaPrivateKey::generate_2048()
                .unwrap()
                .public_key()
                .to_spki_pem()
        };
        for (body, field) in [
            (json!({ "public_key": "not a key" }), "public_key"),
            (
                json!({ "public_key": key.public_key().to_spki_pem() }),
                "public_key",
            ),
            (
                json!({ "public_key": key.public_key().to_spki_base64() }),
                "public_key",
            ),
            (
                json!({ "public_key": fresh(), "generate": true }),
                "public_key",
            ),
            (json!({}), "public_key"),
            (
                json!({ "public_key": fresh(), "overlap_hours": 0 }),
                "overlap_hours",
            ),
            (
                json!({ "public_key": fresh(), "overlap_hours": 721 }),
                "overlap_hours",
            ),
            (
                json!({ "public_key": fresh(), "overlap_hours": "72" }),
                "overlap_hours",
            ),
            (
                json!({ "public_key": fresh(), "overlap_hours": 1.5 }),
                "overlap_hours",
            ),
            (json!({ "public_key": fresh(), "overlap": 3 }), "body"),
        ] {
            let res = test::call_service(
                &app,
                keys_request(&admin, "BADK1", body.clone()).to_request(),
            )
            .await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body} {l}");
            let reply: Value = test::read_body_json(res).await;
            let error = reply["error"].as_str().unwrap();
            assert!(error.starts_with(field), "{body}: {error}");
        }
        // Nothing changed: the registered key is still the only one.
        let row = merchants::find_service_provider(t.db.conn(), "BADK1")
            .await
            .unwrap()
            .unwrap();
        assert!(row.previous_rsa_public_key.is_none(), "{l}");
        assert_eq!(
            nkpay_engine::service_providers::fingerprint(&row.rsa_public_key),
            Some(fingerprint_of(&key))
        );
        // The edges of the window are accepted.
        for hours in [1, 720] {
            let res = test::call_service(
                &app,
                keys_request(
                    &admin,
                    "BADK1",
                    json!({ "public_key": fresh(), "overlap_hours": hours }),
                )
                .to_request(),
            )
            .await;
            assert_eq!(res.status(), StatusCode::OK, "{hours} {l}");
        }
    }
}

#[actix_web::test]
async fn a_generated_replacement_key_is_shown_once_and_audited_by_fingerprint() {
    for t in databases().await {
        let l = t.label;
        let console = Console::new(&t.db).await;
        let app =
            test::init_service(app(console.engine.clone()).configure(nkpay_api::open::configure))
                .await;
        let admin = console.admin_token().await;
        let old = provider(&console, "GENK1").await;

        let asked = chrono::Utc::now();
        let res = test::call_service(
            &app,
            keys_request(&admin, "GENK1", json!({ "generate": true })).to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{l}");
        let body: Value = test::read_body_json(res).await;
        let private =
            RsaPrivateKey::from_pem_or_base64(body["private_key"].as_str().expect("shown"))
                .expect("a private key");
        assert_eq!(
            body["keys"]["current"]["fingerprint"],
            fingerprint_of(&private),
            "{l}"
        );
        assert_window(&body["keys"]["previous"], asked, 72); // the default
        assert_eq!(merchant_call_code!(&app, "GENK1", &private), PROVEN, "{l}");
        assert_eq!(merchant_call_code!(&app, "GENK1", &old), PROVEN, "{l}");

        // Never again: not in the listing, the row, nor the audit log.
        for uri in [BASE.to_owned(), format!("{BASE}/GENK1")] {
            let res = test::call_service(
                &app,
                with_bearer(test::TestRequest::get().uri(&uri), &admin).to_request(),
            )
            .await;
            let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
            assert!(!text.contains("PRIVATE KEY"), "{uri} {l}");
            assert!(!text.contains("private_key"), "{uri} {l}");
        }
        let row = merchants::find_service_provider(t.db.conn(), "GENK1")
            .await
            .unwrap()
            .unwrap();
        assert!(!format!("{row:?}").contains("PRIVATE"), "{l}");

        let res = test::call_service(&app, end_overlap_request(&admin, "GENK1").to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{l}");

        let log = audit_log::page(t.db.conn(), i64::MAX, 20).await.unwrap();
        let replaced = log
            .iter()
            .find(|e| e.action == "service_provider.key_replace")
            .expect("replacement audited");
        assert!(replaced.actor.starts_with("token:"), "{}", replaced.actor);
        assert_eq!(replaced.target, "service_provider:GENK1");
        assert_eq!(replaced.address.as_deref(), Some("192.0.2.44"));
        assert_eq!(
            replaced.detail["before"]["current"],
            fingerprint_of(&old),
            "{l}"
        );
        assert!(replaced.detail["before"]["previous"].is_null(), "{l}");
        assert_eq!(
            replaced.detail["after"]["current"],
            fingerprint_of(&private),
            "{l}"
        );
        assert_eq!(
            replaced.detail["after"]["previous"],
            fingerprint_of(&old),
            "{l}"
        );
        assert!(
            replaced.detail["after"]["previous_valid_until"].is_string(),
            "{l}"
        );
        assert_eq!(replaced.detail["overlap_hours"], 72);
        assert_eq!(replaced.detail["generated"], true);
        let ended = log
            .iter()
            .find(|e| e.action == "service_provider.key_overlap_end")
            .expect("early end audited");
        assert_eq!(ended.address.as_deref(), Some("192.0.2.45"));
        assert_eq!(
            ended.detail["before"]["previous"],
            fingerprint_of(&old),
            "{l}"
        );
        assert!(ended.detail["after"]["previous"].is_null(), "{l}");
        for entry in log.iter().filter(|e| e.target == "service_provider:GENK1") {
            let text = entry.detail.to_string();
            assert!(
                !text.contains("PRIVATE") && !text.contains("PUBLIC KEY"),
                "{}: {text}",
                entry.action
            );
        }
    }
}

/// The fingerprint is the SHA-256 of the key's SubjectPublicKeyInfo DER, whichever form the key
/// was registered in (the value below is `openssl pkey -pubin -outform DER | sha256sum` of the
/// crypto crate's test key).
#[actix_web::test]
async fn the_fingerprint_is_the_sha256_of_the_spki_der() {
    const SPKI: &str = include_str!("../../nkpay-crypto/tests/data/pub-spki.pem");
    const PKCS1: &str = include_str!("../../nkpay-crypto/tests/data/pub-pkcs1.pem");
    const EXPECTED: &str = "3497a4d38223c8bf706394d6257d08797b49c66ed8a8955d5e60d2eb748b81bb";
    for t in databases().await {
        let console = Console::new(&t.db).await;
        let app =
            test::init_service(app(console.engine.clone()).configure(nkpay_api::open::configure))
                .await;
        let admin = console.admin_token().await;
        let res = test::call_service(
            &app,
            create(&admin, json!({ "sys_id": "FP1", "product_id": "NKPAY", "name": "FP", "public_key": PKCS1 }))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{}", t.label);
        let body: Value = test::read_body_json(res).await;
        assert_eq!(
            body["keys"]["current"]["fingerprint"], EXPECTED,
            "{}",
            t.label
        );
        // The same key in its SPKI form is the same key: not a replacement.
        let res = test::call_service(
            &app,
            keys_request(&admin, "FP1", json!({ "public_key": SPKI })).to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{}", t.label);
    }
    assert_eq!(
        nkpay_engine::service_providers::fingerprint(SPKI).as_deref(),
        Some(EXPECTED)
    );
}

/// The window's edge with an injected clock: the previous key verifies up to just before
/// `valid_until` and not at it; the current key at any time; a merchant's caller has no
/// previous key.
#[actix_web::test]
async fn the_previous_key_verifies_strictly_before_valid_until() {
    use nkpay_engine::callers::{Caller, CallerKind, PreviousKey};
    let (current, previous) = (
        RsaPrivateKey::generate_2048().unwrap(),
        RsaPrivateKey::generate_2048().unwrap(),
    );
    let until: chrono::DateTime<chrono::Utc> = "2026-12-02T15:00:00Z".parse().unwrap();
    let caller = Caller {
        sys_id: "EDGE1".into(),
        kind: CallerKind::ServiceProvider,
        public_key: current.public_key(),
        previous_key: Some(PreviousKey {
            public_key: previous.public_key(),
            valid_until: until,
        }),
    };
    let signed_with = |key: &RsaPrivateKey| {
        let data = r#"{"req_seq_id":"E1","huifu_id":"6666000000000001"}"#;
        let sign = nkpay_crypto::envelope::sign_request_data(
            data,
            nkpay_crypto::envelope::KeyOrder::TopLevel,
            key,
        )
        .unwrap()
        .sign;
        let body =
            format!(r#"{{"sys_id":"EDGE1","product_id":"NKPAY","data":{data},"sign":"{sign}"}}"#);
        nkpay_crypto::envelope::parse(body.as_bytes()).unwrap()
    };
    let (by_current, by_previous) = (signed_with(&current), signed_with(&previous));
    let just_before = until - chrono::Duration::milliseconds(1);
    let long_after = until + chrono::Duration::days(400);
    assert!(caller.signed(&by_previous, just_before));
    assert!(!caller.signed(&by_previous, until));
    assert!(!caller.signed(&by_previous, long_after));
    assert!(caller.signed(&by_current, just_before));
    assert!(caller.signed(&by_current, long_after));
    let merchant = Caller {
        kind: CallerKind::Merchant,
        previous_key: None,
        ..caller
    };
    assert!(!merchant.signed(&by_previous, just_before));
}

/// Two replacements at once are applied one after the other (compare-and-set on the current
/// key): the later one keeps the earlier one's key as previous, not the original key.
#[actix_web::test]
async fn concurrent_replacements_keep_the_key_each_one_replaced() {
    use nkpay_engine::service_providers::{KeyReplacement, ProviderKey};
    for t in databases().await {
        let l = t.label;
        let console = Console::new(&t.db).await;
        let original = provider(&console, "RACE1").await;
        let (a, b) = (
            RsaPrivateKey::generate_2048().unwrap(),
            RsaPrivateKey::generate_2048().unwrap(),
        );
        let admin = Actor::local("test");
        let service = console.engine.service_providers();
        let replace = |key: &RsaPrivateKey| {
            service.replace_key(
                &admin,
                "RACE1",
                KeyReplacement {
                    key: ProviderKey::Registered(key.public_key().to_spki_pem()),
                    overlap_hours: None,
                },
            )
        };
        let (ra, rb) = futures::join!(replace(&a), replace(&b));
        ra.expect("first").expect("found");
        rb.expect("second").expect("found");
        let row = merchants::find_service_provider(t.db.conn(), "RACE1")
            .await
            .unwrap()
            .unwrap();
        let fp = |text: &str| nkpay_engine::service_providers::fingerprint(text).unwrap();
        let current = fp(&row.rsa_public_key);
        let previous = fp(row.previous_rsa_public_key.as_deref().expect("previous"));
        let (fa, fb) = (fingerprint_of(&a), fingerprint_of(&b));
        assert!(
            (current == fa && previous == fb) || (current == fb && previous == fa),
            "{l}: the later replacement must keep the earlier new key, not {}",
            if previous == fingerprint_of(&original) {
                "the original"
            } else {
                "another"
            }
        );
        let log = audit_log::page(t.db.conn(), i64::MAX, 20).await.unwrap();
        let replacements = log
            .iter()
            .filter(|e| e.action == "service_provider.key_replace")
            .count();
        assert_eq!(replacements, 2, "{l}");
    }
}

/// Asks a node's merchant API ([`merchant_call`] as `NODES1` signed with `key`) until it
/// answers `wanted`: `Ok(())`, or `Err` at once at any answer but `wanted` and `meanwhile`, and
/// when still `meanwhile` after a minute (sixty times node B's `merchant_refresh`).
macro_rules! until_node_b_answers {
    ($app:expr, $key:expr, $wanted:expr, $meanwhile:expr) => {{
        let started = Instant::now();
        loop {
            let code = merchant_call_code!($app, "NODES1", $key);
            if code == $wanted {
                break Ok(());
            }
            if code != $meanwhile {
                break Err(format!("answered {code}"));
            }
            if started.elapsed() > Duration::from_secs(60) {
                break Err(format!("still {code} after a minute"));
            }
            // Polling interval only: the answer above is what is waited for.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }};
}

/// Three nodes over one database, each with the provider's calls already answered (so each
/// holds the caller as read): a suspension made through node A's console is refused by A's
/// merchant API at once (the write empties A's cache when it commits) and by node C, whose
/// `merchant_refresh` is zero, at once; node B (`merchant_refresh` 1 s) refuses it once its copy is
/// that old — waited for as a condition, never a fixed sleep. Activating again through A is
/// answered at once on A and reaches B the same way.
#[actix_web::test]
async fn a_suspension_takes_effect_at_once_here_and_within_merchant_refresh_on_another_node() {
    for t in databases().await {
        let l = t.label;
        let refresh = |refresh: Duration| EngineConfig {
            merchant_refresh: refresh,
            ..EngineConfig::default()
        };
        let a = Console::with_config(&t.db, refresh(Duration::from_secs(3600))).await;
        let b = a.other_node(2, refresh(Duration::from_secs(1)));
        let c = a.other_node(3, refresh(Duration::ZERO));
        let app_a =
            test::init_service(app(a.engine.clone()).configure(nkpay_api::open::configure)).await;
        let app_b = test::init_service(app(b).configure(nkpay_api::open::configure)).await;
        let app_c = test::init_service(app(c).configure(nkpay_api::open::configure)).await;
        let admin = a.admin_token().await;
        let key = RsaPrivateKey::generate_2048().unwrap();
        let res = test::call_service(
            &app_a,
            create(&admin, registered_with("NODES1", &key)).to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{l}");
        assert_eq!(
            merchant_call_code!(&app_a, "NODES1", &key),
            PROVEN,
            "{l}: A"
        );
        assert_eq!(
            merchant_call_code!(&app_b, "NODES1", &key),
            PROVEN,
            "{l}: B"
        );
        assert_eq!(
            merchant_call_code!(&app_c, "NODES1", &key),
            PROVEN,
            "{l}: C"
        );

        let set_status = |action: &str| {
            with_bearer(
                test::TestRequest::post().uri(&format!("{BASE}/NODES1/{action}")),
                &admin,
            )
            .to_request()
        };
        let res = test::call_service(&app_a, set_status("suspend")).await;
        assert_eq!(res.status(), StatusCode::OK, "{l}");
        assert_eq!(
            merchant_call_code!(&app_a, "NODES1", &key),
            UNKNOWN_SYS_ID,
            "{l}: node A, whose cache holds the caller for an hour, still accepts the provider it suspended"
        );
        assert_eq!(
            merchant_call_code!(&app_c, "NODES1", &key),
            UNKNOWN_SYS_ID,
            "{l}: node C reads callers on every request"
        );
        let waited: Result<(), String> =
            until_node_b_answers!(&app_b, &key, UNKNOWN_SYS_ID, PROVEN);
        assert!(
            waited.is_ok(),
            "{l}: node B after the suspension: {waited:?}"
        );

        let res = test::call_service(&app_a, set_status("activate")).await;
        assert_eq!(res.status(), StatusCode::OK, "{l}");
        assert_eq!(
            merchant_call_code!(&app_a, "NODES1", &key),
            PROVEN,
            "{l}: A"
        );
        let waited: Result<(), String> =
            until_node_b_answers!(&app_b, &key, PROVEN, UNKNOWN_SYS_ID);
        assert!(
            waited.is_ok(),
            "{l}: node B after the activation: {waited:?}"
        );
    }
}
