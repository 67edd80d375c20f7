//! The platform's response/notification signing keys. Each has a key id (sent as
//! `X-Nkp-Key-Id`) so keys can rotate: one active, older ones retired but still listed.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("platform_keys")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("key_id", 64))
                    .col(text("private_key_sealed"))
                    .col(text("public_key"))
                    .col(string_len("status", 16))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("retired_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("platform_keys").if_exists().to_owned())
            .await
    }
}
