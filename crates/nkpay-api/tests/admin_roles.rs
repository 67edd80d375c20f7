//! The admin API's route table (`nkpay_api::admin::ROUTES`) against actix and every role, on
//! SQLite and PostgreSQL:
//!
//! - every route actix serves under `/admin/api` (read from its resource map, each method
//!   probed) has exactly one line in the table, and every line has its route — a new endpoint
//!   without a rule, or a stale rule, fails here;
//! - every line is called as each role (an API token of that role) and without a token:
//!   no token → 401, a role without the line's permission → 403, a role with it → neither
//!   (the handler's own answer to a request without a body or with made-up ids: 400, 404, ...),
//!   which also proves the services agree with the table.

mod console_support;

use std::collections::BTreeSet;

use actix_web::http::{Method, StatusCode};
use actix_web::{App, HttpRequest, HttpResponse, test, web};
use chrono::Utc;
use console_support::{Console, app};
use nkpay_api::ApiState;
use nkpay_api::admin::{Access, ROUTES};
use nkpay_engine::Actor;
use nkpay_store::kinds::AdminRole;
use nkpay_store::merchants::{self, NewServiceProvider};
use nkpay_store::testing::databases;

const SYS_ID: &str = "6666000100000000";
const ROLES: [AdminRole; 5] = [
    AdminRole::PlatformAdmin,
    AdminRole::Operator,
    AdminRole::Finance,
    AdminRole::ReadOnly,
    AdminRole::AgentAdmin,
];
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
];
/// What the probe app answers when no route took a request.
const NO_ROUTE: StatusCode = StatusCode::IM_A_TEAPOT;
/// The probe app's header naming the pattern actix routed a request to.
const ROUTED: &str = "x-routed-pattern";

/// A request path for `pattern`: every `{param}` (with or without a regex) replaced by `1`.
fn concrete(pattern: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in pattern.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push('1');
                }
                depth += 1;
            }
            '}' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The full patterns of the leaf resources in the `Debug` text of an actix `ResourceMap`: a
