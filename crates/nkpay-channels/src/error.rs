//! The one error type of this crate. It covers what goes wrong *before* a request leaves (bad
//! input, wrong route, bad configuration) and notifies we refuse; what happens on the wire is a
//! typed result instead (see the crate doc).

use nkpay_core::trade_type::ChannelKind;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The order or refund does not fit the channel's rules; nothing was sent.
    #[error("{field}: {rule}")]
    InvalidInput { field: &'static str, rule: String },

    /// The engine handed a trade, route or trade type of one channel to the other's connector.
    #[error("{what} is for {given}, but this connector is {connector}")]
    WrongChannel {
        what: &'static str,
        given: ChannelKind,
        connector: ChannelKind,
    },

    /// The account configuration cannot be used (key, certificate, URL); fix the configuration.
    #[error("account configuration {field}: {reason}")]
    Config { field: &'static str, reason: String },

    /// An inbound notify that is forged, unreadable or addressed to another account. The callback
    /// answers with the channel's failure reply and records the reason.
    #[error("notify rejected: {reason}")]
    NotifyRejected { reason: String },
}

impl ChannelError {
    pub(crate) fn invalid(field: &'static str, rule: impl Into<String>) -> Self {
        ChannelError::InvalidInput {
            field,
            rule: rule.into(),
        }
    }

    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        ChannelError::Config {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn rejected(reason: impl Into<String>) -> Self {
        ChannelError::NotifyRejected {
            reason: reason.into(),
        }
    }
}
