//! Notifies: where the channels send them, what a verified one says, and the exact bytes the
//! callback answers with.

use nkpay_core::trade_type::ChannelKind;

use crate::outcome::{PayResult, RefundResult};
use crate::{alipay, wechat};

/// Where the channel sends its notifies about an account's trades: full URLs of the platform's
/// callbacks, handed to the connector when it is built (the connector knows no routes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyUrls {
    /// Payment notifies: WeChat `notify_url` of `pay/unifiedorder`; Alipay `notify_url` of
    /// `alipay.trade.precreate`, which also receives that trade's refund notifies.
    pub payment: String,
    /// Refund notifies: WeChat `notify_url` of `secapi/pay/refund`. Alipay refunds carry no
    /// notify URL, so Alipay connectors never read this one.
    pub refund: String,
}

/// A notify that passed the channel's verification (signature, or decryption for WeChat refund
/// notifies) and is addressed to this account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundNotify {
    /// The outcome of a trade's payment.
    Payment {
        /// Our trade id, as the channel's merchant order number (`out_trade_no`).
        nkp_seq_id: String,
        /// The channel's id of the sub-merchant that was paid (WeChat `sub_mch_id`, Alipay seller
        /// PID), to be checked against the trade's route with
        /// [`Channel::check_notify_merchant`](crate::Channel::check_notify_merchant).
        sub_merchant: Option<String>,
        /// `Paid` carries the notified amount: the engine must compare it with the order before
        /// settling.
        result: PayResult,
    },
    /// The outcome of one refund of a trade.
    Refund {
        /// The trade the refund belongs to.
        nkp_seq_id: String,
        /// Our refund id (WeChat `out_refund_no`, Alipay `out_biz_no`).
        refund_nkp_seq_id: String,
        /// What happened to the refund.
        result: RefundResult,
    },
}

/// How the callback answers: accepted (processed or a known duplicate) or not, so the channel
/// retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyAck {
    /// Processed, or a duplicate of one already processed: the channel stops sending it.
    Accepted,
    /// Refused or not processed: the channel sends it again on its retry schedule.
    Rejected,
}

/// The reply the channel expects, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyReply {
    /// The `Content-Type` header to answer with.
    pub content_type: &'static str,
    /// The body to answer with.
    pub body: Vec<u8>,
}

/// The answer channel `kind` expects to a notify (WeChat: the `<xml>` with `return_code`
/// `SUCCESS`/`FAIL`; Alipay: `success`/`fail`). It needs no account, so a notify nobody can
/// verify is answered in the channel's format too.
pub fn notify_reply(kind: ChannelKind, ack: NotifyAck) -> NotifyReply {
    match kind {
        ChannelKind::Wechat => wechat::notify_reply(ack),
        ChannelKind::Alipay => alipay::notify_reply(ack),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_replies_are_the_channels_exact_bytes() {
        assert_eq!(
            notify_reply(ChannelKind::Wechat, NotifyAck::Accepted).body,
            b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
        );
        assert!(
            String::from_utf8(notify_reply(ChannelKind::Wechat, NotifyAck::Rejected).body)
                .unwrap()
                .contains("<![CDATA[FAIL]]>")
        );
        assert_eq!(
            notify_reply(ChannelKind::Alipay, NotifyAck::Accepted).body,
            b"success"
        );
        assert_eq!(
            notify_reply(ChannelKind::Alipay, NotifyAck::Rejected).body,
            b"fail"
        );
    }
}
