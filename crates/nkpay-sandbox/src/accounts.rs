//! The channel accounts the sandbox serves: WeChat Pay service providers with their sub-merchants
//! and bound appids, Alipay ISV apps with their grants, and the simulated gateway's key pair.
//! The same shape is read from `--config` and written by `--accounts-out`, so an exported file can
//! be fed back in.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};

use crate::error::SandboxError;

/// What kind of WeChat app an appid is: an official account (公众号) or a mini-program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    Mp,
    Miniapp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundAppid {
    pub appid: String,
    pub kind: AppKind,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WechatSubMerchant {
    pub sub_mch_id: String,
    #[serde(default)]
    pub name: String,
    /// The appids bound to this sub-merchant as configured: these (and `bound_appids`) may be
    /// sent as `sub_appid`.
    #[serde(default)]
    pub appids: Vec<BoundAppid>,
    /// Appids bound while serving through `secapi/mch/addsubdevconfig`, which does not say
    /// whether an appid is an official account or a mini-program: accepted as `sub_appid` for
    /// `trade_type=JSAPI`, which both pay through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bound_appids: Vec<String>,
}

impl WechatSubMerchant {
    /// Whether `appid` may be sent as `sub_appid` for this sub-merchant.
    pub fn has_appid(&self, appid: &str) -> bool {
        self.appids.iter().any(|a| a.appid == appid) || self.bound_appids.iter().any(|a| a == appid)
    }

    /// Every appid of the sub-merchant: configured ones first, then those bound while serving.
    pub fn all_appids(&self) -> impl Iterator<Item = &str> {
        self.appids
            .iter()
            .map(|a| a.appid.as_str())
            .chain(self.bound_appids.iter().map(String::as_str))
    }
}

#[derive(Clone, Serialize, Deserialize)]
pub struct WechatServiceProvider {
    /// The service provider's own appid (the `appid` of every request).
    pub appid: String,
    pub mch_id: String,
    /// API v2 key: signs requests, replies and notifies, and keys the refund-notify AES.
    pub api_key: String,
    #[serde(default)]
    pub sub_merchants: Vec<WechatSubMerchant>,
}

impl fmt::Debug for WechatServiceProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatServiceProvider")
            .field("appid", &self.appid)
            .field("mch_id", &self.mch_id)
            .field("api_key", &"***")
            .field("sub_merchants", &self.sub_merchants)
            .finish()
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WechatAccounts {
    #[serde(default)]
    pub service_providers: Vec<WechatServiceProvider>,
}

/// A sub-merchant's authorisation of the ISV app (`app_auth_token`), with the merchant's app and
/// seller account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AlipayGrant {
    pub app_auth_token: String,
    pub auth_app_id: String,
    /// The seller's user id (PID, `2088…`): `seller_id` in notifies, the account of its bills.
    pub user_id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct AlipayIsvApp {
    pub app_id: String,
    /// The ISV's own PID (`sys_service_provider_id`).
    pub pid: String,
    /// PEM or bare base64: the sandbox verifies request signatures with it.
    pub app_public_key: String,
    /// Only exported, so that a client outside can act as the platform; the sandbox never signs
    /// with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_private_key: Option<String>,
    #[serde(default)]
    pub grants: Vec<AlipayGrant>,
}

impl fmt::Debug for AlipayIsvApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipayIsvApp")
            .field("app_id", &self.app_id)
            .field("pid", &self.pid)
            .field("grants", &self.grants)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Default, Serialize, Deserialize)]
pub struct AlipayAccounts {
    /// The simulated gateway's private key (PEM or base64): signs replies and notifies. Absent, a
    /// fresh one is generated at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_private_key: Option<String>,
    #[serde(default)]
    pub isv_apps: Vec<AlipayIsvApp>,
}

impl fmt::Debug for AlipayAccounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipayAccounts")
            .field("isv_apps", &self.isv_apps)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Accounts {
    #[serde(default)]
    pub wechat: WechatAccounts,
    #[serde(default)]
    pub alipay: AlipayAccounts,
}

const DEMO_ISV_APP_PRIVATE_KEY: &str = include_str!("../demo/alipay-isv-app-private-key.pem");
const DEMO_ISV_APP_PUBLIC_KEY: &str = include_str!("../demo/alipay-isv-app-public-key.pem");
const DEMO_GATEWAY_PRIVATE_KEY: &str = include_str!("../demo/alipay-gateway-private-key.pem");

