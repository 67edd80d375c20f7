//! `scanpay/refund` and `scanpay/refundquery`: the same envelope handling as every open API
//! call; the rules (reservation, channel, idempotency) live in `nkpay_engine::refunds`.

use actix_web::{HttpResponse, web};

use super::{Operation, handle};
use crate::ApiState;

pub const REFUND: &str = "/v2/trade/payment/scanpay/refund";
pub const REFUND_QUERY: &str = "/v2/trade/payment/scanpay/refundquery";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(REFUND, web::post().to(refund))
        .route(REFUND_QUERY, web::post().to(refund_query));
}

async fn refund(state: web::Data<ApiState>, payload: web::Payload) -> HttpResponse {
    handle(&state, payload, Operation::Refund).await
}

async fn refund_query(state: web::Data<ApiState>, payload: web::Payload) -> HttpResponse {
    handle(&state, payload, Operation::RefundQuery).await
}
