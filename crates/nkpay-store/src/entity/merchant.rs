//! `merchants`: a sub-merchant (`mer_id`, 16 digits) owned by one service provider.

use crate::kinds::{ApplyStatus, MerchantKind, RecordStatus};
use sea_orm::entity::prelude::*;

/// One row of `merchants`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "merchants")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The sub-merchant's `mer_id` (16 digits).
    #[sea_orm(unique)]
    pub mer_id: String,
    /// The service provider that onboarded it and may act for it.
    pub sys_id: String,
    /// The merchant's registered name.
    pub name: String,
    /// Short name shown to payers.
    pub short_name: Option<String>,
    /// "ent" (enterprise) or "indv" (individual).
    pub kind: MerchantKind,
    /// "active" or "disabled".
    pub status: RecordStatus,
    /// Set when the merchant calls the API as its own `sys_id` (= its `mer_id`).
    pub rsa_public_key: Option<String>,
    /// Comma-separated retry delays in seconds overriding the platform's schedule.
    pub notify_schedule: Option<String>,
    /// Its onboarding application's review: only an approved (`Y`) merchant may take
    /// payments; `P` pending, `N` rejected, `F` failed.
    pub apply_status: ApplyStatus,
    /// When it was frozen (UTC); a frozen merchant cannot take payments, its refunds, queries
    /// and closes still work. `None` when not frozen.
    pub frozen_at: Option<DateTimeUtc>,
    /// Why it was frozen.
    pub frozen_reason: Option<String>,
    /// When the row was inserted (UTC).
    pub created_at: DateTimeUtc,
    /// When the row last changed (UTC).
    pub updated_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
