//! Platform signing keys over HTTP (issue 14), on SQLite and PostgreSQL:
//!
//! - the console rotates (platform admin only; a bad `retire_after_days` or body is 400 naming
//!   it) and switches a caller's key, both audited; `GET /v2/platform/keys` (no
//!   authentication) lists every key's public half, never a private one;
//! - two nodes over one database, each serving the merchant API: after a rotation on node 1,
//!   node 2 signs replies to unknown callers with the new key within its refresh interval, a
//!   caller that has not switched keeps getting the old key (its replies verify with the old
//!   public key, as a merchant's SDK configured with it checks them), and after the switch the
//!   new one. Every reply's `X-Nkp-Key-Id` names the key that signed it.

mod console_support;
mod support;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, test, web};
use nkpay_api::ApiState;
use nkpay_crypto::envelope::{self, KeyOrder};
use nkpay_crypto::rsa_keys::RsaPublicKey;
use nkpay_engine::service_providers::{NewProvider, ProviderKey};
use nkpay_engine::{Actor, Engine, EngineParts, platform_keys};
use nkpay_store::kinds::AdminRole;
use nkpay_store::testing::databases;
use serde_json::{Value, json};
use support::{Client, MER_A, Platform, verify_reply};

/// How long a test waits for the other node to see a change: many refresh intervals.
const DEADLINE: Duration = Duration::from_secs(30);

fn bearer(req: test::TestRequest, token: &str) -> test::TestRequest {
    req.insert_header(("Authorization", format!("Bearer {token}")))
}

macro_rules! json_call {
    ($app:expr, $req:expr) => {{
        let res = test::call_service(&$app, $req.to_request()).await;
        let status = res.status();
        let body = test::read_body(res).await;
        let v: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
        (status, v)
    }};
}

