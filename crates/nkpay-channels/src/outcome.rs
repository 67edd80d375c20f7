//! Typed results of the calls. Each enum has an explicit `Unknown`: a time-out, a channel system
//! error or a reply we cannot read or trust means "we do not know", and the engine queries.

use chrono::{DateTime, Utc};
use nkpay_core::money::Money;

/// What the payer's side needs to pay a created trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayPrompt {
    /// WeChat JSAPI: the JSON string for `getBrandWCPayRequest` / `wx.requestPayment`
    /// (`appId`, `timeStamp`, `nonceStr`, `package`, `signType`, `paySign`).
    PayInfo(String),
    /// Alipay: the QR code URL the payer scans.
    QrCode(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateResult {
    /// The channel holds the order; the payer can pay.
    Created(PayPrompt),
    /// The channel refused the order (its code and text go to `bank_code`/`bank_message`).
    Failed {
        code: String,
        message: String,
    },
    Unknown {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayResult {
    /// Paid. `amount` is what the channel says was paid: the engine compares it with the order.
    Paid {
        party_order_id: String,
        amount: Money,
        buyer_id: Option<String>,
        paid_at: Option<DateTime<Utc>>,
    },
    /// Not paid yet, still payable.
    NotPaid,
    /// Closed or revoked at the channel; it will not be paid.
    Closed,
    /// The payment failed at the channel.
    Failed {
        code: String,
        message: String,
    },
    /// The channel has no such order (WeChat: it was never created). Alipay never says this for
    /// a query: there a trade exists only once its QR code is scanned, so "not found" is `NotPaid`.
    NotFound,
    Unknown {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseResult {
    /// Closed now, or already closed before.
    Closed,
    /// The channel has no trade to close yet (Alipay before a scan). The QR code stays payable
    /// for its lifetime, so a payment can still arrive: notify or reconciliation must catch it.
    NotOpened,
    /// Paid before the close landed: the payment wins; query it for the details.
    AlreadyPaid,
    /// The channel refuses to close yet (WeChat: less than 5 minutes after the order); try later.
    TooEarly,
    Failed {
        code: String,
        message: String,
    },
    Unknown {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundResult {
    /// Money returned. `amount` is this refund's amount when the channel states it.
    Succeeded {
        party_refund_id: Option<String>,
        amount: Option<Money>,
        refunded_at: Option<DateTime<Utc>>,
    },
    /// Accepted; the final state comes by notify or refund query.
    Processing {
        party_refund_id: Option<String>,
    },
    /// Refused or failed for good (over-refund, closed, bank failure).
    Failed {
        code: String,
        message: String,
    },
    /// The channel has no (successful) refund under this number: re-sending the same number is
    /// safe.
    NotFound,
    Unknown {
        reason: String,
    },
}
