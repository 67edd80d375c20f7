//! `merchant_appids`: an appid bound to a merchant's WeChat business, with its kind.

use crate::kinds::AppidKind;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "merchant_appids")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_channel_id: i64,
    pub mer_id: String,
    pub appid: String,
    /// "mp" (official account, for T_JSAPI) or "miniapp" (mini-program, for T_MINIAPP).
    pub kind: AppidKind,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
