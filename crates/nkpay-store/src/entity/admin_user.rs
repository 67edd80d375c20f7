//! `admin_users`: console users.

use crate::kinds::RecordStatus;
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
    /// Password hash (never the password).
    pub password_hash: String,
    /// Console role, e.g. "admin" or "viewer".
    pub role: String,
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
