//! `POST /admin/api/session`: a person logs in with username and password and receives a
//! short-lived JWT access token (`{"access_token", "token_type": "Bearer", "expires_at",
//! "expires_in", "role"}`). An unknown user, a wrong password and a disabled user all answer
//! the same 401. Refresh tokens, throttling and TOTP come with the console issue.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use nkpay_core::secret::Secret;
use serde::Deserialize;

use super::error::AdminError;
use crate::ApiState;

/// The route.
pub const PATH: &str = "/admin/api/session";

pub fn configure(cfg: &mut web::ServiceConfig) {
    let json_errors = super::error::json_config();
    cfg.service(
        web::resource(PATH)
            .app_data(json_errors)
            .route(web::post().to(login)),
    );
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: Secret<String>,
}

async fn login(
    state: web::Data<ApiState>,
    body: web::Json<Login>,
) -> Result<HttpResponse, AdminError> {
    let Login { username, password } = body.into_inner();
    let token = state
        .engine
        .admin_identity()
        .login(&username, password)
        .await?
        .ok_or(AdminError::LoginFailed)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "access_token": token.token.expose(),
        "token_type": "Bearer",
        "expires_at": token.expires_at,
        "expires_in": (token.expires_at - Utc::now()).num_seconds().max(0),
        "role": token.role.as_str(),
    })))
}
