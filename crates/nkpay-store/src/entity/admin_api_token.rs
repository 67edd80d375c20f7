//! `admin_api_tokens`: the admin API's tokens for machines, stored only as a hash.

use crate::kinds::{AdminRole, RecordStatus};
use sea_orm::entity::prelude::*;

/// One row of `admin_api_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_api_tokens")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The token's name, unique (what the audit log names as the actor).
    #[sea_orm(unique)]
    pub name: String,
    /// Lower-case hex SHA-256 of the token (64 characters); never the token.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// What the token may do.
    pub role: AdminRole,
    /// The service provider an agent-admin token is bound to; `None` for every other role.
    pub sys_id: Option<String>,
    /// "active", or "disabled" once revoked.
    pub status: RecordStatus,
    /// Who created it (a user or token name, or `cli`).
    pub created_by: String,
    /// When it was created (UTC).
    pub created_at: DateTimeUtc,
    /// When it was revoked (UTC), if it was.
    pub revoked_at: Option<DateTimeUtc>,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
