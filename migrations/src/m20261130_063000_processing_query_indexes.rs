//! The channel-query jobs' indexes hold only processing rows (issue 16):
//! `idx_trades_processing_next_query` and `idx_refunds_processing_next_query`, partial indexes
//! on `(next_query_at, id) WHERE status = 'P'`, replace `idx_trades_status_next_query` and
//! `idx_refunds_status_next_query` on `(status, next_query_at)`.
//!
//! Why: every single-row write of a trade or refund is keyed by its unique `nkp_seq_id` and
//! checks its state (`… WHERE nkp_seq_id = $5 AND status = $6 …` for a trade's placement). With `status` as the leading
//! column of another index, PostgreSQL on a table it has not analyzed yet (a new deployment's
//! first minute, before autovacuum's first ANALYZE) costs both indexes at one row and may pick
//! the status index: the cached generic plan then reads every processing row to update one
//! (issue 16: 2.3 ms and 2,600 buffers per trade placement after 6,000 trades, PostgreSQL
//! busy on the two cores at 408 trades/s in the run that found it). A partial index offers no `status = $n` access
//! path, so the unique index is the only one such a statement can use. The job's claim names
//! the state as a literal (`lease.rs`), which is what lets it use the partial index; ordered by
//! `(next_query_at, id)` like the notification claim's index, it stops after `LIMIT` rows. The
//! index also shrinks to the rows in flight: a final trade leaves it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(table, old index, new index)`.
const TABLES: [(&str, &str, &str); 2] = [
    (
        "trades",
        "idx_trades_status_next_query",
        "idx_trades_processing_next_query",
    ),
    (
        "refunds",
        "idx_refunds_status_next_query",
        "idx_refunds_processing_next_query",
    ),
];

/// The processing state's stored value (`nkpay_core::state`, API.md `trans_stat` `P`).
const PROCESSING: &str = "P";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, old, new) in TABLES {
            manager
                .create_index(
                    Index::create()
                        .name(new)
                        .table(table)
                        .col("next_query_at")
                        .col("id")
                        .and_where(Expr::col("status").eq(PROCESSING))
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
            manager
                .drop_index(Index::drop().name(old).table(table).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, old, new) in TABLES {
            manager
                .create_index(
                    Index::create()
                        .name(old)
                        .table(table)
                        .col("status")
                        .col("next_query_at")
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
            manager
                .drop_index(Index::drop().name(new).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
