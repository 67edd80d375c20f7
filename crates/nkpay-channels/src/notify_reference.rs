//! What an inbound notify claims, read before anything is verified: which of our trades it
//! names and which channel account it says it is addressed to. The engine uses the claim only to
//! find the connector that must verify the notify (the trade's own account); nothing here is
//! trusted.

use nkpay_core::trade_type::ChannelKind;

use crate::error::ChannelError;
use crate::{alipay, wechat};

/// The platform channel account a notify says it is addressed to, as the channel names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressedAccount {
    /// A WeChat Pay service-provider account.
    Wechat {
        /// The service provider's appid (`appid`).
        appid: String,
        /// The service provider's merchant number (`mch_id`).
        mch_id: String,
    },
    /// An Alipay ISV app (`app_id`).
    Alipay {
        /// The ISV app's id.
        app_id: String,
    },
}

/// What an unverified notify claims to be about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyReference {
    /// It names one of our trades in the clear: a WeChat payment notify, and every Alipay notify
    /// (payments and refunds alike).
    Trade {
        /// The trade's `out_trade_no`, which is our `nkp_seq_id`.
        nkp_seq_id: String,
        /// The account it is addressed to.
        account: AddressedAccount,
    },
    /// A WeChat refund notify: its trade is inside `req_info`, AES-encrypted with the account's
    /// key, so only the outer account ids can be read before decrypting.
    Sealed {
        /// The account it is addressed to (the outer `appid` and `mch_id`).
        account: AddressedAccount,
    },
}

/// Reads what a notify from channel `kind` claims, without any account and without verifying
/// anything.
///
/// # Errors
/// [`ChannelError::NotifyRejected`] when the body is not a notify of that channel or lacks the
/// fields that name the trade or the account.
pub fn read_notify_reference(
    kind: ChannelKind,
    body: &[u8],
) -> Result<NotifyReference, ChannelError> {
    match kind {
        ChannelKind::Wechat => wechat::notify_reference(body),
        ChannelKind::Alipay => alipay::notify_reference(body),
    }
}
