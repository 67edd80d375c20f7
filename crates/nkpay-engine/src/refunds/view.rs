//! A refund as the engine answers it: typed (fen, UTC, enums); the api writes it out.

use chrono::{DateTime, Utc};
use nkpay_core::state::RefundStatus;
use nkpay_store::entity::refund;
use serde::{Deserialize, Serialize};

use crate::payments::TradeView;

/// One refund as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundView {
    /// The platform's serial number (also the upstream `out_refund_no` / `out_request_no`).
    pub nkp_seq_id: String,
    /// The merchant.
    pub mer_id: String,
    /// The refund request's `req_date`, `yyyyMMdd`.
    pub req_date: String,
    /// The refund request's `req_seq_id`.
    pub req_seq_id: String,
    /// Fen.
    pub ord_amt: i64,
    /// Fen: the share of the trade's fee this refund returns (`nkpay_core::fee::refund_fee`),
    /// set when it succeeds; 0 before and for a failed refund. Absent in answers stored before
    /// fees were recorded, read as 0.
    #[serde(default)]
    pub fee_amt: i64,
    /// Where the refund is.
    pub status: RefundStatus,
    /// UTC: when the refund reached its final state.
    pub end_time: Option<DateTime<Utc>>,
    /// The channel's code of a refusal.
    pub bank_code: Option<String>,
    /// The channel's text of a refusal.
    pub bank_message: Option<String>,
    /// The merchant's remark, echoed.
    pub remark: Option<String>,
}

impl From<&refund::Model> for RefundView {
    fn from(r: &refund::Model) -> RefundView {
        RefundView {
            nkp_seq_id: r.nkp_seq_id.clone(),
            mer_id: r.mer_id.clone(),
            req_date: r.req_date.clone(),
            req_seq_id: r.req_seq_id.clone(),
            ord_amt: r.ord_amt,
            fee_amt: r.fee_amt,
            status: r.status,
            end_time: r.end_time,
            bank_code: r.bank_code.clone(),
            bank_message: r.bank_message.clone(),
            remark: r.remark.clone(),
        }
    }
}

/// A refund with the trade it refunds: what refund and refundquery answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundAnswer {
    /// The refund.
    pub refund: RefundView,
    /// The refunded trade.
    pub trade: TradeView,
    /// Set when the channel did not confirm the refund (it is re-sent under the same number): why,
    /// for logs only — it may name our transport error and the gateway URL, never in a reply.
    pub unknown_reason: Option<String>,
}
