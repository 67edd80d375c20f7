//! Console sessions on SQLite and PostgreSQL (issue 13): sign-in hands out an access token and
//! a rotating refresh token; a refresh spends the token and hands out new ones; a spent token
//! presented again revokes its whole family; logout revokes the family; an expired access or
//! refresh token is refused; login throttling per account and per client address (429 with
//! `Retry-After`, the same answer for known and unknown users, `X-Forwarded-For` believed only
//! from `admin.trusted_proxies`); TOTP enrolment and sign-in with a code (each code once);
//! `GET /admin/api/me`; and the audit rows each leaves.

mod console_support;

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test;
use chrono::{TimeDelta, Utc};
use console_support::{Console, PASSWORD, app};
use nkpay_engine::EngineConfig;
use nkpay_engine::admin_identity::{AdminAuthSettings, LoginThrottle};
use nkpay_engine::config::TrustedProxies;
use nkpay_store::entity::admin_refresh_token;
use nkpay_store::kinds::AdminRole;
use nkpay_store::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use nkpay_store::testing::databases;
use nkpay_store::{Db, audit_log};
use serde_json::{Value, json};

const PEER: &str = "198.51.100.7:40000";

fn peer(addr: &str) -> SocketAddr {
    addr.parse().expect("address")
}

fn login_from(addr: &str, body: Value) -> test::TestRequest {
    test::TestRequest::post()
        .uri("/admin/api/session")
        .peer_addr(peer(addr))
        .set_json(body)
}

fn login(username: &str, password: &str) -> test::TestRequest {
    login_from(PEER, json!({ "username": username, "password": password }))
}

fn refresh(token: &str) -> test::TestRequest {
    test::TestRequest::post()
        .uri("/admin/api/session/refresh")
        .peer_addr(peer(PEER))
        .set_json(json!({ "refresh_token": token }))
}

fn logout(token: &str) -> test::TestRequest {
    test::TestRequest::delete()
        .uri("/admin/api/session")
        .peer_addr(peer(PEER))
        .set_json(json!({ "refresh_token": token }))
}

fn me(access: &str) -> test::TestRequest {
    test::TestRequest::get()
        .uri("/admin/api/me")
        .peer_addr(peer(PEER))
        .insert_header(("Authorization", format!("Bearer {access}")))
}

fn config(throttle: LoginThrottle, trusted: &[&str]) -> EngineConfig {
    EngineConfig {
        admin_auth: AdminAuthSettings {
            throttle,
            ..AdminAuthSettings::default()
        },
        admin_trusted_proxies: TrustedProxies::parse(trusted).expect("proxies"),
        ..EngineConfig::default()
    }
}

/// The audit log's `(actor, action, address)` rows, oldest first.
async fn audited(db: &Db) -> Vec<(String, String, Option<String>)> {
    let mut rows = audit_log::page(db.conn(), i64::MAX, 1000)
        .await
        .expect("audit log");
    rows.reverse();
    rows.into_iter()
        .map(|r| (r.actor, r.action, r.address))
        .collect()
}

/// The current code of `secret` (base32) for the step `ahead` steps from now.
fn totp_code(secret: &str, ahead: i64) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret).expect("base32");
    let totp = totp_rs::Builder::new()
        .with_secret(bytes.as_bytes().to_vec())
        .build()
        .expect("totp");
    let t = u64::try_from(Utc::now().timestamp() + ahead * 30).expect("time");
    totp.generate(t).to_string()
}

