//! Reconciliation (对账) with the channels' bills (issue 12): one `reconciliation_runs` row per
//! run over one channel account and one Asia/Shanghai day, and one `reconciliation_differences`
//! row per difference the run found between the channel's bill and our trades and refunds.
//! Money columns are BIGINT fen.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("reconciliation_runs")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("channel_account_id"))
                    .col(string_len("channel", 8))
                    .col(string_len("bill_date", 8))
                    .col(string_len("status", 16))
                    .col(big_integer("bill_rows").default(0))
                    .col(big_integer("matched_rows").default(0))
                    .col(big_integer("foreign_rows").default(0))
                    .col(big_integer("differences").default(0))
                    .col(big_integer("healed").default(0))
                    .col(text_null("error"))
                    .col(string_len_null("started_by", 64))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(timestamp_with_time_zone_null("finished_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_reconciliation_runs_account_date")
                    .table("reconciliation_runs")
                    .col("channel_account_id")
                    .col("bill_date")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("reconciliation_differences")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("run_id"))
                    .col(big_integer("channel_account_id"))
                    .col(string_len("bill_date", 8))
                    .col(string_len("kind", 24))
                    .col(string_len("row_kind", 8))
                    .col(string_len("order_no", 64))
                    .col(string_len_null("refund_no", 64))
                    .col(string_len_null("mer_id", 32))
                    .col(string_len_null("party_order_id", 64))
                    .col(big_integer_null("our_amount"))
                    .col(big_integer_null("channel_amount"))
                    .col(big_integer_null("our_fee"))
                    .col(big_integer_null("channel_fee"))
                    .col(string_len_null("our_state", 1))
                    .col(text("detail"))
                    .col(string_len("state", 16))
                    .col(text_null("heal_action"))
                    .col(text_null("note"))
                    .col(string_len_null("resolved_by", 64))
                    .col(timestamp_with_time_zone_null("resolved_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_reconciliation_differences_run")
                    .table("reconciliation_differences")
                    .col("run_id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["reconciliation_differences", "reconciliation_runs"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
