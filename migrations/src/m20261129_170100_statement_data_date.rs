//! Statements (issue 12): the trade day beside the production day, partial files, the database
//! store of files, and each day's run.
//!
//! - `statement_files.data_date` (`yyyyMMdd`, Asia/Shanghai): the trade day a file covers (a
//!   monthly file: the first day of the month). `file_date` keeps its column but means what it
//!   means in Dougong: the day the file is produced, `data_date` + 1 (a monthly file: the 1st of
//!   the next month). The landed migration's comment said otherwise; this one sets the meaning.
//! - `statement_files.partial`: made before the day closed (`nkpay bill generate` for today),
//!   replaced by the scheduled run.
//! - `statement_files.row_count`: detail rows in the file.
//! - `statement_file_chunks`: a file's bytes in order (`seq` from 0) when files are kept in the
//!   database (the default), so every node can serve them.
//! - `statement_runs`: one row per trade day (or month) and kind (`daily` / `monthly`): the task
//!   state `filequery` reports (`task_stat` I/P/S/F) with start and end times.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for column in [
            string_len("data_date", 8).default("").to_owned(),
            boolean("partial").default(false).to_owned(),
            big_integer("row_count").default(0).to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("statement_files")
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_statement_files_data_date")
                    .table("statement_files")
                    .col("data_date")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("statement_file_chunks")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len("file_id", 64))
                    .col(integer("seq"))
                    .col(blob("data"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_statement_file_chunks_file_seq")
                    .table("statement_file_chunks")
                    .col("file_id")
                    .col("seq")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("statement_runs")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len("data_date", 8))
                    .col(string_len("kind", 8))
                    .col(string_len("task_stat", 1))
                    .col(boolean("partial").default(false))
                    .col(big_integer("file_count").default(0))
                    .col(string_len_null("error", 512))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(timestamp_with_time_zone_null("ended_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_statement_runs_date_kind")
                    .table("statement_runs")
                    .col("data_date")
                    .col("kind")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["statement_runs", "statement_file_chunks"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("ix_statement_files_data_date")
                    .table("statement_files")
                    .to_owned(),
            )
            .await?;
        for column in ["row_count", "partial", "data_date"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("statement_files")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
