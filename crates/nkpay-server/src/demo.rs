//! `nkpay demo`: the embedded default from a fresh clone — SQLite, the simulators in-process, a
//! seeded service provider with two merchants (WeChat official account + mini-program, Alipay),
//! their keys, and a printed guide. Re-running it keeps the same data and keys.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use nkpay_core::secret::Secret;
use nkpay_crypto::rsa_keys::RsaPrivateKey;
use nkpay_crypto::sealed::SecretSealer;
use nkpay_engine::Engine;
use nkpay_engine::admin_identity::{Actor, NewUser};
use nkpay_engine::onboarding::{
    self, AlipayBusiness, AppidKind, BoundAppid, MerchantKind, MerchantSetup, NewAlipayAccount,
    NewWechatAccount, ServiceProviderSetup, WechatBusiness,
};
use nkpay_sandbox::{AppKind, RunningSandbox, Sandbox, SandboxConfig};
use nkpay_store::Db;
use nkpay_store::kinds::AdminRole;
use serde::{Deserialize, Serialize};

use crate::config::Config;

pub const DEMO_SYS_ID: &str = "6666000100000000";
pub const DEMO_PRODUCT_ID: &str = "NKPAY";
/// The demo's platform admin user.
pub const DEMO_ADMIN: &str = "demo-admin";

/// What `data/demo/credentials.json` holds: everything a merchant developer needs to call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub base_url: String,
    pub sandbox_url: String,
    pub cashier_url: String,
    /// The service provider: it acts for every merchant below.
    pub sys_id: String,
    pub product_id: String,
    pub private_key: String,
    pub public_key: String,
    pub platform_public_key: String,
    pub platform_key_id: String,
    /// An API token (role platform-admin) for the console API (`Authorization: Bearer …`),
    /// made by [`ensure_admin`].
    #[serde(default)]
    pub admin_token: String,
    /// The demo's platform admin user, who logs in at `POST /admin/api/session`.
    #[serde(default)]
    pub admin_username: String,
    /// Its password (generated once; only its argon2id hash is in the database).
    #[serde(default)]
    pub admin_password: String,
    pub merchants: Vec<DemoMerchant>,
    /// The simulators' own accounts (API keys, Alipay keys), for tests acting as the channel.
    pub sandbox_accounts: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoMerchant {
    /// Also its `sys_id` when it calls for itself with its own key.
    pub mer_id: String,
    pub name: String,
    pub private_key: String,
    pub public_key: String,
    pub wx_mp_appids: Vec<String>,
    pub wx_miniapp_appids: Vec<String>,
    pub alipay: bool,
}

pub struct Demo {
    pub sandbox: RunningSandbox,
    pub credentials: Credentials,
}

/// Starts the simulators and seeds the database (once). The caller serves the API.
pub async fn prepare(
    config: &Config,
    db: &Db,
    sealer: &SecretSealer,
    credentials_path: &Path,
    platform_public_key: String,
    platform_key_id: String,
) -> anyhow::Result<Demo> {
    let sandbox = start_sandbox(config).await?;

    let previous = read_previous(credentials_path)?;
    let seeded = nkpay_store::merchants::find_service_provider(db.conn(), DEMO_SYS_ID)
        .await?
        .is_some();
    let keys = match (seeded, previous) {
        (true, Some(previous)) => DemoKeys::from_credentials(&previous)?,
        (true, None) => bail!(
            "the database already holds the demo service provider but {} is gone, so its private \
             keys are lost; delete the database (data/) to seed afresh",
            credentials_path.display()
        ),
        (false, _) => {
            let keys = DemoKeys::generate()?;
            seed(db, sealer, &sandbox, &keys).await?;
            keys
        }
    };

    let previous_admin = read_previous(credentials_path)?
        .map(|p| (p.admin_token, p.admin_username, p.admin_password))
        .unwrap_or_default();
    let accounts = sandbox.accounts();
    let wechat_sp = accounts.wechat.service_providers.first();
    let merchants = keys
        .merchants
        .iter()
        .enumerate()
        .map(|(i, (mer_id, name, key))| {
            let sub = wechat_sp.and_then(|sp| sp.sub_merchants.get(i));
            let appids = |kind: AppKind| -> Vec<String> {
                sub.map(|s| {
                    s.appids
                        .iter()
                        .filter(|a| a.kind == kind)
                        .map(|a| a.appid.clone())
                        .collect()
                })
                .unwrap_or_default()
            };
            DemoMerchant {
                mer_id: mer_id.clone(),
                name: name.clone(),
                private_key: key.to_pkcs8_pem(),
                public_key: key.public_key().to_spki_pem(),
                wx_mp_appids: appids(AppKind::Mp),
                wx_miniapp_appids: appids(AppKind::Miniapp),
                alipay: accounts
                    .alipay
                    .isv_apps
                    .first()
                    .is_some_and(|app| app.grants.len() > i),
            }
        })
        .collect();
    let credentials = Credentials {
        base_url: config
            .server
            .public_base_url
            .trim_end_matches('/')
            .to_owned(),
        sandbox_url: sandbox.base_url().to_owned(),
        cashier_url: format!("{}/sandbox/cashier", sandbox.base_url()),
        sys_id: DEMO_SYS_ID.to_owned(),
        product_id: DEMO_PRODUCT_ID.to_owned(),
        private_key: keys.provider.to_pkcs8_pem(),
        public_key: keys.provider.public_key().to_spki_pem(),
        platform_public_key,
        platform_key_id,
        admin_token: previous_admin.0,
        admin_username: previous_admin.1,
        admin_password: previous_admin.2,
        merchants,
        sandbox_accounts: sandbox.accounts_json(),
    };
    write_credentials(credentials_path, &credentials)?;
    Ok(Demo {
        sandbox,
        credentials,
    })
}

