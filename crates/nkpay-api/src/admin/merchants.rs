//! Console calls about merchants and their onboarding applications (issue 11, "Review"):
//!
//! - `GET /admin/api/merchants?status=P|Y|N|F|frozen&sys_id=&kind=ent|indv&limit=&offset=` — listing,
//!   oldest first, personal data never included; the reply `{"merchants", "total", "offset",
//!   "limit"}` (`total`: how many match in all; a bad `offset` is refused naming it).
//! - `GET /admin/api/merchants/{mer_id}` — the merchant with its latest application (`details`
//!   with personal values masked), businesses and bound appids.
//! - `GET /admin/api/applications?status=P&sys_id=&limit=&offset=` — the review queue, oldest
//!   first, `{"applications", "total", "offset", "limit"}` like the merchants' listing.
//! - `POST /admin/api/applications/{apply_no}/approve` (no body) and `…/reject`
//!   `{"reason": "…"}` (required, 1–256 characters): the result is notified to the
//!   application's `async_return_url` (`MERCHANT_AUDIT`).
//! - `POST /admin/api/merchants/{mer_id}/freeze` `{"reason": "…"}` and `…/unfreeze` (no body).
//! - `POST /admin/api/merchants/{mer_id}/reveal` `{"field": "legal_cert_no"}` →
//!   `{"mer_id", "field", "value"}`: one personal value in full (fields:
//!   `nkpay_engine::merchants::REVEALABLE`).
//!
//! Roles (rule in nkpay-engine's `merchants`): platform admin everything; operator reads and
//! reviews (approve, reject, freeze, unfreeze); finance and read-only read; agent admin reads
//! its own service provider's merchants only (another's is 404); reveal is the platform
//! admin's alone. Every write and every reveal is audited with actor and address. Errors:
//! 400 `{"error"}` naming the field, 403, 404.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use nkpay_engine::merchants::{ApplicationView, MerchantDetail};
use nkpay_store::entity::merchant;
use nkpay_store::kinds::{ApplyStatus, MerchantKind};
use nkpay_store::merchant_applications::ApplicationFilter;
use nkpay_store::merchants::MerchantFilter;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::auth::AdminActor;
use super::error::AdminError;
use crate::ApiState;

/// The merchants' base path.
pub const MERCHANTS: &str = "/admin/api/merchants";
/// The applications' base path.
pub const APPLICATIONS: &str = "/admin/api/applications";
/// The default page size of the listings.
const DEFAULT_LIMIT: u64 = 100;

/// Mounts the merchant and application routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(MERCHANTS)
            .app_data(super::error::json_config())
            .route("", web::get().to(list))
            .route("/{mer_id}", web::get().to(get))
            .route("/{mer_id}/freeze", web::post().to(freeze))
            .route("/{mer_id}/unfreeze", web::post().to(unfreeze))
            .route("/{mer_id}/reveal", web::post().to(reveal)),
    )
    .service(
        web::scope(APPLICATIONS)
            .app_data(super::error::json_config())
            .route("", web::get().to(applications))
            .route("/{apply_no}/approve", web::post().to(approve))
            .route("/{apply_no}/reject", web::post().to(reject)),
    );
}

