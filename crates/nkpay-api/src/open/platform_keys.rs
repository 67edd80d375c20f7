//! `GET /v2/platform/keys` (issue 14; API.md "Envelope and signature"): the platform's public
//! keys, so a merchant can configure the one its replies and notifications are signed with
//! (`X-Nkp-Key-Id` names it) and see when it retires. No authentication, no envelope:
//! `{"keys": [{"key_id", "status", "public_key", "created_at", "retire_at"}]}`, newest first;
//! `public_key` is PEM (SPKI, what dg-sdk is configured with); `status` is `active` (the newest,
//! given to new callers), `retiring` (still signing for its callers until `retire_at`) or
//! `retired` (signs nothing; `retire_at` is when it stopped); times RFC 3339 UTC. Never a
//! private key.

use actix_web::{HttpResponse, web};
use nkpay_engine::signing_keys::PublishedKey;
use serde_json::{Value, json};

use super::reply::Refusal;
use crate::ApiState;

/// The route.
pub const PATH: &str = "/v2/platform/keys";

/// A key as published: public half only.
pub fn key_json(k: &PublishedKey) -> Value {
    json!({
        "key_id": k.key_id,
        "status": k.status.as_str(),
        "public_key": k.public_key,
        "created_at": k.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "retire_at": k.retire_at.map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    })
}

/// The handler: 200 with the keys, or 500 `{"error"}` when they cannot be read (logged).
pub async fn list(state: web::Data<ApiState>) -> HttpResponse {
    match state.engine.signing_keys().published().await {
        Ok(keys) => HttpResponse::Ok().json(json!({
            "keys": keys.iter().map(key_json).collect::<Vec<_>>(),
        })),
        Err(e) => {
            let refusal = Refusal::from(e);
            HttpResponse::InternalServerError().json(json!({ "error": refusal.desc }))
        }
    }
}