impl Accounts {
    /// The built-in demo accounts: fixed ids, and the committed demo test keys under `demo/`.
    pub fn demo() -> Self {
        let bound = |appid: &str, kind| BoundAppid {
            appid: appid.to_owned(),
            kind,
        };
        let grant = |n: u32, name: &str| AlipayGrant {
            app_auth_token: format!("202511BBnkpaydemo{n:016}"),
            auth_app_id: format!("20210000000001{n:02}"),
            user_id: format!("20880000000001{n:02}"),
            name: name.to_owned(),
        };
        Accounts {
            wechat: WechatAccounts {
                service_providers: vec![WechatServiceProvider {
                    appid: "wx5f6d2c8a9b0e1f37".to_owned(),
                    mch_id: "1900000109".to_owned(),
                    api_key: "nkpaySandboxDemoKey0000000000001".to_owned(),
                    sub_merchants: vec![
                        WechatSubMerchant {
                            sub_mch_id: "1900000201".to_owned(),
                            name: "Demo Coffee".to_owned(),
                            appids: vec![
                                bound("wx1a2b3c4d5e6f7a81", AppKind::Mp),
                                bound("wx1a2b3c4d5e6f7a82", AppKind::Miniapp),
                            ],
                            bound_appids: Vec::new(),
                        },
                        WechatSubMerchant {
                            sub_mch_id: "1900000202".to_owned(),
                            name: "Demo Books".to_owned(),
                            appids: vec![bound("wx2b3c4d5e6f7a8b91", AppKind::Mp)],
                            bound_appids: Vec::new(),
                        },
                    ],
                }],
            },
            alipay: AlipayAccounts {
                gateway_private_key: Some(DEMO_GATEWAY_PRIVATE_KEY.to_owned()),
                isv_apps: vec![AlipayIsvApp {
                    app_id: "2021000000000001".to_owned(),
                    pid: "2088000000000001".to_owned(),
                    app_public_key: DEMO_ISV_APP_PUBLIC_KEY.to_owned(),
                    app_private_key: Some(DEMO_ISV_APP_PRIVATE_KEY.to_owned()),
                    grants: vec![grant(1, "Demo Coffee"), grant(2, "Demo Books")],
                }],
            },
        }
    }
}

/// Accounts checked and indexed for the request handlers; keys parsed once. Sub-merchants, their
/// appids and Alipay grants can be added while serving (onboarding), so the live accounts sit
/// behind a lock and lookups hand back copies.
pub(crate) struct Directory {
    /// The accounts as configured at start.
    configured: Accounts,
    live: RwLock<Live>,
    /// Counts the changes to the live accounts; watchers rewrite exports.
    changes: tokio::sync::watch::Sender<u64>,
    pub gateway_key: RsaPrivateKey,
    pub gateway_public_pem: String,
}

/// The accounts as they are now, with their indexes.
struct Live {
    accounts: Accounts,
    wechat_by_mch: HashMap<String, usize>,
    sub_ids: HashSet<String>,
    alipay_by_app: HashMap<String, (usize, RsaPublicKey)>,
    grants_by_token: HashMap<String, (usize, usize)>,
}

impl fmt::Debug for Directory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Directory")
            .field("configured", &self.configured)
            .finish_non_exhaustive()
    }
}

fn duplicate(what: &str, id: &str) -> SandboxError {
    SandboxError::Config(format!("{what} {id:?} is configured twice"))
}

fn required(field: &str, value: &str) -> Result<(), SandboxError> {
    if value.trim().is_empty() {
        return Err(SandboxError::Config(format!("{field} must not be empty")));
    }
    Ok(())
}

/// A new sub_mch_id: 10 digits, like WeChat's 特约商户号, unused in this sandbox.
fn new_sub_mch_id(taken: &HashSet<String>) -> String {
    use rand::Rng;
    loop {
        let id = rand::thread_rng()
            .gen_range(1_600_000_000u64..1_700_000_000)
            .to_string();
        if !taken.contains(&id) {
            return id;
        }
    }
}

