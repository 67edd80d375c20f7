//! The merchant-notification outbox and its delivery attempts. A final state writes exactly one
//! row per `(kind, subject_nkp_seq_id, chain_no)`; chain 0 is the automatic one, a console
//! re-send opens the next chain. `lease_owner`/`lease_until` let a dead node's claims expire.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("notifications")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len("mer_id", 16))
                    .col(string_len("kind", 8))
                    .col(string_len("subject_nkp_seq_id", 32))
                    .col(integer("chain_no").default(0))
                    .col(string_len("notify_url", 256))
                    .col(text("resp_data"))
                    .col(string_len("status", 16))
                    .col(integer("attempt_count").default(0))
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    .col(string_len_null("lease_owner", 64))
                    .col(timestamp_with_time_zone_null("lease_until"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        for index in [
            Index::create()
                .name("uq_notifications_subject_chain")
                .table("notifications")
                .col("kind")
                .col("subject_nkp_seq_id")
                .col("chain_no")
                .unique()
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_notifications_status_next")
                .table("notifications")
                .col("status")
                .col("next_attempt_at")
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_notifications_mer_created")
                .table("notifications")
                .col("mer_id")
                .col("created_at")
                .if_not_exists()
                .to_owned(),
        ] {
            manager.create_index(index).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("notification_attempts")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("notification_id"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(big_integer("duration_ms"))
                    .col(integer_null("http_status"))
                    .col(text_null("error"))
                    // At most the first 2 KiB of the receiver's answer.
                    .col(text_null("response_body"))
                    .col(boolean("delivered"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notification_attempts_notification")
                            .from("notification_attempts", "notification_id")
                            .to("notifications", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notification_attempts_notification")
                    .table("notification_attempts")
                    .col("notification_id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table("notification_attempts")
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("notifications").if_exists().to_owned())
            .await
    }
}