#[actix_web::test]
async fn sign_in_refresh_rotation_replay_and_logout() {
    for t in databases().await {
        let label = t.label;
        let console = Console::new(&t.db).await;
        console.user("ops", AdminRole::Operator, None).await;
        let app = test::init_service(app(console.engine.clone())).await;

        let res = test::call_service(&app, login("ops", PASSWORD).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{label}");
        let first: Value = test::read_body_json(res).await;
        assert_eq!(first["role"], "operator", "{label}");
        let r1 = first["refresh_token"].as_str().expect("refresh").to_owned();
        assert!(r1.starts_with("nkpref_") && r1.len() == 71, "{r1}");
        let ttl = chrono::DateTime::parse_from_rfc3339(
            first["refresh_expires_at"].as_str().expect("expiry"),
        )
        .expect("time")
        .signed_duration_since(Utc::now());
        assert!(
            (TimeDelta::days(7) - ttl).num_seconds().abs() < 60,
            "{label}: {ttl}"
        );
        // Stored only hashed.
        let stored = admin_refresh_token::Entity::find()
            .all(t.db.conn())
            .await
            .expect("rows");
        assert_eq!(stored.len(), 1);
        assert_eq!(
            stored[0].token_hash,
            nkpay_engine::admin_identity::token_hash(&r1)
        );

        // Rotation: new access and refresh tokens; the new access token works.
        let res = test::call_service(&app, refresh(&r1).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{label}");
        let second: Value = test::read_body_json(res).await;
        let r2 = second["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned();
        assert_ne!(r1, r2);
        let access2 = second["access_token"].as_str().expect("access");
        let res = test::call_service(&app, me(access2).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{label}");
        let who: Value = test::read_body_json(res).await;
        assert_eq!(
            who,
            json!({"username": "ops", "kind": "user", "role": "operator", "sys_id": null, "totp_enabled": false}),
            "{label}"
        );
        let res = test::call_service(&app, refresh(&r2).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{label}");
        let third: Value = test::read_body_json(res).await;
        let r3 = third["refresh_token"].as_str().expect("refresh").to_owned();

        // Replay of a spent token: refused, and the whole family (r3 too) is revoked.
        let res = test::call_service(&app, refresh(&r1).to_request()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{label}");
        let res = test::call_service(&app, refresh(&r3).to_request()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{label}");
        for junk in [
            "nkpref_00",
            "not-a-token",
            &format!("nkpref_{}", "a".repeat(64)),
        ] {
            let res = test::call_service(&app, refresh(junk).to_request()).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{label}: {junk}");
        }

        // Logout: a new sign-in's family revoked; refresh refused; logging out again is
        // harmless; an unknown token is 401.
        let res = test::call_service(&app, login("ops", PASSWORD).to_request()).await;
        let fresh: Value = test::read_body_json(res).await;
        let r4 = fresh["refresh_token"].as_str().expect("refresh").to_owned();
        let res = test::call_service(&app, logout(&r4).to_request()).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{label}");
        let res = test::call_service(&app, refresh(&r4).to_request()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{label}");
        let res = test::call_service(&app, logout(&r4).to_request()).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{label}");
        let res = test::call_service(&app, logout(&r3.replace('a', "b")).to_request()).await;
        assert!(
            [StatusCode::UNAUTHORIZED, StatusCode::NO_CONTENT].contains(&res.status()),
            "{label}"
        );

        let actions: Vec<_> = audited(&t.db)
            .await
            .into_iter()
            .filter(|(actor, _, _)| actor == "user:ops")
            .collect();
        let expected = [
            "session.login",
            "session.refresh",
            "session.refresh",
            "session.replay",
            "session.login",
            "session.logout",
        ];
        assert_eq!(
            actions.iter().map(|a| a.1.as_str()).collect::<Vec<_>>(),
            expected,
            "{label}: {actions:?}"
        );
        assert!(
            actions
                .iter()
                .all(|a| a.2.as_deref() == Some("198.51.100.7")),
            "{label}: {actions:?}"
        );
    }
}

#[actix_web::test]
async fn expired_access_and_refresh_tokens_are_refused() {
    for t in databases().await {
        let label = t.label;
        let console = Console::new(&t.db).await;
        console.user("fin", AdminRole::Finance, None).await;
        let app = test::init_service(app(console.engine.clone())).await;
        let expired = console
            .engine
            .admin_identity()
            .issue_access_token("fin", AdminRole::Finance, Utc::now() - TimeDelta::hours(1))
            .expect("token");
        let res = test::call_service(&app, me(expired.token.expose()).to_request()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{label}");
        assert_eq!(
            res.headers().get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );

        let res = test::call_service(&app, login("fin", PASSWORD).to_request()).await;
        let body: Value = test::read_body_json(res).await;
        let r1 = body["refresh_token"].as_str().expect("refresh").to_owned();
        admin_refresh_token::Entity::update_many()
            .col_expr(
                admin_refresh_token::Column::ExpiresAt,
                Expr::value(Utc::now() - TimeDelta::seconds(1)),
            )
            .filter(admin_refresh_token::Column::SpentAt.is_null())
            .exec(t.db.conn())
            .await
            .expect("expire");
        let res = test::call_service(&app, refresh(&r1).to_request()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{label}");
    }
}

#[actix_web::test]
async fn failed_sign_ins_are_throttled_per_account_and_per_address() {
    let throttle = LoginThrottle {
        window: Duration::from_secs(600),
        max_failures_per_account: 3,
        max_failures_per_address: 5,
    };
    for t in databases().await {
        let label = t.label;
        let console = Console::with_config(&t.db, config(throttle, &["10.0.0.0/8"])).await;
        for name in ["ops", "fin", "ro"] {
            console.user(name, AdminRole::ReadOnly, None).await;
        }
        let app = test::init_service(app(console.engine.clone())).await;
        let from = |addr: &str, user: &str, password: &str| {
            login_from(addr, json!({"username": user, "password": password})).to_request()
        };

        // Account: three failures for "ops" from A, then even the right password is 429.
        for _ in 0..3 {
            let res =
                test::call_service(&app, from("192.0.2.1:1", "ops", "wrong-password-1")).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{label}");
        }
        let res = test::call_service(&app, from("192.0.2.1:1", "OPS", PASSWORD)).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{label}");
        let retry: u64 = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!((1..=600).contains(&retry), "{label}: {retry}");
        let known = test::read_body(res).await;
        // From another address too (it is the account's limit).
        let res = test::call_service(&app, from("192.0.2.2:1", "ops", PASSWORD)).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{label}");
        // Another account from the same address is unaffected.
        let res = test::call_service(&app, from("192.0.2.1:1", "fin", PASSWORD)).await;
        assert_eq!(res.status(), StatusCode::OK, "{label}");
        // An unknown name is throttled alike, with the same answer.
        for _ in 0..3 {
            let res = test::call_service(&app, from("192.0.2.3:1", "nobody", "x")).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{label}");
        }
        let res = test::call_service(&app, from("192.0.2.4:1", "nobody", "x")).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{label}");
        assert_eq!(test::read_body(res).await, known, "{label}");

        // Address: five failures from B over five names, then B is 429 for a good login;
        // the same user from C signs in.
        for i in 0..5 {
            let res = test::call_service(&app, from("203.0.113.5:1", &format!("u{i}"), "x")).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{label}");
        }
        let res = test::call_service(&app, from("203.0.113.5:1", "ro", PASSWORD)).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{label}");
        let res = test::call_service(&app, from("203.0.113.6:1", "ro", PASSWORD)).await;
        assert_eq!(res.status(), StatusCode::OK, "{label}");

        // X-Forwarded-For from an untrusted peer is ignored: the failures count against the
        // peer, whatever it claims.
        for i in 0..5 {
            let req = login_from(
                "198.51.100.9:1",
                json!({"username": format!("v{i}"), "password": "x"}),
            )
            .insert_header(("X-Forwarded-For", format!("192.0.2.{}", 100 + i)))
            .to_request();
            let res = test::call_service(&app, req).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{label}");
        }
        let req = login_from(
            "198.51.100.9:1",
            json!({"username": "ro", "password": PASSWORD}),
        )
        .insert_header(("X-Forwarded-For", "192.0.2.200"))
        .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{label}");
        // Behind a trusted proxy the client in X-Forwarded-For is counted: five failures of
        // one client leave another client of the same proxy unaffected.
        for i in 0..5 {
            let req = login_from(
                "10.0.0.2:1",
                json!({"username": format!("w{i}"), "password": "x"}),
            )
            .insert_header(("X-Forwarded-For", "192.0.2.50"))
            .to_request();
            let res = test::call_service(&app, req).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{label}");
        }
        let proxied = |client: &str| {
            login_from(
                "10.0.0.2:1",
                json!({"username": "ro", "password": PASSWORD}),
            )
            .insert_header(("X-Forwarded-For", client.to_owned()))
            .to_request()
        };
        let res = test::call_service(&app, proxied("192.0.2.50")).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{label}");
        let res = test::call_service(&app, proxied("192.0.2.51")).await;
        assert_eq!(res.status(), StatusCode::OK, "{label}");
    }
}

#[actix_web::test]
async fn totp_enrolment_then_sign_in_needs_a_fresh_code() {
    for t in databases().await {
        let label = t.label;
        let console = Console::new(&t.db).await;
        console.user("adm", AdminRole::PlatformAdmin, None).await;
        let app = test::init_service(app(console.engine.clone())).await;
        let res = test::call_service(&app, login("adm", PASSWORD).to_request()).await;
        let body: Value = test::read_body_json(res).await;
        let access = body["access_token"].as_str().expect("access").to_owned();
        let post = |uri: &str, body: Option<Value>| {
            let req = test::TestRequest::post()
                .uri(uri)
                .peer_addr(peer(PEER))
                .insert_header(("Authorization", format!("Bearer {access}")));
            match body {
                Some(b) => req.set_json(b).to_request(),
                None => req.to_request(),
            }
        };

        let res = test::call_service(&app, post("/admin/api/me/totp", None)).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{label}");
        let enrolment: Value = test::read_body_json(res).await;
        let secret = enrolment["secret"].as_str().expect("secret").to_owned();
        assert_eq!(secret.len(), 32, "160 bits in base32: {secret}");
        let url = enrolment["otpauth_url"].as_str().expect("url");
        assert!(
            url.starts_with("otpauth://totp/nkpay:adm?") && url.contains(&secret),
            "{url}"
        );
        // Sealed at rest, not the base32 text.
        let row = nkpay_store::admin_users::find_admin_user(t.db.conn(), "adm")
            .await
            .expect("user")
            .expect("adm");
        let sealed = row.totp_secret_sealed.expect("sealed");
        assert!(!sealed.contains(&secret), "{label}");
        assert!(row.totp_enabled_at.is_none());
        // Still pending: signing in needs no code yet.
        let res = test::call_service(&app, login("adm", PASSWORD).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{label}");

        let wrong = if totp_code(&secret, 0) == "000000" {
            "111111"
        } else {
            "000000"
        };
        let res = test::call_service(
            &app,
            post("/admin/api/me/totp/confirm", Some(json!({"code": wrong}))),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{label}");
        let err: Value = test::read_body_json(res).await;
        assert!(
            err["error"]
                .as_str()
                .unwrap_or_default()
                .starts_with("code"),
            "{err}"
        );
        let res = test::call_service(
            &app,
            post(
                "/admin/api/me/totp/confirm",
                Some(json!({"code": totp_code(&secret, 0)})),
            ),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{label}");
        let res = test::call_service(&app, me(&access).to_request()).await;
        let who: Value = test::read_body_json(res).await;
        assert_eq!(who["totp_enabled"], true, "{label}");
        let res = test::call_service(&app, post("/admin/api/me/totp", None)).await;
        assert_eq!(
            res.status(),
            StatusCode::BAD_REQUEST,
            "{label}: enrolled twice"
        );

        // Without a code, or with a wrong one: the same 401 as a wrong password.
        let res = test::call_service(&app, login("adm", "wrong-password-1").to_request()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let refused = test::read_body(res).await;
        for body in [
            json!({"username": "adm", "password": PASSWORD}),
            json!({"username": "adm", "password": PASSWORD, "totp": wrong}),
        ] {
            let res = test::call_service(&app, login_from(PEER, body).to_request()).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{label}");
            assert_eq!(test::read_body(res).await, refused, "{label}");
        }
        // The next step's code (within the one step of skew) signs in — once.
        let code = totp_code(&secret, 1);
        let with_code = || {
            login_from(
                PEER,
                json!({"username": "adm", "password": PASSWORD, "totp": code}),
            )
            .to_request()
        };
        let res = test::call_service(&app, with_code()).await;
        assert_eq!(res.status(), StatusCode::OK, "{label}");
        let res = test::call_service(&app, with_code()).await;
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{label}: a code is used once"
        );

        let actions: Vec<String> = audited(&t.db)
            .await
            .into_iter()
            .filter(|(actor, _, _)| actor == "user:adm")
            .map(|(_, action, _)| action)
            .collect();
        assert_eq!(
            actions,
            [
                "session.login",
                "totp.enrol",
                "session.login",
                "totp.enable",
                "session.login"
            ],
            "{label}"
        );
    }
}

#[actix_web::test]
async fn an_api_token_has_a_me_but_no_totp() {
    for t in databases().await {
        let console = Console::new(&t.db).await;
        let token = console.token(AdminRole::Finance).await;
        let app = test::init_service(app(console.engine.clone())).await;
        let res = test::call_service(&app, me(&token).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", t.label);
        let who: Value = test::read_body_json(res).await;
        assert_eq!(who["kind"], "token");
        assert_eq!(who["role"], "finance");
        assert_eq!(who["totp_enabled"], false);
        let res = test::call_service(
            &app,
            test::TestRequest::post()
                .uri("/admin/api/me/totp")
                .insert_header(("Authorization", format!("Bearer {token}")))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{}", t.label);
    }
}
