//! A merchant's business on one channel (WeChat or Alipay): upstream sub-merchant ids, the
//! Alipay grant, the fee rate, and the appids bound to it with their kind.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("merchant_channels")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len("mer_id", 16))
                    .col(string_len("channel", 16))
                    // NULL: the channel's default platform account.
                    .col(big_integer_null("channel_account_id"))
                    .col(string_len_null("sub_mch_id", 32))
                    // JSON array of JSAPI pay directory URLs.
                    .col(json_null("jsapi_pay_dirs"))
                    .col(text_null("ali_app_auth_token_sealed"))
                    .col(string_len_null("ali_auth_app_id", 32))
                    .col(string_len_null("ali_seller_id", 32))
                    .col(string_len_null("ali_smid", 32))
                    // Basis points: 38 means 0.38%.
                    .col(integer("fee_rate_bp"))
                    .col(string_len("status", 16))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_merchant_channels_mer_id")
                            .from("merchant_channels", "mer_id")
                            .to("merchants", "mer_id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_merchant_channels_account")
                            .from("merchant_channels", "channel_account_id")
                            .to("channel_accounts", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_merchant_channels_mer_channel")
                    .table("merchant_channels")
                    .col("mer_id")
                    .col("channel")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("merchant_appids")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("merchant_channel_id"))
                    .col(string_len("mer_id", 16))
                    .col(string_len("appid", 32))
                    // "mp" (official account) or "miniapp" (mini-program).
                    .col(string_len("kind", 16))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_merchant_appids_channel")
                            .from("merchant_appids", "merchant_channel_id")
                            .to("merchant_channels", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_merchant_appids_mer_appid")
                    .table("merchant_appids")
                    .col("mer_id")
                    .col("appid")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table("merchant_appids")
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table("merchant_channels")
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
