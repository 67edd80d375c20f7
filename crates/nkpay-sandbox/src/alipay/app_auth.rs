//! Third-party app authorization (第三方应用授权): the page a merchant opens to grant an ISV app
//! (`/oauth2/appToAppAuth.htm`, as `openauth.alipay.com` serves it), and the gateway methods
//! `alipay.open.auth.token.app` (code or refresh token → tokens) and
//! `alipay.open.auth.token.app.query`.
//!
//! A grant made on the page is a new merchant: seller `user_id` `2088` + 12 digits, its own
//! `auth_app_id`, an `app_auth_token` that works at once on the gateway, an `app_refresh_token`.
//! The `app_auth_code` is single use and valid 10 minutes (channel time, scaled). A refresh
//! retires the old `app_auth_token` at once (Alipay keeps it 10 more minutes; the sandbox is
//! stricter so clients must switch) and the refresh token with it.
//!
//! Error codes: `40002 isv.code-invalid` (unknown, used or expired code, or one given to another
//! app), `40002 isv.refresh-token-invalid`, `40002 isv.grant-type-invalid`, `40001
//! isv.missing-parameter`; the query of a token never granted to the app:
//! `40002 isv.invalid-app-auth-token` (the sandbox's choice).

use std::collections::HashMap;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value};

use super::gateway::{AliError, AliResult, Call};
use crate::accounts::AlipayGrant;
use crate::ids::random_alnum;
use crate::state::{AppAuthSnapshot, PageGrantView, SandboxState, lock};

/// `app_auth_token` lifetime the replies state: 365 days, in seconds.
const EXPIRES_IN: i64 = 31_536_000;
/// `app_refresh_token` lifetime: 372 days, in seconds.
const RE_EXPIRES_IN: i64 = 32_140_800;
/// How long an `app_auth_code` can be exchanged, in channel seconds.
const CODE_LIFETIME_SECS: f64 = 600.0;

#[derive(Debug)]
struct AuthCode {
    app_id: String,
    grant: AlipayGrant,
    refresh_token: String,
    expires: Instant,
    used: bool,
}

/// The refresh token of a grant's current `app_auth_token`.
#[derive(Debug)]
struct Refresh {
    app_id: String,
    app_auth_token: String,
}

/// A token replaced by a refresh: the query still knows whose it was.
#[derive(Debug)]
struct Retired {
    app_id: String,
    user_id: String,
    auth_app_id: String,
}

#[derive(Debug, Default)]
pub(crate) struct AppAuthStore {
    codes: HashMap<String, AuthCode>,
    refresh: HashMap<String, Refresh>,
    retired: HashMap<String, Retired>,
    page_grants: Vec<PageGrantView>,
    code_exchanges: u32,
    refresh_calls: u32,
    token_queries: u32,
}

impl AppAuthStore {
    pub fn snapshot(&self) -> AppAuthSnapshot {
        AppAuthSnapshot {
            page_grants: self.page_grants.clone(),
            code_exchanges: self.code_exchanges,
            refresh_calls: self.refresh_calls,
            token_queries: self.token_queries,
        }
    }

    fn page_grant(&mut self, auth_app_id: &str) -> Option<&mut PageGrantView> {
        self.page_grants
            .iter_mut()
            .find(|g| g.auth_app_id == auth_app_id)
    }
}

fn digits(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// Token-shaped: a year-month, `BB`, 32 letters and digits (Alipay's look like
/// `201510BBaabdb44d8fd04607abf8d5931ec75D84`).
fn new_token() -> String {
    format!("202611BB{}", random_alnum(32))
}

// ---- the page ------------------------------------------------------------------------------

#[derive(serde::Deserialize)]
struct PageQuery {
    app_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    sandbox_auto_authorize: Option<String>,
}

fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"
        ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn error_page(message: &str) -> HttpResponse {
    page(
        StatusCode::BAD_REQUEST,
        "授权失败 / authorization failed",
        &format!("<p>{}</p>", escape(message)),
    )
}

/// The checked request: the app, where to send the merchant back, its `state`.
fn checked(state: &SandboxState, q: PageQuery) -> Result<(String, url::Url, String), String> {
    let app_id = q
        .app_id
        .filter(|a| !a.is_empty())
        .ok_or("app_id is required")?;
    if state.dir.alipay_app(&app_id).is_none() {
        return Err(format!("app_id {app_id} is not an app of this sandbox"));
    }
    let redirect = q
        .redirect_uri
        .filter(|r| !r.is_empty())
        .ok_or("redirect_uri is required")?;
    let redirect = url::Url::parse(&redirect)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| format!("redirect_uri {redirect:?} must be an absolute http(s) URL"))?;
    Ok((app_id, redirect, q.state.unwrap_or_default()))
}

