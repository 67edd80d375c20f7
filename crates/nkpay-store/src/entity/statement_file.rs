//! `statement_files`: a statement file for one owner, date and bill type.

use crate::kinds::{StatementOwner, StatementStatus};
use sea_orm::entity::prelude::*;

/// One row of `statement_files`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "statement_files")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Public id used by `filequery`, unique.
    #[sea_orm(unique)]
    pub file_id: String,
    /// "mer" (a merchant's file) or "sys" (a service provider's, all its merchants).
    pub owner_kind: StatementOwner,
    /// The `mer_id` or `sys_id`.
    pub owner_id: String,
    /// `yyyyMMdd`, the day the file is produced, as Dougong's `file_date`: the trade day + 1
    /// (a monthly file: the 1st of the next month). Migration `m20261129_170100` fixed the
    /// meaning; the trade day is [`Model::data_date`].
    pub file_date: String,
    /// "TRADE_BILL", "SETTLE_BILL", "TRADE_BILL_MONTH" or "SETTLE_BILL_MONTH".
    pub bill_type: String,
    /// File name as handed to the downloader.
    pub file_name: String,
    /// Where the file lies: empty when its bytes are chunks in the database
    /// (`statement_file_chunks`), else its name in the configured shared statements directory.
    pub path: String,
    /// "making", "ready" or "failed".
    pub status: StatementStatus,
    /// File size in bytes (0 while making).
    pub size_bytes: i64,
    /// Hex SHA-256 of the file, once ready.
    pub sha256: Option<String>,
    /// When the row was inserted (UTC).
    pub created_at: DateTimeUtc,
    /// When the row last changed (UTC).
    pub updated_at: DateTimeUtc,
    /// `yyyyMMdd`, the Asia/Shanghai trade day the file covers (a monthly file: the 1st of
    /// the month).
    pub data_date: String,
    /// Made before the day closed (a test run of today): the scheduled run replaces it.
    pub partial: bool,
    /// Detail rows in the file (trades and refunds; merchants for a settlement file).
    pub row_count: i64,
    /// The key of the file's bytes: `statement_file_chunks.file_id` of its chunks when kept in
    /// the database. A regeneration writes under a fresh key and switches the row to it in one
    /// transaction (migration `m20261129_183000`); `None` on rows made before, whose chunks are
    /// under [`Model::file_id`] — [`Model::chunk_key`] gives either.
    pub content_key: Option<String>,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// Where the file's chunks are: [`Model::content_key`], or the `file_id` of a row made
    /// before content keys.
    pub fn chunk_key(&self) -> &str {
        self.content_key.as_deref().unwrap_or(&self.file_id)
    }
}
