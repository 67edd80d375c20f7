//! What the merchant asks of a refund, once the api has read and checked the fields' form.

use chrono::NaiveDate;
use nkpay_core::money::Money;

use crate::request::{OriginalKey, WriteRequest};

/// Which trade a refund refunds (API.md "refund, refundquery").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundedTrade {
    /// By `org_nkp_seq_id`, or `org_req_date` + `org_req_seq_id`.
    Org(OriginalKey),
    /// By the channel's own order number (WeChat `transaction_id`, Alipay `trade_no`).
    Party {
        /// `org_party_order_id`.
        party_order_id: String,
        /// `org_req_date`, when given: the trade's request date must match.
        req_date: Option<NaiveDate>,
    },
}

/// `scanpay/refund`.
#[derive(Debug, Clone)]
pub struct CreateRefund {
    /// The refund request's id and content fingerprint.
    pub request: WriteRequest,
    /// The paid trade to refund.
    pub trade: RefundedTrade,
    /// The amount to refund (fen); at most what is left of the trade, refunds in flight counted.
    pub ord_amt: Money,
    /// Where the refund's final state is notified (checked against the SSRF policy).
    pub notify_url: Option<String>,
    /// Echoed back and in notifications (≤ 255 characters).
    pub remark: Option<String>,
}
