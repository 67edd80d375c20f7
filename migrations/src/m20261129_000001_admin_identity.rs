//! Admin identity (issue 11): the service provider an agent admin is bound to, the machines'
//! API tokens (stored only as a SHA-256 hash), and the address an audited write came from.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per ALTER: SQLite adds a single column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table("admin_users")
                    .add_column(string_len_null("sys_id", 32))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("audit_log")
                    .add_column(string_len_null("address", 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("admin_api_tokens")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("name", 64))
                    .col(string_len_uniq("token_hash", 64))
                    .col(string_len("role", 32))
                    .col(string_len_null("sys_id", 32))
                    .col(string_len("status", 16))
                    .col(string_len("created_by", 64))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table("admin_api_tokens")
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("audit_log")
                    .drop_column("address")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("admin_users")
                    .drop_column("sys_id")
                    .to_owned(),
            )
            .await
    }
}
