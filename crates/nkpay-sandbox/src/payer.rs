//! The buyer's side as an HTTP API: settle a WeChat prepay or an Alipay QR code as paid or
//! failed (`POST /sandbox/wechat/pay`, `POST /sandbox/alipay/pay`), or only scan a QR code
//! (`POST /sandbox/alipay/scan`). Answers are JSON; refusals carry an HTTP 4xx and `error`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::alipay::trade::{self as alipay_trade, DEMO_BUYER_ID};
use crate::state::SandboxState;
use crate::wechat::order as wechat_order;

/// Why the payer's action was refused.
#[derive(Debug)]
pub(crate) struct PayerError {
    pub status: StatusCode,
    pub message: String,
}

impl PayerError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        PayerError {
            status,
            message: message.into(),
        }
    }

    fn response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(serde_json::json!({ "error": self.message }))
    }
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayResult {
    #[default]
    #[serde(rename = "SUCCESS")]
    Success,
    #[serde(rename = "FAIL")]
    Fail,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WechatPay {
    prepay_id: String,
    openid: Option<String>,
    #[serde(default)]
    result: PayResult,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlipayPay {
    qr_code: String,
    buyer_id: Option<String>,
    #[serde(default)]
    result: PayResult,
}

fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, PayerError> {
    serde_json::from_slice(body)
        .map_err(|e| PayerError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

fn answer(result: Result<serde_json::Value, PayerError>) -> HttpResponse {
    match result {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => e.response(),
    }
}

async fn wechat_pay(state: web::Data<SandboxState>, body: web::Bytes) -> HttpResponse {
    answer(json_body::<WechatPay>(&body).and_then(|req| {
        wechat_order::pay(
            &state,
            &req.prepay_id,
            req.openid.as_deref(),
            req.result == PayResult::Success,
        )
    }))
}

async fn alipay_pay(state: web::Data<SandboxState>, body: web::Bytes) -> HttpResponse {
    answer(json_body::<AlipayPay>(&body).and_then(|req| {
        alipay_trade::pay(
            &state,
            &req.qr_code,
            req.buyer_id.as_deref().unwrap_or(DEMO_BUYER_ID),
            req.result == PayResult::Success,
        )
    }))
}

async fn alipay_scan(state: web::Data<SandboxState>, body: web::Bytes) -> HttpResponse {
    answer(json_body::<AlipayPay>(&body).and_then(|req| {
        alipay_trade::scan(
            &state,
            &req.qr_code,
            req.buyer_id.as_deref().unwrap_or(DEMO_BUYER_ID),
        )
    }))
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sandbox/wechat/pay", web::post().to(wechat_pay))
        .route("/sandbox/alipay/pay", web::post().to(alipay_pay))
        .route("/sandbox/alipay/scan", web::post().to(alipay_scan));
}
