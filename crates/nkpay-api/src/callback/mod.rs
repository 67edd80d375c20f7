//! Channel callbacks: WeChat Pay and Alipay post their notifies here. The engine verifies,
//! finalizes and decides the answer; this edge passes the raw body and answers with the exact
//! bytes the channel expects.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use nkpay_engine::{CallbackPath, InboundCallback};
use serde_json::{Map, Value};

use crate::ApiState;

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
    body: web::Bytes,
    path: CallbackPath,
) -> HttpResponse {
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
    let inbound = InboundCallback {
        path,
        body: &body,
        headers: Some(Value::Object(headers).to_string()),
        remote_addr: req.peer_addr().map(|a| a.to_string()),
    };
    let answer = state.engine.channel_notifies().handle(inbound).await;
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, answer.content_type))
        .body(answer.body)
}
