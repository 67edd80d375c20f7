//! Service provider key replacement with an overlap window (issue 11, "Platform operator"):
//! when a provider's key is replaced, the new key goes to `rsa_public_key` at once and the
//! replaced one is kept in `previous_rsa_public_key`, still verifying the provider's requests
//! until `previous_key_valid_until` (UTC). Both NULL when there is no overlap.

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
                    .table("service_providers")
                    .add_column(text_null("previous_rsa_public_key"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("service_providers")
                    .add_column(timestamp_with_time_zone_null("previous_key_valid_until"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["previous_key_valid_until", "previous_rsa_public_key"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("service_providers")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
