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
    Wechat {
        /// The sub-merchant number (特约商户号) under the service provider.
        sub_mch_id: String,
    },
    Alipay {
        /// The sub-merchant's grant to the ISV app; a secret.
        app_auth_token: Secret<String>,
        /// The sub-merchant's Alipay user id (PID, 2088…), when known; sent as the seller and
        /// compared with notifies by the engine.
        seller_id: Option<String>,
    },
}

impl MerchantRoute {
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
    Platform { openid: String },
    /// The payer's openid under the sub-merchant's bound appid.
    Sub {
        sub_appid: String,
        sub_openid: String,
    },
}

/// Place a trade at the channel.
#[derive(Debug, Clone)]
pub struct CreateOrder {
    /// Our trade id; the channel's merchant order number.
    pub nkp_seq_id: String,
    pub trade_type: TradeType,
    pub amount: Money,
    /// Goods description shown to the payer.
    pub description: String,
    /// Where the channel sends its payment notify (our callback URL).
    pub notify_url: String,
    pub time_expire: DateTime<Utc>,
    /// The payer's IP when known (WeChat requires one; the account's server IP stands in).
    pub client_ip: Option<String>,
    /// Required for WeChat trade types, ignored by Alipay.
    pub payer: Option<WechatPayer>,
    /// Echoed back by WeChat in the notify; Alipay has no such field and ignores it.
    pub attach: Option<String>,
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
    pub nkp_seq_id: String,
    pub merchant: MerchantRoute,
}

/// Refund (part of) a paid trade. Re-sending the same `refund_nkp_seq_id` is safe: the channel
/// refunds it once.
#[derive(Debug, Clone)]
pub struct RefundOrder {
    pub trade: TradeRef,
    pub refund_nkp_seq_id: String,
    /// The trade's paid amount (WeChat needs it with every refund).
    pub trade_amount: Money,
    pub amount: Money,
    pub reason: Option<String>,
    /// Where WeChat sends the refund notify; Alipay sends refund notifies to the trade's URL.
    pub notify_url: Option<String>,
}

/// A refund already asked for, for refund query.
#[derive(Debug, Clone)]
pub struct RefundRef {
    pub trade: TradeRef,
    pub refund_nkp_seq_id: String,
}
