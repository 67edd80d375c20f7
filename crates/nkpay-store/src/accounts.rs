//! The platform's upstream channel accounts (WeChat Pay service provider, Alipay ISV app):
//! stored with their secrets sealed, handed out opened as credentials.

use chrono::{DateTime, Utc};
use nkpay_core::secret::Secret;
use nkpay_core::trade_type::ChannelKind;
use nkpay_crypto::sealed::SecretSealer;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
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

/// The columns an account's definition sets (name, gateway, default flag), stamped `now`.
fn definition(
    name: &str,
    gateway_url: &str,
    is_default: bool,
    now: DateTime<Utc>,
) -> channel_account::ActiveModel {
    channel_account::ActiveModel {
        name: Set(name.to_owned()),
        gateway_url: Set(gateway_url.to_owned()),
        is_default: Set(is_default),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// The columns of a WeChat account's definition and credentials, secrets sealed.
fn wechat_columns(
    sealer: &SecretSealer,
    new: &NewWechatAccount,
    cert_not_after: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<channel_account::ActiveModel, StoreError> {
    let mut row = definition(&new.name, &new.gateway_url, new.is_default, now);
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
    row.cert_not_after = Set(cert_not_after);
    Ok(row)
}

/// The columns of an Alipay app's definition and credentials, the private key sealed.
fn alipay_columns(
    sealer: &SecretSealer,
    new: &NewAlipayAccount,
    now: DateTime<Utc>,
) -> Result<channel_account::ActiveModel, StoreError> {
    let mut row = definition(&new.name, &new.gateway_url, new.is_default, now);
    row.ali_app_id = Set(Some(new.app_id.clone()));
    row.ali_app_private_key_sealed = Set(Some(sealing::seal(
        sealer,
        ALI_PRIVATE_KEY,
        &new.app_private_key,
    )?));
    row.ali_public_key = Set(Some(new.alipay_public_key.clone()));
    row.ali_isv_pid = Set(new.isv_pid.clone());
    Ok(row)
}

/// Inserts `row` as a new active account of `channel`, version 1.
async fn insert_new(
    conn: &impl ConnectionTrait,
    mut row: channel_account::ActiveModel,
    channel: ChannelKind,
    now: DateTime<Utc>,
) -> Result<channel_account::Model, StoreError> {
    row.channel = Set(channel);
    row.status = Set(RecordStatus::Active);
    row.version = Set(1);
    row.created_at = Set(now);
    row.insert(conn)
        .await
        .map_err(|e| StoreError::from_write("channel account", e))
}

/// Stores a WeChat account with its key, certificate and private key sealed.
pub async fn insert_wechat_account(
    conn: &impl ConnectionTrait,
    sealer: &SecretSealer,
    new: &NewWechatAccount,
    now: DateTime<Utc>,
) -> Result<channel_account::Model, StoreError> {
    insert_wechat_account_with_expiry(conn, sealer, new, None, now).await
}

/// Stores a WeChat account with its key, certificate and private key sealed, and the
/// certificate's `notAfter` (UTC) as read by the caller.
pub async fn insert_wechat_account_with_expiry(
    conn: &impl ConnectionTrait,
    sealer: &SecretSealer,
    new: &NewWechatAccount,
    cert_not_after: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<channel_account::Model, StoreError> {
    let row = wechat_columns(sealer, new, cert_not_after, now)?;
    insert_new(conn, row, ChannelKind::Wechat, now).await
}

/// Stores an Alipay ISV app with its private key sealed.
pub async fn insert_alipay_account(
    conn: &impl ConnectionTrait,
    sealer: &SecretSealer,
    new: &NewAlipayAccount,
    now: DateTime<Utc>,
) -> Result<channel_account::Model, StoreError> {
    let row = alipay_columns(sealer, new, now)?;
    insert_new(conn, row, ChannelKind::Alipay, now).await
}

/// Writes `row`'s set columns over account `id` and bumps its version, only if the account
/// is of `channel`; `false` (nothing written) when there is no such account of that channel.
async fn update_bumping(
    conn: &impl ConnectionTrait,
    id: i64,
    channel: ChannelKind,
    row: channel_account::ActiveModel,
) -> Result<bool, StoreError> {
    let res = channel_account::Entity::update_many()
        .set(row)
        .col_expr(
            channel_account::Column::Version,
            Expr::col(channel_account::Column::Version).add(1),
        )
        .filter(channel_account::Column::Id.eq(id))
        .filter(channel_account::Column::Channel.eq(channel.as_str()))
        .exec(conn)
        .await
        .map_err(|e| StoreError::from_write("channel account", e))?;
    Ok(res.rows_affected == 1)
}

/// Replaces WeChat account `id`'s definition and credentials (secrets sealed, the
/// certificate's `notAfter` as given) and bumps its version; its status is kept. `false` when
/// there is no WeChat account `id`.
pub async fn replace_wechat_credentials(
    conn: &impl ConnectionTrait,
    sealer: &SecretSealer,
    id: i64,
    new: &NewWechatAccount,
    cert_not_after: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let row = wechat_columns(sealer, new, cert_not_after, now)?;
    update_bumping(conn, id, ChannelKind::Wechat, row).await
}

/// Replaces Alipay account `id`'s definition and credentials (private key sealed) and bumps
/// its version; its status is kept. `false` when there is no Alipay account `id`.
pub async fn replace_alipay_credentials(
    conn: &impl ConnectionTrait,
    sealer: &SecretSealer,
    id: i64,
    new: &NewAlipayAccount,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let row = alipay_columns(sealer, new, now)?;
    update_bumping(conn, id, ChannelKind::Alipay, row).await
}

/// Sets account `id`'s status (active: takes new trades; disabled: only finishes the ones it
/// has) and bumps its version. `false` when there is no such account.
pub async fn set_channel_account_status(
    conn: &impl ConnectionTrait,
    id: i64,
    status: RecordStatus,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = channel_account::Entity::update_many()
        .col_expr(
            channel_account::Column::Status,
            Expr::value(status.as_str()),
        )
        .col_expr(channel_account::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            channel_account::Column::Version,
            Expr::col(channel_account::Column::Version).add(1),
        )
        .filter(channel_account::Column::Id.eq(id))
        .exec(conn)
        .await
        .map_err(|e| StoreError::from_write("channel account", e))?;
    Ok(res.rows_affected == 1)
}

/// Every account's id and version, and nothing else: what a connector cache compares with
/// what it built, cheaply and often.
pub async fn channel_account_versions(
    conn: &impl ConnectionTrait,
) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(channel_account::Entity::find()
        .select_only()
        .column(channel_account::Column::Id)
        .column(channel_account::Column::Version)
        .into_tuple::<(i64, i64)>()
        .all(conn)
        .await?)
}

/// The channel account with row id `id`, as stored (secrets still sealed).
pub async fn find_channel_account(
    conn: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<channel_account::Model>, StoreError> {
    Ok(crate::unique_row(
        channel_account::Entity::find_by_id(id).all(conn).await?,
    ))
}

/// The default account of a channel: the oldest active one marked default; when none of
/// them is active, the oldest disabled one, so the caller can say the default is disabled
/// (callers check the status before using it).
pub async fn find_default_account(
    conn: &impl ConnectionTrait,
    channel: ChannelKind,
) -> Result<Option<channel_account::Model>, StoreError> {
    let defaults = channel_account::Entity::find()
        .filter(channel_account::Column::Channel.eq(channel.as_str()))
        .filter(channel_account::Column::IsDefault.eq(true))
        .order_by_asc(channel_account::Column::Id)
        .all(conn)
        .await?;
    Ok(pick_default(defaults))
}

/// The default account among a channel's default accounts in id order: the first active one,
/// else the first (whose state the caller reports). `None` when there is none.
pub fn pick_default(defaults: Vec<channel_account::Model>) -> Option<channel_account::Model> {
    let active = defaults
        .iter()
        .position(|a| a.status == RecordStatus::Active);
    match active {
        Some(i) => defaults.into_iter().nth(i),
        None => defaults.into_iter().next(),
    }
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

/// One page of the channel accounts, oldest first: skipping `offset`, at most `limit`, with
/// how many there are in all (for the console's pager).
pub async fn page_channel_accounts(
    conn: &impl ConnectionTrait,
    offset: u64,
    limit: u64,
) -> Result<(Vec<channel_account::Model>, u64), StoreError> {
    crate::merchants::oldest_first_page::<channel_account::Entity>(
        conn,
        sea_orm::Condition::all(),
        channel_account::Column::Id,
        offset,
        limit,
    )
    .await
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
