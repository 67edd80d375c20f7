//! `channel_accounts`: the platform's WeChat Pay service-provider accounts and Alipay ISV apps.
//! `*_sealed` columns hold [`crate::sealing`] output; read them through
//! [`crate::accounts::open_channel_account`].

use crate::kinds::RecordStatus;
use nkpay_core::trade_type::ChannelKind;
use sea_orm::entity::prelude::*;

/// One row of `channel_accounts`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel_accounts")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The channel it runs on; stored as "wechat" or "alipay".
    pub channel: ChannelKind,
    /// Operator-facing name of the account.
    pub name: String,
    /// Whether it serves merchants that name no account.
    pub is_default: bool,
    /// Base URL of the channel's API (production host or the sandbox).
    pub gateway_url: String,
    /// The service provider's own WeChat appid.
    pub wx_appid: Option<String>,
    /// WeChat service-provider `mch_id`.
    pub wx_mch_id: Option<String>,
    /// WeChat API v2 key, sealed.
    pub wx_api_key_sealed: Option<String>,
    /// WeChat API client certificate (PEM) for mutual TLS, sealed.
    pub wx_client_cert_sealed: Option<String>,
    /// WeChat API client private key (PEM), sealed.
    pub wx_client_key_sealed: Option<String>,
    /// The ISV's Alipay app id.
    pub ali_app_id: Option<String>,
    /// The ISV app's RSA2 private key, sealed.
    pub ali_app_private_key_sealed: Option<String>,
    /// Alipay's public key, verifying its replies and notifies.
    pub ali_public_key: Option<String>,
    /// The ISV's PID (`extend_params.sys_service_provider_id`).
    pub ali_isv_pid: Option<String>,
    /// "active" or "disabled". A disabled account takes no new trades; trades already placed
    /// on it are still queried, refunded and notified.
    pub status: RecordStatus,
    /// Starts at 1 and goes up by one with every change of the row (status, credentials), so
    /// each node's connector cache sees what changed with one cheap query.
    pub version: i64,
    /// When the WeChat client certificate stops being valid (its `notAfter`, UTC); `None`
    /// without a certificate, or for one stored before this was read.
    pub cert_not_after: Option<DateTimeUtc>,
    /// When the row was inserted (UTC).
    pub created_at: DateTimeUtc,
    /// When the row last changed (UTC).
    pub updated_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
