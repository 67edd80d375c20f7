//! Console calls about service providers (agents): register one (`POST`, with its RSA public
//! key or `"generate": true`, the generated private key in that reply only), list, read one,
//! suspend and activate, and the fee-rate floors per payment method (`GET`/`PUT
//! {sys_id}/fee-floors`: `{"floors": {"T_JSAPI": {"fee_rate": "0.38"}, "A_NATIVE":
//! {"fee_rate_bp": 60}}}`, percent with at most 2 decimals or integer basis points; stored as
//! basis points). Writes are the platform admin's; operator, finance and read-only read
//! all, an agent admin only its own (another's answers 404). The rules are in nkpay-engine's
//! `service_providers`.
//!
//! Key replacement with an overlap window: `POST {sys_id}/keys` with `{"public_key": PEM}` or
//! `{"generate": true}` (the private key in that reply only) and optional `"overlap_hours"`
//! (1-720, default 72) makes the new key current at once; the replaced one keeps verifying
//! until its `valid_until` (UTC). `DELETE {sys_id}/keys/previous` ends the overlap now. Both
//! the platform admin's and an agent admin's for its own provider (another's answers 404).
//! Every view carries `keys`: `{"current": {"public_key", "fingerprint"}, "previous":
//! {"public_key", "fingerprint", "valid_until", "accepted"} | null}`, the fingerprint being the
//! lower-case hex SHA-256 of the key's SubjectPublicKeyInfo DER.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use nkpay_core::trade_type::TradeType;
use nkpay_engine::Permission;
use nkpay_engine::service_providers::{
    self as engine_sp, KeyReplacement, NewProvider, OverlapEnd, ProviderKey,
};
use nkpay_store::entity::{service_provider, service_provider_fee_floor};
use nkpay_store::kinds::RecordStatus;
use serde::{Deserialize, Serialize};

use super::auth::AdminActor;
use super::error::AdminError;
use crate::ApiState;

/// Where the service provider calls are mounted.
pub const BASE: &str = "/admin/api/service-providers";

/// Mounts the service provider calls under [`BASE`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    let json_errors = super::error::json_config();
    cfg.service(
        web::scope(BASE)
            .app_data(json_errors)
            .route("", web::post().to(create))
            .route("", web::get().to(list))
            .route("/{sys_id}", web::get().to(get))
            .route("/{sys_id}/suspend", web::post().to(suspend))
            .route("/{sys_id}/activate", web::post().to(activate))
            .route("/{sys_id}/keys", web::post().to(replace_key))
            .route("/{sys_id}/keys/previous", web::delete().to(end_key_overlap))
            .route("/{sys_id}/fee-floors", web::get().to(get_fee_floors))
            .route("/{sys_id}/fee-floors", web::put().to(put_fee_floors)),
    );
}

