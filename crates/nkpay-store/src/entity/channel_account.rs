//! `channel_accounts`: the platform's WeChat Pay service-provider accounts and Alipay ISV apps.
//! `*_sealed` columns hold [`crate::sealing`] output; read them through
//! [`crate::accounts::open_channel_account`].

use crate::kinds::RecordStatus;
use nkpay_core::trade_type::ChannelKind;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel_accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub channel: ChannelKind,
    pub name: String,
    pub is_default: bool,
    /// Base URL of the channel's API (production host or the sandbox).
    pub gateway_url: String,
    pub wx_appid: Option<String>,
    pub wx_mch_id: Option<String>,
    pub wx_api_key_sealed: Option<String>,
    pub wx_client_cert_sealed: Option<String>,
    pub wx_client_key_sealed: Option<String>,
    pub ali_app_id: Option<String>,
    pub ali_app_private_key_sealed: Option<String>,
    pub ali_public_key: Option<String>,
    pub ali_isv_pid: Option<String>,
    /// "active" or "disabled".
    pub status: RecordStatus,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
