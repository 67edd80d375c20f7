//! Admin users and API tokens in the console (issue 13), platform admins only:
//!
//! - `GET /admin/api/users` → `{"users": [user…]}`, oldest first; a user is `{"id",
//!   "username", "role", "sys_id", "status", "created_at", "updated_at"}` (never a hash);
//! - `POST /admin/api/users` `{"username", "role", "sys_id", "password"}` → 201 `{"user",
//!   "password"}`: `role` one of `platform-admin`, `operator`, `finance`, `agent-admin`,
//!   `read-only`; `sys_id` for (and only for) an agent admin; `password` 12–256 characters,
//!   or absent to have one generated — answered here once (`null` when given);
//! - `POST /admin/api/users/{username}/disable` and `/enable` → the user (audited when it
//!   changes; disabling oneself is refused);
//! - `GET /admin/api/tokens` → `{"tokens": [token…]}`; a token is `{"id", "name", "role",
//!   "sys_id", "status", "created_by", "created_at", "revoked_at"}` (never the hash);
//! - `POST /admin/api/tokens` `{"name", "role", "sys_id"}` → 201 `{"token", "secret"}`, the
//!   secret (`nkpadm_…`) shown this once;
//! - `DELETE /admin/api/tokens/{id}` → the token, revoked (audited); 404 when unknown.
//!
//! Creation and revocation are `AdminIdentity`'s (audited there). Bad input: 400 `{"error",
//! "field"}`.

use actix_web::{HttpResponse, web};
use nkpay_core::secret::Secret;
use nkpay_engine::admin_identity::NewUser;
use nkpay_store::entity::{admin_api_token, admin_user};
use nkpay_store::kinds::AdminRole;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AdminActor;
use super::error::AdminError;
use super::listing::{ListingError, refused, time};
use crate::ApiState;

/// The user calls.
pub const USERS: &str = "/admin/api/users";
/// The API token calls.
pub const TOKENS: &str = "/admin/api/tokens";

/// Mounts the user and token calls.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(USERS)
            .app_data(super::error::json_config())
            .route("", web::get().to(list_users))
            .route("", web::post().to(create_user))
            .route("/{username}/disable", web::post().to(disable_user))
            .route("/{username}/enable", web::post().to(enable_user)),
    )
    .service(
        web::scope(TOKENS)
            .app_data(super::error::json_config())
            .route("", web::get().to(list_tokens))
            .route("", web::post().to(create_token))
            .route("/{id}", web::delete().to(revoke_token)),
    );
}

/// A user as the console shows it (no password hash, no TOTP secret).
pub fn user_json(u: &admin_user::Model) -> Value {
    json!({
        "id": u.id,
        "username": u.username,
        "role": u.role.as_str(),
        "sys_id": u.sys_id,
        "status": u.status.as_str(),
        "created_at": time(u.created_at),
        "updated_at": time(u.updated_at),
    })
}

/// An API token as the console shows it (no hash).
pub fn token_json(t: &admin_api_token::Model) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "role": t.role.as_str(),
        "sys_id": t.sys_id,
        "status": t.status.as_str(),
        "created_by": t.created_by,
        "created_at": time(t.created_at),
        "revoked_at": t.revoked_at.map(time),
    })
}

fn role(text: Option<&str>) -> Result<AdminRole, ListingError> {
    let rule = "must be platform-admin, operator, finance, agent-admin or read-only";
    text.ok_or_else(|| refused("role", format!("is required: {rule}")))?
        .parse()
        .map_err(|_| refused("role", rule))
}

async fn list_users(
    state: web::Data<ApiState>,
    actor: AdminActor,
) -> Result<HttpResponse, ListingError> {
    let users = state.engine.console().users(&actor.0).await?;
    Ok(HttpResponse::Ok().json(json!({"users": users.iter().map(user_json).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
struct NewUserBody {
    username: Option<String>,
    role: Option<String>,
    sys_id: Option<String>,
    password: Option<Secret<String>>,
}

async fn create_user(
    state: web::Data<ApiState>,
    actor: AdminActor,
    body: web::Json<NewUserBody>,
) -> Result<HttpResponse, ListingError> {
    let body = body.into_inner();
    let new = NewUser {
        username: body
            .username
            .ok_or_else(|| refused("username", "is required"))?,
        role: role(body.role.as_deref())?,
        sys_id: body.sys_id.filter(|s| !s.is_empty()),
        password: body.password,
    };
    let created = state
        .engine
        .admin_identity()
        .create_user(&actor.0, new)
        .await?;
    Ok(HttpResponse::Created().json(json!({
        "user": user_json(&created.user),
        "password": created.generated_password.map(|p| p.into_inner()),
    })))
}

async fn set_active(
    state: web::Data<ApiState>,
    actor: AdminActor,
    username: String,
    active: bool,
) -> Result<HttpResponse, ListingError> {
    let user = state
        .engine
        .console()
        .set_user_active(&actor.0, &username, active)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("admin user {username}")))?;
    Ok(HttpResponse::Ok().json(user_json(&user)))
}

async fn disable_user(
    state: web::Data<ApiState>,
    actor: AdminActor,
    username: web::Path<String>,
) -> Result<HttpResponse, ListingError> {
    set_active(state, actor, username.into_inner(), false).await
}

async fn enable_user(
    state: web::Data<ApiState>,
    actor: AdminActor,
    username: web::Path<String>,
) -> Result<HttpResponse, ListingError> {
    set_active(state, actor, username.into_inner(), true).await
}

async fn list_tokens(
    state: web::Data<ApiState>,
    actor: AdminActor,
) -> Result<HttpResponse, ListingError> {
    let tokens = state.engine.console().tokens(&actor.0).await?;
    Ok(HttpResponse::Ok()
        .json(json!({"tokens": tokens.iter().map(token_json).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
struct NewTokenBody {
    name: Option<String>,
    role: Option<String>,
    sys_id: Option<String>,
}

async fn create_token(
    state: web::Data<ApiState>,
    actor: AdminActor,
    body: web::Json<NewTokenBody>,
) -> Result<HttpResponse, ListingError> {
    let body = body.into_inner();
    let name = body.name.ok_or_else(|| refused("name", "is required"))?;
    let role = role(body.role.as_deref())?;
    let sys_id = body.sys_id.filter(|s| !s.is_empty());
    let created = state
        .engine
        .admin_identity()
        .create_token(&actor.0, &name, role, sys_id.as_deref())
        .await?;
    Ok(HttpResponse::Created().json(json!({
        "token": token_json(&created.row),
        "secret": created.token.into_inner(),
    })))
}

async fn revoke_token(
    state: web::Data<ApiState>,
    actor: AdminActor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ListingError> {
    let id = id.into_inner();
    let token = state
        .engine
        .console()
        .revoke_token(&actor.0, id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("API token {id}")))?;
    Ok(HttpResponse::Ok().json(token_json(&token)))
}
