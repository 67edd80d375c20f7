//! The one error type of this crate: every message names the value and the rule it broke.

use thiserror::Error;

/// Rule for amounts at the API edge, repeated in every money error so the caller can fix the input.
pub const YUAN_RULE: &str = "must be yuan with exactly two decimals, 0.01 to 99999999.99";

/// Every failure of this crate; each message names the value and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    /// An amount string at the API edge that is not strict yuan ([`YUAN_RULE`]).
    #[error("amount {value:?} {YUAN_RULE}")]
    YuanFormat {
        /// The string as given.
        value: String,
    },
    /// A fen amount outside 0 to 9 999 999 999 (0 to 99 999 999.99 yuan).
    #[error("amount of {fen} fen is out of range: must be 0 to 9999999999 fen")]
    FenOutOfRange {
        /// The amount in fen.
        fen: i64,
    },
    /// A `trade_type` that is not one of [`crate::trade_type::TradeType::ALL`].
    #[error("unknown trade_type {0:?}: expected T_JSAPI, T_MINIAPP or A_NATIVE")]
    UnknownTradeType(String),
    /// A channel name that is not "wechat" or "alipay".
    #[error("unknown channel {0:?}: expected wechat or alipay")]
    UnknownChannel(String),
    /// A `trans_stat` that is not "P", "S" or "F".
    #[error("unknown trans_stat {0:?}: expected P, S or F")]
    UnknownTransStat(String),
    /// A stored trade status that is not "P", "S", "F" or "C".
    #[error("unknown trade status {0:?}: expected P, S, F or C")]
    UnknownTradeStatus(String),
    /// A stored refund status that is not "P", "S" or "F".
    #[error("unknown refund status {0:?}: expected P, S or F")]
    UnknownRefundStatus(String),
    /// A `resp_code` that is not one of [`crate::resp_code::RespCode::ALL`].
    #[error("unknown resp_code {0:?}")]
    UnknownRespCode(String),
    /// A state move the state machine forbids (see [`crate::state`]).
    #[error("{what} cannot move from {from} to {to}")]
    IllegalTransition {
        /// "trade" or "refund".
        what: &'static str,
        /// The current state's stored string.
        from: &'static str,
        /// The refused next state's stored string.
        to: &'static str,
    },
    /// A fee rate outside 0 to 10000 basis points (0 to 100%; see [`crate::fee`]).
    #[error("fee rate of {bp} basis points is out of range: must be 0 to 10000 (0 to 100%)")]
    FeeRateOutOfRange {
        /// The rate in basis points.
        bp: i32,
    },
    /// More refunded than the trade's amount, in fen (see [`crate::fee`]).
    #[error("refunded {refunded} fen exceeds the trade's {trans_amt} fen")]
    RefundedOverPaid {
        /// Fen refunded in total.
        refunded: i64,
        /// Fen paid.
        trans_amt: i64,
    },
    /// A fee above the trade's amount, in fen (a rate is at most 100%; see [`crate::fee`]).
    #[error("fee {fee} fen exceeds the trade's {trans_amt} fen")]
    FeeOverAmount {
        /// The trade's fee, fen.
        fee: i64,
        /// Fen paid.
        trans_amt: i64,
    },
}
