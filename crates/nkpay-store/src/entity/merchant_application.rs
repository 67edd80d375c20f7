//! `merchant_applications`: one onboarding application (进件, `/v2/merchant/basicdata/ent` or
//! `/indv`) and its review.

use crate::kinds::{ApplyStatus, MerchantKind};
use sea_orm::entity::prelude::*;

/// One row of `merchant_applications`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "merchant_applications")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The application's number (`apply_no`), answered to the caller.
    #[sea_orm(unique)]
    pub apply_no: String,
    /// The merchant it creates (`huifu_id`, 16 digits), allocated when applying.
    pub mer_id: String,
    /// The service provider that applied (the request's `sys_id` = `upper_huifu_id`).
    pub sys_id: String,
    /// Enterprise (`ent`) or individual (`indv`).
    pub kind: MerchantKind,
    /// The request's `req_date` (`yyyyMMdd`, Asia/Shanghai).
    pub req_date: String,
    /// The request's `req_seq_id`.
    pub req_seq_id: String,
    /// Hex SHA-256 of the request's canonical `data`: a replay must match it.
    pub request_hash: String,
    /// P, Y, N or F.
    pub status: ApplyStatus,
    /// Why it was rejected (`audit_desc`); `None` while pending or when approved.
    pub reason: Option<String>,
    /// Where the review result is notified (`async_return_url`).
    pub async_return_url: Option<String>,
    /// The application's fields as a JSON object, personal data masked.
    pub details: String,
    /// The personal data (ID, card and account numbers, mobile numbers, e-mail) as a JSON
    /// object, AES-256-GCM sealed.
    pub personal_sealed: String,
    /// Who reviewed it (the audit log's actor name).
    pub reviewed_by: Option<String>,
    /// When it was reviewed (UTC).
    pub reviewed_at: Option<DateTimeUtc>,
    /// When it arrived (UTC).
    pub created_at: DateTimeUtc,
    /// When the row last changed (UTC).
    pub updated_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
