//! `admin_users`: console users.

use crate::kinds::{AdminRole, RecordStatus};
use sea_orm::entity::prelude::*;

/// One row of `admin_users`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_users")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Login name, unique.
    #[sea_orm(unique)]
    pub username: String,
    /// Password hash in PHC form (argon2id; never the password).
    pub password_hash: String,
    /// What the user may do.
    pub role: AdminRole,
    /// The service provider an agent admin is bound to; `None` for every other role.
    pub sys_id: Option<String>,
    /// "active" or "disabled".
    pub status: RecordStatus,
    /// When the row was inserted (UTC).
    pub created_at: DateTimeUtc,
    /// When the row last changed (UTC).
    pub updated_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
