//! Node identity (issue 14): one `node_leases` row per `server.node_id`, held by one running
//! process (its random `instance_id`) until `lease_until` (UTC). A node takes the row at start
//! when it is absent or its lease has ended, renews it while it runs and ends the lease when it
//! stops; `host` and `pid` say who holds it, for the refusal a second node with the same id gets.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("node_leases")
                    .if_not_exists()
                    .col(integer("node_id").primary_key())
                    .col(string_len("instance_id", 32))
                    .col(string_len("host", 255))
                    .col(big_integer("pid"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(timestamp_with_time_zone("lease_until"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("node_leases").if_exists().to_owned())
            .await
    }
}
