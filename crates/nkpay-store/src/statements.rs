//! Statement (对账单) files and runs: one `statement_files` row per owner, production day
//! (`file_date`) and bill type, created when a run starts making the file and marked ready
//! (size, SHA-256, rows) when it ends; the bytes as ordered chunks in `statement_file_chunks`
//! when files are kept in the database; one `statement_runs` row per trade day and kind.
//!
//! A regeneration replaces a file: [`replace_file`] drops the old row and its chunks and
//! inserts the new one in one transaction, under the same `file_id`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::db::Db;
use crate::entity::{statement_file, statement_file_chunk, statement_run};
use crate::error::StoreError;
use crate::kinds::{StatementOwner, StatementStatus};

/// A file a statement run is about to make.
#[derive(Debug, Clone)]
pub struct NewStatementFile {
    /// Public id used by `filequery` and download links (≤ 64 characters).
    pub file_id: String,
    /// A merchant's file or a service provider's.
    pub owner: StatementOwner,
    /// The `mer_id` or `sys_id`.
    pub owner_id: String,
    /// `yyyyMMdd`, the production day (trade day + 1; monthly: the 1st of the next month).
    pub file_date: String,
    /// `yyyyMMdd`, the trade day (monthly: the 1st of the month).
    pub data_date: String,
    /// "TRADE_BILL", "SETTLE_BILL", "TRADE_BILL_MONTH" or "SETTLE_BILL_MONTH".
    pub bill_type: String,
    /// File name as handed to the downloader.
    pub file_name: String,
    /// Empty: bytes kept as chunks in the database; else the file's name in the shared
    /// statements directory.
    pub path: String,
    /// Made before the day closed.
    pub partial: bool,
}

/// Inserts the file as being made, replacing (with its chunks) any earlier file of the same
/// owner, production day and bill type, in one transaction. `Duplicate` when another writer
/// inserted the same file at the same moment.
pub async fn replace_file(
    db: &Db,
    new: &NewStatementFile,
    now: DateTime<Utc>,
) -> Result<statement_file::Model, StoreError> {
    let tx = db.begin_write().await?;
    let old = statement_file::Entity::find()
        .filter(statement_file::Column::OwnerKind.eq(new.owner.as_str()))
        .filter(statement_file::Column::OwnerId.eq(&new.owner_id))
        .filter(statement_file::Column::FileDate.eq(&new.file_date))
        .filter(statement_file::Column::BillType.eq(&new.bill_type))
        .all(&tx)
        .await?;
    for file in old
        .iter()
        .map(|f| f.file_id.as_str())
        .chain([new.file_id.as_str()])
    {
        delete_chunks(&tx, file).await?;
        statement_file::Entity::delete_many()
            .filter(statement_file::Column::FileId.eq(file))
            .exec(&tx)
            .await?;
    }
    let row = statement_file::ActiveModel {
        file_id: Set(new.file_id.clone()),
        owner_kind: Set(new.owner),
        owner_id: Set(new.owner_id.clone()),
        file_date: Set(new.file_date.clone()),
        data_date: Set(new.data_date.clone()),
        bill_type: Set(new.bill_type.clone()),
        file_name: Set(new.file_name.clone()),
        path: Set(new.path.clone()),
        status: Set(StatementStatus::Making),
        size_bytes: Set(0),
        sha256: Set(None),
        partial: Set(new.partial),
        row_count: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&tx)
    .await
    .map_err(|e| StoreError::from_write("statement file", e))?;
    tx.commit().await?;
    Ok(row)
}

/// Stores chunk `seq` (from 0) of a file kept in the database.
pub async fn put_chunk(
    conn: &impl ConnectionTrait,
    file_id: &str,
    seq: i32,
    data: Vec<u8>,
) -> Result<(), StoreError> {
    statement_file_chunk::ActiveModel {
        file_id: Set(file_id.to_owned()),
        seq: Set(seq),
        data: Set(data),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_write("statement file chunk", e))?;
    Ok(())
}

/// Chunk `seq` of a file kept in the database; `None` past its end.
pub async fn read_chunk(
    conn: &impl ConnectionTrait,
    file_id: &str,
    seq: i32,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(statement_file_chunk::Entity::find()
        .filter(statement_file_chunk::Column::FileId.eq(file_id))
        .filter(statement_file_chunk::Column::Seq.eq(seq))
        .one(conn)
        .await?
        .map(|c| c.data))
}

/// How many chunks a file has in the database.
pub async fn chunk_count(conn: &impl ConnectionTrait, file_id: &str) -> Result<u64, StoreError> {
    Ok(statement_file_chunk::Entity::find()
        .filter(statement_file_chunk::Column::FileId.eq(file_id))
        .count(conn)
        .await?)
}

