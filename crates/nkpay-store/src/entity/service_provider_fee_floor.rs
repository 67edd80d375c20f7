//! `service_provider_fee_floors`: the lowest fee rate a service provider's merchants may be
//! opened at, per payment method.

use nkpay_core::trade_type::TradeType;
use sea_orm::entity::prelude::*;

/// One row of `service_provider_fee_floors`: one provider, one payment method.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "service_provider_fee_floors")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The service provider's `sys_id`.
    pub sys_id: String,
    /// The payment method (`T_JSAPI`, `T_MINIAPP`, `A_NATIVE`).
    pub trade_type: TradeType,
    /// The floor in basis points (38 = 0.38%), 0 to 10000.
    pub floor_bp: i32,
    /// When it was last set (UTC).
    pub updated_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
