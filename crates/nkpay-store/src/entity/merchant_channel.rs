//! `merchant_channels`: a merchant's business on one channel ("wechat" or "alipay"), with its
//! state as `/v2/merchant/busi/open` opened it.

use crate::kinds::RecordStatus;
use crate::merchant_bindings::BusinessState;
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
    /// "P" waiting for WeChat's `sub_mch_id` or the merchant's Alipay authorization, "S" open
    /// (trades may use it), "F" failed.
    pub state: BusinessState,
    /// The busi/open `wx_conf_list` / `ali_conf_list` entry list as JSON
    /// (`[{"pay_scene": "…", "fee_rate_bp": 38}]`); `None` when seeded.
    pub conf_list: Option<Json>,
    /// Where the business result goes (`busi_async_return_url`).
    pub busi_notify_url: Option<String>,
    /// `req_date` (`yyyyMMdd`) of the busi/open request that opened it.
    pub open_req_date: Option<String>,
    /// `req_seq_id` of the busi/open request that opened it.
    pub open_req_seq_id: Option<String>,
    /// Why the business is "F" (or the last problem while "P").
    pub state_reason: Option<String>,
    /// Alipay `app_refresh_token`, sealed.
    pub ali_app_refresh_token_sealed: Option<String>,
    /// When `app_auth_token` expires (UTC).
    pub ali_token_expires_at: Option<DateTimeUtc>,
    /// When `app_refresh_token` expires (UTC).
    pub ali_refresh_expires_at: Option<DateTimeUtc>,
    /// Hex SHA-256 of the pending authorization link's `state`; `None` once used.
    pub ali_auth_state_hash: Option<String>,
    /// When that `state` stops working (UTC).
    pub ali_auth_state_expires_at: Option<DateTimeUtc>,
    /// When the row was inserted (UTC).
    pub created_at: DateTimeUtc,
    /// When the row last changed (UTC).
    pub updated_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
