//! `audit_log`: who changed what.

use sea_orm::entity::prelude::*;

/// One row of `audit_log`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Who did it (e.g. a console user name).
    pub actor: String,
    /// What was done, as the caller names the action.
    pub action: String,
    /// What it was done to (e.g. a `mer_id`).
    pub target: String,
    /// Details as JSON; never secrets.
    pub detail: Json,
    /// The address the request came from (the peer address), `None` for the CLI.
    pub address: Option<String>,
    /// When it happened (UTC).
    pub at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
