//! The platform's signing keys in the console (issues 13, 14):
//!
//! - `GET /admin/api/platform-keys`: `{"keys": [key…], "assignments": [{"sys_id", "key_id",
//!   "assigned_at"}]}`, keys newest first as `GET /v2/platform/keys` writes them
//!   (`crate::open::platform_keys::key_json`); the sealed private halves
//!   never leave the database. Roles that read the platform's settings (platform admin,
//!   operator, finance, read-only); agent admins 403.
//! - `POST /admin/api/platform-keys/rotate` `{"retire_after_days": N}` (optional, 1–3650,
//!   default 30): a new active key; the replaced one keeps signing for its callers until its
//!   announced retirement date. `{"key": key, "replaced": key | null}`. Platform admin only.
//! - `POST /admin/api/platform-keys/assign` `{"sys_id", "key_id"}`: switches a caller to a
//!   usable key. `{"sys_id", "key_id", "assigned_at"}`. Platform admin only.
//!
//! Both writes are audited (`platform_key.rotate`, `platform_key.assign`); a refused field is
//! 400 `{"error", "field"}`.

use actix_web::{HttpResponse, web};
use nkpay_engine::signing_keys::{DEFAULT_RETIRE_AFTER_DAYS, KeyAssignment, MAX_RETIRE_AFTER_DAYS};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AdminActor;
use super::listing::{ListingError, refused, time};
use crate::ApiState;
use crate::open::platform_keys::key_json;

/// The listing.
pub const PATH: &str = "/admin/api/platform-keys";
/// Rotation.
pub const ROTATE: &str = "/admin/api/platform-keys/rotate";
/// A caller's key switched.
pub const ASSIGN: &str = "/admin/api/platform-keys/assign";

/// Mounts the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::get().to(list))
        .route(ROTATE, web::post().to(rotate))
        .route(ASSIGN, web::post().to(assign));
}

fn assignment_json(a: &KeyAssignment) -> Value {
    json!({
        "sys_id": a.sys_id,
        "key_id": a.key_id,
        "assigned_at": time(a.assigned_at),
    })
}

async fn list(state: web::Data<ApiState>, actor: AdminActor) -> Result<HttpResponse, ListingError> {
    let keys = state.engine.signing_keys();
    let listed = keys.list(&actor.0).await?;
    let assignments = keys.assignments(&actor.0).await?;
    Ok(HttpResponse::Ok().json(json!({
        "keys": listed.iter().map(key_json).collect::<Vec<_>>(),
        "assignments": assignments.iter().map(assignment_json).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rotate {
    retire_after_days: Option<Value>,
}

/// The body is optional: empty (or `{}`) announces the default retirement date.
async fn rotate(
    state: web::Data<ApiState>,
    actor: AdminActor,
    body: web::Bytes,
) -> Result<HttpResponse, ListingError> {
    let asked: Rotate = if body.iter().all(u8::is_ascii_whitespace) {
        Rotate::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            refused(
                "body",
                format!("must be JSON {{\"retire_after_days\": N}} or empty: {e}"),
            )
        })?
    };
    let days = match asked.retire_after_days {
        None | Some(Value::Null) => DEFAULT_RETIRE_AFTER_DAYS,
        // Out of range or not a number: the engine's refusal names the rule.
        Some(v) => v
            .as_u64()
            .map(|d| u32::try_from(d).unwrap_or(u32::MAX))
            .ok_or_else(|| {
                refused(
                    "retire_after_days",
                    format!("must be a whole number of days from 1 to {MAX_RETIRE_AFTER_DAYS}"),
                )
            })?,
    };
    let rotation = state.engine.signing_keys().rotate(&actor.0, days).await?;
    Ok(HttpResponse::Ok().json(json!({
        "key": key_json(&rotation.key),
        "replaced": rotation.replaced.as_ref().map(key_json),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Assign {
    sys_id: String,
    key_id: String,
}

async fn assign(
    state: web::Data<ApiState>,
    actor: AdminActor,
    body: web::Json<Assign>,
) -> Result<HttpResponse, ListingError> {
    let Assign { sys_id, key_id } = body.into_inner();
    let assigned = state
        .engine
        .signing_keys()
        .assign(&actor.0, &sys_id, &key_id)
        .await?;
    Ok(HttpResponse::Ok().json(assignment_json(&assigned)))
}
