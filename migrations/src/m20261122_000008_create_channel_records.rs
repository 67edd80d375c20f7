//! What passed between us and the channels: every inbound notify as received, and every
//! outbound call with its reply (secrets masked), for support and reconciliation.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("channel_inbound_messages")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len("channel", 16))
                    .col(string_len("kind", 32))
                    .col(text("body"))
                    .col(text_null("headers"))
                    .col(string_len_null("remote_addr", 64))
                    .col(boolean("verified"))
                    .col(string_len_null("outcome", 256))
                    .col(string_len_null("nkp_seq_id", 32))
                    .col(timestamp_with_time_zone("received_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("channel_exchanges")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_null("nkp_seq_id", 32))
                    .col(string_len("channel", 16))
                    .col(string_len("call_name", 64))
                    .col(text("request_body"))
                    .col(text_null("reply_body"))
                    .col(big_integer("duration_ms"))
                    .col(string_len("outcome", 256))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        for index in [
            Index::create()
                .name("idx_channel_inbound_nkp_seq_id")
                .table("channel_inbound_messages")
                .col("nkp_seq_id")
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_channel_inbound_received")
                .table("channel_inbound_messages")
                .col("received_at")
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_channel_exchanges_nkp_seq_id")
                .table("channel_exchanges")
                .col("nkp_seq_id")
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
                    .table("channel_exchanges")
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table("channel_inbound_messages")
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
