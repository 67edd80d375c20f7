//! Merchant applications (进件, issue 11): one row per `/v2/merchant/basicdata/ent` or `/indv`
//! request, unique on the caller's request id (`sys_id`, `req_date`, `req_seq_id`) — onboarding
//! requests have no `mer_id` yet. The applicant's personal data (ID, card and account numbers,
//! mobile numbers, e-mail) is one AES-GCM sealed JSON object (`personal_sealed`); the rest of
//! the application, with those values masked, is plain JSON (`details`).
//!
//! Merchants gain their review state (`apply_status`: P pending, Y approved, N rejected, F
//! failed; existing merchants were made by the demo's seeding and count as approved) and their
//! freeze (`frozen_at`, `frozen_reason`: a frozen merchant cannot take payments).
//!
//! `notifications.kind` is widened to 16 characters on PostgreSQL for `MERCHANT_AUDIT`
//! (SQLite does not enforce `varchar` lengths and cannot alter a column's type).

use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("merchant_applications")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("apply_no", 32))
                    .col(string_len("mer_id", 16))
                    .col(string_len("sys_id", 32))
                    .col(string_len("kind", 8))
                    .col(string_len("req_date", 8))
                    .col(string_len("req_seq_id", 64))
                    .col(string_len("request_hash", 64))
                    .col(string_len("status", 1))
                    .col(text_null("reason"))
                    .col(string_len_null("async_return_url", 512))
                    .col(text("details"))
                    .col(text("personal_sealed"))
                    .col(string_len_null("reviewed_by", 128))
                    .col(timestamp_with_time_zone_null("reviewed_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_merchant_applications_mer_id")
                            .from("merchant_applications", "mer_id")
                            .to("merchants", "mer_id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        for index in [
            Index::create()
                .name("uq_merchant_applications_request")
                .table("merchant_applications")
                .col("sys_id")
                .col("req_date")
                .col("req_seq_id")
                .unique()
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_merchant_applications_status")
                .table("merchant_applications")
                .col("status")
                .col("created_at")
                .if_not_exists()
                .to_owned(),
            Index::create()
                .name("idx_merchant_applications_mer_id")
                .table("merchant_applications")
                .col("mer_id")
                .if_not_exists()
                .to_owned(),
        ] {
            manager.create_index(index).await?;
        }
        // One column per ALTER: SQLite adds a single column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table("merchants")
                    .add_column(string_len("apply_status", 1).default("Y"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("merchants")
                    .add_column(timestamp_with_time_zone_null("frozen_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("merchants")
                    .add_column(text_null("frozen_reason"))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager
                .alter_table(
                    Table::alter()
                        .table("notifications")
                        .modify_column(ColumnDef::new("kind").string_len(16).not_null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["frozen_reason", "frozen_at", "apply_status"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("merchants")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(
                Table::drop()
                    .table("merchant_applications")
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
