//! The console's sessions (public routes: they check what they are given):
//!
//! - `POST /admin/api/session` `{"username", "password", "totp"?}` → 200 with
//!   [`session_json`]'s shape: a short-lived JWT access token and a rotating refresh token. An
//!   unknown user, a wrong password, a disabled user, and a missing or wrong TOTP code (once the
//!   user enabled TOTP) all answer the same 401. Too many failures for the username or the
//!   client address within `admin.login_window_secs` answer 429 with `Retry-After` (seconds),
//!   before the password is checked, naming neither.
//! - `POST /admin/api/session/refresh` `{"refresh_token"}` → 200, the same shape: a new access
//!   token and a new refresh token; the one presented is spent. A spent token presented again
//!   revokes its whole family (every session descending from that sign-in) — RFC 9700
//!   §4.14.2. Unknown, expired, spent or revoked: 401.
//! - `DELETE /admin/api/session` `{"refresh_token"}` → 204: logout, the token's family
//!   revoked. Unknown: 401. Access tokens already handed out stay valid until they expire
//!   (`admin.access_token_ttl_secs`, at most an hour).
//!
//! Every success is audited (`session.login`, `session.refresh`, `session.logout`; a replay as
//! `session.replay`) with the client's address ([`super::auth::client_address`]).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use nkpay_core::secret::Secret;
use nkpay_engine::admin_sessions::{Credentials, Session, SignIn};
use serde::Deserialize;

use super::auth::client_address;
use super::error::AdminError;
use crate::ApiState;

/// The sign-in and logout route.
pub const PATH: &str = "/admin/api/session";
/// The refresh route.
pub const REFRESH_PATH: &str = "/admin/api/session/refresh";

/// Mounts the session routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let json_errors = super::error::json_config();
    cfg.service(
        web::resource(PATH)
            .app_data(json_errors.clone())
            .route(web::post().to(login))
            .route(web::delete().to(logout)),
    )
    .service(
        web::resource(REFRESH_PATH)
            .app_data(json_errors)
            .route(web::post().to(refresh)),
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: Secret<String>,
    #[serde(default)]
    totp: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: Secret<String>,
}

/// A session as JSON: `{"access_token", "token_type": "Bearer", "expires_at" (UTC),
/// "expires_in" (seconds), "role", "refresh_token", "refresh_expires_at" (UTC)}`.
pub fn session_json(session: &Session) -> serde_json::Value {
    serde_json::json!({
        "access_token": session.access.token.expose(),
        "token_type": "Bearer",
        "expires_at": session.access.expires_at,
        "expires_in": (session.access.expires_at - Utc::now()).num_seconds().max(0),
        "role": session.access.role.as_str(),
        "refresh_token": session.refresh_token.expose(),
        "refresh_expires_at": session.refresh_expires_at,
    })
}

fn address(req: &HttpRequest, state: &ApiState) -> Option<String> {
    client_address(req, state.engine.trusted_proxies()).map(|ip| ip.to_string())
}

async fn login(
    req: HttpRequest,
    state: web::Data<ApiState>,
    body: web::Json<Login>,
) -> Result<HttpResponse, AdminError> {
    let Login {
        username,
        password,
        totp,
    } = body.into_inner();
    let credentials = Credentials {
        username,
        password,
        totp,
        address: address(&req, &state),
    };
    match state.engine.admin_identity().sign_in(credentials).await? {
        SignIn::Session(session) => Ok(HttpResponse::Ok().json(session_json(&session))),
        SignIn::Refused => Err(AdminError::LoginFailed),
        SignIn::Throttled { retry_after } => Err(AdminError::Throttled {
            retry_after_secs: retry_after.as_secs().max(1),
        }),
    }
}

async fn refresh(
    req: HttpRequest,
    state: web::Data<ApiState>,
    body: web::Json<RefreshBody>,
) -> Result<HttpResponse, AdminError> {
    let session = state
        .engine
        .admin_identity()
        .refresh(body.refresh_token.expose(), address(&req, &state))
        .await?
        .ok_or(AdminError::RefreshRefused)?;
    Ok(HttpResponse::Ok().json(session_json(&session)))
}

async fn logout(
    req: HttpRequest,
    state: web::Data<ApiState>,
    body: web::Json<RefreshBody>,
) -> Result<HttpResponse, AdminError> {
    let ended = state
        .engine
        .admin_identity()
        .logout(body.refresh_token.expose(), address(&req, &state))
        .await?;
    if ended {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AdminError::RefreshRefused)
    }
}