/// The demo's platform admin user and API token, made through the same engine calls as
/// `nkpay admin create-user` / `create-token` (audited as `local:demo`). A re-run keeps the
/// user and a token that still works; a token that does not (revoked, or from an older
/// credentials file) is replaced. Rewrites the credentials file.
pub async fn ensure_admin(
    engine: &Engine,
    credentials: &mut Credentials,
    credentials_path: &Path,
) -> anyhow::Result<()> {
    let identity = engine.admin_identity();
    let by = Actor::local("demo");
    let known = nkpay_store::admin_users::find_admin_user(engine.db().conn(), DEMO_ADMIN)
        .await?
        .is_some();
    if !known || credentials.admin_password.is_empty() {
        if known {
            bail!(
                "the database holds the demo admin user {DEMO_ADMIN} but {} has no password for \
                 it; delete the database (data/) to seed afresh",
                credentials_path.display()
            );
        }
        let made = identity
            .create_user(
                &by,
                NewUser {
                    username: DEMO_ADMIN.to_owned(),
                    role: AdminRole::PlatformAdmin,
                    sys_id: None,
                    password: None,
                },
            )
            .await?;
        credentials.admin_username = DEMO_ADMIN.to_owned();
        credentials.admin_password = made
            .generated_password
            .map(|p| p.into_inner())
            .unwrap_or_default();
    }
    let works = !credentials.admin_token.is_empty()
        && identity
            .authenticate(&credentials.admin_token, None)
            .await?
            .is_some();
    if !works {
        let name = format!("demo-{}", chrono::Utc::now().format("%Y%m%d%H%M%S%3f"));
        let made = identity
            .create_token(&by, &name, AdminRole::PlatformAdmin, None)
            .await?;
        credentials.admin_token = made.token.into_inner();
    }
    write_credentials(credentials_path, credentials)
}

/// The simulators with their built-in demo accounts, on the configured port and time scale.
pub async fn start_sandbox(config: &Config) -> anyhow::Result<RunningSandbox> {
    let mut sandbox_config = SandboxConfig::demo();
    sandbox_config.port = config.sandbox.port;
    sandbox_config.time_scale = config.sandbox.time_scale;
    Sandbox::start(sandbox_config).await.with_context(|| {
        format!(
            "starting the channel simulators on port {}",
            config.sandbox.port
        )
    })
}

struct DemoKeys {
    provider: RsaPrivateKey,
    merchants: Vec<(String, String, RsaPrivateKey)>,
}

const MERCHANTS: [(&str, &str); 2] = [
    ("6666000100000001", "Demo Coffee"),
    ("6666000100000002", "Demo Books"),
];

