//! The platform's upstream channel accounts (WeChat Pay service provider, Alipay ISV app):
//! stored with their secrets sealed, handed out opened as credentials.

use chrono::{DateTime, Utc};
use nkpay_core::secret::Secret;
use nkpay_core::trade_type::ChannelKind;
use nkpay_crypto::sealed::SecretSealer;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::entity::channel_account;
use crate::error::StoreError;
use crate::kinds::RecordStatus;
use crate::sealing;

const WX_API_KEY: &str = "WeChat API v2 key";
const WX_CLIENT_CERT: &str = "WeChat client certificate";
const WX_CLIENT_KEY: &str = "WeChat client private key";
const ALI_PRIVATE_KEY: &str = "Alipay app private key";

/// A WeChat Pay service-provider account to store.
#[derive(Debug, Clone)]
pub struct NewWechatAccount {
    /// Display name.
    pub name: String,
    /// Base URL of the channel's API (production host or the sandbox).
    pub gateway_url: String,
    /// Whether it serves merchants that name no account.
    pub is_default: bool,
    /// The appid.
    pub appid: String,
    /// The service provider's WeChat `mch_id`.
    pub mch_id: String,
    /// WeChat API v2 key; sealed before it is stored.
    pub api_key: Secret<String>,
    /// PEM, for `secapi/pay/refund` (mutual TLS).
    pub client_cert_pem: Option<Secret<String>>,
    /// PEM private key for the client certificate; sealed before it is stored.
    pub client_key_pem: Option<Secret<String>>,
}

/// An Alipay ISV app to store.
#[derive(Debug, Clone)]
pub struct NewAlipayAccount {
    /// Display name.
    pub name: String,
    /// Base URL of the channel's API (production host or the sandbox).
    pub gateway_url: String,
    /// Whether it serves merchants that name no account.
    pub is_default: bool,
    /// The ISV's Alipay app id.
    pub app_id: String,
    /// The app's RSA2 private key (PEM or base64); sealed before it is stored.
    pub app_private_key: Secret<String>,
    /// Alipay's public key, verifying replies and notifies.
    pub alipay_public_key: String,
    /// The ISV's PID (`extend_params.sys_service_provider_id`).
    pub isv_pid: Option<String>,
}

/// WeChat credentials, opened.
#[derive(Debug, Clone)]
pub struct WechatCredentials {
    /// The `channel_accounts` row.
    pub account_id: i64,
    /// Base URL of the channel's API.
    pub gateway_url: String,
    /// The appid.
    pub appid: String,
    /// The service provider's WeChat `mch_id`.
    pub mch_id: String,
    /// WeChat API v2 key.
    pub api_key: Secret<String>,
    /// PEM client certificate for mutual TLS (refunds), if configured.
    pub client_cert_pem: Option<Secret<String>>,
    /// PEM private key of the client certificate, if configured.
    pub client_key_pem: Option<Secret<String>>,
}

/// Alipay credentials, opened.
#[derive(Debug, Clone)]
pub struct AlipayCredentials {
    /// The `channel_accounts` row.
    pub account_id: i64,
    /// Base URL of the channel's API.
    pub gateway_url: String,
    /// The ISV's Alipay app id.
    pub app_id: String,
    /// The app's RSA2 private key.
    pub app_private_key: Secret<String>,
    /// Alipay's public key, verifying replies and notifies.
    pub alipay_public_key: String,
    /// The ISV's PID (`extend_params.sys_service_provider_id`).
    pub isv_pid: Option<String>,
}

/// An account's credentials, by channel.
#[derive(Debug, Clone)]
pub enum ChannelCredentials {
    /// A WeChat Pay service-provider account.
    Wechat(WechatCredentials),
    /// An Alipay ISV app.
    Alipay(AlipayCredentials),
}