impl Directory {
    pub fn new(mut accounts: Accounts) -> Result<Self, SandboxError> {
        let mut wechat_by_mch = HashMap::new();
        let mut sub_ids = HashSet::new();
        for (i, sp) in accounts.wechat.service_providers.iter().enumerate() {
            required("wechat.service_providers.appid", &sp.appid)?;
            required("wechat.service_providers.mch_id", &sp.mch_id)?;
            required("wechat.service_providers.api_key", &sp.api_key)?;
            if wechat_by_mch.insert(sp.mch_id.clone(), i).is_some() {
                return Err(duplicate("WeChat mch_id", &sp.mch_id));
            }
            for sub in &sp.sub_merchants {
                required("wechat sub_merchants.sub_mch_id", &sub.sub_mch_id)?;
                if !sub_ids.insert(sub.sub_mch_id.clone()) {
                    return Err(duplicate("WeChat sub_mch_id", &sub.sub_mch_id));
                }
            }
        }

        let gateway_key = match &accounts.alipay.gateway_private_key {
            Some(pem) => {
                RsaPrivateKey::from_pem_or_base64(pem).map_err(|source| SandboxError::Key {
                    field: "alipay.gateway_private_key".to_owned(),
                    source,
                })?
            }
            None => {
                let key = RsaPrivateKey::generate_2048().map_err(|source| SandboxError::Key {
                    field: "alipay.gateway_private_key (generated)".to_owned(),
                    source,
                })?;
                accounts.alipay.gateway_private_key = Some(key.to_pkcs8_pem());
                key
            }
        };
        let gateway_public_pem = gateway_key.public_key().to_spki_pem();

        let mut alipay_by_app = HashMap::new();
        let mut grants_by_token = HashMap::new();
        for (i, app) in accounts.alipay.isv_apps.iter().enumerate() {
            required("alipay.isv_apps.app_id", &app.app_id)?;
            required("alipay.isv_apps.pid", &app.pid)?;
            let public =
                RsaPublicKey::from_pem_or_base64(&app.app_public_key).map_err(|source| {
                    SandboxError::Key {
                        field: format!("alipay.isv_apps[{}].app_public_key", app.app_id),
                        source,
                    }
                })?;
            if alipay_by_app
                .insert(app.app_id.clone(), (i, public))
                .is_some()
            {
                return Err(duplicate("Alipay app_id", &app.app_id));
            }
            for (j, grant) in app.grants.iter().enumerate() {
                required("alipay grants.app_auth_token", &grant.app_auth_token)?;
                required("alipay grants.auth_app_id", &grant.auth_app_id)?;
                required("alipay grants.user_id", &grant.user_id)?;
                if grants_by_token
                    .insert(grant.app_auth_token.clone(), (i, j))
                    .is_some()
                {
                    return Err(duplicate("Alipay app_auth_token", &grant.app_auth_token));
                }
            }
        }

        Ok(Directory {
            configured: accounts.clone(),
            live: RwLock::new(Live {
                accounts,
                wechat_by_mch,
                sub_ids,
                alipay_by_app,
                grants_by_token,
            }),
            changes: tokio::sync::watch::Sender::new(0),
            gateway_key,
            gateway_public_pem,
        })
    }

    fn live(&self) -> RwLockReadGuard<'_, Live> {
        self.live
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn live_mut(&self) -> RwLockWriteGuard<'_, Live> {
        self.live
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Wakes on every change to the live accounts.
    pub fn watch_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The accounts as configured at start (without anything added while serving).
    pub fn configured(&self) -> &Accounts {
        &self.configured
    }

    /// The accounts as they are now, including sub-merchants, appids and grants added while
    /// serving.
    pub fn current(&self) -> Accounts {
        self.live().accounts.clone()
    }

    pub fn wechat_sp(&self, mch_id: &str) -> Option<WechatServiceProvider> {
        let live = self.live();
        let i = *live.wechat_by_mch.get(mch_id)?;
        live.accounts.wechat.service_providers.get(i).cloned()
    }

    /// WeChat issues a sub_mch_id (特约商户号) to the service provider `mch_id`; None when it is
    /// not a service provider of this sandbox.
    pub fn add_wechat_sub_merchant(&self, mch_id: &str, name: &str) -> Option<String> {
        let mut live = self.live_mut();
        let i = *live.wechat_by_mch.get(mch_id)?;
        let sub_mch_id = new_sub_mch_id(&live.sub_ids);
        live.sub_ids.insert(sub_mch_id.clone());
        live.accounts.wechat.service_providers[i]
            .sub_merchants
            .push(WechatSubMerchant {
                sub_mch_id: sub_mch_id.clone(),
                name: name.to_owned(),
                appids: Vec::new(),
                bound_appids: Vec::new(),
            });
        drop(live);
        self.changed();
        Some(sub_mch_id)
    }

