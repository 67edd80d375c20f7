//! Channel callbacks: WeChat Pay and Alipay post their notifies here. The engine verifies,
//! finalizes and decides the answer; this edge passes the raw body and answers with the exact
//! bytes the channel expects. Before anything is read or recorded, the sender's address is
//! counted against `limits.callback_per_addr_per_sec` and the body against
//! `limits.callback_body_limit_bytes` ([`crate::limits`]); over either, the channel's failure
//! answer, nothing stored.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use nkpay_engine::{CallbackPath, InboundCallback};
use serde_json::{Map, Value};

use crate::ApiState;
use crate::admin::auth::client_address;
use crate::open::read_limited;

pub mod alipay_app_auth;

pub fn configure(cfg: &mut web::ServiceConfig) {
    alipay_app_auth::configure(cfg);
    cfg.route(
        CallbackPath::WechatPay.path(),
        web::post().to(|s, r, b| notify(s, r, b, CallbackPath::WechatPay)),
    )
    .route(
        CallbackPath::WechatRefund.path(),
        web::post().to(|s, r, b| notify(s, r, b, CallbackPath::WechatRefund)),
    )
    .route(
        CallbackPath::Alipay.path(),
        web::post().to(|s, r, b| notify(s, r, b, CallbackPath::Alipay)),
    );
}

async fn notify(
    state: web::Data<ApiState>,
    req: HttpRequest,
    payload: web::Payload,
    path: CallbackPath,
) -> HttpResponse {
    let notifies = state.engine.channel_notifies();
    let answer = match admit(&state, &req, payload).await {
        Ok(body) => {
            let inbound = InboundCallback {
                path,
                body: &body,
                headers: Some(headers_json(&req)),
                remote_addr: req.peer_addr().map(|a| a.to_string()),
            };
            notifies.handle(inbound).await
        }
        Err(reason) => notifies.refuse_unread(path, &reason),
    };
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, answer.content_type))
        .body(answer.body)
}

/// The body of a callback within its sender's rate and the body cap, or why it is refused.
async fn admit(
    state: &ApiState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Vec<u8>, String> {
    let client = client_address(req, state.engine.trusted_proxies());
    if !state.limits.allow_callback(client) {
        return Err("over the sender address's callback rate".to_owned());
    }
    read_limited(payload, state.limits.callback_body_limit_bytes()).await
}

/// The request's headers as a JSON object text, for the inbound message log.
fn headers_json(req: &HttpRequest) -> String {
    let headers: Map<String, Value> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                Value::from(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    Value::Object(headers).to_string()
}
