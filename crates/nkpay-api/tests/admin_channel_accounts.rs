//! The platform's channel accounts through `/admin/api/channel-accounts`, on SQLite and
//! PostgreSQL: each role's reach (401/403/200), a WeChat Pay account and an Alipay ISV app
//! registered with their secrets sealed at rest and never in a reply, field-named refusals, and
//! the registration's audit row without secrets; disable/enable and credential replacement
//! audited before → after; the client certificate as a PEM pair or PKCS#12 (key checked,
//! expiry stored and shown, an expired one refused); and a disabled account that takes no new
//! trade but finishes the one it has (paid by notify, queried, refunded by notify), and takes
//! new ones at once when enabled again (a refused route is not kept); the test call
//! against the in-process sandbox; and the audited address behind a trusted proxy.

mod console_support;
mod refunds_support;
mod support;

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

/// A self-signed client certificate valid until `not_after` (made up) and its key.
fn certificate(not_after: (i32, u8, u8)) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["1900000109".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    (params.self_signed(&key).unwrap(), key)
}

/// `cert` and `key` as a PKCS#12 bundle under `password`, base64.
fn pkcs12_base64(cert: &rcgen::Certificate, key: &rcgen::KeyPair, password: &str) -> String {
    use base64::Engine as _;
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let entry = PrivateKeyChain::new(
        b"1".to_vec(),
        PrivateKey::from_der(&key.serialize_der()).unwrap(),
        [Certificate::from_der(cert.der()).unwrap()],
    );
    let mut store = KeyStore::new();
    store.add_entry("apiclient", KeyStoreEntry::PrivateKeyChain(entry));
    base64::engine::general_purpose::STANDARD.encode(store.writer(password).write().unwrap())
}

