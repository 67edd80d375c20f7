//! `merchant_channels`: a merchant's business on one channel ("wechat" or "alipay").

use crate::kinds::RecordStatus;
use nkpay_core::trade_type::ChannelKind;
use sea_orm::entity::prelude::*;

/// One row of `merchant_channels`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "merchant_channels")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The sub-merchant's `mer_id` (16 digits).
    pub mer_id: String,
    /// The channel it runs on; stored as "wechat" or "alipay".
    pub channel: ChannelKind,
    /// The platform account the business runs under; `None` means the channel's default.
    pub channel_account_id: Option<i64>,
    /// WeChat `sub_mch_id`.
    pub sub_mch_id: Option<String>,
    /// JSON array of JSAPI pay directory URLs (WeChat).
    pub jsapi_pay_dirs: Option<Json>,
    /// Alipay `app_auth_token`, sealed; open with [`crate::sealing`].
    pub ali_app_auth_token_sealed: Option<String>,
    /// The merchant's app that granted `app_auth_token`.
    pub ali_auth_app_id: Option<String>,
    /// Alipay seller `user_id` (PID).
    pub ali_seller_id: Option<String>,
    /// Alipay secondary-merchant id (`smid`).
    pub ali_smid: Option<String>,
    /// Fee rate in basis points (38 = 0.38%).
    pub fee_rate_bp: i32,
    /// "active" or "disabled".
    pub status: RecordStatus,
    /// When the row was inserted (UTC).
    pub created_at: DateTimeUtc,
    /// When the row last changed (UTC).
    pub updated_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
