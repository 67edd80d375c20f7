//! What the merchant asks of a trade, once the api has read and checked the fields' form.

use chrono::{DateTime, Utc};
use nkpay_core::money::Money;
use nkpay_core::trade_type::TradeType;

use crate::request::{OriginalKey, WriteRequest};

/// The payer fields of `wx_data` (API.md "jspay": routing), checked for form; which of them a
/// trade type needs is decided by `routing`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WxData {
    /// The payer under the platform's own appid (hosted payment, `T_JSAPI` only).
    pub openid: Option<String>,
    /// The merchant's own appid, bound to it.
    pub sub_appid: Option<String>,
    /// The payer under `sub_appid`.
    pub sub_openid: Option<String>,
    /// Echoed by WeChat (`attach`, ≤ 127 characters).
    pub attach: Option<String>,
    /// The payer's IP address (`spbill_create_ip`); the configured server IP when absent.
    pub client_ip: Option<String>,
}

/// `jspay`: create a trade.
#[derive(Debug, Clone)]
pub struct CreateTrade {
    /// The request's id and content fingerprint.
    pub request: WriteRequest,
    /// The payment method.
    pub trade_type: TradeType,
    /// The amount (fen, 1 to 9 999 999 999).
    pub trans_amt: Money,
    /// `goods_desc` (≤ 127 characters).
    pub goods_desc: String,
    /// When the payer's chance ends (UTC); 2 hours from now when absent. Must be 1 minute to 24
    /// hours from now (checked here: it depends on the clock).
    pub time_expire: Option<DateTime<Utc>>,
    /// Where the final state is notified (checked here against the SSRF policy).
    pub notify_url: Option<String>,
    /// Echoed back and in notifications (≤ 255 characters).
    pub remark: Option<String>,
    /// WeChat payer fields; empty for Alipay.
    pub wx: WxData,
}

/// `scanpay/close`: close an unpaid trade.
#[derive(Debug, Clone)]
pub struct CloseTrade {
    /// The close's own request id and content fingerprint (a replay gets the first answer).
    pub request: WriteRequest,
    /// The trade to close.
    pub trade: OriginalKey,
}
