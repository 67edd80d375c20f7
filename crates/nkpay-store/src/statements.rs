//! Statement files: one row per owner, day and bill type, created when the job starts making
//! the file and marked ready (with size and SHA-256) or failed when it ends.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::entity::statement_file;
use crate::error::StoreError;
use crate::kinds::{StatementOwner, StatementStatus};

/// A file the statement job is about to make.
#[derive(Debug, Clone)]
pub struct NewStatementFile {
    /// Public id used by `filequery`.
    pub file_id: String,
    /// A merchant's file or a service provider's.
    pub owner: StatementOwner,
    /// The `mer_id` or `sys_id`.
    pub owner_id: String,
    /// `yyyyMMdd`.
    pub file_date: String,
    /// "TRADE_BILL" or "SETTLE_BILL".
    pub bill_type: String,
    /// File name as handed to the downloader.
    pub file_name: String,
    /// Where the file lies, relative to the statements directory.
    pub path: String,
}

/// Inserts the file as being made. `Duplicate` when that owner, day and bill type already
/// has one (another node started it): read it with [`find_for`].
pub async fn begin_file(
    conn: &impl ConnectionTrait,
    new: &NewStatementFile,
    now: DateTime<Utc>,
) -> Result<statement_file::Model, StoreError> {
    statement_file::ActiveModel {
        file_id: Set(new.file_id.clone()),
        owner_kind: Set(new.owner),
        owner_id: Set(new.owner_id.clone()),
        file_date: Set(new.file_date.clone()),
        bill_type: Set(new.bill_type.clone()),
        file_name: Set(new.file_name.clone()),
        path: Set(new.path.clone()),
        status: Set(StatementStatus::Making),
        size_bytes: Set(0),
        sha256: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_write("statement file", e))
}

/// Marks a file ready with its size and SHA-256 (hex).
pub async fn mark_ready(
    conn: &impl ConnectionTrait,
    file_id: &str,
    size_bytes: i64,
    sha256_hex: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = statement_file::Entity::update_many()
        .col_expr(
            statement_file::Column::Status,
            Expr::value(StatementStatus::Ready.as_str()),
        )
        .col_expr(statement_file::Column::SizeBytes, Expr::value(size_bytes))
        .col_expr(statement_file::Column::Sha256, Expr::value(sha256_hex))
        .col_expr(statement_file::Column::UpdatedAt, Expr::value(now))
        .filter(statement_file::Column::FileId.eq(file_id))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Marks a file failed (the job may begin it again after deleting the row).
pub async fn mark_failed(
    conn: &impl ConnectionTrait,
    file_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = statement_file::Entity::update_many()
        .col_expr(
            statement_file::Column::Status,
            Expr::value(StatementStatus::Failed.as_str()),
        )
        .col_expr(statement_file::Column::UpdatedAt, Expr::value(now))
        .filter(statement_file::Column::FileId.eq(file_id))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Deletes a failed file's row so the job can begin it again.
pub async fn delete_failed(conn: &impl ConnectionTrait, file_id: &str) -> Result<bool, StoreError> {
    let res = statement_file::Entity::delete_many()
        .filter(statement_file::Column::FileId.eq(file_id))
        .filter(statement_file::Column::Status.eq(StatementStatus::Failed.as_str()))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The statement file with `file_id`.
pub async fn find_by_file_id(
    conn: &impl ConnectionTrait,
    file_id: &str,
) -> Result<Option<statement_file::Model>, StoreError> {
    Ok(statement_file::Entity::find()
        .filter(statement_file::Column::FileId.eq(file_id))
        .one(conn)
        .await?)
}

/// An owner's files for a day (every bill type when `bill_type` is `None`).
pub async fn find_for(
    conn: &impl ConnectionTrait,
    owner: StatementOwner,
    owner_id: &str,
    file_date: &str,
    bill_type: Option<&str>,
) -> Result<Vec<statement_file::Model>, StoreError> {
    let mut query = statement_file::Entity::find()
        .filter(statement_file::Column::OwnerKind.eq(owner.as_str()))
        .filter(statement_file::Column::OwnerId.eq(owner_id))
        .filter(statement_file::Column::FileDate.eq(file_date));
    if let Some(bt) = bill_type {
        query = query.filter(statement_file::Column::BillType.eq(bt));
    }
    Ok(query
        .order_by_asc(statement_file::Column::Id)
        .all(conn)
        .await?)
}
