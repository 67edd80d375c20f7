//! Statement (对账单) files and runs: one `statement_files` row per owner, production day
//! (`file_date`) and bill type, written ready (size, SHA-256, rows) once its bytes are
//! complete; the bytes as ordered chunks in `statement_file_chunks` under the row's content key
//! when files are kept in the database; one `statement_runs` row per trade day and kind.
//!
//! A regeneration leaves no gap: the new bytes are written under a fresh content key (noted in
//! `statement_detached_contents` first, so a writer that dies leaves nothing for ever), then
//! [`swap_in`] switches the file's row to them in one transaction and detaches the old bytes.
//! Until then `filequery` and downloads see the old file; a download already reading the old
//! bytes keeps them, since detached bytes are removed only by [`purge_detached`] once a grace
//! period has passed.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::db::Db;
use crate::entity::{
    statement_detached_content, statement_file, statement_file_chunk, statement_run,
};
use crate::error::StoreError;
use crate::kinds::{StatementOwner, StatementStatus};

/// A file a statement run made: what its row says besides its bytes.
#[derive(Debug, Clone)]
pub struct NewStatementFile {
    /// Public id used by `filequery` and download links (≤ 64 characters), the same on every
    /// regeneration.
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
    /// Made before the day closed.
    pub partial: bool,
}

/// A file's bytes, completely written, ready to become the file's.
#[derive(Debug, Clone)]
pub struct WrittenContent {
    /// Their key: `statement_file_chunks.file_id` of the chunks (≤ 64 characters, fresh for
    /// every write).
    pub content_key: String,
    /// Empty: kept as chunks in the database; else the file's name in the shared statements
    /// directory (fresh for every write too).
    pub path: String,
    /// Bytes.
    pub size_bytes: i64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Detail rows.
    pub row_count: i64,
}

/// Notes that bytes under `content_key` (and `path`) are no file's since `now`: called before
/// writing them, so that bytes a dead writer left are purged in time; [`swap_in`] takes the
/// note back. Writing the note again moves its time.
pub async fn note_detached(
    conn: &impl ConnectionTrait,
    content_key: &str,
    path: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    statement_detached_content::Entity::delete_many()
        .filter(statement_detached_content::Column::ContentKey.eq(content_key))
        .exec(conn)
        .await?;
    statement_detached_content::ActiveModel {
        content_key: Set(content_key.to_owned()),
        path: Set(path.to_owned()),
        detached_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_write("detached statement content", e))?;
    Ok(())
}

/// Makes `content` the bytes of file `new.file_id`, ready, in one transaction: the file's row
/// (or the row of the same owner, production day and bill type) is updated in place — or
/// inserted the first time — and the bytes it had are noted detached at `detached_at` (removed
/// later by [`purge_detached`]); the note of `content` is taken back. Until the commit readers
/// see the old row and bytes; from it, the new. Concurrent swaps of one file take turns (on
/// PostgreSQL the rows are locked; a first insert that loses the race is retried once as an
/// update). `created_at`/`updated_at` become `now`.
pub async fn swap_in(
    db: &Db,
    new: &NewStatementFile,
    content: &WrittenContent,
    now: DateTime<Utc>,
    detached_at: DateTime<Utc>,
) -> Result<statement_file::Model, StoreError> {
    match swap_once(db, new, content, now, detached_at).await {
        Err(e) if e.is_duplicate() => swap_once(db, new, content, now, detached_at).await,
        other => other,
    }
}

