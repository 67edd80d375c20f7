//! `statement_files`: a statement file for one owner, date and bill type.

use crate::kinds::{StatementOwner, StatementStatus};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "statement_files")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub file_id: String,
    /// "mer" (a merchant's file) or "sys" (a service provider's, all its merchants).
    pub owner_kind: StatementOwner,
    /// The `mer_id` or `sys_id`.
    pub owner_id: String,
    /// `yyyyMMdd`, the Asia/Shanghai day it covers.
    pub file_date: String,
    /// "TRADE_BILL" or "SETTLE_BILL".
    pub bill_type: String,
    pub file_name: String,
    pub path: String,
    /// "making", "ready" or "failed".
    pub status: StatementStatus,
    pub size_bytes: i64,
    pub sha256: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
