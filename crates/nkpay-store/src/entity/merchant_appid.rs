//! `merchant_appids`: an appid bound to a merchant's WeChat business, with its kind.

use crate::kinds::AppidKind;
use sea_orm::entity::prelude::*;

/// One row of `merchant_appids`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "merchant_appids")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The merchant's business the appid belongs to.
    pub merchant_channel_id: i64,
    /// The merchant it is bound to.
    pub mer_id: String,
    /// The bound appid.
    pub appid: String,
    /// "mp" (official account, for T_JSAPI) or "miniapp" (mini-program, for T_MINIAPP).
    pub kind: AppidKind,
    /// When the row was inserted (UTC).
    pub created_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
