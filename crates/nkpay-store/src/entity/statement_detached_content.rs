//! `statement_detached_contents`: statement bytes no file row points at — being written, or
//! replaced by a regeneration — and since when; removed once a grace period has passed.

use sea_orm::entity::prelude::*;

/// One row of `statement_detached_contents`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "statement_detached_contents")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The bytes' key: `statement_file_chunks.file_id` of their chunks (unique).
    #[sea_orm(unique)]
    pub content_key: String,
    /// The file's name in the shared statements directory; empty when kept in the database.
    pub path: String,
    /// When the bytes stopped (or had not yet started) being a file's (UTC).
    pub detached_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
