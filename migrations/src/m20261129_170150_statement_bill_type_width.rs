//! `statement_files.bill_type` held 16 characters, one short of `SETTLE_BILL_MONTH` (17): widen
//! it to 32 on PostgreSQL. SQLite does not enforce a `VARCHAR` length, so nothing changes there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE statement_files ALTER COLUMN bill_type TYPE VARCHAR(32)",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE statement_files ALTER COLUMN bill_type TYPE VARCHAR(16)",
            )
            .await
            .map(|_| ())
    }
}