fn base(
    channel: ChannelKind,
    name: &str,
    gateway_url: &str,
    is_default: bool,
    now: DateTime<Utc>,
) -> channel_account::ActiveModel {
    channel_account::ActiveModel {
        channel: Set(channel),
        name: Set(name.to_owned()),
        gateway_url: Set(gateway_url.to_owned()),
        is_default: Set(is_default),
        status: Set(RecordStatus::Active),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Stores a WeChat account with its key, certificate and private key sealed.
pub async fn insert_wechat_account(
    conn: &impl ConnectionTrait,
    sealer: &SecretSealer,
    new: &NewWechatAccount,
    now: DateTime<Utc>,
) -> Result<channel_account::Model, StoreError> {
    let mut row = base(
        ChannelKind::Wechat,
        &new.name,
        &new.gateway_url,
        new.is_default,
        now,
    );
    row.wx_appid = Set(Some(new.appid.clone()));
    row.wx_mch_id = Set(Some(new.mch_id.clone()));
    row.wx_api_key_sealed = Set(Some(sealing::seal(sealer, WX_API_KEY, &new.api_key)?));
    row.wx_client_cert_sealed = Set(sealing::seal_opt(
        sealer,
        WX_CLIENT_CERT,
        new.client_cert_pem.as_ref(),
    )?);
    row.wx_client_key_sealed = Set(sealing::seal_opt(
        sealer,
        WX_CLIENT_KEY,
        new.client_key_pem.as_ref(),
    )?);
    row.insert(conn)
        .await
        .map_err(|e| StoreError::from_write("channel account", e))
}

/// Stores an Alipay ISV app with its private key sealed.
pub async fn insert_alipay_account(
    conn: &impl ConnectionTrait,
    sealer: &SecretSealer,
    new: &NewAlipayAccount,
    now: DateTime<Utc>,
) -> Result<channel_account::Model, StoreError> {
    let mut row = base(
        ChannelKind::Alipay,
        &new.name,
        &new.gateway_url,
        new.is_default,
        now,
    );
    row.ali_app_id = Set(Some(new.app_id.clone()));
    row.ali_app_private_key_sealed = Set(Some(sealing::seal(
        sealer,
        ALI_PRIVATE_KEY,
        &new.app_private_key,
    )?));
    row.ali_public_key = Set(Some(new.alipay_public_key.clone()));
    row.ali_isv_pid = Set(new.isv_pid.clone());
    row.insert(conn)
        .await
        .map_err(|e| StoreError::from_write("channel account", e))
}

/// The channel account with row id `id`, as stored (secrets still sealed).
pub async fn find_channel_account(
    conn: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<channel_account::Model>, StoreError> {
    Ok(channel_account::Entity::find_by_id(id).one(conn).await?)
}

/// The active default account of a channel (the oldest, if several are marked default).
pub async fn find_default_account(
    conn: &impl ConnectionTrait,
    channel: ChannelKind,
) -> Result<Option<channel_account::Model>, StoreError> {
    Ok(channel_account::Entity::find()
        .filter(channel_account::Column::Channel.eq(channel.as_str()))
        .filter(channel_account::Column::IsDefault.eq(true))
        .filter(channel_account::Column::Status.eq(RecordStatus::Active.as_str()))
        .order_by_asc(channel_account::Column::Id)
        .one(conn)
        .await?)
}

/// Every account, oldest first (secrets still sealed).
pub async fn list_channel_accounts(
    conn: &impl ConnectionTrait,
) -> Result<Vec<channel_account::Model>, StoreError> {
    Ok(channel_account::Entity::find()
        .order_by_asc(channel_account::Column::Id)
        .all(conn)
        .await?)
}

/// Opens an account's secrets. `Corrupt` when a column its channel needs is empty.
pub fn open_channel_account(
    sealer: &SecretSealer,
    account: &channel_account::Model,
) -> Result<ChannelCredentials, StoreError> {
    fn required<'a>(v: &'a Option<String>, what: &'static str) -> Result<&'a str, StoreError> {
        v.as_deref().ok_or(StoreError::Corrupt {
            what,
            reason: "missing on this channel account".to_owned(),
        })
    }
    Ok(match account.channel {
        ChannelKind::Wechat => ChannelCredentials::Wechat(WechatCredentials {
            account_id: account.id,
            gateway_url: account.gateway_url.clone(),
            appid: required(&account.wx_appid, "wx_appid")?.to_owned(),
            mch_id: required(&account.wx_mch_id, "wx_mch_id")?.to_owned(),
            api_key: sealing::open(
                sealer,
                WX_API_KEY,
                required(&account.wx_api_key_sealed, WX_API_KEY)?,
            )?,
            client_cert_pem: sealing::open_opt(
                sealer,
                WX_CLIENT_CERT,
                account.wx_client_cert_sealed.as_deref(),
            )?,
            client_key_pem: sealing::open_opt(
                sealer,
                WX_CLIENT_KEY,
                account.wx_client_key_sealed.as_deref(),
            )?,
        }),
        ChannelKind::Alipay => ChannelCredentials::Alipay(AlipayCredentials {
            account_id: account.id,
            gateway_url: account.gateway_url.clone(),
            app_id: required(&account.ali_app_id, "ali_app_id")?.to_owned(),
            app_private_key: sealing::open(
                sealer,
                ALI_PRIVATE_KEY,
                required(&account.ali_app_private_key_sealed, ALI_PRIVATE_KEY)?,
            )?,
            alipay_public_key: required(&account.ali_public_key, "ali_public_key")?.to_owned(),
            isv_pid: account.ali_isv_pid.clone(),
        }),
    })
}
