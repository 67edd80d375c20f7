//! The platform's channel accounts through `/admin/api/channel-accounts`, on SQLite and
//! PostgreSQL: each role's reach (401/403/200), a WeChat Pay account and an Alipay ISV app
//! registered with their secrets sealed at rest and never in a reply, field-named refusals, and
//! the registration's audit row without secrets.

mod console_support;

use actix_web::http::StatusCode;
use actix_web::test;
use console_support::{Console, app};
use nkpay_crypto::rsa_keys::RsaPrivateKey;
use nkpay_store::accounts;
use nkpay_store::audit_log;
use nkpay_store::kinds::AdminRole;
use nkpay_store::testing::databases;
use serde_json::{Value, json};

const BASE: &str = "/admin/api/channel-accounts";
const API_KEY: &str = "k3yK3yk3yK3yk3yK3yk3yK3yk3yK3y01";

fn with_bearer(req: test::TestRequest, token: &str) -> test::TestRequest {
    req.insert_header(("Authorization", format!("Bearer {token}")))
}

fn wechat() -> Value {
    json!({
        "channel": "wechat",
        "name": "SP account",
        "gateway_url": "http://127.0.0.1:9/wechat",
        "appid": "wx00000000000000a1",
        "mch_id": "1900000109",
        "api_key": API_KEY,
    })
}

#[actix_web::test]
async fn accounts_are_registered_by_platform_admins_and_read_without_secrets() {
    for t in databases().await {
        let console = Console::new(&t.db).await;
        let app = test::init_service(app(console.engine.clone())).await;
        let admin = console.admin_token().await;
        let app_key = RsaPrivateKey::generate_2048().unwrap();
        let app_key_pem = app_key.to_pkcs8_pem();
        let alipay_public = RsaPrivateKey::generate_2048()
            .unwrap()
            .public_key()
            .to_spki_pem();

        let res = test::call_service(&app, test::TestRequest::get().uri(BASE).to_request()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{}", t.label);

        let post = |token: &str, body: Value| {
            with_bearer(test::TestRequest::post().uri(BASE), token)
                .set_json(body)
                .peer_addr("203.0.113.5:1234".parse().unwrap())
                .to_request()
        };
        let res = test::call_service(&app, post(&admin, wechat())).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{}", t.label);
        let created = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        assert!(!created.contains(API_KEY), "{created}");
        let wx: Value = serde_json::from_str(&created).unwrap();
        assert_eq!(wx["api_key"], "set");
        assert_eq!(wx["mch_id"], "1900000109");

        let alipay = json!({
            "channel": "alipay",
            "name": "ISV app",
            "gateway_url": "http://127.0.0.1:9/alipay",
            "app_id": "2021000000000001",
            "app_private_key": app_key_pem,
            "alipay_public_key": alipay_public,
            "isv_pid": "2088000000000001",
        });
        let res = test::call_service(&app, post(&admin, alipay)).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{}", t.label);
        let ali: Value = test::read_body_json(res).await;
        assert_eq!(ali["app_private_key"], "set");

        // Sealed at rest: the stored row holds neither secret as given.
        let stored = accounts::find_channel_account(t.db.conn(), wx["id"].as_i64().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(!stored.wx_api_key_sealed.unwrap().contains(API_KEY));
        let stored = accounts::find_channel_account(t.db.conn(), ali["id"].as_i64().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(
            !stored
                .ali_app_private_key_sealed
                .unwrap()
                .contains("PRIVATE KEY")
        );

        for role in [AdminRole::Operator, AdminRole::Finance, AdminRole::ReadOnly] {
            let token = console.token(role).await;
            for uri in [BASE.to_owned(), format!("{BASE}/{}", ali["id"])] {
                let res = test::call_service(
                    &app,
                    with_bearer(test::TestRequest::get().uri(&uri), &token).to_request(),
                )
                .await;
                assert_eq!(res.status(), StatusCode::OK, "{role} {uri} {}", t.label);
                let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
                assert!(!text.contains(API_KEY), "{role}: {text}");
                assert!(!text.contains("PRIVATE KEY"), "{role}");
            }
            let res = test::call_service(&app, post(&token, wechat())).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{role} {}", t.label);
        }
        let agent_sp = json!({
            "sys_id": "AGENTX", "product_id": "NKPAY", "name": "X", "generate": true
        });
        let res = test::call_service(
            &app,
            with_bearer(
                test::TestRequest::post().uri("/admin/api/service-providers"),
                &admin,
            )
            .set_json(agent_sp)
            .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let agent = console
            .engine
            .admin_identity()
            .create_token(
                &nkpay_engine::Actor::local("test"),
                "agent-x",
                AdminRole::AgentAdmin,
                Some("AGENTX"),
            )
            .await
            .unwrap()
            .token
            .into_inner();
        let res = test::call_service(
            &app,
            with_bearer(test::TestRequest::get().uri(BASE), &agent).to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{}", t.label);

        let log = audit_log::page(t.db.conn(), i64::MAX, 20).await.unwrap();
        let entries: Vec<_> = log
            .iter()
            .filter(|e| e.action == "channel_account.create")
            .collect();
        assert_eq!(entries.len(), 2, "{}", t.label);
        for e in entries {
            assert_eq!(e.address.as_deref(), Some("203.0.113.5"));
            let detail = e.detail.to_string();
            assert!(
                !detail.contains(API_KEY) && !detail.contains("PRIVATE"),
                "{detail}"
            );
        }
    }
}

#[actix_web::test]
async fn a_bad_account_is_refused_naming_the_field() {
    for t in databases().await {
        let console = Console::new(&t.db).await;
        let app = test::init_service(app(console.engine.clone())).await;
        let admin = console.admin_token().await;
        let mut short_key = wechat();
        short_key["api_key"] = "short".into();
        let mut half_cert = wechat();
        half_cert["client_cert_pem"] = "-----BEGIN CERTIFICATE-----".into();
        let bad_alipay = json!({
            "channel": "alipay", "name": "ISV", "gateway_url": "", "app_id": "2021",
            "app_private_key": "nope", "alipay_public_key": "nope", "isv_pid": "2088",
        });
        for (body, field) in [
            (short_key, "api_key"),
            (half_cert, "client_cert_pem"),
            (bad_alipay, "app_private_key"),
        ] {
            let res = test::call_service(
                &app,
                with_bearer(test::TestRequest::post().uri(BASE), &admin)
                    .set_json(body)
                    .to_request(),
            )
            .await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{field} {}", t.label);
            let body: Value = test::read_body_json(res).await;
            let error = body["error"].as_str().unwrap();
            assert!(error.starts_with(field), "{field}: {error}");
            assert!(!error.contains(API_KEY));
        }
    }
}
