//! The typed WeChat and Alipay connectors the business calls need (`addsubdevconfig`,
//! `querysubdevconfig`, the Alipay authorization and token calls), built from the stored
//! account the way the channel registry builds its `Channel`s: the account's own gateway URL,
//! else the configured one; secrets opened with the sealer. Built per call: these calls are
//! rare (onboarding), so no pool is worth caching.

use nkpay_channels::NotifyUrls;
use nkpay_channels::alipay::{AlipayAccount, AlipayChannel};
use nkpay_channels::wechat::{WechatAccount, WechatChannel};
use nkpay_channels::{ChannelError, ClientIdentity};
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::accounts::{self, ChannelCredentials};
use nkpay_store::entity::{channel_account, merchant_channel};
use nkpay_store::kinds::RecordStatus;
use url::Url;

use crate::context::{CallbackPath, Context};
use crate::error::EngineError;

fn config_error(account_id: i64, e: ChannelError) -> EngineError {
    EngineError::Internal(format!("channel account {account_id} cannot be built: {e}"))
}

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

    fn notify_urls(&self, payment: CallbackPath, refund: CallbackPath) -> NotifyUrls {
        NotifyUrls {
            payment: format!("{}{}", self.callback_base, payment.path()),
            refund: format!("{}{}", self.callback_base, refund.path()),
        }
    }

    /// The WeChat connector of `account`.
    pub(crate) fn wechat_connector(
        &self,
        account: &channel_account::Model,
    ) -> Result<WechatChannel, EngineError> {
        let ChannelCredentials::Wechat(c) = accounts::open_channel_account(&self.sealer, account)?
        else {
            return Err(EngineError::Internal(format!(
                "channel account {} is not a WeChat account",
                account.id
            )));
        };
        let base_url = account_url(
            &c.gateway_url,
            self.config.channels.wechat_base_url.as_ref(),
            account.id,
        )?;
        let client_identity = match (c.client_cert_pem, c.client_key_pem) {
            (Some(cert), Some(key)) => Some(ClientIdentity::Pem {
                cert_pem: cert.into_inner(),
                key_pem: key,
            }),
            _ => None,
        };
        WechatChannel::new(WechatAccount {
            appid: c.appid,
            mch_id: c.mch_id,
            api_key: c.api_key,
            sign_type: self.config.channels.wechat_sign_type,
            base_url,
            client_identity,
            extra_roots_pem: self.config.channels.extra_roots_pem.clone(),
            server_ip: self.config.channels.wechat_server_ip.clone(),
            notify_urls: self.notify_urls(CallbackPath::WechatPay, CallbackPath::WechatRefund),
            close_min_age: self.config.wechat_close_min_age,
            http: self.config.channels.http.clone(),
        })
        .map_err(|e| config_error(account.id, e))
    }

    /// The Alipay connector of `account`.
    pub(crate) fn alipay_connector(
        &self,
        account: &channel_account::Model,
    ) -> Result<AlipayChannel, EngineError> {
        let ChannelCredentials::Alipay(c) = accounts::open_channel_account(&self.sealer, account)?
        else {
            return Err(EngineError::Internal(format!(
                "channel account {} is not an Alipay account",
                account.id
            )));
        };
        let gateway_url = account_url(
            &c.gateway_url,
            self.config.channels.alipay_gateway_url.as_ref(),
            account.id,
        )?;
        AlipayChannel::new(AlipayAccount {
            app_id: c.app_id,
            app_private_key: c.app_private_key,
            alipay_public_key: c.alipay_public_key,
            isv_pid: c.isv_pid.unwrap_or_default(),
            gateway_url,
            extra_roots_pem: self.config.channels.extra_roots_pem.clone(),
            notify_urls: self.notify_urls(CallbackPath::Alipay, CallbackPath::Alipay),
            http: self.config.channels.http.clone(),
        })
        .map_err(|e| config_error(account.id, e))
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

/// The account's own URL, else the configured one.
fn account_url(
    stored: &str,
    configured: Option<&Url>,
    account_id: i64,
) -> Result<Url, EngineError> {
    if !stored.trim().is_empty() {
        return Url::parse(stored.trim()).map_err(|e| {
            EngineError::Internal(format!(
                "channel account {account_id}: {stored:?} is not a URL: {e}"
            ))
        });
    }
    configured.cloned().ok_or_else(|| {
        EngineError::Internal(format!(
            "channel account {account_id} has no gateway URL and none is configured"
        ))
    })
}
