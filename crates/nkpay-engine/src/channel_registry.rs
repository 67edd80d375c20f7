//! One connector per platform channel account, built on first use from the stored account
//! (secrets opened with the sealer), the configured channel settings and the platform's
//! callback URLs, then shared: a connector holds the account's HTTP client pool, so building one
//! per call would waste it. One account that cannot be built (a broken stored key) fails only
//! its own uses; it never keeps the other accounts from working.
//!
//! Every node keeps its own connectors, so a change of an account (disabled, enabled,
//! credentials replaced) made on any node must reach them all: each account row carries a
//! `version` bumped by every change, each connector remembers the version it was built from,
//! and at most every [`ChannelSettings::account_refresh`] one query of ids and versions drops
//! the connectors whose account changed or is gone. The node that made a change drops its
//! connector at once ([`ChannelRegistry::forget`]).
//!
//! A disabled account's connector is still handed out: trades already placed on it are
//! queried, closed and refunded through it, and its notifies are verified with it (money in
//! flight must finish). Routing refuses new trades on it before anything goes upstream.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use nkpay_channels::alipay::{AlipayAccount, AlipayChannel};
use nkpay_channels::wechat::{WechatAccount, WechatChannel};
use nkpay_channels::{AddressedAccount, Channel, ClientIdentity, NotifyUrls};
use nkpay_core::trade_type::ChannelKind;
use nkpay_crypto::sealed::SecretSealer;
use nkpay_store::Db;
use nkpay_store::accounts::{self, AlipayCredentials, ChannelCredentials, WechatCredentials};
use nkpay_store::entity::channel_account;
use url::Url;

use crate::config::ChannelSettings;
use crate::context::CallbackPath;
use crate::error::EngineError;

/// A connector and the version of the account row it was built from.
struct Built {
    version: i64,
    channel: Arc<dyn Channel>,
}