impl DemoKeys {
    fn generate() -> anyhow::Result<DemoKeys> {
        let merchants = MERCHANTS
            .iter()
            .map(|(id, name)| {
                Ok((
                    id.to_string(),
                    name.to_string(),
                    RsaPrivateKey::generate_2048()?,
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(DemoKeys {
            provider: RsaPrivateKey::generate_2048()?,
            merchants,
        })
    }

    fn from_credentials(c: &Credentials) -> anyhow::Result<DemoKeys> {
        let merchants = c
            .merchants
            .iter()
            .map(|m| {
                Ok((
                    m.mer_id.clone(),
                    m.name.clone(),
                    RsaPrivateKey::from_pem_or_base64(&m.private_key)?,
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(DemoKeys {
            provider: RsaPrivateKey::from_pem_or_base64(&c.private_key)?,
            merchants,
        })
    }
}

async fn seed(
    db: &Db,
    sealer: &SecretSealer,
    sandbox: &RunningSandbox,
    keys: &DemoKeys,
) -> anyhow::Result<()> {
    let accounts = sandbox.accounts();
    let sp = accounts
        .wechat
        .service_providers
        .first()
        .context("the sandbox serves no WeChat service provider")?;
    let isv = accounts
        .alipay
        .isv_apps
        .first()
        .context("the sandbox serves no Alipay ISV app")?;
    let export = sandbox.accounts_json();
    let alipay_public_key = export["alipay"]["alipay_public_key"]
        .as_str()
        .context("the sandbox exports no Alipay public key")?
        .to_owned();

    // Gateway URLs stay empty: the connectors take the running simulators' URLs from the
    // engine's channel settings, so a restart on other ports still works.
    onboarding::register_wechat_account(
        db,
        sealer,
        &NewWechatAccount {
            name: "Demo WeChat Pay service provider".into(),
            gateway_url: String::new(),
            is_default: true,
            appid: sp.appid.clone(),
            mch_id: sp.mch_id.clone(),
            api_key: Secret::new(sp.api_key.clone()),
            client_cert_pem: None,
            client_key_pem: None,
        },
    )
    .await?;
    onboarding::register_alipay_account(
        db,
        sealer,
        &NewAlipayAccount {
            name: "Demo Alipay ISV app".into(),
            gateway_url: String::new(),
            is_default: true,
            app_id: isv.app_id.clone(),
            app_private_key: Secret::new(
                isv.app_private_key
                    .clone()
                    .context("the sandbox's ISV app has no private key")?,
            ),
            alipay_public_key,
            isv_pid: Some(isv.pid.clone()),
        },
    )
    .await?;
    onboarding::create_service_provider(
        db,
        &ServiceProviderSetup {
            sys_id: DEMO_SYS_ID.into(),
            product_id: DEMO_PRODUCT_ID.into(),
            name: "nkpay demo service provider".into(),
            public_key: keys.provider.public_key().to_spki_pem(),
        },
    )
    .await?;
    for (i, (mer_id, name, key)) in keys.merchants.iter().enumerate() {
        onboarding::create_merchant(
            db,
            &MerchantSetup {
                mer_id: mer_id.clone(),
                sys_id: DEMO_SYS_ID.into(),
                name: name.clone(),
                short_name: None,
                kind: MerchantKind::Ent,
                public_key: Some(key.public_key().to_spki_pem()),
            },
        )
        .await?;
        if let Some(sub) = sp.sub_merchants.get(i) {
            let appids = sub
                .appids
                .iter()
                .map(|a| BoundAppid {
                    appid: a.appid.clone(),
                    kind: match a.kind {
                        AppKind::Mp => AppidKind::Mp,
                        AppKind::Miniapp => AppidKind::Miniapp,
                    },
                })
                .collect();
            onboarding::open_wechat_business(
                db,
                sealer,
                &WechatBusiness {
                    mer_id: mer_id.clone(),
                    sub_mch_id: sub.sub_mch_id.clone(),
                    appids,
                    channel_account_id: None,
                    fee_rate_bp: 38,
                },
            )
            .await?;
        }
        if let Some(grant) = isv.grants.get(i) {
            onboarding::open_alipay_business(
                db,
                sealer,
                &AlipayBusiness {
                    mer_id: mer_id.clone(),
                    app_auth_token: Secret::new(grant.app_auth_token.clone()),
                    auth_app_id: grant.auth_app_id.clone(),
                    seller_id: grant.user_id.clone(),
                    smid: None,
                    channel_account_id: None,
                    fee_rate_bp: 38,
                },
            )
            .await?;
        }
    }
    tracing::info!("demo data seeded");
    Ok(())
}

fn read_previous(path: &Path) -> anyhow::Result<Option<Credentials>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_credentials(path: &Path, credentials: &Credentials) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let dir = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    // PEM files beside the JSON, for `nkpay call --key` and other tools.
    write_private(&dir.join("sp-private-key.pem"), &credentials.private_key)?;
    std::fs::write(
        dir.join("platform-public-key.pem"),
        &credentials.platform_public_key,
    )?;
    for m in &credentials.merchants {
        write_private(
            &dir.join(format!("{}-private-key.pem", m.mer_id)),
            &m.private_key,
        )?;
    }
    // Written aside and renamed, so a reader waiting for the file never sees half of it.
    let tmp = path.with_extension("json.tmp");
    write_private(&tmp, &serde_json::to_string_pretty(credentials)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Writes a file that holds private keys, readable by its owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// The guide printed at start: what a newcomer needs, with examples that run as printed.
pub fn guide(c: &Credentials, credentials_path: &Path) -> String {
    let abs =
        std::fs::canonicalize(credentials_path).unwrap_or_else(|_| credentials_path.to_path_buf());
    let dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
    let m = &c.merchants[0];
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y%m%d");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n================ nkpay demo is running ================"
    );
    let _ = writeln!(out, "merchant API      {}", c.base_url);
    let _ = writeln!(out, "channel sandbox   {}", c.sandbox_url);
    let _ = writeln!(
        out,
        "cashier page      {}  (open a qr_code link, or ?prepay_id=…, and press Pay)",
        c.cashier_url
    );
    let _ = writeln!(out, "credentials       {}", abs.display());
    let _ = writeln!(
        out,
        "service provider  sys_id={} product_id={} (acts for every merchant)",
        c.sys_id, c.product_id
    );
    for m in &c.merchants {
        let _ = writeln!(
            out,
            "merchant          mer_id={} {} wechat mp={:?} miniapp={:?} alipay={}",
            m.mer_id, m.name, m.wx_mp_appids, m.wx_miniapp_appids, m.alipay
        );
    }
    let _ = writeln!(out, "platform key id   {}", c.platform_key_id);
    let _ = writeln!(
        out,
        "console API       {}/admin/api/notifications  (Authorization: Bearer {})",
        c.base_url, c.admin_token
    );
    let _ = writeln!(
        out,
        "console login     POST {}/admin/api/session  {{\"username\": \"{}\", \"password\": \"{}\"}}",
        c.base_url, c.admin_username, c.admin_password
    );
    let _ = writeln!(
        out,
        "\n--- Python, official Dougong SDK (pip install dg-sdk) ---"
    );
    let _ = writeln!(out, "# BEGIN PYTHON EXAMPLE");
    let _ = writeln!(
        out,
        r#"python3 - <<'EOF'
import datetime, json, uuid, dg_sdk
from dg_sdk import DGClient, MerConfig
c = json.load(open("{path}"))
DGClient.BASE_URL = c["base_url"]
DGClient.mer_config = MerConfig(c["private_key"], c["platform_public_key"], c["sys_id"], c["product_id"])
req = dg_sdk.V2TradePaymentJspayRequest()
req.req_date = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).strftime("%Y%m%d")
req.req_seq_id = uuid.uuid4().hex
req.huifu_id = c["merchants"][0]["mer_id"]
req.goods_desc = "demo coffee"
req.trade_type = "A_NATIVE"
req.trans_amt = "0.01"
print(req.post({{}}))
EOF"#,
        path = abs.display()
    );
    let _ = writeln!(out, "# END PYTHON EXAMPLE");
    let _ = writeln!(
        out,
        "\n--- nkpay call (signs, posts, verifies the reply) ---"
    );
    let _ = writeln!(out, "# BEGIN CALL EXAMPLE");
    let _ = writeln!(
        out,
        "{exe} call /v2/trade/payment/jspay --base-url {base} --sys-id {sys} --product-id {prod} --key {dir}/sp-private-key.pem --platform-key {dir}/platform-public-key.pem --explain '{{\"req_date\":\"{today}\",\"req_seq_id\":\"call{stamp}\",\"huifu_id\":\"{mer}\",\"trade_type\":\"A_NATIVE\",\"trans_amt\":\"0.01\",\"goods_desc\":\"demo\"}}'",
        exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "nkpay".to_owned()),
        base = c.base_url,
        sys = c.sys_id,
        prod = c.product_id,
        dir = dir.display(),
        mer = m.mer_id,
        stamp = chrono::Utc::now().timestamp_millis(),
    );
    let _ = writeln!(out, "# END CALL EXAMPLE");
    let _ = writeln!(
        out,
        "\nPay a trade: open its qr_code link (Alipay) or {}?prepay_id=<from pay_info> (WeChat) and press Pay;\n\
         the channel notifies the platform, the trade turns S, and your notify_url hears about it.\n\
         =======================================================\n",
        c.cashier_url
    );
    out
}

/// Where the credentials go by default.
pub fn default_credentials_path() -> PathBuf {
    PathBuf::from("data/demo/credentials.json")
}

/// Keeps the simulators alive as long as the server runs.
pub type SharedDemo = Arc<Demo>;
