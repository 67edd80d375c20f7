//! One connector per platform channel account, built on first use from the stored account
//! (secrets opened with the sealer) and the configured channel settings, then shared: a
//! connector holds the account's HTTP client pool, so building one per call would waste it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use nkpay_channels::alipay::{AlipayAccount, AlipayChannel};
use nkpay_channels::wechat::{WechatAccount, WechatChannel};
use nkpay_channels::{Channel, ClientIdentity};
use nkpay_core::trade_type::ChannelKind;
use nkpay_crypto::sealed::SecretSealer;
use nkpay_store::Db;
use nkpay_store::accounts::{self, AlipayCredentials, ChannelCredentials, WechatCredentials};
use nkpay_store::entity::channel_account;
use nkpay_store::kinds::RecordStatus;
use url::Url;

use crate::config::ChannelSettings;
use crate::error::EngineError;

pub struct ChannelRegistry {
    db: Db,
    sealer: Arc<SecretSealer>,
    settings: ChannelSettings,
    built: RwLock<HashMap<i64, Arc<dyn Channel>>>,
}

impl ChannelRegistry {
    pub fn new(db: Db, sealer: Arc<SecretSealer>, settings: ChannelSettings) -> Self {
        ChannelRegistry {
            db,
            sealer,
            settings,
            built: RwLock::new(HashMap::new()),
        }
    }

    /// The connector of account `account_id`.
    pub async fn get(&self, account_id: i64) -> Result<Arc<dyn Channel>, EngineError> {
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

    /// Every active account of `kind` with its connector, oldest first: an inbound notify is
    /// tried against each until one verifies it.
    pub async fn all_of(
        &self,
        kind: ChannelKind,
    ) -> Result<Vec<(i64, Arc<dyn Channel>)>, EngineError> {
        let mut out = Vec::new();
        for account in accounts::list_channel_accounts(self.db.conn()).await? {
            if account.channel != kind || account.status != RecordStatus::Active {
                continue;
            }
            let ch = match self.cached(account.id) {
                Some(ch) => ch,
                None => self.build_and_cache(&account)?,
            };
            out.push((account.id, ch));
        }
        Ok(out)
    }

    /// Forgets a built connector, so the next use rebuilds it from the stored account.
    pub fn invalidate(&self, account_id: i64) {
        self.built
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&account_id);
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
            http: self.settings.http.clone(),
        })?;
        Ok(Arc::new(channel))
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
