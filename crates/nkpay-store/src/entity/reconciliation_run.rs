//! `reconciliation_runs`: one reconciliation of one channel account's bill of one
//! Asia/Shanghai day with our trades and refunds.

use crate::kinds::RunStatus;
use sea_orm::entity::prelude::*;

/// One row of `reconciliation_runs`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reconciliation_runs")]
pub struct Model {
    /// Surrogate primary key; the run's id in the admin API.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The channel account whose bill was reconciled (`channel_accounts.id`).
    pub channel_account_id: i64,
    /// "wechat" or "alipay".
    pub channel: String,
    /// The bill's day, `yyyyMMdd`, Asia/Shanghai.
    pub bill_date: String,
    /// "running", "done" or "failed".
    pub status: RunStatus,
    /// How many rows the channel's bill(s) had.
    pub bill_rows: i64,
    /// How many bill rows matched one of our trades or refunds exactly.
    pub matched_rows: i64,
    /// How many bill rows named an order number that is not ours (payments taken outside
    /// nkpay on the same merchant account).
    pub foreign_rows: i64,
    /// How many differences the run recorded.
    pub differences: i64,
    /// How many of them the run healed itself.
    pub healed: i64,
    /// Why the run failed (the channel's words, or what could not be read).
    pub error: Option<String>,
    /// Who started it: an admin's name, or `job` for the scheduled run.
    pub started_by: Option<String>,
    /// When it started (UTC).
    pub started_at: DateTimeUtc,
    /// When it ended (UTC).
    pub finished_at: Option<DateTimeUtc>,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
