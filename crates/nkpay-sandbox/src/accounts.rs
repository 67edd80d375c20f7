//! The channel accounts the sandbox serves: WeChat Pay service providers with their sub-merchants
//! and bound appids, Alipay ISV apps with their grants, and the simulated gateway's key pair.
//! The same shape is read from `--config` and written by `--accounts-out`, so an exported file can
//! be fed back in.

use std::collections::{HashMap, HashSet};
use std::fmt;

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
    /// The appids bound to this sub-merchant: only these may be sent as `sub_appid`.
    #[serde(default)]
    pub appids: Vec<BoundAppid>,
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
                        },
                        WechatSubMerchant {
                            sub_mch_id: "1900000202".to_owned(),
                            name: "Demo Books".to_owned(),
                            appids: vec![bound("wx2b3c4d5e6f7a8b91", AppKind::Mp)],
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

/// Accounts checked and indexed for the request handlers; keys parsed once.
pub(crate) struct Directory {
    pub accounts: Accounts,
    wechat_by_mch: HashMap<String, usize>,
    alipay_by_app: HashMap<String, (usize, RsaPublicKey)>,
    grants_by_token: HashMap<String, (usize, usize)>,
    pub gateway_key: RsaPrivateKey,
    pub gateway_public_pem: String,
}

impl fmt::Debug for Directory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Directory")
            .field("accounts", &self.accounts)
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
            accounts,
            wechat_by_mch,
            alipay_by_app,
            grants_by_token,
            gateway_key,
            gateway_public_pem,
        })
    }

    pub fn wechat_sp(&self, mch_id: &str) -> Option<&WechatServiceProvider> {
        let i = *self.wechat_by_mch.get(mch_id)?;
        self.accounts.wechat.service_providers.get(i)
    }

    pub fn alipay_app(&self, app_id: &str) -> Option<(&AlipayIsvApp, &RsaPublicKey)> {
        let (i, key) = self.alipay_by_app.get(app_id)?;
        Some((self.accounts.alipay.isv_apps.get(*i)?, key))
    }

    /// The grant behind `token`, only when it was given to `app_id`.
    pub fn alipay_grant(&self, app_id: &str, token: &str) -> Option<&AlipayGrant> {
        let (i, j) = *self.grants_by_token.get(token)?;
        let app = self.accounts.alipay.isv_apps.get(i)?;
        if app.app_id != app_id {
            return None;
        }
        app.grants.get(j)
    }

    /// The accounts as JSON for a client outside: every id and key, plus where to reach them.
    pub fn export(&self, base_url: &str) -> serde_json::Value {
        let alipay_apps: Vec<serde_json::Value> = self
            .accounts
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
                "service_providers": self.accounts.wechat.service_providers,
            },
            "alipay": {
                "gateway_url": format!("{base_url}/gateway.do"),
                "alipay_public_key": self.gateway_public_pem,
                "gateway_private_key": self.accounts.alipay.gateway_private_key,
                "isv_apps": alipay_apps,
            },
        })
    }
}
