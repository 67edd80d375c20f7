//! Fees (issue 12 "Fees"; the rule in `nkpay_core::fee` and `docs/statements.md` "Fees"):
//!
//! - `trades.fee_rate_bp`: the rate in force when the trade was created (basis points, 0 to
//!   10000), copied from the merchant's business (`merchant_channels.fee_rate_bp`) so a later
//!   change of rate does not re-price the trade. Trades that exist when this runs take their
//!   business's rate of now (0 without a business).
//! - `refunds.fee_amt`: the fee a refund returns (BIGINT fen), written when it succeeds; 0
//!   until then, for a failed refund, and for refunds that succeeded before this migration.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every existing trade takes its business's rate (one business per merchant and channel).
const BACKFILL_RATE: &str = "UPDATE trades SET fee_rate_bp = COALESCE((SELECT mc.fee_rate_bp \
     FROM merchant_channels mc WHERE mc.mer_id = trades.mer_id AND mc.channel = trades.channel), 0)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per ALTER: SQLite adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table("trades")
                    .add_column(integer("fee_rate_bp").default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(BACKFILL_RATE)
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("refunds")
                    .add_column(big_integer("fee_amt").default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("refunds")
                    .drop_column("fee_amt")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("trades")
                    .drop_column("fee_rate_bp")
                    .to_owned(),
            )
            .await
    }
}
