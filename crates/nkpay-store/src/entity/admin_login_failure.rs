//! `admin_login_failures`: failed console sign-ins, counted for login throttling.

use sea_orm::entity::prelude::*;

/// One failed sign-in, counted against one key.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_login_failures")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What `key_value` is: `account` (the username as typed, lower-cased) or `address` (the
    /// client address).
    pub key_kind: String,
    /// The account or address (at most 128 characters).
    pub key_value: String,
    /// When the sign-in failed (UTC).
    pub at: DateTimeUtc,
}

/// No declared relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
