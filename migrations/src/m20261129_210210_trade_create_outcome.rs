//! A create whose outcome is unknown (issue 15, fault 1): the channel may have made the order
//! though its reply was lost, and the same create again answers that order. On `trades`:
//!
//! - `create_unknown_at`: when the create's outcome was left unknown (UTC); NULL once a repeat
//!   placed it, and for every trade whose create was answered.
//! - `create_repeats`: how many times the create was repeated since (merchant replays and the
//!   job together), bounded by `jobs.create_repeat_limit`; then the trade is closed upstream.
//! - `client_ip`, `attach`: the last two create parameters that were not kept (`wx_data`'s
//!   `spbill_create_ip` and `attach`), so that a repeat sends exactly the first parameters.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns added, in order (SQLite adds one per ALTER).
fn columns() -> Vec<ColumnDef> {
    vec![
        timestamp_with_time_zone_null("create_unknown_at"),
        integer("create_repeats").default(0).to_owned(),
        string_len_null("client_ip", 45),
        string_len_null("attach", 128),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in columns() {
            manager
                .alter_table(Table::alter().table("trades").add_column(column).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["attach", "client_ip", "create_repeats", "create_unknown_at"] {
            manager
                .alter_table(Table::alter().table("trades").drop_column(name).to_owned())
                .await?;
        }
        Ok(())
    }
}
