//! One connector per platform channel account, built on first use from the stored account
//! (secrets opened with the sealer), the configured channel settings and the platform's
//! callback URLs, then shared: a connector holds the account's HTTP client pool, so building one
//! per call would waste it. One account that cannot be built (a broken stored key) fails only
//! its own uses; it never keeps the other accounts from working.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use nkpay_channels::alipay::{AlipayAccount, AlipayChannel};
use nkpay_channels::wechat::{WechatAccount, WechatChannel};
use nkpay_channels::{AddressedAccount, Channel, ClientIdentity, NotifyUrls};
use nkpay_core::trade_type::ChannelKind;
use nkpay_crypto::sealed::SecretSealer;
use nkpay_store::Db;
use nkpay_store::accounts::{self, AlipayCredentials, ChannelCredentials, WechatCredentials};
use nkpay_store::entity::channel_account;
use nkpay_store::kinds::RecordStatus;
use url::Url;

use crate::config::ChannelSettings;
use crate::context::CallbackPath;
use crate::error::EngineError;

/// The connectors of the platform's channel accounts.
pub(crate) struct ChannelRegistry {
    db: Db,
    sealer: Arc<SecretSealer>,
    settings: ChannelSettings,
    wechat_close_min_age: Duration,
    wechat_notify_urls: NotifyUrls,
    alipay_notify_urls: NotifyUrls,
    built: RwLock<HashMap<i64, Arc<dyn Channel>>>,
}

impl ChannelRegistry {
    /// `callback_base` is the platform's public base URL without a trailing slash; the
    /// connectors get the full callback URLs built from it. `wechat_close_min_age` is WeChat's
    /// close rule (see [`crate::EngineConfig::wechat_close_min_age`]).
    pub(crate) fn new(
        db: Db,
        sealer: Arc<SecretSealer>,
        settings: ChannelSettings,
        wechat_close_min_age: Duration,
        callback_base: &str,
    ) -> Self {
        let url = |path: CallbackPath| format!("{callback_base}{}", path.path());
        ChannelRegistry {
            db,
            sealer,
            settings,
            wechat_close_min_age,
            wechat_notify_urls: NotifyUrls {
                payment: url(CallbackPath::WechatPay),
                refund: url(CallbackPath::WechatRefund),
            },
            // Alipay sends a trade's refund notifies to its payment URL.
            alipay_notify_urls: NotifyUrls {
                payment: url(CallbackPath::Alipay),
                refund: url(CallbackPath::Alipay),
            },
            built: RwLock::new(HashMap::new()),
        }
    }

    /// The connector of account `account_id`.
    pub(crate) async fn get(&self, account_id: i64) -> Result<Arc<dyn Channel>, EngineError> {
        if let Some(ch) = self.cached(account_id) {
            return Ok(ch);
        }
        let account = accounts::find_channel_account(self.db.conn(), account_id)
            .await?
            .ok_or_else(|| {
                EngineError::Internal(format!("channel account {account_id} does not exist"))
            })?;
        self.build_and_cache(&account)
    }

    /// The active accounts a notify says it is addressed to (WeChat `appid` and `mch_id`,
    /// Alipay `app_id`), with their connectors, oldest first. An account whose connector cannot
    /// be built (a broken stored key, say) is left out with a log line, so it never keeps the
    /// other accounts' notifies from being verified.
    pub(crate) async fn addressed_to(
        &self,
        claimed: &AddressedAccount,
    ) -> Result<Vec<(i64, Arc<dyn Channel>)>, EngineError> {
        let mut out = Vec::new();
        for account in accounts::list_channel_accounts(self.db.conn()).await? {
            if account.status != RecordStatus::Active || !is_addressed(&account, claimed) {
                continue;
            }
            let built = match self.cached(account.id) {
                Some(ch) => Ok(ch),
                None => self.build_and_cache(&account),
            };
            match built {
                Ok(ch) => out.push((account.id, ch)),
                Err(e) => tracing::error!(
                    account_id = account.id,
                    error = %e,
                    "channel account cannot be built; skipped for this notify"
                ),
            }
        }
        Ok(out)
    }

