//! Console calls about the platform's channel accounts (base `/admin/api/channel-accounts`):
//!
//! - `POST ""` registers a WeChat Pay service-provider account (`"channel": "wechat"`, `name`,
//!   `gateway_url`, `is_default`, `appid`, `mch_id`, `api_key`, and optionally the client
//!   certificate as `client_cert_pem` + `client_key_pem` or as `client_cert_p12` (base64 of
//!   `apiclient_cert.p12`) + `client_cert_p12_password`) or an Alipay ISV app
//!   (`"channel": "alipay"`, `name`, `gateway_url`, `is_default`, `app_id`, `app_private_key`,
//!   `alipay_public_key`, `isv_pid`) → 201 with the account;
//! - `GET ""` → `{"items": [account…], "total", "offset"}` (every account, or with `offset`
//!   (default 0) and/or `limit` (1–200) one page of them, oldest first; `total` counts all),
//!   `GET /{id}` → the account;
//! - `POST /{id}/disable`, `POST /{id}/enable` → 200 with the account;
//! - `PUT /{id}/credentials` with the same body as the registration, for the account's own
//!   channel → 200 with the account;
//! - `POST /{id}/test` → `{"ok": bool, "code": "...", "message": "..."}`.
//!
//! Writes and the test call are the platform admin's; operator, finance and read-only read.
//! Secrets are sealed at rest and never in a reply: only whether each is set. A refusal is 400
//! `{"error": "<field>格式错误: <rule>"}`, an unknown id 404.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use nkpay_core::secret::Secret;
use nkpay_engine::EngineError;
use nkpay_engine::Permission;
use nkpay_engine::channel_accounts::{
    AccountCredentials, ClientIdentity, WechatAccountSetup, days_until, pkcs12_identity,
};
use nkpay_engine::onboarding::NewAlipayAccount;
use nkpay_store::entity::channel_account;
use serde::{Deserialize, Serialize};

use super::auth::AdminActor;
use super::error::AdminError;
use crate::ApiState;

/// Where the channel-account calls are mounted.
pub const BASE: &str = "/admin/api/channel-accounts";

/// Mounts the channel-account calls under [`BASE`] (JSON bodies up to 64 KiB).
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Certificates and RSA keys are larger than the console's usual 4 KiB bodies.
    let json_errors = super::error::json_config().limit(64 * 1024);
    cfg.service(
        web::scope(BASE)
            .app_data(json_errors)
            .route("", web::post().to(create))
            .route("", web::get().to(list))
            .route("/{id}", web::get().to(get))
            .route("/{id}/disable", web::post().to(disable))
            .route("/{id}/enable", web::post().to(enable))
            .route("/{id}/credentials", web::put().to(replace_credentials))
            .route("/{id}/test", web::post().to(test_call)),
    );
}

/// A channel account as the console shows it: ids and public values, and `"set"` in place of
/// each secret that is stored.
#[derive(Debug, Serialize)]
pub struct AccountView {
    /// The account's id (`channel_accounts.id`), as the paths name it.
    pub id: i64,
    /// `wechat` or `alipay`.
    pub channel: &'static str,
    /// The operator's name for it.
    pub name: String,
    /// Whether it serves merchants whose business names no account.
    pub is_default: bool,
    /// The channel API base URL; empty: the configured one.
    pub gateway_url: String,
    /// `active` or `disabled`.
    pub status: &'static str,
    /// WeChat: the service provider's appid.
    pub appid: Option<String>,
    /// WeChat: the service provider's `mch_id`.
    pub mch_id: Option<String>,
    /// WeChat: `"set"` when the API v2 key is stored.
    pub api_key: Option<&'static str>,
    /// WeChat: `"set"` when a client certificate is stored.
    pub client_certificate: Option<&'static str>,
    /// The client certificate's `notAfter` (UTC), when one is stored with it.
    pub cert_not_after: Option<DateTime<Utc>>,
    /// Whole days until `cert_not_after` (negative once expired).
    pub cert_expires_in_days: Option<i64>,
    /// Alipay: the ISV app's `app_id`.
    pub app_id: Option<String>,
    /// Alipay: `"set"` when the app private key is stored.
    pub app_private_key: Option<&'static str>,
    /// Alipay: Alipay's public key (public).
    pub alipay_public_key: Option<String>,
    /// Alipay: the ISV's PID (`sys_service_provider_id`).
    pub isv_pid: Option<String>,
    /// Goes up by one with every change (status, credentials).
    pub version: i64,
    /// When it was registered (UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

fn set(sealed: &Option<String>) -> Option<&'static str> {
    sealed.as_ref().map(|_| "set")
}

