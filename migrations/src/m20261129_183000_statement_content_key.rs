//! Statements (issue 12): a regenerated file leaves no gap. A file's bytes are written under a
//! fresh key and the file's row switched to them in one transaction, so the old bytes stay
//! readable until the new ones are complete and a download already under way finishes.
//!
//! - `statement_files.content_key`: the key of the file's bytes — `statement_file_chunks.file_id`
//!   of its chunks when files are kept in the database (for a shared directory `path` names the
//!   file). NULL on rows made before: their chunks are under the file's own `file_id`.
//! - `statement_detached_contents`: bytes no file points at — being written (noted before the
//!   first chunk, so a writer that dies leaves nothing behind for ever) or replaced by a
//!   regeneration — with when that began; removed (chunks, directory file, note) once a grace
//!   period has passed.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("statement_files")
                    .add_column(string_len_null("content_key", 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("statement_detached_contents")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("content_key", 64))
                    .col(string_len("path", 512).default(""))
                    .col(timestamp_with_time_zone("detached_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_statement_detached_contents_at")
                    .table("statement_detached_contents")
                    .col("detached_at")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table("statement_detached_contents")
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("statement_files")
                    .drop_column("content_key")
                    .to_owned(),
            )
            .await
    }
}
