//! `trade_close_requests` (issue 15, fault 4): the idempotency record of `scanpay/close`, as the
//! refund row is the refund's. One row per merchant close request under its own `mer_id` +
//! `req_date` + `req_seq_id`: the SHA-256 of its content (other content under the same id is
//! refused, `20000000`) and the first answer, replayed for the same content.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("trade_close_requests")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len("mer_id", 16))
                    .col(string_len("req_date", 8))
                    .col(string_len("req_seq_id", 64))
                    .col(string_len("org_nkp_seq_id", 32))
                    .col(string_len("request_hash", 64))
                    .col(text_null("first_response"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_trade_close_requests_trade")
                            .from("trade_close_requests", "org_nkp_seq_id")
                            .to("trades", "nkp_seq_id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        for index in [
            Index::create()
                .name("uq_trade_close_requests_mer_req")
                .table("trade_close_requests")
                .col("mer_id")
                .col("req_date")
                .col("req_seq_id")
                .unique()
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_trade_close_requests_trade")
                .table("trade_close_requests")
                .col("org_nkp_seq_id")
                .if_not_exists()
                .to_owned(),
        ] {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table("trade_close_requests")
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
