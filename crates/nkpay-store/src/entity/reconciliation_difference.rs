//! `reconciliation_differences`: one difference a reconciliation run found between a channel's
//! bill and our records, and what became of it (open → healed, or resolved with a note).

use crate::kinds::{DifferenceKind, DifferenceRow, DifferenceState};
use sea_orm::entity::prelude::*;

/// One row of `reconciliation_differences`. Amounts and fees in fen.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reconciliation_differences")]
pub struct Model {
    /// Surrogate primary key; the difference's id in the admin API.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The run that found it (`reconciliation_runs.id`).
    pub run_id: i64,
    /// The channel account of the run.
    pub channel_account_id: i64,
    /// The bill's day, `yyyyMMdd`, Asia/Shanghai.
    pub bill_date: String,
    /// "missing_here", "missing_there", "amount_differs", "state_differs" or "fee_differs".
    pub kind: DifferenceKind,
    /// "payment" or "refund": which kind of row (ours or the channel's) it is about.
    pub row_kind: DifferenceRow,
    /// The trade's `nkp_seq_id` (the channel's `out_trade_no`).
    pub order_no: String,
    /// Refund differences: the refund's `nkp_seq_id` (the channel's `out_refund_no` /
    /// `out_request_no`).
    pub refund_no: Option<String>,
    /// The merchant, when the trade is ours.
    pub mer_id: Option<String>,
    /// The channel's trade id, when the bill has the row.
    pub party_order_id: Option<String>,
    /// Our amount (fen), when we have the record.
    pub our_amount: Option<i64>,
    /// The channel's amount (fen), when the bill has the row.
    pub channel_amount: Option<i64>,
    /// Our fee (fen; negative on refunds).
    pub our_fee: Option<i64>,
    /// The channel's fee (fen; negative on refunds).
    pub channel_fee: Option<i64>,
    /// Our trade's or refund's state (`P`, `S`, `F`, `C`) when the run saw it.
    pub our_state: Option<String>,
    /// What was found, in words.
    pub detail: String,
    /// "open", "healed" or "resolved".
    pub state: DifferenceState,
    /// What healing did (finalized, refunded under which refund id, incident opened).
    pub heal_action: Option<String>,
    /// The operator's note when resolved by hand.
    pub note: Option<String>,
    /// Who resolved it by hand.
    pub resolved_by: Option<String>,
    /// When it was healed or resolved (UTC).
    pub resolved_at: Option<DateTimeUtc>,
    /// When the run recorded it (UTC).
    pub created_at: DateTimeUtc,
    /// When it last changed (UTC).
    pub updated_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
