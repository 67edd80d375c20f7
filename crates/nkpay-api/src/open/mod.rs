//! The merchant open API (API.md): one file per endpoint — its typed request read from `data`
//! and its reply written from the engine's typed answer — and one [`handler`] that every
//! endpoint goes through (envelope, caller, signature, merchant scope, signed reply).

pub mod close;
pub mod fields;
pub mod handler;
pub mod jspay;
pub mod query;
pub mod refund;
pub mod refusal;
pub mod render;
pub mod reply;

use actix_web::web;

use handler::handle;

/// `POST` aggregate scan: create a trade.
pub const JSPAY: &str = "/v2/trade/payment/jspay";
/// `POST` query a trade.
pub const QUERY: &str = "/v2/trade/payment/scanpay/query";
/// `POST` close an unpaid trade.
pub const CLOSE: &str = "/v2/trade/payment/scanpay/close";
/// `POST` refund a paid trade.
pub const REFUND: &str = "/v2/trade/payment/scanpay/refund";
/// `POST` query a refund.
pub const REFUND_QUERY: &str = "/v2/trade/payment/scanpay/refundquery";

/// Mounts the merchant API's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(JSPAY, web::post().to(handle::<jspay::Jspay>))
        .route(QUERY, web::post().to(handle::<query::Query>))
        .route(CLOSE, web::post().to(handle::<close::Close>))
        .route(REFUND, web::post().to(handle::<refund::Refund>))
        .route(REFUND_QUERY, web::post().to(handle::<refund::RefundQuery>));
}