/// Makes the grant and sends the merchant back with `app_id`, `app_auth_code`, `state`.
fn authorize(
    state: &SandboxState,
    app_id: String,
    mut redirect: url::Url,
    st: String,
) -> HttpResponse {
    let grant = AlipayGrant {
        app_auth_token: new_token(),
        auth_app_id: format!("2021{}", digits(12)),
        user_id: format!("2088{}", digits(12)),
        name: "authorized on the sandbox page".into(),
    };
    if !state.dir.add_alipay_grant(&app_id, grant.clone()) {
        return error_page("the grant could not be made (the app is gone or the token is taken)");
    }
    let code = random_alnum(32);
    {
        let mut store = lock(&state.alipay);
        store.auth.page_grants.push(PageGrantView {
            app_id: app_id.clone(),
            user_id: grant.user_id.clone(),
            auth_app_id: grant.auth_app_id.clone(),
            code_exchanged: false,
            refreshes: 0,
        });
        store.auth.codes.insert(
            code.clone(),
            AuthCode {
                app_id: app_id.clone(),
                grant,
                refresh_token: new_token(),
                expires: Instant::now() + state.scale.delay(CODE_LIFETIME_SECS),
                used: false,
            },
        );
    }
    {
        let mut q = redirect.query_pairs_mut();
        q.append_pair("app_id", &app_id);
        q.append_pair("app_auth_code", &code);
        if !st.is_empty() {
            q.append_pair("state", &st);
        }
    }
    HttpResponse::Found()
        .insert_header((actix_web::http::header::LOCATION, redirect.to_string()))
        .finish()
}

/// `GET`: the page with its button, or (with `sandbox_auto_authorize=true`) the authorization at
/// once.
async fn show(state: web::Data<SandboxState>, req: HttpRequest) -> HttpResponse {
    let q = match web::Query::<PageQuery>::from_query(req.query_string()) {
        Ok(q) => q.into_inner(),
        Err(e) => return error_page(&format!("unreadable query: {e}")),
    };
    let auto = q.sandbox_auto_authorize.as_deref() == Some("true");
    let (app_id, redirect, st) = match checked(&state, q) {
        Ok(c) => c,
        Err(e) => return error_page(&e),
    };
    if auto {
        return authorize(&state, app_id, redirect, st);
    }
    let hidden = |name: &str, value: &str| {
        format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape(value)
        )
    };
    let form = format!(
        "<p>应用 {} 请求代您调用支付接口 / app {} asks to act for your account.</p>\
         <form method=\"post\" action=\"/oauth2/appToAppAuth.htm\">{}{}{}\
         <button type=\"submit\">确认授权 / authorize</button></form>",
        escape(&app_id),
        escape(&app_id),
        hidden("app_id", &app_id),
        hidden("redirect_uri", redirect.as_str()),
        hidden("state", &st),
    );
    page(StatusCode::OK, "第三方应用授权 / authorize an app", &form)
}

/// `POST` (the page's button): the authorization.
async fn submit(state: web::Data<SandboxState>, form: web::Form<PageQuery>) -> HttpResponse {
    match checked(&state, form.into_inner()) {
        Ok((app_id, redirect, st)) => authorize(&state, app_id, redirect, st),
        Err(e) => error_page(&e),
    }
}

// ---- the gateway methods -------------------------------------------------------------------

