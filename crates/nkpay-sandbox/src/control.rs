//! The sandbox's own control plane: read and set faults (`/sandbox/faults`), look at what the
//! channels saw (`GET /sandbox/state`), and fetch the accounts (`GET /sandbox/accounts`).

use actix_web::{HttpResponse, web};

use crate::faults::Faults;
use crate::state::SandboxState;

async fn get_faults(state: web::Data<SandboxState>) -> HttpResponse {
    HttpResponse::Ok().json(state.faults.get())
}

/// Replaces the fault settings; fields left out take their defaults, so `{}` clears all faults.
async fn set_faults(state: web::Data<SandboxState>, body: web::Bytes) -> HttpResponse {
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => {
            return HttpResponse::BadRequest()
                .json(serde_json::json!({ "error": format!("invalid faults JSON: {e}") }));
        }
    };
    match state.faults.set(faults) {
        Ok(()) => HttpResponse::Ok().json(state.faults.get()),
        Err(e) => HttpResponse::BadRequest().json(serde_json::json!({ "error": e })),
    }
}

async fn get_state(state: web::Data<SandboxState>) -> HttpResponse {
    HttpResponse::Ok().json(state.snapshot())
}

async fn get_accounts(state: web::Data<SandboxState>) -> HttpResponse {
    HttpResponse::Ok().json(state.dir.export(&state.base_url))
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("not a route of the nkpay sandbox")
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/sandbox/faults")
            .route(web::get().to(get_faults))
            .route(web::post().to(set_faults)),
    )
    .route("/sandbox/state", web::get().to(get_state))
    .route("/sandbox/accounts", web::get().to(get_accounts))
    .default_service(web::to(not_found));
}
