//! Service providers' fee-rate floors (issue 11, "Platform operator"): the lowest rate, in
//! integer basis points, a merchant under the provider may be opened at for one payment method
//! (`T_JSAPI`, `T_MINIAPP`, `A_NATIVE`); one row per provider and method.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("service_provider_fee_floors")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len("sys_id", 32))
                    .col(string_len("trade_type", 16))
                    .col(integer("floor_bp"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_service_provider_fee_floors_sys_id_trade_type")
                    .table("service_provider_fee_floors")
                    .col("sys_id")
                    .col("trade_type")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table("service_provider_fee_floors")
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
