//! Console users and the audit log of what they (and the system) changed.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("admin_users")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("username", 64))
                    .col(string_len("password_hash", 256))
                    .col(string_len("role", 32))
                    .col(string_len("status", 16))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len("actor", 64))
                    .col(string_len("action", 64))
                    .col(string_len("target", 128))
                    .col(json("detail"))
                    .col(timestamp_with_time_zone("at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_at")
                    .table("audit_log")
                    .col("at")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("audit_log").if_exists().to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("admin_users").if_exists().to_owned())
            .await
    }
}
