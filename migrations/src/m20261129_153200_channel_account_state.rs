//! Channel accounts as the operator runs them (issue 11, "Platform operator"): a `version`
//! bumped by every change of a row (enable/disable, credential replacement), which each node's
//! connector cache compares to drop what changed, and the WeChat client certificate's
//! `cert_not_after` (UTC), shown with the account so the operator sees the expiry coming.

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
                    .table("channel_accounts")
                    .add_column(big_integer("version").default(1))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("channel_accounts")
                    .add_column(timestamp_with_time_zone_null("cert_not_after"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["cert_not_after", "version"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("channel_accounts")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
