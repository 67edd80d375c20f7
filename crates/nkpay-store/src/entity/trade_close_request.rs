//! `trade_close_requests`: the idempotency record of one merchant close request
//! (`scanpay/close`). Written only through [`crate::trade_close_requests`].

use sea_orm::entity::prelude::*;

/// One row of `trade_close_requests`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trade_close_requests")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The sub-merchant's `mer_id` (16 digits).
    pub mer_id: String,
    /// The close request's own `req_date`, `yyyyMMdd`.
    pub req_date: String,
    /// The close request's own `req_seq_id`, unique per `mer_id` and `req_date`.
    pub req_seq_id: String,
    /// The trade it closes.
    pub org_nkp_seq_id: String,
    /// Hex SHA-256 of the canonical request `data`, to tell a replay from other content.
    pub request_hash: String,
    /// The first answer (the engine's typed answer as JSON), replayed for the same content;
    /// `None` while the first request is still being answered.
    pub first_response: Option<String>,
    /// When the row was inserted (UTC).
    pub created_at: DateTimeUtc,
    /// When the row last changed (UTC).
    pub updated_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
