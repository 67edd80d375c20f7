//! `merchant_bindings`: one item `/v2/merchant/busi/config` asks WeChat to bind to a merchant's
//! `sub_mch_id` (`secapi/mch/addsubdevconfig`: a JSAPI pay directory or a `sub_appid`), with
//! its own state.

use crate::merchant_bindings::{BindingKind, BusinessState};
use sea_orm::entity::prelude::*;

/// One row of `merchant_bindings`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "merchant_bindings")]
pub struct Model {
    /// Surrogate primary key; the `{id}` of the admin retry call.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The merchant's WeChat business (`merchant_channels.id`).
    pub merchant_channel_id: i64,
    /// The merchant (16 digits).
    pub mer_id: String,
    /// "jsapi_path", "mp_appid" or "miniapp_appid".
    pub kind: BindingKind,
    /// The directory URL or the appid.
    pub value: String,
    /// "P" asked or outcome unknown, "S" bound, "F" refused by WeChat.
    pub state: BusinessState,
    /// WeChat's `err_code` when refused.
    pub err_code: Option<String>,
    /// WeChat's `err_code_des` / message when refused, or why the last call failed.
    pub err_msg: Option<String>,
    /// Upstream calls made for it.
    pub attempts: i32,
    /// `req_date` of the busi/config request that last asked for it; `None` when seeded.
    pub req_date: Option<String>,
    /// `req_seq_id` of that request.
    pub req_seq_id: Option<String>,
    /// Its place in that request's ordered calls.
    pub position: i32,
    /// When the row was inserted (UTC).
    pub created_at: DateTimeUtc,
    /// When the row last changed (UTC).
    pub updated_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
