//! Console sessions (issue 13): rotating refresh tokens (`admin_refresh_tokens`, stored only as
//! the SHA-256 of a random 32-byte token, grouped in families that one logout or one replayed
//! token revokes whole), failed sign-ins counted for login throttling (`admin_login_failures`,
//! per account and per client address), and a user's optional TOTP secret (sealed at rest) on
//! `admin_users`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("admin_refresh_tokens")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("token_hash", 64))
                    .col(string_len("family_id", 32))
                    .col(string_len("username", 64))
                    .col(timestamp_with_time_zone("issued_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("spent_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_admin_refresh_tokens_family")
                    .table("admin_refresh_tokens")
                    .col("family_id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("admin_login_failures")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len("key_kind", 16))
                    .col(string_len("key_value", 128))
                    .col(timestamp_with_time_zone("at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_admin_login_failures_key_at")
                    .table("admin_login_failures")
                    .col("key_kind")
                    .col("key_value")
                    .col("at")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // One column per ALTER: SQLite adds a single column per statement.
        for column in [
            text_null("totp_secret_sealed"),
            timestamp_with_time_zone_null("totp_enabled_at"),
            big_integer_null("totp_last_step"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("admin_users")
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["totp_last_step", "totp_enabled_at", "totp_secret_sealed"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("admin_users")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(
                Table::drop()
                    .table("admin_login_failures")
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table("admin_refresh_tokens")
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
