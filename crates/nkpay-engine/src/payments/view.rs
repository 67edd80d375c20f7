//! A trade as the engine answers it: typed (amounts in fen, times UTC, states as enums); the
//! api writes it out as yuan strings and Asia/Shanghai times.

use chrono::{DateTime, Utc};
use nkpay_core::state::TradeStatus;
use nkpay_core::trade_type::TradeType;
use nkpay_store::entity::trade;
use serde::{Deserialize, Serialize};

/// One trade as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeView {
    /// The platform's serial number (also the upstream `out_trade_no`).
    pub nkp_seq_id: String,
    /// The merchant.
    pub mer_id: String,
    /// The creating request's `req_date`, `yyyyMMdd`.
    pub req_date: String,
    /// The creating request's `req_seq_id`.
    pub req_seq_id: String,
    /// `T_JSAPI`, `T_MINIAPP`, `A_NATIVE`.
    pub trade_type: TradeType,
    /// Fen.
    pub trans_amt: i64,
    /// Where the trade is.
    pub status: TradeStatus,
    /// WeChat: the JSON the payer's page hands to `WeixinJSBridge` / `wx.requestPayment`.
    pub pay_info: Option<String>,
    /// Alipay: the QR code URL.
    pub qr_code: Option<String>,
    /// The channel's own order number.
    pub party_order_id: Option<String>,
    /// The payer's id at the channel (WeChat openid, Alipay buyer id), once paid.
    pub buyer_id: Option<String>,
    /// The channel's code of a refusal.
    pub bank_code: Option<String>,
    /// The channel's text of a refusal.
    pub bank_message: Option<String>,
    /// The merchant's remark, echoed.
    pub remark: Option<String>,
    /// Fen: the platform fee on the trade.
    pub fee_amt: i64,
    /// Fen: refunds that succeeded.
    pub refunded_amt: i64,
    /// UTC: when the trade reached its final state.
    pub end_time: Option<DateTime<Utc>>,
}

impl From<&trade::Model> for TradeView {
    fn from(t: &trade::Model) -> TradeView {
        TradeView {
            nkp_seq_id: t.nkp_seq_id.clone(),
            mer_id: t.mer_id.clone(),
            req_date: t.req_date.clone(),
            req_seq_id: t.req_seq_id.clone(),
            trade_type: t.trade_type,
            trans_amt: t.trans_amt,
            status: t.status,
            pay_info: t.pay_info.clone(),
            qr_code: t.qr_code.clone(),
            party_order_id: t.party_order_id.clone(),
            buyer_id: t.buyer_id.clone(),
            bank_code: t.bank_code.clone(),
            bank_message: t.bank_message.clone(),
            remark: t.remark.clone(),
            fee_amt: t.fee_amt,
            refunded_amt: t.refunded_amt,
            end_time: t.end_time,
        }
    }
}

/// What jspay did: the trade as it stands after placing it, and why the channel's answer is not
/// known when it is not (the order may exist upstream; the merchant queries later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    /// The trade after the channel was asked.
    pub trade: TradeView,
    /// Set when the channel did not confirm the order: why, for logs and the console only — it
    /// may name our transport error and the gateway URL, so it never goes into a merchant reply.
    pub unknown_reason: Option<String>,
}

/// Where a close got to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloseOutcome {
    /// The trade is closed (now, or it already was).
    Closed,
    /// The trade was paid first; the close failed.
    Paid,
    /// Not possible yet, or the channel's answer was unclear: the job carries it out.
    Deferred,
    /// The channel refused the close with its code and text.
    Refused {
        /// The channel's code.
        code: String,
        /// The channel's text.
        message: String,
    },
}

/// What close did: the trade as it stands and where the close got to. Kept as the close
/// request's first answer (JSON) and replayed for the same request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closed {
    /// The trade after the close.
    pub trade: TradeView,
    /// The close's own result.
    pub outcome: CloseOutcome,
}
