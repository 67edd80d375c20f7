//! Platform signing keys without breaking anyone (issue 14):
//!
//! - `platform_keys.status` gains `retiring` (a replaced key that still signs for the callers
//!   assigned to it until `retired_at`, its announced retirement date, UTC); `retired_at` of a
//!   `retired` key is when it stopped signing, as before.
//! - At most one `active` key (the newest, which new callers get): a unique partial index, so
//!   two nodes starting on an empty database cannot both create one. Should two active keys
//!   exist already (that very race), the older ones are marked retired first, retired when the
//!   newest one was created.
//! - `platform_key_assignments`: the key that signs a caller's (`sys_id`'s) replies and
//!   notifications, one row per caller. Existing callers (service providers, and merchants with
//!   a key of their own) are assigned today's active key, the one their SDKs verify with.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every active key but the newest is retired, as of the newest one's creation.
const RETIRE_EXTRA_ACTIVE: &str = "UPDATE platform_keys SET status = 'retired', \
     retired_at = (SELECT MAX(k.created_at) FROM platform_keys k WHERE k.status = 'active') \
     WHERE status = 'active' \
     AND id < (SELECT MAX(k.id) FROM platform_keys k WHERE k.status = 'active')";

/// One active key at most (PostgreSQL and SQLite both read partial indexes).
const ONE_ACTIVE: &str = "CREATE UNIQUE INDEX IF NOT EXISTS ux_platform_keys_one_active \
     ON platform_keys (status) WHERE status = 'active'";

/// Service providers and merchants with their own key keep the key that signs for them today.
const ASSIGN_PROVIDERS: &str = "INSERT INTO platform_key_assignments (sys_id, key_id, assigned_at) \
     SELECT sp.sys_id, k.key_id, k.created_at FROM service_providers sp, platform_keys k \
     WHERE k.status = 'active'";
const ASSIGN_MERCHANTS: &str = "INSERT INTO platform_key_assignments (sys_id, key_id, assigned_at) \
     SELECT m.mer_id, k.key_id, k.created_at FROM merchants m, platform_keys k \
     WHERE k.status = 'active' AND m.rsa_public_key IS NOT NULL \
     AND NOT EXISTS (SELECT 1 FROM platform_key_assignments a WHERE a.sys_id = m.mer_id)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        conn.execute_unprepared(RETIRE_EXTRA_ACTIVE).await?;
        conn.execute_unprepared(ONE_ACTIVE).await?;
        manager
            .create_table(
                Table::create()
                    .table("platform_key_assignments")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("sys_id", 32))
                    .col(string_len("key_id", 64))
                    .col(timestamp_with_time_zone("assigned_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_platform_key_assignments_key_id")
                    .table("platform_key_assignments")
                    .col("key_id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        conn.execute_unprepared(ASSIGN_PROVIDERS).await?;
        conn.execute_unprepared(ASSIGN_MERCHANTS).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table("platform_key_assignments")
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS ux_platform_keys_one_active")
            .await?;
        Ok(())
    }
}