fn tokens_reply(
    user_id: &str,
    auth_app_id: &str,
    token: &str,
    refresh: &str,
) -> Map<String, Value> {
    let one = serde_json::json!({
        "user_id": user_id,
        "auth_app_id": auth_app_id,
        "app_auth_token": token,
        "app_refresh_token": refresh,
        "expires_in": EXPIRES_IN,
        "re_expires_in": RE_EXPIRES_IN,
    });
    let mut data = match one.clone() {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    data.insert("tokens".into(), Value::Array(vec![one]));
    data
}

fn code_invalid(detail: &str) -> AliError {
    AliError::invalid("isv.code-invalid", format!("授权码code无效: {detail}"))
}

fn refresh_invalid(detail: &str) -> AliError {
    AliError::invalid(
        "isv.refresh-token-invalid",
        format!("刷新令牌refresh_token无效: {detail}"),
    )
}

pub(crate) fn token(state: &SandboxState, call: &Call) -> AliResult {
    match call.biz("grant_type").as_deref() {
        Some("authorization_code") => exchange_code(state, call),
        Some("refresh_token") => refresh(state, call),
        Some(other) => Err(AliError::invalid(
            "isv.grant-type-invalid",
            format!("grant_type {other:?} is neither authorization_code nor refresh_token"),
        )),
        None => Err(AliError::missing(
            "isv.missing-parameter",
            "缺少必选参数: biz_content.grant_type is required",
        )),
    }
}

fn exchange_code(state: &SandboxState, call: &Call) -> AliResult {
    let mut store = lock(&state.alipay);
    store.auth.code_exchanges += 1;
    let code = call.require("code")?;
    let Some(entry) = store.auth.codes.get_mut(&code) else {
        return Err(code_invalid("no authorization gave this code"));
    };
    if entry.app_id != call.app.app_id {
        return Err(code_invalid("the code was given to another app"));
    }
    if entry.used {
        return Err(code_invalid("the code was already used"));
    }
    if Instant::now() > entry.expires {
        return Err(code_invalid("the code expired (10 minutes)"));
    }
    entry.used = true;
    let grant = entry.grant.clone();
    let refresh_token = entry.refresh_token.clone();
    store.auth.refresh.insert(
        refresh_token.clone(),
        Refresh {
            app_id: call.app.app_id.clone(),
            app_auth_token: grant.app_auth_token.clone(),
        },
    );
    if let Some(view) = store.auth.page_grant(&grant.auth_app_id) {
        view.code_exchanged = true;
    }
    Ok(tokens_reply(
        &grant.user_id,
        &grant.auth_app_id,
        &grant.app_auth_token,
        &refresh_token,
    ))
}

fn refresh(state: &SandboxState, call: &Call) -> AliResult {
    let mut store = lock(&state.alipay);
    store.auth.refresh_calls += 1;
    let old_refresh = call.require("refresh_token")?;
    let Some(entry) = store.auth.refresh.get(&old_refresh) else {
        return Err(refresh_invalid("unknown, or already used"));
    };
    if entry.app_id != call.app.app_id {
        return Err(refresh_invalid("the refresh token belongs to another app"));
    }
    let old_token = entry.app_auth_token.clone();
    let Some(grant) = state.dir.alipay_grant(&call.app.app_id, &old_token) else {
        return Err(refresh_invalid("the grant behind it is gone"));
    };
    let fresh_token = new_token();
    if !state
        .dir
        .replace_alipay_token(&call.app.app_id, &old_token, &fresh_token)
    {
        return Err(AliError::business(
            "isp.unknow-error",
            "the token could not be replaced, retry",
        ));
    }
    let new_refresh = new_token();
    store.auth.refresh.remove(&old_refresh);
    store.auth.refresh.insert(
        new_refresh.clone(),
        Refresh {
            app_id: call.app.app_id.clone(),
            app_auth_token: fresh_token.clone(),
        },
    );
    store.auth.retired.insert(
        old_token,
        Retired {
            app_id: call.app.app_id.clone(),
            user_id: grant.user_id.clone(),
            auth_app_id: grant.auth_app_id.clone(),
        },
    );
    if let Some(view) = store.auth.page_grant(&grant.auth_app_id) {
        view.refreshes += 1;
    }
    Ok(tokens_reply(
        &grant.user_id,
        &grant.auth_app_id,
        &fresh_token,
        &new_refresh,
    ))
}

pub(crate) fn token_query(state: &SandboxState, call: &Call) -> AliResult {
    lock(&state.alipay).auth.token_queries += 1;
    let token = call.require("app_auth_token")?;
    let (user_id, auth_app_id, status, expires_in) =
        match state.dir.alipay_grant(&call.app.app_id, &token) {
            Some(g) => (g.user_id, g.auth_app_id, "valid", EXPIRES_IN),
            None => {
                let store = lock(&state.alipay);
                match store.auth.retired.get(&token) {
                    Some(r) if r.app_id == call.app.app_id => {
                        (r.user_id.clone(), r.auth_app_id.clone(), "invalid", 0)
                    }
                    _ => {
                        return Err(AliError::invalid(
                            "isv.invalid-app-auth-token",
                            format!(
                                "无效的应用授权令牌: {token} was never granted to app {}",
                                call.app.app_id
                            ),
                        ));
                    }
                }
            }
        };
    let mut data = Map::new();
    data.insert("user_id".into(), user_id.into());
    data.insert("auth_app_id".into(), auth_app_id.into());
    data.insert("expires_in".into(), expires_in.into());
    data.insert(
        "auth_methods".into(),
        serde_json::json!(["alipay.trade.precreate", "alipay.trade.query"]),
    );
    data.insert("status".into(), status.into());
    Ok(data)
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/oauth2/appToAppAuth.htm")
            .route(web::get().to(show))
            .route(web::post().to(submit)),
    );
}
