//! `statement_file_chunks`: a statement file's bytes, in order, when files are kept in the
//! database (the default), so every node serves them.

use sea_orm::entity::prelude::*;

/// One row of `statement_file_chunks`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "statement_file_chunks")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The file's `statement_files.file_id`.
    pub file_id: String,
    /// Position of the chunk in the file, from 0.
    pub seq: i32,
    /// The bytes.
    pub data: Vec<u8>,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