    fn cached(&self, account_id: i64) -> Option<Arc<dyn Channel>> {
        self.built
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&account_id)
            .cloned()
    }

    fn build_and_cache(
        &self,
        account: &channel_account::Model,
    ) -> Result<Arc<dyn Channel>, EngineError> {
        let built = match accounts::open_channel_account(&self.sealer, account)? {
            ChannelCredentials::Wechat(c) => self.wechat(c)?,
            ChannelCredentials::Alipay(c) => self.alipay(c)?,
        };
        let mut map = self
            .built
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Two callers may build at once; keep the first so everyone shares one client pool.
        Ok(map.entry(account.id).or_insert(built).clone())
    }

    fn wechat(&self, c: WechatCredentials) -> Result<Arc<dyn Channel>, EngineError> {
        let base_url = pick_url(
            &c.gateway_url,
            self.settings.wechat_base_url.as_ref(),
            "WeChat base URL",
            c.account_id,
        )?;
        let client_identity = match (c.client_cert_pem, c.client_key_pem) {
            (Some(cert), Some(key)) => Some(ClientIdentity::Pem {
                cert_pem: cert.into_inner(),
                key_pem: key,
            }),
            _ => None,
        };
        let channel = WechatChannel::new(WechatAccount {
            appid: c.appid,
            mch_id: c.mch_id,
            api_key: c.api_key,
            sign_type: self.settings.wechat_sign_type,
            base_url,
            client_identity,
            extra_roots_pem: self.settings.extra_roots_pem.clone(),
            server_ip: self.settings.wechat_server_ip.clone(),
            notify_urls: self.wechat_notify_urls.clone(),
            close_min_age: self.wechat_close_min_age,
            http: self.settings.http.clone(),
        })?;
        Ok(Arc::new(channel))
    }

    fn alipay(&self, c: AlipayCredentials) -> Result<Arc<dyn Channel>, EngineError> {
        let gateway_url = pick_url(
            &c.gateway_url,
            self.settings.alipay_gateway_url.as_ref(),
            "Alipay gateway URL",
            c.account_id,
        )?;
        let isv_pid = c.isv_pid.filter(|p| !p.is_empty()).ok_or_else(|| {
            EngineError::Internal(format!(
                "Alipay account {} has no ISV PID (sys_service_provider_id)",
                c.account_id
            ))
        })?;
        let channel = AlipayChannel::new(AlipayAccount {
            app_id: c.app_id,
            app_private_key: c.app_private_key,
            alipay_public_key: c.alipay_public_key,
            isv_pid,
            gateway_url,
            extra_roots_pem: self.settings.extra_roots_pem.clone(),
            notify_urls: self.alipay_notify_urls.clone(),
            http: self.settings.http.clone(),
        })?;
        Ok(Arc::new(channel))
    }
}

/// Whether stored account `account` is the one a notify names.
fn is_addressed(account: &channel_account::Model, claimed: &AddressedAccount) -> bool {
    match claimed {
        AddressedAccount::Wechat { appid, mch_id } => {
            account.channel == ChannelKind::Wechat
                && account.wx_appid.as_deref() == Some(appid.as_str())
                && account.wx_mch_id.as_deref() == Some(mch_id.as_str())
        }
        AddressedAccount::Alipay { app_id } => {
            account.channel == ChannelKind::Alipay
                && account.ali_app_id.as_deref() == Some(app_id.as_str())
        }
    }
}

/// The account's own URL, else the configured one.
fn pick_url(
    stored: &str,
    configured: Option<&Url>,
    what: &str,
    account_id: i64,
) -> Result<Url, EngineError> {
    if !stored.trim().is_empty() {
        return Url::parse(stored.trim()).map_err(|e| {
            EngineError::Internal(format!(
                "channel account {account_id}: {what} {stored:?} is not a URL: {e}"
            ))
        });
    }
    configured.cloned().ok_or_else(|| {
        EngineError::Internal(format!(
            "channel account {account_id} has no {what} and none is configured"
        ))
    })
}
