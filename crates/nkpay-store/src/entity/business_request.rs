//! `business_requests`: the first answer of a busi/open or busi/config request, under its
//! (`sys_id`, `req_date`, `req_seq_id`).

use sea_orm::entity::prelude::*;

/// One row of `business_requests`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "business_requests")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The caller's `sys_id`.
    pub sys_id: String,
    /// `yyyyMMdd`.
    pub req_date: String,
    /// The caller's serial number.
    pub req_seq_id: String,
    /// "busi_open" or "busi_config".
    pub endpoint: String,
    /// The merchant the request is for.
    pub mer_id: String,
    /// Hex SHA-256 of the canonical request `data`.
    pub content_hash: String,
    /// The first answer's JSON; `None` while the first request runs.
    pub answer: Option<String>,
    /// When the row was inserted (UTC).
    pub created_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
