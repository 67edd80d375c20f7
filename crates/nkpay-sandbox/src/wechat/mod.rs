//! The WeChat Pay v2 simulator (service-provider mode): the payment API endpoints and the
//! sub-merchant development configuration ones, each going through the gate (certificate, XML,
//! merchant, signature, bindings), the configured call faults, then its own logic.

mod bill;
pub(crate) mod gate;
mod notifies;
pub(crate) mod order;
mod refund;
mod reply;
pub(crate) mod store;
mod sub_dev_config;
pub(crate) mod xml;

use actix_web::{HttpRequest, HttpResponse, web};

use self::gate::Api;
use self::reply::WxError;
use crate::faults::SystemErrorAt;
use crate::server::ClientCert;
use crate::state::SandboxState;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    for api in Api::ALL {
        cfg.service(
            web::resource(api.path())
                .route(web::post().to(
                    move |state: web::Data<SandboxState>, req: HttpRequest, body: web::Bytes| {
                        handle(state, req, body, api)
                    },
                ))
                .default_service(web::to(|| async { reply::fail("请使用post方法") })),
        );
    }
}

async fn handle(
    state: web::Data<SandboxState>,
    req: HttpRequest,
    body: web::Bytes,
    api: Api,
) -> HttpResponse {
    let faults = state.faults.for_call(api.name());
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let has_cert = req.conn_data::<ClientCert>().is_some_and(|c| c.0);
    let ctx = match gate::admit(&state, api, has_cert, &body) {
        Ok(ctx) => ctx,
        Err(msg) => return reply::fail(&msg),
    };
    if let Err(e) = gate::check_bindings(&ctx, api) {
        return reply::signed(&ctx, Err(e));
    }
    if faults.system_error == Some(SystemErrorAt::BeforeProcessing) {
        return reply::signed(&ctx, Err(WxError::system()));
    }
    let response = match api {
        Api::UnifiedOrder => reply::signed(&ctx, order::unifiedorder(&state, &ctx)),
        Api::OrderQuery => reply::signed(&ctx, order::orderquery(&state, &ctx)),
        Api::CloseOrder => reply::signed(&ctx, order::closeorder(&state, &ctx)),
        Api::Refund => reply::signed(&ctx, refund::refund(&state, &ctx)),
        Api::RefundQuery => reply::signed(&ctx, refund::refundquery(&state, &ctx)),
        Api::DownloadBill => bill::download(&state, &ctx),
        Api::AddSubDevConfig => reply::signed(&ctx, sub_dev_config::add(&state, &ctx)),
        Api::QuerySubDevConfig => reply::signed(&ctx, sub_dev_config::query(&state, &ctx)),
    };
    let response = if faults.system_error == Some(SystemErrorAt::AfterProcessing) {
        reply::signed(&ctx, Err(WxError::system()))
    } else {
        response
    };
    if let Some(hold) = faults.hold {
        tokio::time::sleep(hold).await;
    }
    response
}
