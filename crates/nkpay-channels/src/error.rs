//! The one error type of this crate. It covers what goes wrong *before* a request leaves (bad
//! input, wrong route, bad configuration) and notifies we refuse; what happens on the wire is a
//! typed result instead (see the crate doc), except for the onboarding calls' refusals and
//! unknown outcomes (`Refused`, `Unanswered`).

use nkpay_core::trade_type::ChannelKind;

use crate::exchange::Exchange;

/// Why a connector refused to act; see each variant for what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The order or refund does not fit the channel's rules; nothing was sent.
    #[error("{field}: {rule}")]
    InvalidInput {
        /// The field of our request that breaks the rule (`description`, `payer.openid`, …).
        field: &'static str,
        /// The channel's rule, in words.
        rule: String,
    },

    /// The engine handed a trade, route or trade type of one channel to the other's connector.
    #[error("{what} is for {given}, but this connector is {connector}")]
    WrongChannel {
        /// What was handed over (`merchant route`, `trade type`).
        what: &'static str,
        /// The channel it belongs to.
        given: ChannelKind,
        /// The channel of the connector it was handed to.
        connector: ChannelKind,
    },

    /// The account configuration cannot be used (key, certificate, URL); fix the configuration.
    #[error("account configuration {field}: {reason}")]
    Config {
        /// The account setting at fault (`api_key`, `app_private_key`, `notify_urls.payment`, …).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// An inbound notify that is forged, unreadable or addressed to another account. The callback
    /// answers with the channel's failure reply and records the reason.
    #[error("notify rejected: {reason}")]
    NotifyRejected {
        /// Why (bad signature, unreadable body, addressed to another account, …).
        reason: String,
    },

    /// A verified payment notify names another sub-merchant than the trade's route (or none,
    /// where the channel must name one). The money may be real: the engine records an incident
    /// and finalizes nothing.
    #[error("notify names sub-merchant {named:?}, the trade's is {expected}")]
    SubMerchantMismatch {
        /// The sub-merchant the notify names (WeChat `sub_mch_id`, Alipay `seller_id`).
        named: Option<String>,
        /// The trade's sub-merchant, from its route.
        expected: String,
    },

    /// An onboarding call (sub-merchant configuration, app authorization) the channel answered
    /// with a refusal, where the result type has no room for one (e.g. an authorization code
    /// that is unknown, used or expired: Alipay `isv.code-invalid`).
    #[error("{call} refused: {code}: {message}")]
    Refused {
        /// The channel's name for the call (`alipay.open.auth.token.app`, …).
        call: &'static str,
        /// The channel's most specific code (Alipay `sub_code`, WeChat `err_code`).
        code: String,
        /// The channel's words.
        message: String,
        /// The exchanges made, for the record.
        exchanges: Vec<Exchange>,
    },

    /// An onboarding call whose outcome we cannot know: no reply, a time-out, a channel system
    /// error, an unreadable or unverified reply. Those calls are safe to send again.
    #[error("{call}: outcome unknown: {reason}")]
    Unanswered {
        /// The channel's name for the call.
        call: &'static str,
        /// Why, for the log.
        reason: String,
        /// The exchanges made, for the record.
        exchanges: Vec<Exchange>,
    },
}

impl ChannelError {
    /// The exchanges made before the error, oldest first, for the record: those of `Refused`
    /// and `Unanswered`; none for the other kinds, which happen before anything is sent (or, for
    /// notifies, with nothing sent at all).
    pub fn exchanges(&self) -> &[Exchange] {
        match self {
            ChannelError::Refused { exchanges, .. }
            | ChannelError::Unanswered { exchanges, .. } => exchanges,
            _ => &[],
        }
    }

    /// What of this error a merchant may be shown (`bank_message`, `resp_desc`): the rule our
    /// request broke (`InvalidInput`, "field: rule") or the channel's own code and words
    /// (`Refused`, "code: message"). `None` for our internal causes — configuration, a wrong
    /// connector, a notify, and above all an unanswered call, whose reason names our transport
    /// error and the gateway's URL: those go to logs only (issue 15, fault 2).
    pub fn merchant_text(&self) -> Option<String> {
        match self {
            ChannelError::InvalidInput { .. } => Some(self.to_string()),
            ChannelError::Refused { code, message, .. } => Some(format!("{code}: {message}")),
            ChannelError::WrongChannel { .. }
            | ChannelError::Config { .. }
            | ChannelError::NotifyRejected { .. }
            | ChannelError::SubMerchantMismatch { .. }
            | ChannelError::Unanswered { .. } => None,
        }
    }

    /// [`merchant_text`](Self::merchant_text), or a fixed sentence when the cause is internal.
    pub fn merchant_text_or_generic(&self) -> String {
        self.merchant_text().unwrap_or_else(|| {
            "通道未应答或不可用: the channel did not answer or cannot be used now".to_owned()
        })
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rules_and_the_channels_own_words_are_for_merchants() {
        let unanswered = ChannelError::Unanswered {
            call: "addsubdevconfig",
            reason: "no reply: timed out: error sending request for url (http://127.0.0.1:1/x)"
                .into(),
            exchanges: vec![],
        };
        assert_eq!(unanswered.merchant_text(), None);
        assert!(!unanswered.merchant_text_or_generic().contains("http"));
        let config = ChannelError::config("gateway_url", "http://10.0.0.1/gateway.do refused");
        assert!(!config.merchant_text_or_generic().contains("10.0.0.1"));
        let refused = ChannelError::Refused {
            call: "alipay.open.auth.token.app",
            code: "isv.code-invalid".into(),
            message: "授权码无效".into(),
            exchanges: vec![],
        };
        assert_eq!(
            refused.merchant_text().as_deref(),
            Some("isv.code-invalid: 授权码无效")
        );
        let invalid = ChannelError::invalid("description", "must be 1 to 127 characters");
        assert_eq!(
            invalid.merchant_text().as_deref(),
            Some("description: must be 1 to 127 characters")
        );
    }
}
