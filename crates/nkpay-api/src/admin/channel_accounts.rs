//! Console calls about the platform's channel accounts: register a WeChat Pay
//! service-provider account (`"channel": "wechat"`, `appid`, `mch_id`, `api_key`, optional
//! `client_cert_pem` + `client_key_pem`) or an Alipay ISV app (`"channel": "alipay"`, `app_id`,
//! `app_private_key`, `alipay_public_key`, `isv_pid`), list, read one. Writes are the platform
//! admin's; operator, finance and read-only read. Secrets are sealed at rest and never in a
//! reply: only whether each is set.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use nkpay_core::secret::Secret;
use nkpay_engine::Permission;
use nkpay_engine::onboarding::{NewAlipayAccount, NewWechatAccount};
use nkpay_store::entity::channel_account;
use serde::{Deserialize, Serialize};

use super::auth::AdminActor;
use super::error::AdminError;
use crate::ApiState;

pub const BASE: &str = "/admin/api/channel-accounts";

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Certificates and RSA keys are larger than the console's usual 4 KiB bodies.
    let json_errors = super::error::json_config().limit(64 * 1024);
    cfg.service(
        web::scope(BASE)
            .app_data(json_errors)
            .route("", web::post().to(create))
            .route("", web::get().to(list))
            .route("/{id}", web::get().to(get)),
    );
}

/// A channel account as the console shows it: ids and public values, and `"set"` in place of
/// each secret that is stored.
#[derive(Debug, Serialize)]
pub struct AccountView {
    pub id: i64,
    /// `wechat` or `alipay`.
    pub channel: &'static str,
    pub name: String,
    pub is_default: bool,
    pub gateway_url: String,
    /// `active` or `disabled`.
    pub status: &'static str,
    pub appid: Option<String>,
    pub mch_id: Option<String>,
    pub api_key: Option<&'static str>,
    pub client_certificate: Option<&'static str>,
    pub app_id: Option<String>,
    pub app_private_key: Option<&'static str>,
    pub alipay_public_key: Option<String>,
    pub isv_pid: Option<String>,
    pub created_at: DateTime<Utc>,
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
    let row = match body.into_inner() {
        Create::Wechat(w) => {
            let new = NewWechatAccount {
                name: w.name,
                gateway_url: w.gateway_url,
                is_default: w.is_default,
                appid: w.appid,
                mch_id: w.mch_id,
                api_key: w.api_key,
                client_cert_pem: w.client_cert_pem,
                client_key_pem: w.client_key_pem,
            };
            accounts.create_wechat(by, new).await?
        }
        Create::Alipay(a) => {
            let new = NewAlipayAccount {
                name: a.name,
                gateway_url: a.gateway_url,
                is_default: a.is_default,
                app_id: a.app_id,
                app_private_key: a.app_private_key,
                alipay_public_key: a.alipay_public_key,
                isv_pid: a.isv_pid,
            };
            accounts.create_alipay(by, new).await?
        }
    };
    Ok(HttpResponse::Created().json(AccountView::from(row)))
}

async fn list(state: web::Data<ApiState>, actor: AdminActor) -> Result<HttpResponse, AdminError> {
    let by = actor.require(Permission::ReadChannelAccounts)?;
    let rows = state.engine.channel_accounts().list(by).await?;
    let items: Vec<AccountView> = rows.into_iter().map(AccountView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

async fn get(
    state: web::Data<ApiState>,
    actor: AdminActor,
    id: web::Path<i64>,
) -> Result<HttpResponse, AdminError> {
    let by = actor.require(Permission::ReadChannelAccounts)?;
    let id = id.into_inner();
    let row = state
        .engine
        .channel_accounts()
        .get(by, id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("channel account {id}")))?;
    Ok(HttpResponse::Ok().json(AccountView::from(row)))
}