/// tree of `ResourceMap { pattern: ResourceDef { .. patterns: Single("..") .. }, .., nodes:
/// Some([..]) | None }`, each node's pattern relative to its parent's.
fn leaf_patterns(debug: &str) -> Vec<String> {
    struct Node {
        depth: usize,
        pattern: Option<String>,
        leaf: bool,
    }
    let bytes = debug.as_bytes();
    let mut stack: Vec<Node> = Vec::new();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let rest = &debug[i..];
        if rest.starts_with("ResourceMap {") {
            stack.push(Node {
                depth,
                pattern: None,
                leaf: false,
            });
            i += "ResourceMap ".len();
            continue;
        }
        if rest.starts_with("patterns: Single(\"") {
            let start = i + "patterns: Single(\"".len();
            depth += 1;
            let mut end = start;
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            if let Some(node) = stack.last_mut()
                && node.pattern.is_none()
            {
                node.pattern = Some(debug[start..end].to_owned());
            }
            i = end + 1;
            continue;
        }
        if rest.starts_with("nodes: None") {
            if let Some(node) = stack.last_mut() {
                node.leaf = true;
            }
            i += "nodes: None".len();
            continue;
        }
        match bytes[i] {
            b'"' => {
                // Skip any other string literal (it may hold braces).
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' => {
                depth -= 1;
                if stack
                    .last()
                    .is_some_and(|n| n.depth == depth && bytes[i] == b'}')
                {
                    let node = stack.pop().expect("node");
                    if node.leaf {
                        let mut full: String =
                            stack.iter().filter_map(|n| n.pattern.clone()).collect();
                        full.push_str(node.pattern.as_deref().unwrap_or_default());
                        out.push(full);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[actix_web::test]
async fn leaf_patterns_reads_a_nested_map() {
    let text = r#"ResourceMap { pattern: ResourceDef { patterns: Single("") }, named: {}, nodes: Some([ResourceMap { pattern: ResourceDef { patterns: Single("/a/{x}") }, nodes: None }, ResourceMap { pattern: ResourceDef { patterns: Single("/s") }, nodes: Some([ResourceMap { pattern: ResourceDef { patterns: Single("/{id}/b") }, named: {}, nodes: None }]) }]) }"#;
    assert_eq!(leaf_patterns(text), ["/a/{x}", "/s/{id}/b"]);
    assert_eq!(concrete("/a/{x}/b/{id:\\d+}"), "/a/1/b/1");
}

#[actix_web::test]
async fn every_admin_route_has_exactly_one_rule_and_every_rule_a_route() {
    let t = databases().await.into_iter().next().expect("a database");
    let console = Console::new(&t.db).await;
    // The routes alone (no guard), a probe of actix's resource map, and a default that
    // tells "no route" from any handler's answer.
    let probe = test::init_service(
        App::new()
            .app_data(web::Data::new(ApiState::new(console.engine.clone())))
            .configure(nkpay_api::admin::routes)
            .route(
                "/probe/resource-map",
                web::get().to(|req: HttpRequest| async move {
                    HttpResponse::Ok().body(format!("{:?}", req.resource_map()))
                }),
            )
            .default_service(web::to(|| async { HttpResponse::new(NO_ROUTE) }))
            .wrap_fn(|req, srv| {
                use actix_web::dev::Service;
                let fut = srv.call(req);
                async move {
                    let mut res = fut.await?;
                    if let Some(p) = res.request().match_pattern()
                        && let Ok(v) = actix_web::http::header::HeaderValue::from_str(&p)
                    {
                        res.headers_mut()
                            .insert(actix_web::http::header::HeaderName::from_static(ROUTED), v);
                    }
                    Ok(res)
                }
            }),
    )
    .await;
    let map = test::call_and_read_body(
        &probe,
        test::TestRequest::get()
            .uri("/probe/resource-map")
            .to_request(),
    )
    .await;
    let patterns: BTreeSet<String> = leaf_patterns(std::str::from_utf8(&map).expect("utf-8"))
        .into_iter()
        .filter(|p| p.starts_with("/admin/api"))
        .collect();
    assert!(patterns.len() > 40, "resource map not read: {patterns:?}");

    let mut served = BTreeSet::new();
    for pattern in &patterns {
        for method in METHODS {
            let res = test::call_service(
                &probe,
                test::TestRequest::default()
                    .method(method.clone())
                    .uri(&concrete(pattern))
                    .to_request(),
            )
            .await;
            let routed = res
                .headers()
                .get(ROUTED)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let handled = res.status() != NO_ROUTE
                && res.status() != StatusCode::METHOD_NOT_ALLOWED
                && routed.as_deref() == Some(pattern.as_str());
            if handled {
                served.insert((method.to_string(), pattern.clone()));
            }
        }
    }
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _)| (m.to_string(), (*p).to_owned()))
        .collect();
    assert_eq!(table.len(), ROUTES.len(), "a route has two lines in ROUTES");
    let unruled: Vec<_> = served.difference(&table).collect();
    assert!(
        unruled.is_empty(),
        "admin routes without a line in nkpay_api::admin::ROUTES: {unruled:?}"
    );
    let stale: Vec<_> = table.difference(&served).collect();
    assert!(
        stale.is_empty(),
        "lines in nkpay_api::admin::ROUTES without a route: {stale:?}"
    );
}

#[actix_web::test]
async fn each_role_gets_exactly_the_routes_its_permissions_allow() {
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
        .expect("service provider");
        let console = Console::new(&t.db).await;
        let identity = console.engine.admin_identity();
        // A spare token first: the made-up id `1` of `DELETE /admin/api/tokens/{id}` revokes
        // it, not a role's.
        identity
            .create_token(&Actor::local("test"), "spare", AdminRole::ReadOnly, None)
            .await
            .expect("spare token");
        let mut tokens = Vec::new();
        for role in ROLES {
            let sys_id = (role == AdminRole::AgentAdmin).then_some(SYS_ID);
            let made = identity
                .create_token(&Actor::local("test"), &format!("m-{role}"), role, sys_id)
                .await
                .expect("token");
            tokens.push((role, made.token.into_inner()));
        }
        let app = test::init_service(app(console.engine.clone())).await;
        let mut checked = 0;
        for (method, pattern, access) in ROUTES {
            let Access::Needs(permission) = access else {
                continue;
            };
            let path = concrete(pattern);
            let call = |token: Option<&str>| {
                let mut req = test::TestRequest::default()
                    .method(method.clone())
                    .uri(&path);
                if let Some(token) = token {
                    req = req.insert_header(("Authorization", format!("Bearer {token}")));
                }
                req.to_request()
            };
            let res = test::call_service(&app, call(None)).await;
            assert_eq!(
                res.status(),
                StatusCode::UNAUTHORIZED,
                "{}: {method} {pattern} without a token",
                t.label
            );
            for (role, token) in &tokens {
                let res = test::call_service(&app, call(Some(token))).await;
                let status = res.status();
                let body = test::read_body(res).await;
                let allowed = Actor {
                    role: *role,
                    ..Actor::local("t")
                }
                .may(*permission);
                let what = format!(
                    "{}: {method} {pattern} as {role} ({permission:?}): {status} {}",
                    t.label,
                    String::from_utf8_lossy(&body)
                );
                if allowed {
                    assert!(
                        ![
                            StatusCode::UNAUTHORIZED,
                            StatusCode::FORBIDDEN,
                            StatusCode::INTERNAL_SERVER_ERROR
                        ]
                        .contains(&status),
                        "allowed, but {what}"
                    );
                } else {
                    assert_eq!(status, StatusCode::FORBIDDEN, "refused, but {what}");
                }
                checked += 1;
            }
        }
        assert!(checked >= 5 * 45, "{checked}");
    }
}
