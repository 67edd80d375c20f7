//! The Alipay open-platform simulator (ISV mode): the gateway with its trade and app
//! authorization methods, the authorization page, the bill download, and the trades behind them.

pub(crate) mod app_auth;
mod bill;
mod gateway;
mod notifies;
mod refund;
pub(crate) mod store;
pub(crate) mod trade;

use actix_web::web;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/gateway.do")
            .route(web::get().to(gateway::gateway))
            .route(web::post().to(gateway::gateway)),
    )
    .service(web::resource("/sandbox/alipay/bill").route(web::get().to(bill::download)))
    .configure(app_auth::routes);
}
