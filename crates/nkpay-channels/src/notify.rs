//! Verified inbound notifies, and the exact bytes the callback answers with.

use crate::outcome::{PayResult, RefundResult};

/// A notify that passed the channel's verification (signature, or decryption for WeChat refund
/// notifies) and is addressed to this account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundNotify {
    Payment {
        nkp_seq_id: String,
        /// The channel's id of the sub-merchant that was paid (WeChat `sub_mch_id`, Alipay seller
        /// PID), for the engine to compare with the trade's route.
        sub_merchant: Option<String>,
        /// `Paid` carries the notified amount: the engine must compare it with the order before
        /// settling.
        result: PayResult,
    },
    Refund {
        /// The trade the refund belongs to.
        nkp_seq_id: String,
        refund_nkp_seq_id: String,
        result: RefundResult,
    },
}

/// How the callback answers: accepted (processed or a known duplicate) or not, so the channel
/// retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyAck {
    Accepted,
    Rejected,
}

/// The reply the channel expects, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyReply {
    pub content_type: &'static str,
    pub body: Vec<u8>,
}
