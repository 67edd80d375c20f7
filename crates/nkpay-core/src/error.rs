//! The one error type of this crate: every message names the value and the rule it broke.

use thiserror::Error;

/// Rule for amounts at the API edge, repeated in every money error so the caller can fix the input.
pub const YUAN_RULE: &str = "must be yuan with exactly two decimals, 0.01 to 99999999.99";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    #[error("amount {value:?} {YUAN_RULE}")]
    YuanFormat { value: String },
    #[error("amount of {fen} fen is out of range: must be 0 to 9999999999 fen")]
    FenOutOfRange { fen: i64 },
    #[error("unknown trade_type {0:?}: expected T_JSAPI, T_MINIAPP or A_NATIVE")]
    UnknownTradeType(String),
    #[error("unknown channel {0:?}: expected wechat or alipay")]
    UnknownChannel(String),
    #[error("unknown trans_stat {0:?}: expected P, S or F")]
    UnknownTransStat(String),
    #[error("unknown trade status {0:?}: expected P, S, F or C")]
    UnknownTradeStatus(String),
    #[error("unknown refund status {0:?}: expected P, S or F")]
    UnknownRefundStatus(String),
    #[error("unknown resp_code {0:?}")]
    UnknownRespCode(String),
    #[error("{what} cannot move from {from} to {to}")]
    IllegalTransition {
        what: &'static str,
        from: &'static str,
        to: &'static str,
    },
}
