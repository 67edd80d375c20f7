//! Indexes that let a statement read a merchant's successful trades and refunds of a day in
//! file order straight from an index — `(mer_id, status, end_time, nkp_seq_id)` on `trades` and
//! on `refunds` — instead of scanning the table and sorting (issue 12 "Streaming with flat
//! memory"; the rows' order is docs/statements.md "Row order"). Also used by reconciliation and
//! the settlement totals, which select by merchant, state and success time.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 2] = [
    ("idx_trades_mer_status_end", "trades"),
    ("idx_refunds_mer_status_end", "refunds"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Alias::new(table))
                        .col(Alias::new("mer_id"))
                        .col(Alias::new("status"))
                        .col(Alias::new("end_time"))
                        .col(Alias::new("nkp_seq_id"))
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(Alias::new(table))
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
