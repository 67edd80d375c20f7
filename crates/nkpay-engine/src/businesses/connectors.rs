//! The typed WeChat and Alipay connectors the business calls need (`addsubdevconfig`,
//! `querysubdevconfig`, the Alipay authorization and token calls), built by the channel
//! registry's own builders from the stored account (secrets opened with the sealer). Built per
//! call: these calls are rare (onboarding), so no pool is worth caching.

use nkpay_channels::alipay::AlipayChannel;
use nkpay_channels::wechat::WechatChannel;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::accounts::{self, ChannelCredentials};
use nkpay_store::entity::{channel_account, merchant_channel};
use nkpay_store::kinds::RecordStatus;

use crate::context::Context;
use crate::error::EngineError;

impl Context {
    /// The active platform account a business runs under: its own, else the channel's
    /// default. [`EngineError::Invalid`] naming `channel_account_id` when there is none.
    pub(crate) async fn business_account(
        &self,
        business: &merchant_channel::Model,
    ) -> Result<channel_account::Model, EngineError> {
        let kind = business.channel;
        let found = match business.channel_account_id {
            Some(id) => accounts::find_channel_account(self.db.conn(), id).await?,
            None => accounts::find_default_account(self.db.conn(), kind).await?,
        };
        match found {
            Some(a) if a.status == RecordStatus::Active && a.channel == kind => Ok(a),
            _ => Err(EngineError::invalid(
                "channel_account_id",
                format!(
                    "the platform has no active {} account for this business",
                    kind.as_str()
                ),
            )),
        }
    }

    /// The WeChat connector of `account`, built as the channel registry builds its own.
    pub(crate) fn wechat_connector(
        &self,
        account: &channel_account::Model,
    ) -> Result<WechatChannel, EngineError> {
        match accounts::open_channel_account(&self.sealer, account)? {
            ChannelCredentials::Wechat(c) => self.channels.wechat(c),
            ChannelCredentials::Alipay(_) => Err(EngineError::Internal(format!(
                "channel account {} is not a WeChat account",
                account.id
            ))),
        }
    }

    /// The Alipay connector of `account`, built as the channel registry builds its own.
    pub(crate) fn alipay_connector(
        &self,
        account: &channel_account::Model,
    ) -> Result<AlipayChannel, EngineError> {
        match accounts::open_channel_account(&self.sealer, account)? {
            ChannelCredentials::Alipay(c) => self.channels.alipay(c),
            ChannelCredentials::Wechat(_) => Err(EngineError::Internal(format!(
                "channel account {} is not an Alipay account",
                account.id
            ))),
        }
    }

    /// The WeChat connector a business's bindings go through.
    pub(crate) async fn wechat_connector_of(
        &self,
        business: &merchant_channel::Model,
    ) -> Result<WechatChannel, EngineError> {
        debug_assert_eq!(business.channel, ChannelKind::Wechat);
        let account = self.business_account(business).await?;
        self.wechat_connector(&account)
    }
}
