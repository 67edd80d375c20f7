//! `incidents`: something an operator must look at.

use sea_orm::entity::prelude::*;

/// One row of `incidents`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incidents")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// e.g. "amount_mismatch", "paid_after_close".
    pub kind: String,
    /// The trade or refund concerned, if any.
    pub nkp_seq_id: Option<String>,
    /// What happened, in words; never secrets.
    pub detail: String,
    /// When the row was inserted (UTC).
    pub created_at: DateTimeUtc,
    /// When an operator marked it resolved (UTC).
    pub resolved_at: Option<DateTimeUtc>,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
