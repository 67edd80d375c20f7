//! Liveness and readiness: `/healthz` says the process answers, `/readyz` that it can reach
//! its database (a load balancer stops sending traffic to a node that cannot).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::ApiState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<ApiState>) -> HttpResponse {
    match state.db.conn().ping().await.map_err(|e| e.to_string()) {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready", "database": "ok" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "not ready", "database": "unreachable" }))
        }
    }
}
