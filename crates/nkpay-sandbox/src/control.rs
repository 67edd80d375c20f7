//! The sandbox's own control plane: read and set faults (`/sandbox/faults`), look at what the
//! channels saw (`GET /sandbox/state`), fetch the accounts (`GET /sandbox/accounts`), and have
//! WeChat issue a sub_mch_id (`POST /sandbox/wechat/sub-merchants`).

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

#[derive(serde::Deserialize)]
struct NewSubMerchant {
    mch_id: String,
    #[serde(default)]
    name: String,
}

/// WeChat issues a 特约商户号 to a service provider, as after its own review of an onboarding
/// application: `{"mch_id", "name"}` → `{"sub_mch_id"}` (10 digits). Unknown service provider →
/// 404.
async fn add_sub_merchant(state: web::Data<SandboxState>, body: web::Bytes) -> HttpResponse {
    let asked: NewSubMerchant = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => {
            return HttpResponse::BadRequest().json(serde_json::json!({
                "error": format!("body must be {{\"mch_id\": \"…\", \"name\": \"…\"}}: {e}")
            }));
        }
    };
    match state.dir.add_wechat_sub_merchant(&asked.mch_id, &asked.name) {
        Some(sub_mch_id) => HttpResponse::Ok().json(serde_json::json!({ "sub_mch_id": sub_mch_id })),
        None => HttpResponse::NotFound().json(serde_json::json!({
            "error": format!("mch_id {} is not a WeChat service provider of this sandbox", asked.mch_id)
        })),
    }
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
    .route(
        "/sandbox/wechat/sub-merchants",
        web::post().to(add_sub_merchant),
    )
    .default_service(web::to(not_found));
}
