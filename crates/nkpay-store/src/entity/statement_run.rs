//! `statement_runs`: one statement run per trade day (or month) and kind, the task state
//! `filequery` reports.

use sea_orm::entity::prelude::*;

/// One row of `statement_runs`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "statement_runs")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `yyyyMMdd`: the trade day (a monthly run: the 1st of the month).
    pub data_date: String,
    /// "daily" or "monthly".
    pub kind: String,
    /// "P" running, "S" done, "F" failed (Dougong's `task_stat`; "I" is a day without a row).
    pub task_stat: String,
    /// Run before the day (or month) closed.
    pub partial: bool,
    /// Files made by the run.
    pub file_count: i64,
    /// Why the run failed.
    pub error: Option<String>,
    /// When the run started (UTC).
    pub started_at: DateTimeUtc,
    /// When it ended (UTC).
    pub ended_at: Option<DateTimeUtc>,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
