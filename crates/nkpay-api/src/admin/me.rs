//! The caller's own account (every role, [`Permission::OwnAccount`](nkpay_engine::Permission)):
//!
//! - `GET /admin/api/me` → `{"username", "kind" ("user" | "token"), "role", "sys_id" (an agent
//!   admin's service provider, else null), "totp_enabled"}` — what the console shows and
//!   which pages it offers.
//! - `POST /admin/api/me/totp` → 201 `{"secret" (base32), "otpauth_url"}`: TOTP enrolment
//!   (RFC 6238: SHA-1, 6 digits, 30 s). The secret is sealed at rest and pending until
//!   confirmed; enrolling again before confirming replaces it. 400 naming `totp` for an API
//!   token or when TOTP is already enabled. Audited (`totp.enrol`).
//! - `POST /admin/api/me/totp/confirm` `{"code"}` → 200 `{"totp_enabled": true}`: from then on
//!   `POST /admin/api/session` needs `totp`. 400 naming `code` when it is wrong, expired or
//!   nothing is pending. Audited (`totp.enable`).

use actix_web::{HttpResponse, web};
use nkpay_engine::admin_identity::ActorKind;
use serde::Deserialize;
use serde_json::json;

use super::AdminActor;
use super::error::AdminError;
use crate::ApiState;

/// `GET /admin/api/me`.
pub const PATH: &str = "/admin/api/me";

/// Mounts the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(PATH)
            .app_data(super::error::json_config())
            .route("", web::get().to(me))
            .route("/totp", web::post().to(enrol))
            .route("/totp/confirm", web::post().to(confirm)),
    );
}

async fn me(state: web::Data<ApiState>, actor: AdminActor) -> Result<HttpResponse, AdminError> {
    let me = state.engine.admin_identity().me(&actor.0).await?;
    let kind = match me.kind {
        ActorKind::User => "user",
        ActorKind::Token => "token",
        ActorKind::Local => "local",
    };
    Ok(HttpResponse::Ok().json(json!({
        "username": me.username,
        "kind": kind,
        "role": me.role.as_str(),
        "sys_id": me.sys_id,
        "totp_enabled": me.totp_enabled,
    })))
}

async fn enrol(state: web::Data<ApiState>, actor: AdminActor) -> Result<HttpResponse, AdminError> {
    let enrolment = state.engine.admin_identity().enrol_totp(&actor.0).await?;
    Ok(HttpResponse::Created().json(json!({
        "secret": enrolment.secret.expose(),
        "otpauth_url": enrolment.otpauth_url.expose(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Confirm {
    code: String,
}

async fn confirm(
    state: web::Data<ApiState>,
    actor: AdminActor,
    body: web::Json<Confirm>,
) -> Result<HttpResponse, AdminError> {
    state
        .engine
        .admin_identity()
        .confirm_totp(&actor.0, &body.code)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "totp_enabled": true })))
}