    /// Binds `appid` to the sub-merchant (addsubdevconfig `sub_appid`); false when it already
    /// was, or the sub-merchant is not the service provider's.
    pub fn bind_wechat_appid(&self, mch_id: &str, sub_mch_id: &str, appid: &str) -> bool {
        let mut live = self.live_mut();
        let Some(i) = live.wechat_by_mch.get(mch_id).copied() else {
            return false;
        };
        let sp = &mut live.accounts.wechat.service_providers[i];
        let Some(sub) = sp
            .sub_merchants
            .iter_mut()
            .find(|m| m.sub_mch_id == sub_mch_id)
        else {
            return false;
        };
        if sub.has_appid(appid) {
            return false;
        }
        sub.bound_appids.push(appid.to_owned());
        drop(live);
        self.changed();
        true
    }

    pub fn alipay_app(&self, app_id: &str) -> Option<(AlipayIsvApp, RsaPublicKey)> {
        let live = self.live();
        let (i, key) = live.alipay_by_app.get(app_id)?;
        Some((live.accounts.alipay.isv_apps.get(*i)?.clone(), key.clone()))
    }

    /// The grant behind `token`, only when it was given to `app_id`.
    pub fn alipay_grant(&self, app_id: &str, token: &str) -> Option<AlipayGrant> {
        let live = self.live();
        let (i, j) = *live.grants_by_token.get(token)?;
        let app = live.accounts.alipay.isv_apps.get(i)?;
        if app.app_id != app_id {
            return None;
        }
        app.grants.get(j).cloned()
    }

    /// Adds a merchant's grant to the ISV app `app_id` (the authorization page); false when the
    /// app is unknown or the token is taken.
    pub fn add_alipay_grant(&self, app_id: &str, grant: AlipayGrant) -> bool {
        let mut live = self.live_mut();
        let Some(i) = live.alipay_by_app.get(app_id).map(|(i, _)| *i) else {
            return false;
        };
        if live.grants_by_token.contains_key(&grant.app_auth_token) {
            return false;
        }
        let grants = &mut live.accounts.alipay.isv_apps[i].grants;
        grants.push(grant);
        let j = grants.len() - 1;
        let token = grants[j].app_auth_token.clone();
        live.grants_by_token.insert(token, (i, j));
        drop(live);
        self.changed();
        true
    }

    /// Gives the grant behind `old_token` a new token (a refresh): the old one stops working.
    /// False when `old_token` is not a grant of `app_id` or `new_token` is taken.
    pub fn replace_alipay_token(&self, app_id: &str, old_token: &str, new_token: &str) -> bool {
        let mut live = self.live_mut();
        let Some(&(i, j)) = live.grants_by_token.get(old_token) else {
            return false;
        };
        if live.grants_by_token.contains_key(new_token)
            || live.accounts.alipay.isv_apps[i].app_id != app_id
        {
            return false;
        }
        live.grants_by_token.remove(old_token);
        live.grants_by_token.insert(new_token.to_owned(), (i, j));
        live.accounts.alipay.isv_apps[i].grants[j].app_auth_token = new_token.to_owned();
        drop(live);
        self.changed();
        true
    }

    /// The accounts as JSON for a client outside: every id and key, plus where to reach them.
    pub fn export(&self, base_url: &str) -> serde_json::Value {
        let live = self.live();
        let accounts = &live.accounts;
        let alipay_apps: Vec<serde_json::Value> = accounts
            .alipay
            .isv_apps
            .iter()
            .map(|app| {
                serde_json::json!({
                    "app_id": app.app_id,
                    "pid": app.pid,
                    "app_public_key": app.app_public_key,
                    "app_private_key": app.app_private_key,
                    "alipay_public_key": self.gateway_public_pem,
                    "grants": app.grants,
                })
            })
            .collect();
        serde_json::json!({
            "base_url": base_url,
            "wechat": {
                "api_base_url": format!("{base_url}/"),
                "service_providers": accounts.wechat.service_providers,
            },
            "alipay": {
                "gateway_url": format!("{base_url}/gateway.do"),
                "alipay_public_key": self.gateway_public_pem,
                "gateway_private_key": accounts.alipay.gateway_private_key,
                "isv_apps": alipay_apps,
            },
        })
    }
}