/// A merchant as the console lists it: no personal data.
#[derive(Debug, Serialize)]
pub struct MerchantView {
    /// The merchant's 16 digits (`huifu_id`).
    pub mer_id: String,
    /// Its service provider.
    pub sys_id: String,
    /// Registered name (`reg_name`).
    pub name: String,
    /// Short name (`short_name`).
    pub short_name: Option<String>,
    /// `ent` or `indv`.
    pub kind: &'static str,
    /// `active` or `disabled` (may it call and be called for at all).
    pub status: &'static str,
    /// P, Y, N or F.
    pub apply_status: &'static str,
    /// Whether it is frozen (no payments; refunds, queries and closes still work).
    pub frozen: bool,
    /// When it was frozen (UTC).
    pub frozen_at: Option<DateTime<Utc>>,
    /// Why it was frozen.
    pub frozen_reason: Option<String>,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<&merchant::Model> for MerchantView {
    fn from(m: &merchant::Model) -> Self {
        MerchantView {
            mer_id: m.mer_id.clone(),
            sys_id: m.sys_id.clone(),
            name: m.name.clone(),
            short_name: m.short_name.clone(),
            kind: m.kind.as_str(),
            status: m.status.as_str(),
            apply_status: m.apply_status.as_str(),
            frozen: m.frozen_at.is_some(),
            frozen_at: m.frozen_at,
            frozen_reason: m.frozen_reason.clone(),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// An application as the console shows it: its fields with personal values masked.
pub fn application_json(a: &ApplicationView) -> Value {
    json!({
        "apply_no": a.apply_no,
        "mer_id": a.mer_id,
        "sys_id": a.sys_id,
        "kind": a.kind.as_str(),
        "apply_status": a.status.as_str(),
        "reason": a.reason,
        "req_date": a.req_date,
        "req_seq_id": a.req_seq_id,
        "async_return_url": a.async_return_url,
        "details": Value::Object(a.details.clone()),
        "reviewed_by": a.reviewed_by,
        "reviewed_at": a.reviewed_at,
        "created_at": a.created_at,
    })
}

fn detail_json(d: &MerchantDetail) -> Value {
    json!({
        "merchant": MerchantView::from(&d.merchant),
        "application": d.application.as_ref().map(application_json),
        "businesses": d.businesses_json(),
        "appids": d.appids_json(),
        "bindings": d.bindings_json(),
    })
}

fn bad(field: &str, rule: &str) -> AdminError {
    AdminError::BadRequest(format!("{field}: {rule}"))
}

fn limit_of(limit: Option<u64>) -> Result<u64, AdminError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n @ 1..=500) => Ok(n),
        Some(_) => Err(bad("limit", "must be 1 to 500")),
    }
}

/// The rows to skip before a page: absent is 0, otherwise a whole number; anything else is
/// refused naming `offset`.
fn offset_of(offset: Option<&str>) -> Result<u64, AdminError> {
    match offset {
        None | Some("") => Ok(0),
        Some(text) => text
            .parse()
            .map_err(|_| bad("offset", "must be a whole number 0 or more")),
    }
}

fn apply_status(text: &str) -> Result<ApplyStatus, AdminError> {
    text.parse()
        .map_err(|_| bad("status", "must be one of P, Y, N, F"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    sys_id: Option<String>,
    kind: Option<String>,
    limit: Option<u64>,
    offset: Option<String>,
}

async fn list(
    state: web::Data<ApiState>,
    actor: AdminActor,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, AdminError> {
    let q = q.into_inner();
    let mut filter = MerchantFilter {
        sys_id: q.sys_id,
        ..MerchantFilter::default()
    };
    match q.status.as_deref() {
        None | Some("") => {}
        Some("frozen") => filter.frozen = Some(true),
        Some(s) => {
            filter.apply_status = Some(
                apply_status(s).map_err(|_| bad("status", "must be one of P, Y, N, F, frozen"))?,
            )
        }
    }
    if let Some(kind) = q.kind.as_deref().filter(|k| !k.is_empty()) {
        filter.kind = Some(
            kind.parse::<MerchantKind>()
                .map_err(|_| bad("kind", "must be ent or indv"))?,
        );
    }
    let offset = offset_of(q.offset.as_deref())?;
    let limit = limit_of(q.limit)?;
    let (rows, total) = state
        .engine
        .merchants()
        .page(&actor.0, filter, offset, limit)
        .await?;
    let views: Vec<MerchantView> = rows.iter().map(MerchantView::from).collect();
    Ok(HttpResponse::Ok().json(json!({
        "merchants": views,
        "total": total,
        "offset": offset,
        "limit": limit,
    })))
}

async fn get(
    state: web::Data<ApiState>,
    actor: AdminActor,
    mer_id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let d = state
        .engine
        .merchants()
        .get(&actor.0, &mer_id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("merchant {mer_id}")))?;
    Ok(HttpResponse::Ok().json(detail_json(&d)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplicationsQuery {
    status: Option<String>,
    sys_id: Option<String>,
    limit: Option<u64>,
    offset: Option<String>,
}

async fn applications(
    state: web::Data<ApiState>,
    actor: AdminActor,
    q: web::Query<ApplicationsQuery>,
) -> Result<HttpResponse, AdminError> {
    let q = q.into_inner();
    let filter = ApplicationFilter {
        status: q
            .status
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(apply_status)
            .transpose()?,
        sys_id: q.sys_id,
    };
    let offset = offset_of(q.offset.as_deref())?;
    let limit = limit_of(q.limit)?;
    let (rows, total) = state
        .engine
        .merchants()
        .applications_page(&actor.0, filter, offset, limit)
        .await?;
    let list: Vec<Value> = rows.iter().map(application_json).collect();
    Ok(HttpResponse::Ok().json(json!({
        "applications": list,
        "total": total,
        "offset": offset,
        "limit": limit,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: Option<String>,
}

async fn review(
    state: &ApiState,
    actor: &AdminActor,
    apply_no: &str,
    approve: bool,
    reason: Option<&str>,
) -> Result<HttpResponse, AdminError> {
    let app = state
        .engine
        .merchants()
        .review(&actor.0, apply_no, approve, reason)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("application {apply_no}")))?;
    Ok(HttpResponse::Ok().json(application_json(&ApplicationView::of(app))))
}

async fn approve(
    state: web::Data<ApiState>,
    actor: AdminActor,
    apply_no: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    review(&state, &actor, &apply_no, true, None).await
}

async fn reject(
    state: web::Data<ApiState>,
    actor: AdminActor,
    apply_no: web::Path<String>,
    body: web::Json<Reason>,
) -> Result<HttpResponse, AdminError> {
    let reason = body.into_inner().reason.unwrap_or_default();
    review(&state, &actor, &apply_no, false, Some(&reason)).await
}

async fn set_frozen(
    state: &ApiState,
    actor: &AdminActor,
    mer_id: &str,
    reason: Option<&str>,
) -> Result<HttpResponse, AdminError> {
    let m = state
        .engine
        .merchants()
        .set_frozen(&actor.0, mer_id, reason)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("merchant {mer_id}")))?;
    Ok(HttpResponse::Ok().json(MerchantView::from(&m)))
}

async fn freeze(
    state: web::Data<ApiState>,
    actor: AdminActor,
    mer_id: web::Path<String>,
    body: web::Json<Reason>,
) -> Result<HttpResponse, AdminError> {
    let reason = body.into_inner().reason.unwrap_or_default();
    set_frozen(&state, &actor, &mer_id, Some(&reason)).await
}

async fn unfreeze(
    state: web::Data<ApiState>,
    actor: AdminActor,
    mer_id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    set_frozen(&state, &actor, &mer_id, None).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reveal {
    field: String,
}

async fn reveal(
    state: web::Data<ApiState>,
    actor: AdminActor,
    mer_id: web::Path<String>,
    body: web::Json<Reveal>,
) -> Result<HttpResponse, AdminError> {
    let field = body.into_inner().field;
    let value = state
        .engine
        .merchants()
        .reveal(&actor.0, &mer_id, &field)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("{field} of merchant {mer_id}")))?;
    let mut out = Map::new();
    out.insert("mer_id".into(), Value::String(mer_id.into_inner()));
    out.insert("field".into(), Value::String(field));
    out.insert("value".into(), Value::String(value.into_inner()));
    Ok(HttpResponse::Ok().json(Value::Object(out)))
}
