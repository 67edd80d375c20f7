//! The merchant open API (API.md): the signed envelope in, the engine's answer out, signed.
//! Handlers only authenticate, verify and translate; every rule lives in nkpay-engine.

pub mod refund;
pub mod reply;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use futures::StreamExt;
use nkpay_core::resp_code::RespCode;
use nkpay_crypto::envelope::{self, EnvelopeError};
use nkpay_engine::{Caller, Engine};
use serde_json::{Map, Value};

use crate::ApiState;

pub const JSPAY: &str = "/v2/trade/payment/jspay";
pub const QUERY: &str = "/v2/trade/payment/scanpay/query";
pub const CLOSE: &str = "/v2/trade/payment/scanpay/close";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(JSPAY, web::post().to(jspay))
        .route(QUERY, web::post().to(query))
        .route(CLOSE, web::post().to(close));
    refund::configure(cfg);
}

#[derive(Clone, Copy)]
enum Operation {
    Jspay,
    Query,
    Close,
    Refund,
    RefundQuery,
}

async fn jspay(state: web::Data<ApiState>, payload: web::Payload) -> HttpResponse {
    handle(&state, payload, Operation::Jspay).await
}

async fn query(state: web::Data<ApiState>, payload: web::Payload) -> HttpResponse {
    handle(&state, payload, Operation::Query).await
}

async fn close(state: web::Data<ApiState>, payload: web::Payload) -> HttpResponse {
    handle(&state, payload, Operation::Close).await
}

async fn run(
    engine: &Engine,
    op: Operation,
    caller: &Caller,
    data: &Map<String, Value>,
) -> Result<Map<String, Value>, nkpay_engine::EngineError> {
    match op {
        Operation::Jspay => engine.jspay(caller, data).await,
        Operation::Query => engine.query_trade(caller, data).await,
        Operation::Close => engine.close_trade(caller, data).await,
        Operation::Refund => engine.refund(caller, data).await,
        Operation::RefundQuery => engine.query_refund(caller, data).await,
    }
}

async fn handle(state: &ApiState, payload: web::Payload, op: Operation) -> HttpResponse {
    let signer = state.engine.signer();
    let refuse = |code: RespCode, desc: &str, data: Option<&Map<String, Value>>| {
        reply::signed(signer, StatusCode::OK, reply::refusal(code, desc, data))
    };
    let body = match read_limited(payload, state.body_limit_bytes).await {
        Ok(b) => b,
        Err(desc) => return refuse(RespCode::ParamError, &desc, None),
    };
    let request = match envelope::parse(&body) {
        Ok(r) => r,
        // Only a body that is not JSON at all gets a non-200 status (API.md).
        Err(e @ EnvelopeError::NotJson(_)) => {
            return reply::signed(
                signer,
                StatusCode::BAD_REQUEST,
                reply::refusal(RespCode::ParamError, &e.to_string(), None),
            );
        }
        Err(e @ EnvelopeError::Missing("sign")) => {
            return refuse(RespCode::SignatureInvalid, &e.to_string(), None);
        }
        Err(e) => return refuse(RespCode::ParamError, &e.to_string(), None),
    };
    let data = &request.data;
    let caller = match state
        .engine
        .authenticate(&request.sys_id, &request.product_id)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            let (code, desc) = reply::error_code(&e);
            return refuse(code, &desc, Some(data));
        }
    };
    if !envelope::verify(&request, &caller.public_key) {
        return refuse(
            RespCode::SignatureInvalid,
            "验签失败: sign does not verify over data (compact JSON, top-level keys sorted, raw UTF-8) with the key of this sys_id",
            Some(data),
        );
    }
    match run(&state.engine, op, &caller, data).await {
        Ok(answer) => reply::signed(signer, StatusCode::OK, answer),
        Err(e) => {
            let (code, desc) = reply::error_code(&e);
            refuse(code, &desc, Some(data))
        }
    }
}

/// The body, or why it is refused (too large, cut off).
async fn read_limited(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| format!("请求报文读取失败: {e}"))?;
        if body.len() + chunk.len() > limit {
            return Err(format!(
                "请求报文过大: the body must be at most {limit} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
