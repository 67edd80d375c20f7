//! Payment trades. `(mer_id, req_date, req_seq_id)` is the merchant's idempotency key,
//! `nkp_seq_id` the platform's id (also the upstream `out_trade_no`), `(channel, party_order_id)`
//! the channel's id. Money is BIGINT fen; `refunded_amt + refund_in_flight_amt <= trans_amt`
//! is kept by conditional UPDATEs.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("trades")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("nkp_seq_id", 32))
                    .col(string_len("sys_id", 32))
                    .col(string_len("mer_id", 16))
                    .col(string_len("req_date", 8))
                    .col(string_len("req_seq_id", 64))
                    .col(string_len("trade_type", 16))
                    .col(string_len("channel", 16))
                    .col(big_integer("channel_account_id"))
                    .col(big_integer("trans_amt"))
                    .col(string_len("status", 1))
                    .col(string_len("goods_desc", 128))
                    .col(string_len_null("notify_url", 256))
                    .col(string_len_null("remark", 255))
                    // Routing as placed upstream.
                    .col(string_len_null("sub_mch_id", 32))
                    .col(string_len_null("appid", 32))
                    .col(string_len_null("sub_appid", 32))
                    .col(string_len_null("openid", 128))
                    .col(string_len_null("sub_openid", 128))
                    .col(string_len_null("buyer_id", 128))
                    .col(string_len_null("party_order_id", 64))
                    .col(text_null("pay_info"))
                    .col(string_len_null("qr_code", 256))
                    .col(string_len_null("bank_code", 64))
                    .col(string_len_null("bank_message", 256))
                    .col(big_integer("fee_amt").default(0))
                    .col(big_integer("refunded_amt").default(0))
                    .col(big_integer("refund_in_flight_amt").default(0))
                    .col(timestamp_with_time_zone("time_expire"))
                    .col(timestamp_with_time_zone_null("end_time"))
                    .col(timestamp_with_time_zone_null("close_requested_at"))
                    .col(string_len_null("close_req_date", 8))
                    .col(string_len_null("close_req_seq_id", 64))
                    // The channel-query job: when to look next, how often it looked, who holds it.
                    .col(timestamp_with_time_zone_null("next_query_at"))
                    .col(integer("query_attempts").default(0))
                    .col(string_len_null("query_lease_owner", 64))
                    .col(timestamp_with_time_zone_null("query_lease_until"))
                    // Idempotency: hash of the canonical request, and the first answer to replay.
                    .col(string_len("request_hash", 64))
                    .col(text_null("first_response"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(integer("version").default(0))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_trades_mer_id")
                            .from("trades", "mer_id")
                            .to("merchants", "mer_id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_trades_channel_account")
                            .from("trades", "channel_account_id")
                            .to("channel_accounts", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        for index in [
            Index::create()
                .name("uq_trades_mer_req")
                .table("trades")
                .col("mer_id")
                .col("req_date")
                .col("req_seq_id")
                .unique()
                .if_not_exists()
                .to_owned(),
            // NULLs are distinct in both PostgreSQL and SQLite, so unplaced trades do not clash.
            Index::create()
                .name("uq_trades_channel_party_order")
                .table("trades")
                .col("channel")
                .col("party_order_id")
                .unique()
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_trades_status_next_query")
                .table("trades")
                .col("status")
                .col("next_query_at")
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_trades_mer_created")
                .table("trades")
                .col("mer_id")
                .col("created_at")
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_trades_created")
                .table("trades")
                .col("created_at")
                .if_not_exists()
                .to_owned(),
        ] {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("trades").if_exists().to_owned())
            .await
    }
}