async fn swap_once(
    db: &Db,
    new: &NewStatementFile,
    content: &WrittenContent,
    now: DateTime<Utc>,
    detached_at: DateTime<Utc>,
) -> Result<statement_file::Model, StoreError> {
    let tx = db.begin_write().await?;
    let same_file = Condition::any()
        .add(statement_file::Column::FileId.eq(&new.file_id))
        .add(
            Condition::all()
                .add(statement_file::Column::OwnerKind.eq(new.owner.as_str()))
                .add(statement_file::Column::OwnerId.eq(&new.owner_id))
                .add(statement_file::Column::FileDate.eq(&new.file_date))
                .add(statement_file::Column::BillType.eq(&new.bill_type)),
        );
    let mut query = statement_file::Entity::find().filter(same_file);
    if db.backend() == DbBackend::Postgres {
        // SQLite's BEGIN IMMEDIATE already serializes writers.
        query = query.lock_exclusive();
    }
    let old = query.all(&tx).await?;
    for f in &old {
        if f.content_key.as_deref() != Some(content.content_key.as_str()) {
            note_detached(&tx, f.chunk_key(), &f.path, detached_at).await?;
        }
    }
    statement_detached_content::Entity::delete_many()
        .filter(statement_detached_content::Column::ContentKey.eq(&content.content_key))
        .exec(&tx)
        .await?;
    let keep = old.iter().find(|f| f.file_id == new.file_id);
    let others: Vec<i64> = old
        .iter()
        .filter(|f| f.file_id != new.file_id)
        .map(|f| f.id)
        .collect();
    if !others.is_empty() {
        statement_file::Entity::delete_many()
            .filter(statement_file::Column::Id.is_in(others))
            .exec(&tx)
            .await?;
    }
    let mut row = statement_file::ActiveModel {
        file_id: Set(new.file_id.clone()),
        owner_kind: Set(new.owner),
        owner_id: Set(new.owner_id.clone()),
        file_date: Set(new.file_date.clone()),
        data_date: Set(new.data_date.clone()),
        bill_type: Set(new.bill_type.clone()),
        file_name: Set(new.file_name.clone()),
        path: Set(content.path.clone()),
        status: Set(StatementStatus::Ready),
        size_bytes: Set(content.size_bytes),
        sha256: Set(Some(content.sha256.clone())),
        partial: Set(new.partial),
        row_count: Set(content.row_count),
        content_key: Set(Some(content.content_key.clone())),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    let saved = match keep {
        Some(k) => {
            row.id = Set(k.id);
            row.update(&tx).await
        }
        None => row.insert(&tx).await,
    }
    .map_err(|e| StoreError::from_write("statement file", e))?;
    tx.commit().await?;
    Ok(saved)
}

/// Removes bytes detached before `before` that no file points at: their chunks, their note;
/// at most `limit` of them. The `(content_key, path)` of each removed, so the caller deletes a
/// directory file named by `path`.
pub async fn purge_detached(
    db: &Db,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<(String, String)>, StoreError> {
    let due = statement_detached_content::Entity::find()
        .filter(statement_detached_content::Column::DetachedAt.lt(before))
        .order_by_asc(statement_detached_content::Column::DetachedAt)
        .limit(limit)
        .all(db.conn())
        .await?;
    let mut removed = Vec::new();
    for note in due {
        let tx = db.begin_write().await?;
        // Never the bytes of a file (a note left behind by mistake must not remove them).
        let live = statement_file::Entity::find()
            .filter(
                Condition::any()
                    .add(statement_file::Column::ContentKey.eq(&note.content_key))
                    .add(
                        Condition::all()
                            .add(statement_file::Column::ContentKey.is_null())
                            .add(statement_file::Column::FileId.eq(&note.content_key)),
                    ),
            )
            .count(&tx)
            .await?;
        if live == 0 {
            delete_chunks(&tx, &note.content_key).await?;
        }
        let gone = statement_detached_content::Entity::delete_many()
            .filter(statement_detached_content::Column::Id.eq(note.id))
            .filter(statement_detached_content::Column::DetachedAt.lt(before))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        if live == 0 && gone.rows_affected == 1 {
            removed.push((note.content_key, note.path));
        }
    }
    Ok(removed)
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

/// Deletes every chunk stored under `file_id` (a content key).
pub async fn delete_chunks(conn: &impl ConnectionTrait, file_id: &str) -> Result<(), StoreError> {
    statement_file_chunk::Entity::delete_many()
        .filter(statement_file_chunk::Column::FileId.eq(file_id))
        .exec(conn)
        .await?;
    Ok(())
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
    /// Skipping this many first (the console's pager; 0 for the first page).
    pub offset: u64,
}

impl FileFilter {
    /// The rows this filter matches, before ordering and paging.
    fn condition(&self) -> Condition {
        let mut c = Condition::all();
        if let Some(d) = &self.data_date {
            c = c.add(statement_file::Column::DataDate.eq(d));
        }
        if let Some(b) = &self.bill_type {
            c = c.add(statement_file::Column::BillType.eq(b));
        }
        if let Some(o) = &self.owner_id {
            c = c.add(statement_file::Column::OwnerId.eq(o));
        }
        if let Some(ids) = &self.owner_ids {
            c = c.add(statement_file::Column::OwnerId.is_in(ids.iter().cloned()));
        }
        c
    }
}

/// Files matching `filter`, newest trade day first, then by id: skipping `filter.offset`, at
/// most `filter.limit`.
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: &FileFilter,
) -> Result<Vec<statement_file::Model>, StoreError> {
    Ok(statement_file::Entity::find()
        .filter(filter.condition())
        .order_by_desc(statement_file::Column::DataDate)
        .order_by_asc(statement_file::Column::Id)
        .offset(filter.offset)
        .limit(filter.limit)
        .all(conn)
        .await?)
}

/// How many files match `filter` in all (its `offset` and `limit` ignored).
pub async fn count(conn: &impl ConnectionTrait, filter: &FileFilter) -> Result<u64, StoreError> {
    Ok(statement_file::Entity::find()
        .filter(filter.condition())
        .count(conn)
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
