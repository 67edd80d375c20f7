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

/// What placing a trade at the channel gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateResult {
    /// The channel holds the order; the payer can pay.
    Created(PayPrompt),
    /// The channel refused the order (its code and text go to `bank_code`/`bank_message`).
    Failed {
        /// The channel's error code (WeChat `err_code`, Alipay `sub_code`).
        code: String,
        /// The channel's error text.
        message: String,
    },
    /// We cannot tell whether the order exists (time-out, system error, unreadable reply).
    Unknown {
        /// Why, for the log.
        reason: String,
    },
}

/// Where a trade's payment stands, from a query or a notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayResult {
    /// Paid. `amount` is what the channel says was paid: the engine compares it with the order.
    Paid {
        /// The channel's trade id (WeChat `transaction_id`, Alipay `trade_no`).
        party_order_id: String,
        /// The amount paid, in fen.
        amount: Money,
        /// The payer at the channel (WeChat `openid`/`sub_openid`, Alipay `buyer_id`).
        buyer_id: Option<String>,
        /// When it was paid (UTC; the channel writes Asia/Shanghai time).
        paid_at: Option<DateTime<Utc>>,
    },
    /// Not paid yet, still payable.
    NotPaid,
    /// Closed or revoked at the channel; it will not be paid.
    Closed,
    /// The payment failed at the channel.
    Failed {
        /// The channel's error code.
        code: String,
        /// The channel's error text.
        message: String,
    },
    /// The channel has no such order (WeChat: it was never created). Alipay never says this for
    /// a query: there a trade exists only once its QR code is scanned, so "not found" is `NotPaid`.
    NotFound,
    /// We cannot tell (time-out, system error, unreadable or untrusted reply): query again.
    Unknown {
        /// Why, for the log.
        reason: String,
    },
}

/// What closing a trade at the channel gave.
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
    /// The channel refused the close (its code and text).
    Failed {
        /// The channel's error code.
        code: String,
        /// The channel's error text.
        message: String,
    },
    /// We cannot tell whether it closed: query the trade.
    Unknown {
        /// Why, for the log.
        reason: String,
    },
}

/// Where one refund stands, from the refund call, a refund query or a refund notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundResult {
    /// Money returned. `amount` is this refund's amount when the channel states it.
    Succeeded {
        /// The channel's refund id (WeChat `refund_id`), when it gives one.
        party_refund_id: Option<String>,
        /// This refund's amount in fen, when the channel states it.
        amount: Option<Money>,
        /// When the money went back (UTC; the channel writes Asia/Shanghai time).
        refunded_at: Option<DateTime<Utc>>,
    },
    /// Accepted; the final state comes by notify or refund query.
    Processing {
        /// The channel's refund id, when it gives one.
        party_refund_id: Option<String>,
    },
    /// Refused or failed for good (over-refund, closed, bank failure).
    Failed {
        /// The channel's error code.
        code: String,
        /// The channel's error text.
        message: String,
    },
    /// The channel has no (successful) refund under this number: re-sending the same number is
    /// safe.
    NotFound,
    /// We cannot tell: re-send under the same number or query.
    Unknown {
        /// Why, for the log.
        reason: String,
    },
}

/// What a harmless signed call ([`Channel::probe`](crate::Channel::probe)) says about an
/// account's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// The channel accepted our signature (and, for WeChat with a client certificate, the
    /// certificate too).
    pub ok: bool,
    /// The channel's code for its answer (WeChat `return_msg`/`err_code`, Alipay `sub_code`), or
    /// ours when nothing usable came back: `NO_REPLY` (time-out, refused connection, TLS
    /// failure), `HTTP_<status>`, `UNTRUSTED_REPLY` (unreadable or unverified reply).
    pub code: String,
    /// The channel's words, or why we could not read its answer.
    pub message: String,
}

impl ProbeResult {
    pub(crate) fn ok(code: impl Into<String>, message: impl Into<String>) -> Self {
        ProbeResult {
            ok: true,
            code: code.into(),
            message: message.into(),
        }
    }

    pub(crate) fn not_ok(code: impl Into<String>, message: impl Into<String>) -> Self {
        ProbeResult {
            ok: false,
            code: code.into(),
            message: message.into(),
        }
    }
}