async fn delete_chunks(conn: &impl ConnectionTrait, file_id: &str) -> Result<(), StoreError> {
    statement_file_chunk::Entity::delete_many()
        .filter(statement_file_chunk::Column::FileId.eq(file_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Marks a file ready with its size (bytes), SHA-256 (hex) and detail row count.
pub async fn mark_ready(
    conn: &impl ConnectionTrait,
    file_id: &str,
    size_bytes: i64,
    sha256_hex: &str,
    row_count: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = statement_file::Entity::update_many()
        .col_expr(
            statement_file::Column::Status,
            Expr::value(StatementStatus::Ready.as_str()),
        )
        .col_expr(statement_file::Column::SizeBytes, Expr::value(size_bytes))
        .col_expr(statement_file::Column::Sha256, Expr::value(sha256_hex))
        .col_expr(statement_file::Column::RowCount, Expr::value(row_count))
        .col_expr(statement_file::Column::UpdatedAt, Expr::value(now))
        .filter(statement_file::Column::FileId.eq(file_id))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Marks a file failed (a later run replaces it).
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

/// An owner's files produced on `file_date` (every bill type when `bill_type` is `None`).
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

/// What the console lists: every filter optional; `owner_ids` limits to those owners (an
/// agent admin's service provider and its merchants).
#[derive(Debug, Clone, Default)]
pub struct FileFilter {
    /// Trade day `yyyyMMdd`.
    pub data_date: Option<String>,
    /// Bill type.
    pub bill_type: Option<String>,
    /// One owner (`mer_id` or `sys_id`).
    pub owner_id: Option<String>,
    /// Only these owners, when set.
    pub owner_ids: Option<Vec<String>>,
    /// At most this many, newest trade day first.
    pub limit: u64,
}

/// Files matching `filter`, newest trade day first, then by id.
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: &FileFilter,
) -> Result<Vec<statement_file::Model>, StoreError> {
    let mut q = statement_file::Entity::find();
    if let Some(d) = &filter.data_date {
        q = q.filter(statement_file::Column::DataDate.eq(d));
    }
    if let Some(b) = &filter.bill_type {
        q = q.filter(statement_file::Column::BillType.eq(b));
    }
    if let Some(o) = &filter.owner_id {
        q = q.filter(statement_file::Column::OwnerId.eq(o));
    }
    if let Some(ids) = &filter.owner_ids {
        q = q.filter(statement_file::Column::OwnerId.is_in(ids.iter().cloned()));
    }
    Ok(q.order_by_desc(statement_file::Column::DataDate)
        .order_by_asc(statement_file::Column::Id)
        .limit(filter.limit)
        .all(conn)
        .await?)
}

/// Marks the run of `data_date` and `kind` ("daily" / "monthly") started (`task_stat` P),
/// creating or restarting its row.
pub async fn start_run(
    conn: &impl ConnectionTrait,
    data_date: &str,
    kind: &str,
    partial: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    statement_run::Entity::delete_many()
        .filter(statement_run::Column::DataDate.eq(data_date))
        .filter(statement_run::Column::Kind.eq(kind))
        .exec(conn)
        .await?;
    statement_run::ActiveModel {
        data_date: Set(data_date.to_owned()),
        kind: Set(kind.to_owned()),
        task_stat: Set("P".to_owned()),
        partial: Set(partial),
        file_count: Set(0),
        error: Set(None),
        started_at: Set(now),
        ended_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_write("statement run", e))?;
    Ok(())
}

/// Ends the run: `task_stat` "S" or "F", the files it made, why it failed.
pub async fn finish_run(
    conn: &impl ConnectionTrait,
    data_date: &str,
    kind: &str,
    task_stat: &str,
    file_count: i64,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = statement_run::Entity::update_many()
        .col_expr(statement_run::Column::TaskStat, Expr::value(task_stat))
        .col_expr(statement_run::Column::FileCount, Expr::value(file_count))
        .col_expr(
            statement_run::Column::Error,
            Expr::value(error.map(|e| e.chars().take(500).collect::<String>())),
        )
        .col_expr(statement_run::Column::EndedAt, Expr::value(now))
        .filter(statement_run::Column::DataDate.eq(data_date))
        .filter(statement_run::Column::Kind.eq(kind))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The run of `data_date` and `kind`, if one started.
pub async fn find_run(
    conn: &impl ConnectionTrait,
    data_date: &str,
    kind: &str,
) -> Result<Option<statement_run::Model>, StoreError> {
    Ok(statement_run::Entity::find()
        .filter(statement_run::Column::DataDate.eq(data_date))
        .filter(statement_run::Column::Kind.eq(kind))
        .one(conn)
        .await?)
}
