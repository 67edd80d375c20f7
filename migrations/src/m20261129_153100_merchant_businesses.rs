//! A merchant's businesses as `/v2/merchant/busi/open` opens them (issue 11): each business
//! (one `merchant_channels` row per channel) gets its own state `P`/`S`/`F` — existing rows,
//! opened by the demo's seeding, are `S` —, the busi/open request that asked for it, where its
//! result goes (`busi_async_return_url`), and for Alipay the ISV authorization: the refresh
//! token (sealed), both expiries and the hashed single-use `state` of the authorization link.
//! `merchant_bindings`: what `/v2/merchant/busi/config` asks WeChat to bind to a `sub_mch_id`
//! (a JSAPI pay directory, an official-account or mini-program appid), one row per item with
//! its own state and WeChat's refusal. `business_requests`: the first answer of each
//! busi/open and busi/config request under (`sys_id`, `req_date`, `req_seq_id`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const BUSINESSES: &str = "merchant_channels";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let columns = [
            // "P" waiting (sub_mch_id or authorization), "S" open, "F" failed.
            string_len("state", 1).default("S").to_owned(),
            json_null("conf_list").to_owned(),
            text_null("busi_notify_url").to_owned(),
            string_len_null("open_req_date", 8).to_owned(),
            string_len_null("open_req_seq_id", 64).to_owned(),
            text_null("state_reason").to_owned(),
            text_null("ali_app_refresh_token_sealed").to_owned(),
            timestamp_with_time_zone_null("ali_token_expires_at").to_owned(),
            timestamp_with_time_zone_null("ali_refresh_expires_at").to_owned(),
            // Hex SHA-256 of the authorization link's random state; cleared once used.
            string_len_null("ali_auth_state_hash", 64).to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(BUSINESSES)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("merchant_bindings")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("merchant_channel_id"))
                    .col(string_len("mer_id", 16))
                    // "jsapi_path", "mp_appid" or "miniapp_appid".
                    .col(string_len("kind", 16))
                    .col(string_len("value", 256))
                    // "P" asked (or outcome unknown), "S" bound, "F" refused.
                    .col(string_len("state", 1))
                    .col(string_len_null("err_code", 64))
                    .col(text_null("err_msg"))
                    .col(integer("attempts").default(0))
                    // The busi/config request that last asked for it (none: seeded).
                    .col(string_len_null("req_date", 8))
                    .col(string_len_null("req_seq_id", 64))
                    // Order of the upstream calls within that request.
                    .col(integer("position").default(0))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_merchant_bindings_business")
                            .from("merchant_bindings", "merchant_channel_id")
                            .to(BUSINESSES, "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_merchant_bindings_mer_kind_value")
                    .table("merchant_bindings")
                    .col("mer_id")
                    .col("kind")
                    .col("value")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("business_requests")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len("sys_id", 32))
                    .col(string_len("req_date", 8))
                    .col(string_len("req_seq_id", 64))
                    // "busi_open" or "busi_config".
                    .col(string_len("endpoint", 16))
                    .col(string_len("mer_id", 16))
                    .col(string_len("content_hash", 64))
                    // The first answer's JSON; NULL while the first request runs.
                    .col(text_null("answer"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_business_requests_sys_req")
                    .table("business_requests")
                    .col("sys_id")
                    .col("req_date")
                    .col("req_seq_id")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["business_requests", "merchant_bindings"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        for column in [
            "ali_auth_state_hash",
            "ali_refresh_expires_at",
            "ali_token_expires_at",
            "ali_app_refresh_token_sealed",
            "state_reason",
            "open_req_seq_id",
            "open_req_date",
            "busi_notify_url",
            "conf_list",
            "state",
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(BUSINESSES)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
