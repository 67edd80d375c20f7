//! Service providers (the `sys_id`s that onboard merchants) and their sub-merchants.
//! A merchant may hold its own RSA public key so it can call the API as its own `sys_id`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("service_providers")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("sys_id", 32))
                    .col(string_len("product_id", 32))
                    .col(string_len("name", 128))
                    .col(text("rsa_public_key"))
                    .col(string_len("status", 16))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("merchants")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("mer_id", 16))
                    .col(string_len("sys_id", 32))
                    .col(string_len("name", 128))
                    .col(string_len_null("short_name", 64))
                    .col(string_len("kind", 8))
                    .col(string_len("status", 16))
                    .col(text_null("rsa_public_key"))
                    // Comma-separated delays in seconds; NULL means the platform default.
                    .col(string_len_null("notify_schedule", 512))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_merchants_sys_id")
                            .from("merchants", "sys_id")
                            .to("service_providers", "sys_id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_merchants_sys_id")
                    .table("merchants")
                    .col("sys_id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("merchants").if_exists().to_owned())
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table("service_providers")
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
