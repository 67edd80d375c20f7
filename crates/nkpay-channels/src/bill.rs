//! A channel's bill for one day, parsed into rows in fen for reconciliation.

use chrono::{DateTime, NaiveDate, Utc};
use nkpay_core::money::Money;

use crate::request::MerchantRoute;

/// Which bill to fetch. Dates are Asia/Shanghai calendar days, as the channels keep them.
#[derive(Debug, Clone)]
pub struct BillRequest {
    /// The Asia/Shanghai calendar day.
    pub date: NaiveDate,
    /// WeChat: one sub-merchant, or every sub-merchant of the service provider when `None`.
    /// Alipay: the sub-merchant whose bill to fetch (bills are per grant); `None` fetches the
    /// ISV app's own.
    pub merchant: Option<MerchantRoute>,
}

/// What asking for a day's bill gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillResult {
    /// The bill, downloaded and parsed.
    Ready(Bill),
    /// The channel has no bill for that day (no trades, or not generated yet).
    NoBill {
        /// The channel's words (WeChat `No Bill Exist`, Alipay `isp.bill_not_exist` text).
        message: String,
    },
    /// The channel refused to give it (its code and text).
    Failed {
        /// The channel's error code.
        code: String,
        /// The channel's error text.
        message: String,
    },
    /// A time-out, a system error, or a file we could not read (with the line that failed).
    Unknown {
        /// What went wrong, for the log.
        reason: String,
    },
}

/// One day's bill of one account (or one sub-merchant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    /// Every payment and refund row, in file order.
    pub rows: Vec<BillRow>,
    /// The channel's own totals, when the file carries them; rows were checked against them.
    pub summary: Option<BillSummary>,
}

/// Whether a bill row records money in or out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillRowKind {
    /// A paid trade (WeChat `SUCCESS` row, Alipay `交易`).
    Payment,
    /// A refund (WeChat `REFUND` row, Alipay `退款`).
    Refund,
}

/// One row of a bill, in our terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRow {
    /// Payment or refund.
    pub kind: BillRowKind,
    /// Our trade id (the merchant order number at the channel).
    pub nkp_seq_id: String,
    /// The channel's trade id (WeChat `transaction_id`, Alipay `trade_no`).
    pub party_order_id: String,
    /// Refund rows: our refund id and the channel's.
    pub refund_nkp_seq_id: Option<String>,
    /// Refund rows: the channel's refund id, when the bill has one.
    pub party_refund_id: Option<String>,
    /// Payment rows: the order amount; refund rows: the refunded amount. Always positive.
    pub amount: Money,
    /// The channel's fee on this row in fen: positive when charged, negative when a refund gives
    /// it back.
    pub fee_fen: i64,
    /// When the payment or refund happened (UTC; the file prints Asia/Shanghai time).
    pub time: DateTime<Utc>,
    /// The channel's sub-merchant id on the row, when the bill has one (WeChat `特约商户号`).
    pub sub_merchant: Option<String>,
}

/// Totals as printed by the channel, in fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillSummary {
    /// How many rows the channel counts.
    pub rows: u64,
    /// The sum of payment amounts.
    pub payment_total_fen: i64,
    /// The sum of refund amounts.
    pub refund_total_fen: i64,
    /// The sum of fees (refunded fees subtracted).
    pub fee_total_fen: i64,
}

/// A bill file's header row, to find columns by name rather than position (channels add
/// columns over the years).
pub(crate) struct Header(Vec<String>);

impl Header {
    pub(crate) fn new(names: impl IntoIterator<Item = String>) -> Self {
        Header(names.into_iter().map(|n| n.trim().to_owned()).collect())
    }

    /// The index of the first of `names` the header has.
    pub(crate) fn find(&self, names: &[&str]) -> Option<usize> {
        names
            .iter()
            .find_map(|name| self.0.iter().position(|h| h == name))
    }

    pub(crate) fn require(&self, names: &[&str]) -> Result<usize, String> {
        self.find(names)
            .ok_or_else(|| format!("bill header has no column {}", names.join(" or ")))
    }
}
