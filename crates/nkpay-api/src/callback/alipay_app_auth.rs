//! `GET /callback/alipay/app-auth?app_id&app_auth_code&state`: where Alipay's app-to-app
//! authorization page sends the merchant back. The engine checks the single-use `state`,
//! trades the code for the merchant's `app_auth_token` and opens its Alipay business; the
//! merchant sees a small HTML page: 200 when authorized, 400 for a wrong or used `state`
//! (nothing stored), 502 when Alipay did not give the tokens.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use nkpay_engine::EngineError;
use nkpay_engine::businesses::ALIPAY_APP_AUTH_CALLBACK;
use serde::Deserialize;

use crate::ApiState;

/// Mounts the route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(ALIPAY_APP_AUTH_CALLBACK, web::get().to(app_auth));
}

#[derive(Deserialize)]
struct Query {
    #[serde(default)]
    app_id: String,
    #[serde(default)]
    app_auth_code: String,
    #[serde(default)]
    state: String,
}

fn page(status: StatusCode, title: &str, text: &str) -> HttpResponse {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
             <body><h1>{t}</h1><p>{x}</p></body></html>",
            t = escape(title),
            x = escape(text)
        ))
}

async fn app_auth(state: web::Data<ApiState>, q: web::Query<Query>) -> HttpResponse {
    let q = q.into_inner();
    match state
        .engine
        .businesses()
        .alipay_authorized(&q.app_id, &q.app_auth_code, &q.state)
        .await
    {
        Ok(b) => page(
            StatusCode::OK,
            "授权成功 Authorized",
            &format!(
                "支付宝业务已开通 (Alipay business open for app {}). You may close this page.",
                b.auth_app_id.unwrap_or_default()
            ),
        ),
        Err(e @ EngineError::Invalid { .. }) => page(
            StatusCode::BAD_REQUEST,
            "授权失败 Authorization refused",
            &format!("{e}. Ask for a new authorization link."),
        ),
        Err(EngineError::Channel(e)) => page(
            StatusCode::BAD_GATEWAY,
            "授权失败 Authorization failed",
            &format!(
                "支付宝未返回授权令牌 (Alipay did not grant the token: {e}). Ask for a new authorization link."
            ),
        ),
        Err(e) => {
            tracing::error!(error = %e, "Alipay app-auth callback");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "授权失败 Authorization failed",
                "internal error; ask for a new authorization link",
            )
        }
    }
}