async fn audit_of(
    db: &nkpay_store::Db,
    action: &str,
) -> Vec<nkpay_store::entity::audit_log::Model> {
    audit_log::page(db.conn(), i64::MAX, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

#[actix_web::test]
async fn accounts_are_disabled_enabled_and_their_credentials_replaced_with_audit() {
    for t in databases().await {
        let console = Console::new(&t.db).await;
        let app = test::init_service(app(console.engine.clone())).await;
        let admin = console.admin_token().await;
        let operator = console.token(AdminRole::Operator).await;
        let call = |method: test::TestRequest, uri: String, token: &str| {
            with_bearer(method.uri(&uri), token).peer_addr("203.0.113.5:1234".parse().unwrap())
        };
        let res = test::call_service(
            &app,
            call(test::TestRequest::post(), BASE.into(), &admin)
                .set_json(wechat())
                .to_request(),
        )
        .await;
        let created: Value = test::read_body_json(res).await;
        let id = created["id"].as_i64().unwrap();
        assert_eq!(created["version"], 1, "{}", t.label);
        assert_eq!(created["status"], "active");

        let post = |what: &str, token: &str| {
            call(
                test::TestRequest::post(),
                format!("{BASE}/{id}/{what}"),
                token,
            )
            .to_request()
        };
        let res = test::call_service(&app, post("disable", &operator)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{}", t.label);
        let res = test::call_service(&app, post("disable", &admin)).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", t.label);
        let disabled: Value = test::read_body_json(res).await;
        assert_eq!(disabled["status"], "disabled");
        assert_eq!(disabled["version"], 2);
        // Asking again changes nothing.
        let again: Value =
            test::read_body_json(test::call_service(&app, post("disable", &admin)).await).await;
        assert_eq!(again["version"], 2, "{}", t.label);
        let enabled: Value =
            test::read_body_json(test::call_service(&app, post("enable", &admin)).await).await;
        assert_eq!(
            (enabled["status"].as_str(), enabled["version"].as_i64()),
            (Some("active"), Some(3))
        );
        let res = test::call_service(
            &app,
            call(
                test::TestRequest::post(),
                format!("{BASE}/999999/disable"),
                &admin,
            )
            .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{}", t.label);

        let disable = audit_of(&t.db, "channel_account.disable").await;
        assert_eq!(disable.len(), 1, "{}", t.label);
        assert_eq!(disable[0].address.as_deref(), Some("203.0.113.5"));
        assert!(
            disable[0].actor.starts_with("token:platform-admin"),
            "{}",
            disable[0].actor
        );
        assert_eq!(disable[0].target, format!("channel_account:{id}"));
        assert_eq!(disable[0].detail["before"]["status"], "active");
        assert_eq!(disable[0].detail["after"]["status"], "disabled");
        let enable = audit_of(&t.db, "channel_account.enable").await;
        assert_eq!(enable[0].detail["before"]["status"], "disabled");
        assert_eq!(enable[0].detail["after"]["status"], "active");

        // Credentials replaced, the certificate as PKCS#12: sealed, version bumped, expiry shown.
        let stored_before = accounts::find_channel_account(t.db.conn(), id)
            .await
            .unwrap()
            .unwrap();
        let (cert, key) = certificate((2099, 12, 31));
        let new_key = "NEWk3yk3yK3yk3yK3yk3yK3yk3yK3y02";
        let mut replacement = wechat();
        replacement["api_key"] = new_key.into();
        replacement["client_cert_p12"] = pkcs12_base64(&cert, &key, "1900000109").into();
        replacement["client_cert_p12_password"] = "1900000109".into();
        let put = |body: Value, token: &str| {
            call(
                test::TestRequest::put(),
                format!("{BASE}/{id}/credentials"),
                token,
            )
            .set_json(body)
            .to_request()
        };
        let res = test::call_service(&app, put(replacement.clone(), &operator)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{}", t.label);
        let res = test::call_service(&app, put(replacement, &admin)).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", t.label);
        let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        assert!(
            !text.contains(new_key) && !text.contains("PRIVATE"),
            "{text}"
        );
        let replaced: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(replaced["version"], 4, "{}", t.label);
        assert_eq!(replaced["status"], "active");
        assert_eq!(replaced["client_certificate"], "set");
        assert_eq!(replaced["cert_not_after"], "2099-12-31T00:00:00Z", "{text}");
        assert!(
            replaced["cert_expires_in_days"].as_i64().unwrap() > 365 * 70,
            "{text}"
        );
        let stored = accounts::find_channel_account(t.db.conn(), id)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(stored.wx_api_key_sealed, stored_before.wx_api_key_sealed);
        assert!(!stored.wx_client_key_sealed.unwrap().contains("PRIVATE KEY"));
        let read: Value = test::read_body_json(
            test::call_service(
                &app,
                call(test::TestRequest::get(), format!("{BASE}/{id}"), &operator).to_request(),
            )
            .await,
        )
        .await;
        assert_eq!(read["cert_not_after"], "2099-12-31T00:00:00Z");
        let audited = audit_of(&t.db, "channel_account.credentials").await;
        assert_eq!(audited.len(), 1, "{}", t.label);
        let detail = audited[0].detail.to_string();
        assert!(
            !detail.contains(new_key) && !detail.contains(API_KEY) && !detail.contains("PRIVATE"),
            "{detail}"
        );
        assert_eq!(audited[0].detail["before"]["version"], 3);
        assert_eq!(audited[0].detail["after"]["version"], 4);
        assert_eq!(
            audited[0].detail["before"]["secrets_replaced"],
            json!(["api_key", "client_certificate"])
        );

        // The PEM pair works the same way.
        let (cert, key) = certificate((2098, 1, 1));
        let mut pem = wechat();
        pem["client_cert_pem"] = cert.pem().into();
        pem["client_key_pem"] = key.serialize_pem().into();
        let res = test::call_service(&app, put(pem, &admin)).await;
        let body: Value = test::read_body_json(res).await;
        assert_eq!(body["cert_not_after"], "2098-01-01T00:00:00Z", "{body}");
        assert_eq!(body["version"], 5);

        // An Alipay body for a WeChat account names the channel.
        let alipay = json!({
            "channel": "alipay", "name": "ISV", "gateway_url": "", "app_id": "2021",
            "app_private_key": "x", "alipay_public_key": "x", "isv_pid": "2088",
        });
        let res = test::call_service(&app, put(alipay, &admin)).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{}", t.label);
        let body: Value = test::read_body_json(res).await;
        assert!(
            body["error"].as_str().unwrap().starts_with("channel"),
            "{body}"
        );
        let res = test::call_service(
            &app,
            call(
                test::TestRequest::put(),
                format!("{BASE}/999999/credentials"),
                &admin,
            )
            .set_json(wechat())
            .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{}", t.label);
    }
}

#[actix_web::test]
async fn a_client_certificate_that_is_expired_not_its_key_or_unreadable_is_refused() {
    for t in databases().await {
        let console = Console::new(&t.db).await;
        let app = test::init_service(app(console.engine.clone())).await;
        let admin = console.admin_token().await;
        let (expired, expired_key) = certificate((2021, 1, 1));
        let (good, good_key) = certificate((2099, 1, 1));
        let other_key = rcgen::KeyPair::generate().unwrap();
        // The WeChat body with the certificate fields in `extra`.
        let with = |extra: Value| {
            let mut body = wechat();
            if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
                body.extend(extra);
            }
            body
        };
        let pem = |cert: &rcgen::Certificate, key: &rcgen::KeyPair| json!({"client_cert_pem": cert.pem(), "client_key_pem": key.serialize_pem()});
        let p12 = |bundle: String, password: &str| json!({"client_cert_p12": bundle, "client_cert_p12_password": password});
        let mut both = pem(&good, &good_key);
        both["client_cert_p12"] = pkcs12_base64(&good, &good_key, "p").into();
        both["client_cert_p12_password"] = "p".into();
        let cases = [
            (pem(&expired, &expired_key), "client_cert_pem"),
            (
                p12(pkcs12_base64(&expired, &expired_key, "p"), "p"),
                "client_cert_p12",
            ),
            (pem(&good, &other_key), "client_key_pem"),
            (
                p12(pkcs12_base64(&good, &good_key, "right"), "wrong"),
                "client_cert_p12_password",
            ),
            (p12("!!not base64!!".into(), "p"), "client_cert_p12"),
            (
                json!({"client_cert_p12": pkcs12_base64(&good, &good_key, "p")}),
                "client_cert_p12_password",
            ),
            (both, "client_cert_p12"),
        ];
        let mut errors = Vec::new();
        for (extra, field) in cases {
            let res = test::call_service(
                &app,
                with_bearer(test::TestRequest::post().uri(BASE), &admin)
                    .set_json(with(extra))
                    .to_request(),
            )
            .await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{field} {}", t.label);
            let body: Value = test::read_body_json(res).await;
            let error = body["error"].as_str().unwrap();
            assert!(
                error.starts_with(&format!("{field}格式错误")),
                "{field}: {error}"
            );
            assert!(!error.contains("PRIVATE"), "{error}");
            errors.push(error.to_owned());
        }
        // The expired certificate's refusal says when it expired.
        assert!(
            errors[0].contains("2021-01-01T00:00:00+00:00"),
            "{}",
            errors[0]
        );
        let listed = accounts::list_channel_accounts(t.db.conn()).await.unwrap();
        assert!(listed.is_empty(), "{}: nothing refused was stored", t.label);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disabled_account_takes_no_new_trade_but_finishes_the_one_it_has() {
    use nkpay_core::state::{RefundStatus, TradeStatus};
    use nkpay_core::trade_type::ChannelKind;
    use refunds_support::{JSPAY, QUERY, accepted, refund_config};
    use support::{MER_A, MP_APPID, NOTIFY_URL, Platform};

    for p in Platform::all_with(refund_config()).await {
        let placed = p.unpaid_trade(ChannelKind::Wechat, "5.00").await;
        let account = accounts::find_default_account(p.db.conn(), ChannelKind::Wechat)
            .await
            .unwrap()
            .unwrap();
        let by = nkpay_engine::Actor::local("test");
        p.engine
            .channel_accounts()
            .set_enabled(&by, account.id, false)
            .await
            .unwrap()
            .unwrap();
        let orders_before = p.state().wechat.orders.len();

        // A new trade routed to it is refused before anything goes upstream.
        let wx = json!({"sub_appid": MP_APPID, "sub_openid": "o_disabled"}).to_string();
        let r =
            p.sp.call(
                JSPAY,
                p.jspay_data(MER_A, "T_JSAPI", json!({ "wx_data": wx })),
            )
            .await;
        assert_eq!(r.code(), "22000001", "{}: {:?}", p.label, r.data);
        assert!(
            r.desc().contains("disabled") && r.desc().contains(&account.name),
            "{}",
            r.desc()
        );
        assert_eq!(p.state().wechat.orders.len(), orders_before, "{}", p.label);

        // The trade already placed on it is paid (its notify accepted), queried and refunded
        // (the refund notify verified by the disabled account).
        p.pay_wechat(&placed.prompt).await;
        let paid = p.wait_final(&placed.nkp_seq_id).await;
        assert_eq!(paid.status, TradeStatus::Succeeded, "{}", p.label);
        let q =
            p.sp.call(
                QUERY,
                json!({ "mer_id": MER_A, "org_nkp_seq_id": placed.nkp_seq_id }),
            )
            .await;
        assert_eq!(
            (q.code(), q.get("trans_stat")),
            ("00000000", "S"),
            "{}",
            p.label
        );
        let mut refund = p.refund_data(&placed, "5.00");
        refund["notify_url"] = json!(NOTIFY_URL);
        let reply = p.sp.call(refunds_support::REFUND, refund).await;
        assert!(accepted(&reply), "{}: {reply:?}", p.label);
        let done = p.final_refund(reply.get("nkp_seq_id")).await;
        assert_eq!(done.status, RefundStatus::Succeeded, "{}", p.label);

        // A refused route is never kept (only rows that gave a route are): the account enabled
        // again behind this engine's back, as another node or `nkpay admin` would, takes the
        // next trade at once.
        accounts::set_channel_account_status(
            p.db.conn(),
            account.id,
            nkpay_store::kinds::RecordStatus::Active,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        let r =
            p.sp.call(
                JSPAY,
                p.jspay_data(MER_A, "T_JSAPI", json!({ "wx_data": wx })),
            )
            .await;
        assert_eq!(r.code(), "00000100", "{}: {:?}", p.label, r.data);
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_test_call_proves_the_credentials_against_the_sandbox() {
    use nkpay_core::secret::Secret;
    use nkpay_core::trade_type::ChannelKind;
    use nkpay_engine::channel_accounts::{AccountCredentials, WechatAccountSetup};
    use nkpay_engine::onboarding::NewAlipayAccount;

    for p in support::Platform::all().await {
        let by = nkpay_engine::Actor::local("test");
        let mut tokens = Vec::new();
        for role in [AdminRole::PlatformAdmin, AdminRole::Operator] {
            let name = format!("tester-{role}");
            let made = p
                .engine
                .admin_identity()
                .create_token(&by, &name, role, None);
            tokens.push(made.await.unwrap().token.into_inner());
        }
        let (admin, operator) = (tokens[0].clone(), tokens[1].clone());
        let http = reqwest::Client::new();
        let test_call = |id: i64, token: String| {
            let request = http
                .post(format!("{}{BASE}/{id}/test", p.base_url))
                .bearer_auth(token);
            async move {
                let res = request.send().await.unwrap();
                let status = res.status().as_u16();
                (status, res.json::<Value>().await.unwrap())
            }
        };
        let rows = accounts::list_channel_accounts(p.db.conn()).await.unwrap();
        let wx = rows
            .iter()
            .find(|a| a.channel == ChannelKind::Wechat)
            .unwrap();
        let ali = rows
            .iter()
            .find(|a| a.channel == ChannelKind::Alipay)
            .unwrap();

        for account in [wx, ali] {
            let (status, body) = test_call(account.id, admin.clone()).await;
            assert_eq!(status, 200, "{}: {body}", p.label);
            assert_eq!(
                body["ok"],
                true,
                "{} {}: {body}",
                p.label,
                account.channel.as_str()
            );
            assert!(
                body["code"].is_string() && body["message"].is_string(),
                "{body}"
            );
        }
        let (status, _) = test_call(wx.id, operator).await;
        assert_eq!(status, 403, "{}", p.label);
        let (status, _) = test_call(999_999, admin.clone()).await;
        assert_eq!(status, 404, "{}", p.label);

        // A wrong API key and a wrong app key are told apart from the right ones.
        let wrong_wechat = WechatAccountSetup {
            name: wx.name.clone(),
            gateway_url: wx.gateway_url.clone(),
            is_default: wx.is_default,
            appid: wx.wx_appid.clone().unwrap(),
            mch_id: wx.wx_mch_id.clone().unwrap(),
            api_key: Secret::new("0123456789abcdef0123456789abcdef".into()),
            client_certificate: None,
        };
        let wrong_alipay = NewAlipayAccount {
            name: ali.name.clone(),
            gateway_url: ali.gateway_url.clone(),
            is_default: ali.is_default,
            app_id: ali.ali_app_id.clone().unwrap(),
            app_private_key: Secret::new(RsaPrivateKey::generate_2048().unwrap().to_pkcs8_pem()),
            alipay_public_key: ali.ali_public_key.clone().unwrap(),
            isv_pid: ali.ali_isv_pid.clone(),
        };
        let replaced = [
            (wx.id, AccountCredentials::Wechat(wrong_wechat)),
            (ali.id, AccountCredentials::Alipay(wrong_alipay)),
        ];
        for (id, credentials) in replaced {
            p.engine
                .channel_accounts()
                .replace_credentials(&by, id, credentials)
                .await
                .unwrap()
                .unwrap();
            let (status, body) = test_call(id, admin.clone()).await;
            assert_eq!(status, 200, "{}: {body}", p.label);
            assert_eq!(body["ok"], false, "{} account {id}: {body}", p.label);
            assert!(!body["code"].as_str().unwrap().is_empty(), "{body}");
        }
        p.stop().await;
    }
}

#[actix_web::test]
async fn the_audited_address_believes_x_forwarded_for_only_from_a_trusted_proxy() {
    use std::sync::Arc;

    use nkpay_crypto::sealed::SecretSealer;
    use nkpay_engine::config::TrustedProxies;
    use nkpay_engine::{Engine, EngineConfig, EngineParts, platform_keys};

    for t in databases().await {
        let sealer =
            Arc::new(SecretSealer::from_key_base64(&SecretSealer::generate_key_base64()).unwrap());
        let signer = platform_keys::load_or_create(&t.db, &sealer).await.unwrap();
        let engine = Arc::new(
            Engine::new(EngineParts {
                db: t.db.clone(),
                sealer,
                node_id: 1,
                signer,
                public_base_url: "http://127.0.0.1:9".into(),
                config: EngineConfig {
                    admin_trusted_proxies: TrustedProxies::parse(&["10.0.0.0/8"]).unwrap(),
                    ..EngineConfig::default()
                },
            })
            .unwrap(),
        );
        let app = test::init_service(app(engine.clone())).await;
        let by = nkpay_engine::Actor::local("test");
        let admin = engine
            .admin_identity()
            .create_token(&by, "proxied", AdminRole::PlatformAdmin, None)
            .await
            .unwrap()
            .token
            .into_inner();
        let created = engine
            .channel_accounts()
            .create_wechat(
                &by,
                nkpay_engine::channel_accounts::WechatAccountSetup {
                    name: "SP".into(),
                    gateway_url: String::new(),
                    is_default: false,
                    appid: "wx00000000000000a1".into(),
                    mch_id: "1900000109".into(),
                    api_key: nkpay_core::secret::Secret::new(API_KEY.into()),
                    client_certificate: None,
                },
            )
            .await
            .unwrap();
        // Through the trusted proxy 10.0.0.2 (which saw 203.0.113.77), then straight from an
        // outsider claiming an address of its choice.
        for (peer, what) in [
            ("10.0.0.2:5000", "disable"),
            ("198.51.100.9:5000", "enable"),
        ] {
            let res = test::call_service(
                &app,
                with_bearer(
                    test::TestRequest::post().uri(&format!("{BASE}/{}/{what}", created.id)),
                    &admin,
                )
                .insert_header(("X-Forwarded-For", "192.0.2.1, 203.0.113.77"))
                .peer_addr(peer.parse().unwrap())
                .to_request(),
            )
            .await;
            assert_eq!(res.status(), StatusCode::OK, "{}", t.label);
        }
        let address = |action: &str| {
            let db = t.db.clone();
            let action = action.to_owned();
            async move { audit_of(&db, &action).await[0].address.clone() }
        };
        assert_eq!(
            address("channel_account.disable").await.as_deref(),
            Some("203.0.113.77"),
            "{}",
            t.label
        );
        assert_eq!(
            address("channel_account.enable").await.as_deref(),
            Some("198.51.100.9"),
            "{}",
            t.label
        );
    }
}

#[actix_web::test]
async fn accounts_page_on_the_server_with_offset_and_total() {
    for t in databases().await {
        let console = Console::new(&t.db).await;
        let app = test::init_service(app(console.engine.clone())).await;
        let admin = console.admin_token().await;
        for n in 0..3 {
            let mut body = wechat();
            body["name"] = json!(format!("SP account {n}"));
            body["mch_id"] = json!(format!("190000011{n}"));
            let req = with_bearer(test::TestRequest::post().uri(BASE), &admin)
                .set_json(body)
                .to_request();
            let res = test::call_service(&app, req).await;
            assert_eq!(res.status(), StatusCode::CREATED, "{}", t.label);
        }
        let get = |query: &'static str| {
            let (app, admin) = (&app, &admin);
            async move {
                let req = with_bearer(
                    test::TestRequest::get().uri(&format!("{BASE}{query}")),
                    admin,
                )
                .to_request();
                let res = test::call_service(app, req).await;
                let status = res.status();
                let body: Value = test::read_body_json(res).await;
                (status, body)
            }
        };
        let ids = |v: &Value| -> Vec<i64> {
            v["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|a| a["id"].as_i64().expect("id"))
                .collect()
        };
        let (status, all) = get("").await;
        assert_eq!(status, StatusCode::OK, "{}: {all}", t.label);
        let every = ids(&all);
        assert!(every.len() >= 3, "{}: {all}", t.label);
        assert_eq!(all["total"], json!(every.len()), "{}", t.label);
        let (_, first) = get("?limit=2").await;
        let (_, second) = get("?limit=2&offset=2").await;
        assert_eq!(first["total"], json!(every.len()), "{}", t.label);
        assert_eq!(second["total"], json!(every.len()), "{}", t.label);
        let (a, b) = (ids(&first), ids(&second));
        assert_eq!(a, every[..2], "{}", t.label);
        assert_eq!(b, every[2..every.len().min(4)], "{}", t.label);
        assert!(a.iter().all(|id| !b.contains(id)), "{}", t.label);

        for (query, field) in [("?offset=-1", "offset"), ("?limit=0", "limit")] {
            let (status, body) = get(query).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {body}", t.label);
            assert!(
                body["error"].as_str().expect("error").starts_with(field),
                "{}: {body}",
                t.label
            );
        }
    }
}