/// A service provider as the console shows it (its public keys included: they are public).
#[derive(Debug, Serialize)]
pub struct ProviderView {
    /// The provider's `sys_id`.
    pub sys_id: String,
    /// The product it signs requests for (`product_id`).
    pub product_id: String,
    /// Its name.
    pub name: String,
    /// The current key (also in `keys.current`).
    pub public_key: String,
    /// The current key and, during an overlap, the replaced one.
    pub keys: KeysView,
    /// `active` or `suspended`.
    pub status: &'static str,
    /// When it was registered (UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// A provider's keys: the current one, and the previous one while it is kept.
#[derive(Debug, Serialize)]
pub struct KeysView {
    /// The key that verifies the provider's requests.
    pub current: KeyView,
    /// The replaced key, kept until the overlap is ended early or replaced again; `null`
    /// when there is none.
    pub previous: Option<PreviousKeyView>,
}

/// One public key and its fingerprint (hex SHA-256 of the SPKI DER; `null` if unparsable).
#[derive(Debug, Serialize)]
pub struct KeyView {
    /// The key as registered (PEM or base64).
    pub public_key: String,
    /// Lower-case hex SHA-256 of its SubjectPublicKeyInfo DER (64 characters).
    pub fingerprint: Option<String>,
}

/// The replaced key: verifying until `valid_until` (UTC, exclusive); `accepted` says whether
/// it still does now.
#[derive(Debug, Serialize)]
pub struct PreviousKeyView {
    /// The replaced key as it was registered.
    pub public_key: String,
    /// Lower-case hex SHA-256 of its SubjectPublicKeyInfo DER.
    pub fingerprint: Option<String>,
    /// The end of the overlap window (UTC, exclusive).
    pub valid_until: Option<DateTime<Utc>>,
    /// Whether it still verifies now (now is before `valid_until`).
    pub accepted: bool,
}

impl From<service_provider::Model> for ProviderView {
    fn from(p: service_provider::Model) -> Self {
        let accepted = engine_sp::previous_key_accepted(&p, Utc::now());
        let previous = p.previous_rsa_public_key.map(|key| PreviousKeyView {
            fingerprint: engine_sp::fingerprint(&key),
            public_key: key,
            valid_until: p.previous_key_valid_until,
            accepted,
        });
        ProviderView {
            sys_id: p.sys_id,
            product_id: p.product_id,
            name: p.name,
            keys: KeysView {
                current: KeyView {
                    fingerprint: engine_sp::fingerprint(&p.rsa_public_key),
                    public_key: p.rsa_public_key.clone(),
                },
                previous,
            },
            public_key: p.rsa_public_key,
            status: match p.status {
                RecordStatus::Active => "active",
                RecordStatus::Disabled => "suspended",
            },
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// The key of a create or a replacement: `public_key` or `"generate": true`, exactly one.
fn key_choice(public_key: Option<String>, generate: bool) -> Result<ProviderKey, AdminError> {
    match (public_key, generate) {
        (Some(pem), false) => Ok(ProviderKey::Registered(pem)),
        (None, true) => Ok(ProviderKey::Generate),
        _ => Err(AdminError::BadRequest(
            "public_key: give either public_key or \"generate\": true, not both or neither".into(),
        )),
    }
}

/// `view` as JSON with a generated private key added, shown this once: the platform keeps
/// only the public half.
fn with_private_key(
    view: ProviderView,
    private_key: Option<nkpay_core::secret::Secret<String>>,
) -> Result<serde_json::Value, AdminError> {
    let mut reply = serde_json::to_value(view).map_err(|_| AdminError::Internal)?;
    if let Some(private_key) = private_key {
        reply["private_key"] = private_key.into_inner().into();
    }
    Ok(reply)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    sys_id: String,
    product_id: String,
    name: String,
    public_key: Option<String>,
    #[serde(default)]
    generate: bool,
}

async fn create(
    state: web::Data<ApiState>,
    actor: AdminActor,
    body: web::Json<Create>,
) -> Result<HttpResponse, AdminError> {
    let by = actor.require(Permission::ManageServiceProviders)?;
    let Create {
        sys_id,
        product_id,
        name,
        public_key,
        generate,
    } = body.into_inner();
    let key = key_choice(public_key, generate)?;
    let created = state
        .engine
        .service_providers()
        .create(
            by,
            NewProvider {
                sys_id,
                product_id,
                name,
                key,
            },
        )
        .await?;
    let reply = with_private_key(ProviderView::from(created.provider), created.private_key)?;
    Ok(HttpResponse::Created().json(reply))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaceKey {
    public_key: Option<String>,
    #[serde(default)]
    generate: bool,
    overlap_hours: Option<serde_json::Value>,
}

/// `POST {sys_id}/keys`: the provider with its new key current and the replaced one previous
/// (200), plus `private_key` when generated.
async fn replace_key(
    state: web::Data<ApiState>,
    actor: AdminActor,
    sys_id: web::Path<String>,
    body: web::Json<ReplaceKey>,
) -> Result<HttpResponse, AdminError> {
    let ReplaceKey {
        public_key,
        generate,
        overlap_hours,
    } = body.into_inner();
    let key = key_choice(public_key, generate)?;
    let overlap_hours = match overlap_hours {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| {
            AdminError::BadRequest(format!(
                "overlap_hours: must be a whole number of hours from 1 to {} (default {})",
                engine_sp::MAX_OVERLAP_HOURS,
                engine_sp::DEFAULT_OVERLAP_HOURS
            ))
        })?),
    };
    let replaced = state
        .engine
        .service_providers()
        .replace_key(&actor.0, &sys_id, KeyReplacement { key, overlap_hours })
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("service provider {sys_id}")))?;
    let reply = with_private_key(ProviderView::from(replaced.provider), replaced.private_key)?;
    Ok(HttpResponse::Ok().json(reply))
}

/// `DELETE {sys_id}/keys/previous`: the provider without its previous key (200); 404 when
/// there is no such provider or it has no previous key.
async fn end_key_overlap(
    state: web::Data<ApiState>,
    actor: AdminActor,
    sys_id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    match state
        .engine
        .service_providers()
        .end_key_overlap(&actor.0, &sys_id)
        .await?
    {
        OverlapEnd::Ended(row) => Ok(HttpResponse::Ok().json(ProviderView::from(row))),
        OverlapEnd::NoPreviousKey => Err(AdminError::NotFound(format!(
            "previous key of service provider {sys_id}"
        ))),
        OverlapEnd::NoProvider => Err(AdminError::NotFound(format!("service provider {sys_id}"))),
    }
}

async fn list(state: web::Data<ApiState>, actor: AdminActor) -> Result<HttpResponse, AdminError> {
    let by = actor.require(Permission::ReadServiceProviders)?;
    let rows = state.engine.service_providers().list(by).await?;
    let items: Vec<ProviderView> = rows.into_iter().map(ProviderView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

async fn get(
    state: web::Data<ApiState>,
    actor: AdminActor,
    sys_id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let by = actor.require(Permission::ReadServiceProviders)?;
    let row = state
        .engine
        .service_providers()
        .get(by, &sys_id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("service provider {sys_id}")))?;
    Ok(HttpResponse::Ok().json(ProviderView::from(row)))
}

async fn suspend(
    state: web::Data<ApiState>,
    actor: AdminActor,
    sys_id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    set_status(state, actor, &sys_id, RecordStatus::Disabled).await
}

async fn activate(
    state: web::Data<ApiState>,
    actor: AdminActor,
    sys_id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    set_status(state, actor, &sys_id, RecordStatus::Active).await
}

async fn set_status(
    state: web::Data<ApiState>,
    actor: AdminActor,
    sys_id: &str,
    status: RecordStatus,
) -> Result<HttpResponse, AdminError> {
    let by = actor.require(Permission::ManageServiceProviders)?;
    let row = state
        .engine
        .service_providers()
        .set_status(by, sys_id, status)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("service provider {sys_id}")))?;
    Ok(HttpResponse::Ok().json(ProviderView::from(row)))
}

