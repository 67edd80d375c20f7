//! Statement (对账单) files made after a day closes, per merchant (`owner_kind` "mer") or per
//! service provider ("sys"); one row per owner, date and bill type.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("statement_files")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("file_id", 64))
                    .col(string_len("owner_kind", 8))
                    .col(string_len("owner_id", 32))
                    .col(string_len("file_date", 8))
                    .col(string_len("bill_type", 16))
                    .col(string_len("file_name", 128))
                    .col(string_len("path", 512))
                    .col(string_len("status", 16))
                    .col(big_integer("size_bytes").default(0))
                    .col(string_len_null("sha256", 64))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_statement_files_owner_date_type")
                    .table("statement_files")
                    .col("owner_kind")
                    .col("owner_id")
                    .col("file_date")
                    .col("bill_type")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table("statement_files")
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
