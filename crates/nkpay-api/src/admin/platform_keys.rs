//! `GET /admin/api/platform-keys` (issue 13): the platform's signing keys, newest first —
//! `{"keys": [{"key_id", "public_key" (PEM), "status", "created_at", "retired_at"}]}`. The
//! sealed private halves never leave the database. Roles that read the platform's settings
//! (platform admin, operator, finance, read-only); agent admins 403.

use actix_web::{HttpResponse, web};
use nkpay_store::entity::platform_key;
use serde_json::{Value, json};

use super::auth::AdminActor;
use super::listing::{ListingError, time};
use crate::ApiState;

/// The route.
pub const PATH: &str = "/admin/api/platform-keys";

/// Mounts the listing.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::get().to(list));
}

/// A key as the console shows it: public half only.
pub fn key_json(k: &platform_key::Model) -> Value {
    json!({
        "id": k.id,
        "key_id": k.key_id,
        "public_key": k.public_key,
        "status": k.status.as_str(),
        "created_at": time(k.created_at),
        "retired_at": k.retired_at.map(time),
    })
}

async fn list(state: web::Data<ApiState>, actor: AdminActor) -> Result<HttpResponse, ListingError> {
    let keys = state.engine.console().platform_keys(&actor.0).await?;
    Ok(HttpResponse::Ok().json(json!({"keys": keys.iter().map(key_json).collect::<Vec<_>>()})))
}
