//! The platform's own upstream accounts: WeChat Pay service-provider merchants and Alipay ISV
//! apps. Secret columns (`*_sealed`) hold `SecretSealer` output, never plaintext.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("channel_accounts")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len("channel", 16))
                    .col(string_len("name", 128))
                    .col(boolean("is_default").default(false))
                    .col(string_len("gateway_url", 256))
                    // WeChat Pay service provider
                    .col(string_len_null("wx_appid", 32))
                    .col(string_len_null("wx_mch_id", 32))
                    .col(text_null("wx_api_key_sealed"))
                    .col(text_null("wx_client_cert_sealed"))
                    .col(text_null("wx_client_key_sealed"))
                    // Alipay ISV app
                    .col(string_len_null("ali_app_id", 32))
                    .col(text_null("ali_app_private_key_sealed"))
                    .col(text_null("ali_public_key"))
                    .col(string_len_null("ali_isv_pid", 32))
                    .col(string_len("status", 16))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_channel_accounts_channel")
                    .table("channel_accounts")
                    .col("channel")
                    .col("is_default")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table("channel_accounts")
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
