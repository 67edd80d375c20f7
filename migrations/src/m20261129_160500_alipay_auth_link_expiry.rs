//! The Alipay authorization link's `state` expires (issue 11, the ISV authorization): when the
//! pending link of a business stops working (UTC), so a link that leaked or was forgotten
//! cannot bind an Alipay account to the merchant later.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("merchant_channels")
                    .add_column(timestamp_with_time_zone_null("ali_auth_state_expires_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("merchant_channels")
                    .drop_column("ali_auth_state_expires_at")
                    .to_owned(),
            )
            .await
    }
}