/// One floor as sent: percent (`"0.38"`) or basis points (`38`), exactly one of them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FloorInput {
    fee_rate: Option<String>,
    fee_rate_bp: Option<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutFloors {
    floors: BTreeMap<String, FloorInput>,
}

async fn get_fee_floors(
    state: web::Data<ApiState>,
    actor: AdminActor,
    sys_id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let by = actor.require(Permission::ReadServiceProviders)?;
    let rows = state
        .engine
        .service_providers()
        .fee_floors(by, &sys_id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("service provider {sys_id}")))?;
    Ok(HttpResponse::Ok().json(floors_reply(&sys_id, &rows)))
}

async fn put_fee_floors(
    state: web::Data<ApiState>,
    actor: AdminActor,
    sys_id: web::Path<String>,
    body: web::Json<PutFloors>,
) -> Result<HttpResponse, AdminError> {
    let by = actor.require(Permission::ManageServiceProviders)?;
    let mut floors = Vec::new();
    for (name, input) in body.into_inner().floors {
        let field = format!("floors.{name}");
        let trade_type: TradeType = name.parse().map_err(|_| {
            AdminError::BadRequest(format!(
                "{field}: not a payment method (T_JSAPI, T_MINIAPP, A_NATIVE)"
            ))
        })?;
        let bp = match (input.fee_rate, input.fee_rate_bp) {
            (Some(percent), None) => nkpay_core::fee_rate::parse_percent(&percent).ok_or_else(|| {
                AdminError::BadRequest(format!(
                    "{field}.fee_rate: must be a percent from 0 to 100 with at most 2 decimals, e.g. \"0.38\""
                ))
            })?,
            (None, Some(bp)) => bp,
            _ => {
                return Err(AdminError::BadRequest(format!(
                    "{field}: give either fee_rate (percent) or fee_rate_bp (basis points)"
                )));
            }
        };
        floors.push((trade_type, bp));
    }
    let rows = state
        .engine
        .service_providers()
        .set_fee_floors(by, &sys_id, &floors)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("service provider {sys_id}")))?;
    Ok(HttpResponse::Ok().json(floors_reply(&sys_id, &rows)))
}

/// `{"sys_id", "fee_floors": {"T_JSAPI": {"fee_rate_bp": 38, "fee_rate": "0.38"}, …}}`: the
/// fee floors of one service provider as the admin API and `nkpay admin` show them.
pub fn floors_reply(sys_id: &str, rows: &[service_provider_fee_floor::Model]) -> serde_json::Value {
    let floors: BTreeMap<&str, serde_json::Value> = rows
        .iter()
        .map(|r| {
            let view = serde_json::json!({
                "fee_rate_bp": r.floor_bp,
                "fee_rate": nkpay_core::fee_rate::percent_text(r.floor_bp),
            });
            (r.trade_type.as_str(), view)
        })
        .collect();
    serde_json::json!({ "sys_id": sys_id, "fee_floors": floors })
}
