//! What the engine asks a channel to do, in nkpay terms. Each connector translates these into its
//! wire fields in its own `transformers.rs`.

use chrono::{DateTime, Utc};
use nkpay_core::money::Money;
use nkpay_core::secret::Secret;
use nkpay_core::trade_type::{ChannelKind, TradeType};

use crate::error::ChannelError;

/// Where a trade goes at the channel: the sub-merchant under the platform's account.
#[derive(Debug, Clone)]
pub enum MerchantRoute {
    /// A WeChat Pay sub-merchant (特约商户) of the service provider.
    Wechat {
        /// The sub-merchant number (特约商户号) under the service provider.
        sub_mch_id: String,
    },
    /// An Alipay merchant that granted the ISV app (第三方应用授权).
    Alipay {
        /// The sub-merchant's grant to the ISV app; a secret.
        app_auth_token: Secret<String>,
        /// The sub-merchant's Alipay user id (PID, 2088…), when known; sent as the seller and
        /// compared with notifies by [`Channel::check_notify_merchant`](crate::Channel::check_notify_merchant).
        seller_id: Option<String>,
    },
}

impl MerchantRoute {
    /// The channel this route belongs to.
    pub fn channel(&self) -> ChannelKind {
        match self {
            MerchantRoute::Wechat { .. } => ChannelKind::Wechat,
            MerchantRoute::Alipay { .. } => ChannelKind::Alipay,
        }
    }

    fn wrong(&self, connector: ChannelKind) -> ChannelError {
        ChannelError::WrongChannel {
            what: "merchant route",
            given: self.channel(),
            connector,
        }
    }

    pub(crate) fn check_channel(&self, connector: ChannelKind) -> Result<(), ChannelError> {
        if self.channel() == connector {
            Ok(())
        } else {
            Err(self.wrong(connector))
        }
    }

    /// The WeChat sub-merchant number.
    pub(crate) fn wechat(&self) -> Result<&str, ChannelError> {
        match self {
            MerchantRoute::Wechat { sub_mch_id } => Ok(sub_mch_id),
            MerchantRoute::Alipay { .. } => Err(self.wrong(ChannelKind::Wechat)),
        }
    }

    /// The Alipay grant and seller.
    pub(crate) fn alipay(&self) -> Result<(&Secret<String>, Option<&str>), ChannelError> {
        match self {
            MerchantRoute::Alipay {
                app_auth_token,
                seller_id,
            } => Ok((app_auth_token, seller_id.as_deref())),
            MerchantRoute::Wechat { .. } => Err(self.wrong(ChannelKind::Alipay)),
        }
    }
}

/// Who pays a WeChat JSAPI trade, which also decides the `pay_info` appId (see API.md routing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WechatPayer {
    /// The payer's openid under the platform's own appid (hosted payment).
    Platform {
        /// The payer's openid under the service provider's appid.
        openid: String,
    },
    /// The payer's openid under the sub-merchant's bound appid.
    Sub {
        /// The sub-merchant's official-account or mini-program appid, bound to its `sub_mch_id`.
        sub_appid: String,
        /// The payer's openid under `sub_appid`.
        sub_openid: String,
    },
}

/// Place a trade at the channel.
#[derive(Debug, Clone)]
pub struct CreateOrder {
    /// Our trade id; the channel's merchant order number (`out_trade_no`).
    pub nkp_seq_id: String,
    /// Decides the channel and how the payer pays (WeChat JSAPI, Alipay QR code).
    pub trade_type: TradeType,
    /// The order amount (fen inside; yuan on the Alipay wire, fen on the WeChat wire).
    pub amount: Money,
    /// Goods description shown to the payer.
    pub description: String,
    /// When the order stops being payable (UTC; sent in Asia/Shanghai time).
    pub time_expire: DateTime<Utc>,
    /// When the trade was created (UTC): WeChat's `time_start` (Asia/Shanghai). Taken from the
    /// trade, never from the clock, so that repeating a create whose answer was lost sends the
    /// very same parameters and the channel answers the same order (WeChat: same
    /// `out_trade_no` with other parameters is `OUT_TRADE_NO_USED`).
    pub placed_at: DateTime<Utc>,
    /// The payer's IP when known (WeChat requires one; the account's server IP stands in).
    pub client_ip: Option<String>,
    /// Required for WeChat trade types, ignored by Alipay.
    pub payer: Option<WechatPayer>,
    /// Echoed back by WeChat in the notify; Alipay has no such field and ignores it.
    pub attach: Option<String>,
    /// The sub-merchant the trade is for.
    pub merchant: MerchantRoute,
}

impl CreateOrder {
    pub(crate) fn check_channel(&self, connector: ChannelKind) -> Result<(), ChannelError> {
        let given = self.trade_type.channel();
        if given != connector {
            return Err(ChannelError::WrongChannel {
                what: "trade type",
                given,
                connector,
            });
        }
        self.merchant.check_channel(connector)
    }
}

/// A trade already placed, for query and close.
#[derive(Debug, Clone)]
pub struct TradeRef {
    /// Our trade id (`out_trade_no` at the channel).
    pub nkp_seq_id: String,
    /// The sub-merchant the trade was placed for.
    pub merchant: MerchantRoute,
}

/// Refund (part of) a paid trade. Re-sending the same `refund_nkp_seq_id` is safe: the channel
/// refunds it once.
#[derive(Debug, Clone)]
pub struct RefundOrder {
    /// The paid trade.
    pub trade: TradeRef,
    /// Our refund id (WeChat `out_refund_no`, Alipay `out_request_no`).
    pub refund_nkp_seq_id: String,
    /// The trade's paid amount (WeChat needs it with every refund).
    pub trade_amount: Money,
    /// This refund's amount, at most `trade_amount`.
    pub amount: Money,
    /// Shown to the payer, when given.
    pub reason: Option<String>,
}

/// A refund already asked for, for refund query.
#[derive(Debug, Clone)]
pub struct RefundRef {
    /// The refunded trade.
    pub trade: TradeRef,
    /// Our refund id.
    pub refund_nkp_seq_id: String,
}