#[actix_web::test]
async fn the_console_rotates_and_switches_keys_audited_and_the_public_listing_shows_both() {
    for t in databases().await {
        let console = console_support::Console::new(&t.db).await;
        let admin = console.admin_token().await;
        let operator = console.token(AdminRole::Operator).await;
        let engine = console.engine.clone();
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(ApiState::new(engine.clone())))
                .configure(nkpay_api::configure),
        )
        .await;
        let old = engine.signer().newest().key_id().to_owned();
        engine
            .service_providers()
            .create(
                &Actor::local("test"),
                NewProvider {
                    sys_id: "NKSPKEYS".into(),
                    product_id: "NKPAY".into(),
                    name: "keys".into(),
                    key: ProviderKey::Generate,
                },
            )
            .await
            .expect("provider");

        let rotate = || test::TestRequest::post().uri("/admin/api/platform-keys/rotate");
        let (status, body) = json_call!(app, bearer(rotate(), &operator));
        assert_eq!(status, StatusCode::FORBIDDEN, "{}: {body}", t.label);
        for (req, field) in [
            (
                bearer(rotate(), &admin).set_json(json!({"retire_after_days": 0})),
                "retire_after_days",
            ),
            (
                bearer(rotate(), &admin).set_json(json!({"retire_after_days": "7"})),
                "retire_after_days",
            ),
            (bearer(rotate(), &admin).set_payload("{not json"), "body"),
        ] {
            let (status, body) = json_call!(app, req);
            assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {body}", t.label);
            assert_eq!(body["field"], field, "{}: {body}", t.label);
        }
        assert_eq!(
            nkpay_store::platform_keys::list_keys(t.db.conn())
                .await
                .unwrap()
                .len(),
            1,
            "{}: nothing rotated by a refused call",
            t.label
        );

        let (status, rotated) = json_call!(
            app,
            bearer(rotate(), &admin).set_json(json!({"retire_after_days": 7}))
        );
        assert_eq!(status, StatusCode::OK, "{}: {rotated}", t.label);
        let new = rotated["key"]["key_id"].as_str().unwrap().to_owned();
        assert_ne!(new, old, "{}", t.label);
        assert_eq!(rotated["key"]["status"], "active", "{}", t.label);
        assert_eq!(rotated["replaced"]["key_id"], old, "{}", t.label);
        assert_eq!(rotated["replaced"]["status"], "retiring", "{}", t.label);
        let retire_at: chrono::DateTime<chrono::Utc> = rotated["replaced"]["retire_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let days = (retire_at - chrono::Utc::now()).num_hours();
        assert!(
            (7 * 24 - 1..=7 * 24).contains(&days),
            "{}: {days} h",
            t.label
        );

        // The public listing: no token, both keys, public halves only.
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/v2/platform/keys")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{}", t.label);
        let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        assert!(!text.contains("PRIVATE"), "{}: {text}", t.label);
        let listed: Value = serde_json::from_str(&text).unwrap();
        let keys = listed["keys"].as_array().unwrap();
        let ids: Vec<_> = keys.iter().map(|k| k["key_id"].as_str().unwrap()).collect();
        assert_eq!(ids, [new.as_str(), old.as_str()], "{}", t.label);
        for k in keys {
            let pem = k["public_key"].as_str().unwrap();
            RsaPublicKey::from_pem_or_base64(pem).expect("a usable public key");
            assert!(k["created_at"].is_string(), "{}", t.label);
        }
        assert_eq!(keys[1]["retire_at"], rotated["replaced"]["retire_at"]);

        // The provider, registered before the rotation, keeps the old key until switched.
        let (_, listing) = json_call!(
            app,
            bearer(
                test::TestRequest::get().uri("/admin/api/platform-keys"),
                &operator
            )
        );
        let of = |listing: &Value| {
            listing["assignments"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["sys_id"] == "NKSPKEYS")
                .map(|a| a["key_id"].clone())
        };
        assert_eq!(of(&listing), Some(json!(old)), "{}: {listing}", t.label);
        let assign = || test::TestRequest::post().uri("/admin/api/platform-keys/assign");
        let (status, _) = json_call!(
            app,
            bearer(assign(), &operator).set_json(json!({"sys_id": "NKSPKEYS", "key_id": new}))
        );
        assert_eq!(status, StatusCode::FORBIDDEN, "{}", t.label);
        let (status, body) = json_call!(
            app,
            bearer(assign(), &admin).set_json(json!({"sys_id": "NKSPKEYS", "key_id": "k-nope"}))
        );
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {body}", t.label);
        assert_eq!(body["field"], "key_id", "{}", t.label);
        let (status, body) = json_call!(
            app,
            bearer(assign(), &admin).set_json(json!({"sys_id": "NKSPKEYS", "key_id": new}))
        );
        assert_eq!(status, StatusCode::OK, "{}: {body}", t.label);
        let (_, listing) = json_call!(
            app,
            bearer(
                test::TestRequest::get().uri("/admin/api/platform-keys"),
                &operator
            )
        );
        assert_eq!(of(&listing), Some(json!(new)), "{}: {listing}", t.label);

        // Both writes are in the audit log.
        for action in ["platform_key.rotate", "platform_key.assign"] {
            let (status, audit) = json_call!(
                app,
                bearer(
                    test::TestRequest::get().uri(&format!("/admin/api/audit?action={action}")),
                    &admin
                )
            );
            assert_eq!(status, StatusCode::OK, "{}: {audit}", t.label);
            assert_eq!(audit["total"], 1, "{}: {action}: {audit}", t.label);
        }
    }
}

/// Serves the merchant API of `engine` on a loopback port: another node.
fn serve(engine: Arc<Engine>) -> (String, ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("addr"));
    (base_url, support::serve_on(listener, engine))
}

