//! Refund orders against a paid trade; `nkp_seq_id` is also the upstream `out_refund_no`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("refunds")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("nkp_seq_id", 32))
                    .col(string_len("sys_id", 32))
                    .col(string_len("mer_id", 16))
                    .col(string_len("req_date", 8))
                    .col(string_len("req_seq_id", 64))
                    .col(string_len("org_nkp_seq_id", 32))
                    .col(string_len("channel", 16))
                    .col(big_integer("ord_amt"))
                    .col(string_len("status", 1))
                    .col(string_len_null("party_refund_id", 64))
                    .col(string_len_null("notify_url", 256))
                    .col(string_len_null("remark", 255))
                    .col(string_len_null("bank_code", 64))
                    .col(string_len_null("bank_message", 256))
                    .col(timestamp_with_time_zone_null("end_time"))
                    .col(timestamp_with_time_zone_null("next_query_at"))
                    .col(integer("query_attempts").default(0))
                    .col(string_len_null("query_lease_owner", 64))
                    .col(timestamp_with_time_zone_null("query_lease_until"))
                    .col(string_len("request_hash", 64))
                    .col(text_null("first_response"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(integer("version").default(0))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_refunds_org_trade")
                            .from("refunds", "org_nkp_seq_id")
                            .to("trades", "nkp_seq_id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        for index in [
            Index::create()
                .name("uq_refunds_mer_req")
                .table("refunds")
                .col("mer_id")
                .col("req_date")
                .col("req_seq_id")
                .unique()
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_refunds_org_trade")
                .table("refunds")
                .col("org_nkp_seq_id")
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_refunds_status_next_query")
                .table("refunds")
                .col("status")
                .col("next_query_at")
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_refunds_mer_created")
                .table("refunds")
                .col("mer_id")
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
            .drop_table(Table::drop().table("refunds").if_exists().to_owned())
            .await
    }
}