impl From<channel_account::Model> for AccountView {
    fn from(a: channel_account::Model) -> Self {
        AccountView {
            id: a.id,
            channel: a.channel.as_str(),
            api_key: set(&a.wx_api_key_sealed),
            client_certificate: set(&a.wx_client_cert_sealed),
            app_private_key: set(&a.ali_app_private_key_sealed),
            cert_not_after: a.cert_not_after,
            cert_expires_in_days: a.cert_not_after.map(|at| days_until(at, Utc::now())),
            version: a.version,
            name: a.name,
            is_default: a.is_default,
            gateway_url: a.gateway_url,
            status: a.status.as_str(),
            appid: a.wx_appid,
            mch_id: a.wx_mch_id,
            app_id: a.ali_app_id,
            alipay_public_key: a.ali_public_key,
            isv_pid: a.ali_isv_pid,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// A registration, or a credential replacement: the same body.
#[derive(Deserialize)]
#[serde(tag = "channel", rename_all = "lowercase")]
enum Create {
    Wechat(WechatBody),
    Alipay(AlipayBody),
}

#[derive(Deserialize)]
struct WechatBody {
    name: String,
    gateway_url: String,
    #[serde(default)]
    is_default: bool,
    appid: String,
    mch_id: String,
    api_key: Secret<String>,
    client_cert_pem: Option<Secret<String>>,
    client_key_pem: Option<Secret<String>>,
    /// Base64 of the PKCS#12 bundle `apiclient_cert.p12`.
    client_cert_p12: Option<Secret<String>>,
    client_cert_p12_password: Option<Secret<String>>,
}

impl WechatBody {
    /// The engine's setup: the client certificate as a PEM pair or a PKCS#12 bundle, never
    /// both, never half of either.
    fn into_setup(self) -> Result<WechatAccountSetup, EngineError> {
        let pem = match (self.client_cert_pem, self.client_key_pem) {
            (Some(cert), Some(key)) => Some(ClientIdentity::Pem {
                cert_pem: cert.into_inner(),
                key_pem: key,
            }),
            (None, None) => None,
            _ => {
                return Err(EngineError::invalid(
                    "client_cert_pem",
                    "certificate and private key go together (client_cert_pem with \
                     client_key_pem)",
                ));
            }
        };
        let p12 = match (self.client_cert_p12, self.client_cert_p12_password) {
            (Some(der), Some(password)) => Some(pkcs12_identity(der.expose(), password)?),
            (None, None) => None,
            (Some(_), None) => {
                return Err(EngineError::invalid(
                    "client_cert_p12_password",
                    "is required with client_cert_p12 (WeChat sets the mch_id)",
                ));
            }
            (None, Some(_)) => {
                return Err(EngineError::invalid(
                    "client_cert_p12",
                    "is missing: client_cert_p12_password goes with it",
                ));
            }
        };
        let client_certificate = match (pem, p12) {
            (Some(_), Some(_)) => {
                return Err(EngineError::invalid(
                    "client_cert_p12",
                    "give the certificate once: either client_cert_pem + client_key_pem or \
                     client_cert_p12 + client_cert_p12_password",
                ));
            }
            (pem, p12) => pem.or(p12),
        };
        Ok(WechatAccountSetup {
            name: self.name,
            gateway_url: self.gateway_url,
            is_default: self.is_default,
            appid: self.appid,
            mch_id: self.mch_id,
            api_key: self.api_key,
            client_certificate,
        })
    }
}

#[derive(Deserialize)]
struct AlipayBody {
    name: String,
    gateway_url: String,
    #[serde(default)]
    is_default: bool,
    app_id: String,
    app_private_key: Secret<String>,
    alipay_public_key: String,
    isv_pid: Option<String>,
}

async fn create(
    state: web::Data<ApiState>,
    actor: AdminActor,
    body: web::Json<Create>,
) -> Result<HttpResponse, AdminError> {
    let by = actor.require(Permission::ManageChannelAccounts)?;
    let accounts = state.engine.channel_accounts();
    let row = match credentials(body.into_inner())? {
        AccountCredentials::Wechat(setup) => accounts.create_wechat(by, setup).await?,
        AccountCredentials::Alipay(new) => accounts.create_alipay(by, new).await?,
    };
    Ok(HttpResponse::Created().json(AccountView::from(row)))
}

fn credentials(body: Create) -> Result<AccountCredentials, EngineError> {
    Ok(match body {
        Create::Wechat(w) => AccountCredentials::Wechat(w.into_setup()?),
        Create::Alipay(a) => AccountCredentials::Alipay(NewAlipayAccount {
            name: a.name,
            gateway_url: a.gateway_url,
            is_default: a.is_default,
            app_id: a.app_id,
            app_private_key: a.app_private_key,
            alipay_public_key: a.alipay_public_key,
            isv_pid: a.isv_pid,
        }),
    })
}

fn found(row: Option<channel_account::Model>, id: i64) -> Result<HttpResponse, AdminError> {
    let row = row.ok_or_else(|| AdminError::NotFound(format!("channel account {id}")))?;
    Ok(HttpResponse::Ok().json(AccountView::from(row)))
}

async fn disable(
    state: web::Data<ApiState>,
    actor: AdminActor,
    id: web::Path<i64>,
) -> Result<HttpResponse, AdminError> {
    set_enabled(state, actor, id.into_inner(), false).await
}

async fn enable(
    state: web::Data<ApiState>,
    actor: AdminActor,
    id: web::Path<i64>,
) -> Result<HttpResponse, AdminError> {
    set_enabled(state, actor, id.into_inner(), true).await
}

async fn set_enabled(
    state: web::Data<ApiState>,
    actor: AdminActor,
    id: i64,
    enabled: bool,
) -> Result<HttpResponse, AdminError> {
    let by = actor.require(Permission::ManageChannelAccounts)?;
    let row = state
        .engine
        .channel_accounts()
        .set_enabled(by, id, enabled)
        .await?;
    found(row, id)
}

async fn replace_credentials(
    state: web::Data<ApiState>,
    actor: AdminActor,
    id: web::Path<i64>,
    body: web::Json<Create>,
) -> Result<HttpResponse, AdminError> {
    let by = actor.require(Permission::ManageChannelAccounts)?;
    let id = id.into_inner();
    let new = credentials(body.into_inner())?;
    let row = state
        .engine
        .channel_accounts()
        .replace_credentials(by, id, new)
        .await?;
    found(row, id)
}

/// The listing's paging: `offset` (a whole number, default 0) and `limit` (1–200); without
/// either, every account.
#[derive(Debug, Deserialize)]
struct ListQuery {
    offset: Option<String>,
    limit: Option<String>,
}

/// Most accounts one page of the listing holds.
const MAX_LIMIT: u64 = 200;

/// `text` as a whole number in `range`, or a refusal naming `field` with `rule`.
fn paging_field(
    field: &str,
    text: &str,
    range: std::ops::RangeInclusive<u64>,
    rule: &str,
) -> Result<u64, AdminError> {
    text.parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| AdminError::BadRequest(format!("{field}格式错误: {rule}")))
}

async fn list(
    state: web::Data<ApiState>,
    actor: AdminActor,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, AdminError> {
    let by = actor.require(Permission::ReadChannelAccounts)?;
    let q = q.into_inner();
    let offset = match q.offset.as_deref() {
        None | Some("") => None,
        Some(text) => Some(paging_field(
            "offset",
            text,
            0..=u64::MAX,
            "must be a whole number 0 or more",
        )?),
    };
    let limit = match q.limit.as_deref() {
        None | Some("") => None,
        Some(text) => Some(paging_field(
            "limit",
            text,
            1..=MAX_LIMIT,
            "must be 1 to 200",
        )?),
    };
    let accounts = state.engine.channel_accounts();
    let (rows, total) = if offset.is_none() && limit.is_none() {
        let rows = accounts.list(by).await?;
        let total = rows.len() as u64;
        (rows, total)
    } else {
        accounts
            .page(by, offset.unwrap_or(0), limit.unwrap_or(MAX_LIMIT))
            .await?
    };
    let items: Vec<AccountView> = rows.into_iter().map(AccountView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "items": items,
        "total": total,
        "offset": offset.unwrap_or(0),
    })))
}

async fn get(
    state: web::Data<ApiState>,
    actor: AdminActor,
    id: web::Path<i64>,
) -> Result<HttpResponse, AdminError> {
    let by = actor.require(Permission::ReadChannelAccounts)?;
    let id = id.into_inner();
    let row = state.engine.channel_accounts().get(by, id).await?;
    found(row, id)
}

/// `POST {id}/test`: `{"ok": bool, "code": "...", "message": "..."}` — whether the channel
/// accepted the account's credentials (and client certificate), in its own words.
async fn test_call(
    state: web::Data<ApiState>,
    actor: AdminActor,
    id: web::Path<i64>,
) -> Result<HttpResponse, AdminError> {
    let by = actor.require(Permission::ManageChannelAccounts)?;
    let id = id.into_inner();
    let result = state
        .engine
        .channel_accounts()
        .test(by, id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("channel account {id}")))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "ok": result.ok,
        "code": result.code,
        "message": result.message,
    })))
}
