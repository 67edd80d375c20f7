//! Console calls about a merchant's businesses (issue 11): the platform admin, an operator, or
//! the merchant's own service provider (agent admin) —
//!
//! - `GET /admin/api/merchants/{mer_id}/businesses` → `{"businesses": [...], "bindings": [...]}`
//!   (every admin role reads; an agent admin only its own merchants, others 404);
//! - `PUT /admin/api/merchants/{mer_id}/businesses/wechat` `{"sub_mch_id": "…",
//!   "channel_account_id": 3}` (the account optional) records the `sub_mch_id` WeChat issued
//!   and opens the WeChat business → the business;
//! - `POST /admin/api/merchants/{mer_id}/businesses/{wechat|alipay}/refusal` `{"reason": "…"}`
//!   records that the channel refused the business (`F`, notified) → the business;
//! - `GET /admin/api/merchants/{mer_id}/businesses/alipay/auth-link` → `{"url": "…"}`, the
//!   Alipay authorization page to hand to the merchant;
//! - `POST /admin/api/merchants/{mer_id}/bindings/{id}/retry` → the binding, sent to WeChat
//!   again.
//!
//! Writes are audited by the engine (`crate::Businesses`); finance and read-only get 403.

use actix_web::{HttpResponse, web};
use nkpay_core::trade_type::ChannelKind;
use nkpay_engine::businesses::RecordSubMchId;
use serde::Deserialize;

use super::auth::AdminActor;
use super::error::AdminError;
use crate::ApiState;

const BASE: &str = "/admin/api/merchants/{mer_id}";

/// Mounts the routes as single resources (not a scope), so they live beside the merchant
/// routes under the same prefix.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let json_errors = super::error::json_config();
    cfg.app_data(json_errors)
        .route(&format!("{BASE}/businesses"), web::get().to(view))
        .route(
            &format!("{BASE}/businesses/wechat"),
            web::put().to(record_sub_mch_id),
        )
        .route(
            &format!("{BASE}/businesses/{{channel}}/refusal"),
            web::post().to(record_refusal),
        )
        .route(
            &format!("{BASE}/businesses/alipay/auth-link"),
            web::get().to(auth_link),
        )
        .route(
            &format!("{BASE}/bindings/{{id}}/retry"),
            web::post().to(retry),
        );
}

fn not_found(mer_id: &str) -> AdminError {
    AdminError::NotFound(format!("merchant {mer_id}"))
}

async fn view(
    state: web::Data<ApiState>,
    actor: AdminActor,
    mer_id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let mer_id = mer_id.into_inner();
    let found = state.engine.businesses().view(&actor.0, &mer_id).await?;
    let v = found.ok_or_else(|| not_found(&mer_id))?;
    Ok(HttpResponse::Ok().json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubMchId {
    sub_mch_id: String,
    channel_account_id: Option<i64>,
}

async fn record_sub_mch_id(
    state: web::Data<ApiState>,
    actor: AdminActor,
    mer_id: web::Path<String>,
    body: web::Json<SubMchId>,
) -> Result<HttpResponse, AdminError> {
    let mer_id = mer_id.into_inner();
    let SubMchId {
        sub_mch_id,
        channel_account_id,
    } = body.into_inner();
    let done = state
        .engine
        .businesses()
        .record_sub_mch_id(
            &actor.0,
            RecordSubMchId {
                mer_id: mer_id.clone(),
                sub_mch_id,
                channel_account_id,
            },
        )
        .await?;
    let b = done.ok_or_else(|| not_found(&mer_id))?;
    Ok(HttpResponse::Ok().json(b))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Refusal {
    reason: String,
}

async fn record_refusal(
    state: web::Data<ApiState>,
    actor: AdminActor,
    path: web::Path<(String, String)>,
    body: web::Json<Refusal>,
) -> Result<HttpResponse, AdminError> {
    let (mer_id, channel) = path.into_inner();
    let channel = match channel.as_str() {
        "wechat" => ChannelKind::Wechat,
        "alipay" => ChannelKind::Alipay,
        other => {
            return Err(AdminError::NotFound(format!(
                "business {other:?} (wechat or alipay)"
            )));
        }
    };
    let b = state
        .engine
        .businesses()
        .record_refusal(&actor.0, &mer_id, channel, &body.reason)
        .await?
        .ok_or_else(|| not_found(&mer_id))?;
    Ok(HttpResponse::Ok().json(b))
}

async fn auth_link(
    state: web::Data<ApiState>,
    actor: AdminActor,
    mer_id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let mer_id = mer_id.into_inner();
    let url = state
        .engine
        .businesses()
        .alipay_auth_link(&actor.0, &mer_id)
        .await?
        .ok_or_else(|| not_found(&mer_id))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "url": url })))
}

async fn retry(
    state: web::Data<ApiState>,
    actor: AdminActor,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, AdminError> {
    let (mer_id, id) = path.into_inner();
    let b = state
        .engine
        .businesses()
        .retry_binding(&actor.0, &mer_id, id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("binding {id} of merchant {mer_id}")))?;
    Ok(HttpResponse::Ok().json(b))
}