/// A query signed by `caller` (or claiming to be `sys_id`) posted to `base_url`: the reply's
/// `X-Nkp-Key-Id` and body, unverified.
async fn ask(caller: &Client, sys_id: &str, base_url: &str) -> (String, String) {
    let data = json!({"huifu_id": MER_A, "org_req_date": "20261129", "org_req_seq_id": "none"});
    let signed = envelope::sign_request_data(&data.to_string(), KeyOrder::TopLevel, &caller.key)
        .expect("sign");
    let body = json!({"sys_id": sys_id, "product_id": caller.product_id, "data": data, "sign": signed.sign});
    let resp = reqwest::Client::new()
        .post(format!("{base_url}{}", nkpay_api::open::QUERY))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST");
    let key_id = resp
        .headers()
        .get("x-nkp-key-id")
        .and_then(|v| v.to_str().ok())
        .expect("X-Nkp-Key-Id")
        .to_owned();
    (key_id, resp.text().await.expect("body"))
}

/// Asks until the reply is signed with `key_id` (up to [`DEADLINE`]); the reply's body.
async fn ask_until(caller: &Client, sys_id: &str, base_url: &str, key_id: &str) -> String {
    let start = Instant::now();
    loop {
        let (got, text) = ask(caller, sys_id, base_url).await;
        if got == key_id {
            return text;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{sys_id}: still signed with {got} after {DEADLINE:?}, expected {key_id}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_rotation_on_one_node_reaches_the_other_without_switching_callers_keys() {
    for p in Platform::all().await {
        let ring = platform_keys::load_or_create(&p.db, &p.sealer)
            .await
            .expect("keys")
            .with_refresh(Duration::from_secs(1));
        let node2 = Arc::new(
            Engine::new(EngineParts {
                db: p.db.clone(),
                sealer: p.sealer.clone(),
                node_id: 2,
                signer: ring,
                public_base_url: p.base_url.clone(),
                config: p.config.clone(),
            })
            .expect("engine"),
        );
        let (node2_url, node2_server) = serve(node2);
        let old = p.signer.newest();

        // Before: the callers' replies from node 2 are signed with the old key (each caller
        // is given the newest key of the time it is first seen).
        for caller in [&p.sp, &p.mer_b] {
            let (key_id, text) = ask(caller, &caller.sys_id, &node2_url).await;
            assert_eq!(key_id, old.key_id(), "{}", p.label);
            verify_reply(&text, &old.public_key());
        }

        let by = Actor::local("test");
        let new = p.engine.signing_keys().rotate(&by, 30).await.unwrap().key;
        let new_public = RsaPublicKey::from_pem_or_base64(&new.public_key).unwrap();

        // An unknown caller gets the newest key from node 2 within its interval.
        let text = ask_until(&p.sp, "NOSUCHSYSID", &node2_url, &new.key_id).await;
        let refused = verify_reply(&text, &new_public);
        assert_eq!(refused.code(), "10000002", "{}: {text}", p.label);

        // The provider has not switched: the old key still signs its replies, on both nodes.
        for url in [&node2_url, &p.base_url] {
            let (key_id, text) = ask(&p.sp, &p.sp.sys_id, url).await;
            assert_eq!(key_id, old.key_id(), "{}: {url}", p.label);
            verify_reply(&text, &old.public_key());
        }
        // The public listing of node 2 shows both, without private material.
        let listed = reqwest::get(format!("{node2_url}/v2/platform/keys"))
            .await
            .expect("GET")
            .text()
            .await
            .expect("body");
        assert!(!listed.contains("PRIVATE"), "{}: {listed}", p.label);
        assert!(
            listed.contains(&new.key_id) && listed.contains(old.key_id()),
            "{}: {listed}",
            p.label
        );

        // Switched (on node 1): node 2 follows within its interval.
        p.engine
            .signing_keys()
            .assign(&by, &p.sp.sys_id, &new.key_id)
            .await
            .unwrap();
        let text = ask_until(&p.sp, &p.sp.sys_id, &node2_url, &new.key_id).await;
        verify_reply(&text, &new_public);
        // Another caller that has not switched keeps the old key.
        let (key_id, text) = ask(&p.mer_b, &p.mer_b.sys_id, &node2_url).await;
        assert_eq!(key_id, old.key_id(), "{}", p.label);
        verify_reply(&text, &old.public_key());

        node2_server.stop(false).await;
        p.stop().await;
    }
}