/// The connectors of the platform's channel accounts.
pub(crate) struct ChannelRegistry {
    db: Db,
    sealer: Arc<SecretSealer>,
    settings: ChannelSettings,
    wechat_close_min_age: Duration,
    wechat_notify_urls: NotifyUrls,
    alipay_notify_urls: NotifyUrls,
    built: RwLock<HashMap<i64, Built>>,
    /// When the cache was last compared with the stored versions; one comparison at a time.
    checked_at: tokio::sync::Mutex<Option<Instant>>,
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
            checked_at: tokio::sync::Mutex::new(None),
        }
    }

    /// The connector of account `account_id`, active or disabled (a disabled account still
    /// finishes its trades; routing keeps new ones off it). [`EngineError::Internal`] when
    /// there is no such account or its connector cannot be built.
    pub(crate) async fn get(&self, account_id: i64) -> Result<Arc<dyn Channel>, EngineError> {
        self.drop_changed_if_due().await;
        if let Some(ch) = self.cached(account_id, None) {
            return Ok(ch);
        }
        let account = accounts::find_channel_account(self.db.conn(), account_id)
            .await?
            .ok_or_else(|| {
                EngineError::Internal(format!("channel account {account_id} does not exist"))
            })?;
        self.build_and_cache(&account)
    }

    /// The accounts a notify says it is addressed to (WeChat `appid` and `mch_id`, Alipay
    /// `app_id`), with their connectors, oldest first; disabled ones included, since their
    /// trades' refunds still notify. An account whose connector cannot be built (a broken
    /// stored key, say) is left out with a log line, so it never keeps the other accounts'
    /// notifies from being verified.
    pub(crate) async fn addressed_to(
        &self,
        claimed: &AddressedAccount,
    ) -> Result<Vec<(i64, Arc<dyn Channel>)>, EngineError> {
        let mut out = Vec::new();
        for account in accounts::list_channel_accounts(self.db.conn()).await? {
            if !is_addressed(&account, claimed) {
                continue;
            }
            // The row was just read: a connector built from another version is stale.
            let built = match self.cached(account.id, Some(account.version)) {
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

    /// Drops account `account_id`'s connector now: the node that changed the account does
    /// not wait for the next comparison.
    pub(crate) fn forget(&self, account_id: i64) {
        self.built
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&account_id);
    }

    /// Compares the cached connectors with the stored versions when the last comparison is
    /// [`ChannelSettings::account_refresh`] old, and drops those whose account changed or is
    /// gone. A failed query is logged and leaves the cache as it is until the next interval
    /// (a database hiccup must not stop trades whose accounts did not change).
    async fn drop_changed_if_due(&self) {
        let mut checked_at = self.checked_at.lock().await;
        if checked_at.is_some_and(|at| at.elapsed() < self.settings.account_refresh) {
            return;
        }
        *checked_at = Some(Instant::now());
        let stored: HashMap<i64, i64> = match accounts::channel_account_versions(self.db.conn())
            .await
        {
            Ok(rows) => rows.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot compare channel connectors with the stored accounts");
                return;
            }
        };
        let mut built = self
            .built
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        built.retain(|id, b| {
            let keep = stored.get(id) == Some(&b.version);
            if !keep {
                tracing::info!(
                    account_id = id,
                    "channel account changed; its connector is rebuilt on next use"
                );
            }
            keep
        });
    }

    /// The cached connector of `account_id`, if any (and, with `version`, only if built from
    /// that version).
    fn cached(&self, account_id: i64, version: Option<i64>) -> Option<Arc<dyn Channel>> {
        self.built
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&account_id)
            .filter(|b| version.is_none_or(|v| v == b.version))
            .map(|b| b.channel.clone())
    }

    fn build_and_cache(
        &self,
        account: &channel_account::Model,
    ) -> Result<Arc<dyn Channel>, EngineError> {
        let built: Arc<dyn Channel> = match accounts::open_channel_account(&self.sealer, account)? {
            ChannelCredentials::Wechat(c) => Arc::new(self.wechat(c)?),
            ChannelCredentials::Alipay(c) => Arc::new(self.alipay(c)?),
        };
        let mut map = self
            .built
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Two callers may build at once from the same version; keep the first so everyone
        // shares one client pool. The newer version wins (a slow reader of an older row must
        // not bring its connector back).
        let entry = map.entry(account.id).or_insert(Built {
            version: account.version,
            channel: built.clone(),
        });
        if entry.version < account.version {
            *entry = Built {
                version: account.version,
                channel: built,
            };
        }
        Ok(entry.channel.clone())
    }

    /// A WeChat connector from opened credentials: the account's own base URL, else the
    /// configured one. Not cached; [`ChannelRegistry::get`] caches the shared ones, and the
    /// onboarding calls (rare) build their typed connector with this.
    pub(crate) fn wechat(&self, c: WechatCredentials) -> Result<WechatChannel, EngineError> {
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
        Ok(WechatChannel::new(WechatAccount {
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
        })?)
    }

    /// An Alipay connector from opened credentials: the account's own gateway URL, else the
    /// configured one; [`EngineError::Internal`] when the ISV PID is missing. Not cached (see
    /// [`ChannelRegistry::wechat`]).
    pub(crate) fn alipay(&self, c: AlipayCredentials) -> Result<AlipayChannel, EngineError> {
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
        Ok(AlipayChannel::new(AlipayAccount {
            app_id: c.app_id,
            app_private_key: c.app_private_key,
            alipay_public_key: c.alipay_public_key,
            isv_pid,
            gateway_url,
            extra_roots_pem: self.settings.extra_roots_pem.clone(),
            notify_urls: self.alipay_notify_urls.clone(),
            http: self.settings.http.clone(),
        })?)
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

#[cfg(test)]
mod tests {
    //! Two engines over one database (SQLite, and PostgreSQL when it answers), as two nodes:
    //! a change made on one reaches the other's connectors within `account_refresh`.

    use std::time::Duration;

    use nkpay_core::secret::Secret;
    use nkpay_store::testing::databases;

    use super::*;
    use crate::admin_identity::Actor;
    use crate::channel_accounts::{AccountCredentials, WechatAccountSetup};
    use crate::{Engine, EngineConfig, EngineParts, platform_keys};

    async fn node(db: &Db, sealer: &Arc<SecretSealer>, node_id: u16, refresh: Duration) -> Engine {
        let signer = platform_keys::load_or_create(db, sealer).await.unwrap();
        let mut config = EngineConfig::default();
        config.channels.account_refresh = refresh;
        Engine::new(EngineParts {
            db: db.clone(),
            sealer: sealer.clone(),
            node_id,
            signer,
            public_base_url: "http://127.0.0.1:9".into(),
            config,
        })
        .unwrap()
    }

    fn setup(api_key: &str) -> WechatAccountSetup {
        WechatAccountSetup {
            name: "SP".into(),
            gateway_url: "http://127.0.0.1:9/".into(),
            is_default: true,
            appid: "wx00000000000000a1".into(),
            mch_id: "1900000109".into(),
            api_key: Secret::new(api_key.into()),
            client_certificate: None,
        }
    }

    /// Polls until `node` hands out a connector for `id` other than `old`; panics after 60 s.
    async fn wait_rebuilt(node: &Engine, id: i64, old: &Arc<dyn Channel>) -> Arc<dyn Channel> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let now = node.channels.get(id).await.unwrap();
            if !Arc::ptr_eq(&now, old) {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "the other node never dropped its connector"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_change_on_one_node_reaches_the_other_nodes_connectors() {
        for t in databases().await {
            let sealer = Arc::new(
                SecretSealer::from_key_base64(&SecretSealer::generate_key_base64()).unwrap(),
            );
            let refresh = Duration::from_millis(200);
            let a = node(&t.db, &sealer, 1, refresh).await;
            let b = node(&t.db, &sealer, 2, refresh).await;
            // A node that compares only once an hour keeps what it built.
            let slow = node(&t.db, &sealer, 3, Duration::from_secs(3600)).await;
            let by = Actor::local("test");
            let key = "k3yK3yk3yK3yk3yK3yk3yK3yk3yK3y01";
            let row = a
                .channel_accounts()
                .create_wechat(&by, setup(key))
                .await
                .unwrap();
            assert_eq!(row.version, 1, "{}", t.label);

            let on_a = a.channels.get(row.id).await.unwrap();
            let on_b = b.channels.get(row.id).await.unwrap();
            let on_slow = slow.channels.get(row.id).await.unwrap();
            assert!(
                Arc::ptr_eq(&on_b, &b.channels.get(row.id).await.unwrap()),
                "cached"
            );

            // Disabled on node A: A drops its connector at once, B within `refresh`; a disabled
            // account still has a connector, for the trades it must finish.
            let disabled = a
                .channel_accounts()
                .set_enabled(&by, row.id, false)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(disabled.status, nkpay_store::kinds::RecordStatus::Disabled);
            assert_eq!(disabled.version, 2, "{}", t.label);
            assert!(!Arc::ptr_eq(&on_a, &a.channels.get(row.id).await.unwrap()));
            let on_b = wait_rebuilt(&b, row.id, &on_b).await;
            assert!(
                Arc::ptr_eq(&on_slow, &slow.channels.get(row.id).await.unwrap()),
                "a node compares at most every account_refresh ({})",
                t.label
            );

            // Credentials replaced on node A: B builds its connector anew.
            let replaced = a
                .channel_accounts()
                .replace_credentials(
                    &by,
                    row.id,
                    AccountCredentials::Wechat(setup("NEWk3yk3yK3yk3yK3yk3yK3yk3yK3y02")),
                )
                .await
                .unwrap()
                .unwrap();
            assert_eq!(replaced.version, 3, "{}", t.label);
            assert_eq!(replaced.status, nkpay_store::kinds::RecordStatus::Disabled);
            wait_rebuilt(&b, row.id, &on_b).await;

            // Every change bumps the version the cheap query reads.
            accounts::set_channel_account_status(
                t.db.conn(),
                row.id,
                nkpay_store::kinds::RecordStatus::Active,
                chrono::Utc::now(),
            )
            .await
            .unwrap();
            let versions = accounts::channel_account_versions(t.db.conn())
                .await
                .unwrap();
            assert_eq!(versions, vec![(row.id, 4)], "{}", t.label);
        }
    }
}
