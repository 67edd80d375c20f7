//! `nkpay demo`: the embedded default from a fresh clone — SQLite, the simulators in-process, a
//! service provider with an enterprise and an individual merchant onboarded through the same
//! engine calls an operator and a service provider make (issue 11: "`nkpay demo` seeds its
//! merchants through these same code paths, not a side door"), and a printed guide.
//!
//! The seeding, as `local:demo` (a platform admin at the server's shell) and as the demo service
//! provider signing its merchant API requests with its own key:
//! 1. the channel accounts (the simulators' WeChat Pay service provider and Alipay ISV app)
//!    through [`ChannelAccounts`](nkpay_engine::ChannelAccounts);
//! 2. the service provider through [`ServiceProviders`](nkpay_engine::ServiceProviders), its key
//!    pair generated (the private key only in the credentials file);
//! 3. per merchant: `/v2/merchant/basicdata/ent` or `/indv` (the api's form reading, then
//!    `Merchants::apply`), the review's approval, `/v2/merchant/busi/open` for WeChat and
//!    Alipay, the `sub_mch_id` the WeChat simulator issues (`POST /sandbox/wechat/sub-merchants`)
//!    recorded, the Alipay authorization page auto-authorized and its `app_auth_code` + `state`
//!    handed to the callback's own engine call, and `/v2/merchant/busi/config` binding a JSAPI
//!    directory and the appids through `addsubdevconfig`.
//!
//! Re-running it on the same database finds each step done and does not repeat it; the
//! simulators, which keep their state in memory, start again from the accounts saved in the
//! credentials file (`sandbox_accounts`), so the sub-merchants, bound appids and grants made at
//! runtime still exist.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use chrono::Utc;
use nkpay_api::open::OpenCall;
use nkpay_api::open::basicdata::read_application;
use nkpay_api::open::busi::{BusiConfig, BusiOpen};
use nkpay_api::open::fields::Fields;
use nkpay_api::open::reply::Refusal;
use nkpay_core::bank_account::luhn_valid;
use nkpay_core::secret::Secret;
use nkpay_core::trade_type::ChannelKind;
use nkpay_crypto::envelope::{self, KeyOrder};
use nkpay_crypto::rsa_keys::RsaPrivateKey;
use nkpay_engine::admin_identity::{Actor, NewUser};
use nkpay_engine::businesses::{MerchantBusinesses, RecordSubMchId};
use nkpay_engine::channel_accounts::WechatAccountSetup;
use nkpay_engine::onboarding::NewAlipayAccount;
use nkpay_engine::service_providers::{NewProvider, ProviderKey};
use nkpay_engine::{Caller, Engine, Scope};
use nkpay_sandbox::{Accounts, RunningSandbox, Sandbox, SandboxConfig};
use nkpay_store::Db;
use nkpay_store::kinds::{AdminRole, ApplyStatus, MerchantKind};
use nkpay_store::merchants::MerchantFilter;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;

/// The demo service provider's `sys_id`.
pub const DEMO_SYS_ID: &str = "6666000100000000";
/// The product the demo service provider signs for.
pub const DEMO_PRODUCT_ID: &str = "NKPAY";
/// The demo's platform admin user.
pub const DEMO_ADMIN: &str = "demo-admin";
/// The demo's console users of the other roles: username and role (the agent admin is bound to
/// the demo service provider, [`DEMO_SYS_ID`]). Each gets a generated password, kept in the
/// credentials file's `logins` beside `demo-admin`.
pub const DEMO_ROLE_USERS: [(&str, AdminRole); 4] = [
    ("demo-operator", AdminRole::Operator),
    ("demo-finance", AdminRole::Finance),
    ("demo-readonly", AdminRole::ReadOnly),
    ("demo-agent", AdminRole::AgentAdmin),
];
/// How the demo's writes are audited: `local:demo`.
pub const DEMO_ACTOR: &str = "demo";

/// What `data/demo/credentials.json` holds: everything a merchant developer needs to call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// The merchant API's base URL (`server.public_base_url`).
    pub base_url: String,
    /// The in-process simulators' base URL.
    pub sandbox_url: String,
    /// The simulators' cashier page, where a payer pays a trade.
    pub cashier_url: String,
    /// The service provider: it acts for every merchant below.
    pub sys_id: String,
    /// The product it signs for.
    pub product_id: String,
    /// The service provider's private key (PKCS#8 PEM), generated when it was registered; the
    /// platform keeps only the public key.
    pub private_key: String,
    /// The service provider's public key (SPKI PEM), as registered.
    pub public_key: String,
    /// The platform's public key (SPKI PEM), verifying replies and notifications.
    pub platform_public_key: String,
    /// The id of the platform key that signs (`X-Nkp-Key-Id`).
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
    /// A console login for each role (`demo-admin` first), for `POST /admin/api/session` and
    /// the console at `/console`.
    #[serde(default)]
    pub logins: Vec<DemoLogin>,
    /// The onboarded merchants, enterprise first.
    pub merchants: Vec<DemoMerchant>,
    /// The simulators' accounts as they are now (the `--accounts-out` shape: API keys, Alipay
    /// keys, the sub-merchants, bound appids and grants made while onboarding), for tests acting
    /// as the channel — and what the simulators start from when the demo runs again.
    pub sandbox_accounts: Value,
}

/// One demo console login.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DemoLogin {
    /// `platform-admin`, `operator`, `finance`, `read-only` or `agent-admin`.
    pub role: String,
    /// The username.
    pub username: String,
    /// Its password (generated once; only its argon2id hash is in the database).
    pub password: String,
    /// The agent admin's service provider; `None` for the other roles.
    pub sys_id: Option<String>,
}

/// One onboarded demo merchant as the credentials file shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoMerchant {
    /// The `mer_id` (`huifu_id`) the platform allocated at its application.
    pub mer_id: String,
    /// Its short name (`short_name`), what the demo knows it by.
    pub name: String,
    /// `ent` or `indv`.
    #[serde(default)]
    pub kind: String,
    /// Its application's number.
    #[serde(default)]
    pub apply_no: String,
    /// The WeChat sub-merchant (`sub_mch_id`) recorded for it.
    #[serde(default)]
    pub sub_mch_id: Option<String>,
    /// Official-account appids bound to it (`T_JSAPI` `sub_appid`).
    pub wx_mp_appids: Vec<String>,
    /// Mini-program appids bound to it (`T_MINIAPP`).
    pub wx_miniapp_appids: Vec<String>,
    /// JSAPI pay directories bound to it.
    #[serde(default)]
    pub wx_jsapi_paths: Vec<String>,
    /// Whether its Alipay business is open (`A_NATIVE`).
    pub alipay: bool,
}

/// The running demo: its simulators and its credentials.
pub struct Demo {
    /// The in-process simulators (stopped on shutdown; shared with the task that saves their
    /// accounts).
    pub sandbox: Arc<RunningSandbox>,
    /// What was written to the credentials file.
    pub credentials: Credentials,
}

/// The simulators started for the demo, before the engine exists, with the previous run's
/// credentials when the database already holds the demo.
pub struct DemoSandbox {
    /// The running simulators.
    pub sandbox: RunningSandbox,
    previous: Option<Credentials>,
}

/// Starts the simulators for the demo: on a database without the demo service provider, with
/// the built-in demo accounts minus their pre-configured sub-merchants and grants (the demo's
/// merchants get theirs by onboarding); on a database that holds it, with the accounts saved in
/// the previous run's credentials file. Fails when the database holds the demo but the file is
/// gone (the service provider's private key is lost with it) or unreadable.
pub async fn start_sandbox_for(
    config: &Config,
    db: &Db,
    credentials_path: &Path,
) -> anyhow::Result<DemoSandbox> {
    let previous = read_previous(credentials_path)?;
    let seeded = nkpay_store::merchants::find_service_provider(db.conn(), DEMO_SYS_ID)
        .await?
        .is_some();
    let accounts = match (seeded, &previous) {
        (true, None) => bail!(
            "the database already holds the demo service provider but {} is gone, so its private \
             key is lost; delete the database (data/) to seed afresh",
            credentials_path.display()
        ),
        (true, Some(previous)) => serde_json::from_value::<Accounts>(
            previous.sandbox_accounts.clone(),
        )
        .with_context(|| {
            format!(
                "reading sandbox_accounts of {}: the simulators' accounts of the previous run",
                credentials_path.display()
            )
        })?,
        (false, _) => onboarding_accounts(),
    };
    let sandbox = start_sandbox_with(config, accounts).await?;
    Ok(DemoSandbox {
        sandbox,
        previous: previous.filter(|_| seeded),
    })
}

/// The built-in demo accounts without sub-merchants or grants: WeChat issues the sub-merchants
/// and the merchants grant the ISV app while the demo onboards them.
fn onboarding_accounts() -> Accounts {
    let mut accounts = Accounts::demo();
    for sp in &mut accounts.wechat.service_providers {
        sp.sub_merchants.clear();
    }
    for app in &mut accounts.alipay.isv_apps {
        app.grants.clear();
    }
    accounts
}

/// The simulators with their built-in demo accounts, on the configured port and time scale
/// (`nkpay serve` with `sandbox.enabled`).
pub async fn start_sandbox(config: &Config) -> anyhow::Result<RunningSandbox> {
    start_sandbox_with(config, Accounts::demo()).await
}

async fn start_sandbox_with(config: &Config, accounts: Accounts) -> anyhow::Result<RunningSandbox> {
    let mut sandbox_config = SandboxConfig::demo();
    sandbox_config.port = config.sandbox.port;
    sandbox_config.time_scale = config.sandbox.time_scale;
    sandbox_config.accounts = accounts;
    Sandbox::start(sandbox_config).await.with_context(|| {
        format!(
            "starting the channel simulators on port {}",
            config.sandbox.port
        )
    })
}

/// Seeds the demo through the engine (see the module's steps), each step skipped when already
/// done, and writes the credentials file (after every step that changes the simulators'
/// accounts, so a run stopped half-way resumes).
pub async fn seed(
    engine: &Engine,
    started: DemoSandbox,
    credentials_path: &Path,
    base_url: &str,
) -> anyhow::Result<Demo> {
    let DemoSandbox { sandbox, previous } = started;
    let by = Actor::local(DEMO_ACTOR);
    ensure_channel_accounts(engine, &by, &sandbox).await?;
    let key = ensure_service_provider(engine, &by, previous.as_ref()).await?;
    let previous_admin = previous
        .as_ref()
        .map(|p| {
            (
                p.admin_token.clone(),
                p.admin_username.clone(),
                p.admin_password.clone(),
            )
        })
        .unwrap_or_default();
    // The key the demo provider's replies are signed with (its own from its first sight on).
    let signer = engine.signer().signer_for(Some(DEMO_SYS_ID)).await?;
    let mut credentials = Credentials {
        base_url: base_url.trim_end_matches('/').to_owned(),
        sandbox_url: sandbox.base_url().to_owned(),
        cashier_url: format!("{}/sandbox/cashier", sandbox.base_url()),
        sys_id: DEMO_SYS_ID.to_owned(),
        product_id: DEMO_PRODUCT_ID.to_owned(),
        private_key: key.to_pkcs8_pem(),
        public_key: key.public_key().to_spki_pem(),
        platform_public_key: signer.public_key().to_spki_pem(),
        platform_key_id: signer.key_id().to_owned(),
        admin_token: previous_admin.0,
        admin_username: previous_admin.1,
        admin_password: previous_admin.2,
        logins: previous
            .as_ref()
            .map(|p| p.logins.clone())
            .unwrap_or_default(),
        merchants: Vec::new(),
        sandbox_accounts: sandbox.accounts_json(),
    };
    write_credentials(credentials_path, &credentials)?;

    let provider = Provider { engine, key };
    let save = |credentials: &mut Credentials| {
        credentials.sandbox_accounts = sandbox.accounts_json();
        write_credentials(credentials_path, credentials)
    };
    for spec in &MERCHANTS {
        let (mer_id, apply_no) = ensure_approved(engine, &by, &provider, spec).await?;
        ensure_businesses_asked(engine, &by, &provider, &mer_id).await?;
        ensure_wechat(engine, &by, &sandbox, &mer_id, spec).await?;
        save(&mut credentials)?;
        ensure_alipay(engine, &by, &mer_id).await?;
        save(&mut credentials)?;
        ensure_bindings(engine, &provider, &mer_id, spec).await?;
        let businesses = engine.businesses().of_merchant(&mer_id).await?;
        credentials
            .merchants
            .push(demo_merchant(spec, &mer_id, &apply_no, &businesses));
        save(&mut credentials)?;
    }
    tracing::info!(
        merchants = credentials.merchants.len(),
        "demo onboarded (or found onboarded)"
    );
    Ok(Demo {
        sandbox: Arc::new(sandbox),
        credentials,
    })
}

/// Rewrites the credentials file's `sandbox_accounts` whenever the simulators' accounts change
/// after seeding (an Alipay grant refreshed by the business job, a sub-merchant issued or an
/// appid bound by hand), so the next run starts the simulators from them. Stops when
/// `shutdown` turns true.
pub fn keep_sandbox_accounts(
    demo: &Demo,
    credentials_path: PathBuf,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let sandbox = demo.sandbox.clone();
    let mut credentials = demo.credentials.clone();
    let mut changes = sandbox.accounts_changes();
    changes.mark_unchanged();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = shutdown.wait_for(|stopped| *stopped) => return,
            }
            credentials.sandbox_accounts = sandbox.accounts_json();
            if let Err(e) = write_credentials(&credentials_path, &credentials) {
                tracing::warn!(error = %format!("{e:#}"), "rewriting the demo credentials' sandbox_accounts");
            }
        }
    })
}

/// The demo's platform admin user and API token, made through the same engine calls as
/// `nkpay admin create-user` / `create-token` (audited as `local:demo`), and a user of each
/// other role ([`DEMO_ROLE_USERS`]). A re-run keeps the users and a token that still works; a
/// token that does not (revoked, or from an older credentials file) is replaced, and a role
/// user whose password the file lacks gets a new one. Rewrites the credentials file.
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
    ensure_role_users(engine, &by, credentials).await?;
    write_credentials(credentials_path, credentials)
}

/// Makes (or finds) the users of [`DEMO_ROLE_USERS`] and lists every demo login, `demo-admin`
/// first, in `credentials.logins`.
async fn ensure_role_users(
    engine: &Engine,
    by: &Actor,
    credentials: &mut Credentials,
) -> anyhow::Result<()> {
    let identity = engine.admin_identity();
    let mut logins = vec![DemoLogin {
        role: AdminRole::PlatformAdmin.as_str().to_owned(),
        username: DEMO_ADMIN.to_owned(),
        password: credentials.admin_password.clone(),
        sys_id: None,
    }];
    for (username, role) in DEMO_ROLE_USERS {
        let sys_id = (role == AdminRole::AgentAdmin).then(|| DEMO_SYS_ID.to_owned());
        let known_password = credentials
            .logins
            .iter()
            .find(|l| l.username == username)
            .map(|l| l.password.clone())
            .filter(|p| !p.is_empty());
        let exists = nkpay_store::admin_users::find_admin_user(engine.db().conn(), username)
            .await?
            .is_some();
        let password = match (exists, known_password) {
            (true, Some(p)) => p,
            (true, None) => {
                // In the database from an older credentials file: a new password.
                let p: String = nkpay_engine::admin_identity::generate_password();
                let hash =
                    nkpay_engine::admin_identity::hash_password(Secret::new(p.clone())).await?;
                nkpay_store::admin_users::set_password_hash(
                    engine.db().conn(),
                    username,
                    &hash,
                    Utc::now(),
                )
                .await?;
                p
            }
            (false, _) => {
                let made = identity
                    .create_user(
                        by,
                        NewUser {
                            username: username.to_owned(),
                            role,
                            sys_id: sys_id.clone(),
                            password: None,
                        },
                    )
                    .await?;
                made.generated_password
                    .map(|p| p.into_inner())
                    .unwrap_or_default()
            }
        };
        logins.push(DemoLogin {
            role: role.as_str().to_owned(),
            username: username.to_owned(),
            password,
            sys_id,
        });
    }
    credentials.logins = logins;
    Ok(())
}

/// One demo merchant to onboard: what it applies as and what it binds.
struct MerchantSpec {
    /// Enterprise (`basicdata/ent`) or individual (`basicdata/indv`).
    kind: MerchantKind,
    /// The short name the demo finds it by on a later run.
    short_name: &'static str,
    /// Official-account appids (`wx_woa_app_id`).
    mp_appids: &'static [&'static str],
    /// Mini-program appids (`wx_applet_app_id`).
    miniapp_appids: &'static [&'static str],
    /// JSAPI pay directories (`wx_woa_path`).
    jsapi_paths: &'static [&'static str],
}

/// The demo's merchants: an enterprise coffee shop (official account, mini-program, Alipay) and
/// an individual bookseller (official account, Alipay). The appids are made up; the WeChat
/// simulator binds whatever `addsubdevconfig` is asked to.
const MERCHANTS: [MerchantSpec; 2] = [
    MerchantSpec {
        kind: MerchantKind::Ent,
        short_name: "Demo Coffee",
        mp_appids: &["wx1a2b3c4d5e6f7a81"],
        miniapp_appids: &["wx1a2b3c4d5e6f7a82"],
        jsapi_paths: &["https://coffee.demo.nkpay.example/pay/"],
    },
    MerchantSpec {
        kind: MerchantKind::Indv,
        short_name: "Demo Books",
        mp_appids: &["wx2b3c4d5e6f7a8b91"],
        miniapp_appids: &[],
        jsapi_paths: &["https://books.demo.nkpay.example/pay/"],
    },
];

/// How many of the demo provider's merchants are looked through for the demo's own (the
/// listing's largest page).
const DEMO_LISTING_LIMIT: u64 = 500;

/// The demo's fee rate on both channels, percent with 2 decimals.
const DEMO_FEE_RATE: &str = "0.38";

/// The demo service provider calling the merchant API: each request's `data` signed with its
/// private key as dg-sdk signs it, parsed and proven as the API proves every request
/// (`Callers::verify_caller`), then read by the endpoint's own form reading.
struct Provider<'a> {
    engine: &'a Engine,
    key: RsaPrivateKey,
}

impl Provider<'_> {
    /// `data` signed and proven: the caller and the `data` the endpoint reads.
    async fn request(&self, data: Value) -> anyhow::Result<(Caller, Map<String, Value>)> {
        let signed = envelope::sign_request_data(&data.to_string(), KeyOrder::TopLevel, &self.key)?;
        let body = json!({
            "sys_id": DEMO_SYS_ID,
            "product_id": DEMO_PRODUCT_ID,
            "data": data,
            "sign": signed.sign,
        });
        let request = envelope::parse(body.to_string().as_bytes())?;
        let caller = self.engine.callers().verify_caller(&request).await?;
        Ok((caller, request.data))
    }

    /// A request of merchant-scoped endpoint `C` (named `endpoint` in errors) for `mer_id`:
    /// `fields` (a JSON object) with a new request id and `huifu_id`, signed and proven, read
    /// by the endpoint's own form reading, and the caller's scope for the merchant.
    async fn scoped<C: OpenCall>(
        &self,
        endpoint: &str,
        mer_id: &str,
        fields: Value,
    ) -> anyhow::Result<(Scope, C::Request)> {
        let Value::Object(mut fields) = fields else {
            bail!("the demo's {endpoint} fields are not a JSON object");
        };
        let (req_date, req_seq_id) = request_id(endpoint.trim_start_matches("busi/"));
        fields.insert("req_date".into(), req_date.into());
        fields.insert("req_seq_id".into(), req_seq_id.into());
        fields.insert("huifu_id".into(), mer_id.into());
        let (caller, data) = self.request(Value::Object(fields)).await?;
        let request = C::read(&Fields::new(&data)).map_err(|r| refused(endpoint, r))?;
        let scope = self.engine.callers().authorize(&caller, mer_id).await?;
        Ok((scope, request))
    }
}

/// A refusal of the demo's own request, as an error naming the endpoint.
fn refused(endpoint: &str, r: Refusal) -> anyhow::Error {
    anyhow!(
        "{endpoint} refused the demo's request: {} {}",
        r.code.as_str(),
        r.desc
    )
}

/// A new request id: today's `req_date` (Asia/Shanghai) and a `req_seq_id` naming the step.
fn request_id(step: &str) -> (String, String) {
    let now = Utc::now();
    (
        now.with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y%m%d")
            .to_string(),
        format!("demo{step}{}", now.format("%Y%m%d%H%M%S%6f")),
    )
}

/// `first17` and its GB 32100-2015 check character: a made-up unified social credit code.
fn uscc(first17: &str) -> anyhow::Result<String> {
    let check = nkpay_core::uscc::check_character(first17)
        .map_err(|e| anyhow!("demo license_code {first17}: {e}"))?;
    Ok(format!("{first17}{check}"))
}

/// `first17` and its GB 11643-1999 check character: a made-up resident ID number.
fn resident_id(first17: &str) -> anyhow::Result<String> {
    let check = nkpay_core::resident_id::check_character(first17)
        .map_err(|e| anyhow!("demo legal_cert_no {first17}: {e}"))?;
    Ok(format!("{first17}{check}"))
}

/// `prefix` and its Luhn check digit: a made-up personal card number.
fn luhn_card(prefix: &str) -> anyhow::Result<String> {
    (0..10)
        .map(|d| format!("{prefix}{d}"))
        .find(|n| luhn_valid(n))
        .ok_or_else(|| anyhow!("no Luhn check digit for {prefix}"))
}

/// The application's `data`, made up but valid by every rule the endpoint checks.
fn application_data(spec: &MerchantSpec) -> anyhow::Result<Value> {
    let (req_date, req_seq_id) = request_id(spec.kind.as_str());
    Ok(match spec.kind {
        MerchantKind::Ent => json!({
            "req_date": req_date,
            "req_seq_id": req_seq_id,
            "upper_huifu_id": DEMO_SYS_ID,
            "reg_name": "Demo Coffee (Shanghai) Co., Ltd.",
            "short_name": spec.short_name,
            "receipt_name": spec.short_name,
            "ent_type": "1",
            "mcc": "5812",
            "busi_type": "1",
            "scene_type": "OFFLINE",
            "license_code": uscc("91310104MA1FL8DX2")?,
            "license_validity_type": "1",
            "license_begin_date": "20200101",
            "found_date": "20200101",
            "reg_capital": "100000.00",
            "reg_district_id": "310104",
            "reg_detail": "1 Demo Road, Xuhui, Shanghai",
            "district_id": "310104",
            "detail_addr": "1 Demo Road, Xuhui, Shanghai",
            "legal_name": "Zhang Demo",
            "legal_cert_type": "00",
            "legal_cert_no": resident_id("31010419900101123")?,
            "legal_cert_validity_type": "0",
            "legal_cert_begin_date": "20200101",
            "legal_cert_end_date": "20400101",
            "contact_name": "Zhang Demo",
            "contact_mobile_no": "13800000001",
            "contact_email": "owner@coffee.demo.nkpay.example",
            "card_info": json!({
                "card_type": "0",
                "card_name": "Demo Coffee (Shanghai) Co., Ltd.",
                "card_no": "31000000000000000001",
                "prov_id": "310000",
                "area_id": "310100",
                "branch_code": "102290000011",
            })
            .to_string(),
        }),
        MerchantKind::Indv => json!({
            "req_date": req_date,
            "req_seq_id": req_seq_id,
            "upper_huifu_id": DEMO_SYS_ID,
            "reg_name": "Li Demo",
            "short_name": spec.short_name,
            "mcc": "5942",
            "scene_type": "ONLINE",
            "district_id": "310104",
            "legal_cert_no": resident_id("31010419920202456")?,
            "legal_cert_begin_date": "20200101",
            "contact_mobile_no": "13900000002",
            "card_info": json!({
                "card_type": "1",
                "card_name": "Li Demo",
                "card_no": luhn_card("622202000000765")?,
                "area_id": "310100",
            })
            .to_string(),
        }),
    })
}

/// The channel accounts of the simulators' WeChat Pay service provider and Alipay ISV app,
/// registered unless an account with the same `mch_id` / `app_id` exists. Gateway URLs stay
/// empty: the connectors take the running simulators' URLs from the engine's channel settings,
/// so a restart on other ports still works.
async fn ensure_channel_accounts(
    engine: &Engine,
    by: &Actor,
    sandbox: &RunningSandbox,
) -> anyhow::Result<()> {
    let accounts = sandbox.current_accounts();
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
    let service = engine.channel_accounts();
    let existing = service.list(by).await?;
    let has = |channel: ChannelKind, id: &str| {
        existing.iter().any(|a| {
            a.channel == channel
                && match channel {
                    ChannelKind::Wechat => a.wx_mch_id.as_deref() == Some(id),
                    ChannelKind::Alipay => a.ali_app_id.as_deref() == Some(id),
                }
        })
    };
    if !has(ChannelKind::Wechat, &sp.mch_id) {
        service
            .create_wechat(
                by,
                WechatAccountSetup {
                    name: "Demo WeChat Pay service provider".into(),
                    gateway_url: String::new(),
                    is_default: true,
                    appid: sp.appid.clone(),
                    mch_id: sp.mch_id.clone(),
                    api_key: Secret::new(sp.api_key.clone()),
                    client_certificate: None,
                },
            )
            .await?;
    }
    if !has(ChannelKind::Alipay, &isv.app_id) {
        let export = sandbox.accounts_json();
        let alipay_public_key = export["alipay"]["alipay_public_key"]
            .as_str()
            .context("the sandbox exports no Alipay public key")?
            .to_owned();
        service
            .create_alipay(
                by,
                NewAlipayAccount {
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
    }
    Ok(())
}

/// The demo service provider's private key: registered now with a generated key pair, or, when
/// it exists, the key of the previous run's credentials (which must still be its key).
async fn ensure_service_provider(
    engine: &Engine,
    by: &Actor,
    previous: Option<&Credentials>,
) -> anyhow::Result<RsaPrivateKey> {
    let service = engine.service_providers();
    if let Some(existing) = service.get(by, DEMO_SYS_ID).await? {
        let previous = previous.context("the demo service provider exists without credentials")?;
        let key = RsaPrivateKey::from_pem_or_base64(&previous.private_key)?;
        let registered =
            nkpay_crypto::rsa_keys::RsaPublicKey::from_pem_or_base64(&existing.rsa_public_key)?;
        if registered.to_spki_pem() != key.public_key().to_spki_pem() {
            bail!(
                "the demo service provider's registered key is not the one in the credentials file \
                 (was it replaced?); delete the database (data/) to seed afresh"
            );
        }
        return Ok(key);
    }
    let created = service
        .create(
            by,
            NewProvider {
                sys_id: DEMO_SYS_ID.into(),
                product_id: DEMO_PRODUCT_ID.into(),
                name: "nkpay demo service provider".into(),
                key: ProviderKey::Generate,
            },
        )
        .await?;
    let pem = created
        .private_key
        .context("a generated service provider key came back without its private key")?;
    Ok(RsaPrivateKey::from_pem_or_base64(pem.expose())?)
}

/// The merchant of `spec`, applied for by the service provider and approved by the review;
/// returns its `mer_id` and `apply_no`. A merchant of the demo provider with the spec's short
/// name (or, from demos before onboarding existed, that name) is taken as it; a pending
/// application of it is approved.
async fn ensure_approved(
    engine: &Engine,
    by: &Actor,
    provider: &Provider<'_>,
    spec: &MerchantSpec,
) -> anyhow::Result<(String, String)> {
    let merchants = engine.merchants();
    let filter = MerchantFilter {
        sys_id: Some(DEMO_SYS_ID.to_owned()),
        ..MerchantFilter::default()
    };
    let found = merchants
        .list(by, filter, DEMO_LISTING_LIMIT)
        .await?
        .into_iter()
        .find(|m| m.short_name.as_deref() == Some(spec.short_name) || m.name == spec.short_name);
    let (mer_id, status) = match found {
        Some(m) => (m.mer_id, m.apply_status),
        None => {
            let (caller, data) = provider.request(application_data(spec)?).await?;
            let endpoint = match spec.kind {
                MerchantKind::Ent => "/v2/merchant/basicdata/ent",
                MerchantKind::Indv => "/v2/merchant/basicdata/indv",
            };
            let apply = read_application(&Fields::new(&data), spec.kind, shanghai_today())
                .map_err(|r| refused(endpoint, r))?;
            let applied = merchants.apply(&caller, apply).await?;
            tracing::info!(mer_id = %applied.mer_id, apply_no = %applied.apply_no, "demo merchant applied");
            (applied.mer_id, applied.status)
        }
    };
    let detail = merchants
        .get(by, &mer_id)
        .await?
        .with_context(|| format!("demo merchant {mer_id} vanished"))?;
    let apply_no = detail
        .application
        .as_ref()
        .map(|a| a.apply_no.clone())
        .unwrap_or_default();
    match status {
        ApplyStatus::Approved => {}
        ApplyStatus::Pending => {
            merchants
                .review(by, &apply_no, true, None)
                .await?
                .with_context(|| format!("demo application {apply_no} vanished"))?;
        }
        other => bail!(
            "demo merchant {mer_id} has apply_status {}; delete the database (data/) to seed afresh",
            other.as_str()
        ),
    }
    Ok((mer_id, apply_no))
}

/// Today in Asia/Shanghai, the date the application's dates are checked against.
fn shanghai_today() -> chrono::NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
}

/// `/v2/merchant/busi/open` for WeChat and Alipay, unless both businesses were asked for.
async fn ensure_businesses_asked(
    engine: &Engine,
    by: &Actor,
    provider: &Provider<'_>,
    mer_id: &str,
) -> anyhow::Result<()> {
    let view = engine
        .businesses()
        .view(by, mer_id)
        .await?
        .with_context(|| format!("demo merchant {mer_id} vanished"))?;
    let asked = |channel: &str| view.businesses.iter().any(|b| b.channel == channel);
    if asked("wechat") && asked("alipay") {
        return Ok(());
    }
    let conf = json!([{"pay_scene": "1", "fee_rate": DEMO_FEE_RATE}]).to_string();
    let (scope, open) = provider
        .scoped::<BusiOpen>(
            "busi/open",
            mer_id,
            json!({
                "upper_huifu_id": DEMO_SYS_ID,
                "wx_conf_list": conf,
                "ali_conf_list": conf,
            }),
        )
        .await?;
    engine.businesses().open(&scope, open).await?;
    Ok(())
}

/// The WeChat business open: unless it is `S` already, the WeChat simulator issues a
/// `sub_mch_id` (its control endpoint, standing in for WeChat's own review) and the operator
/// records it.
async fn ensure_wechat(
    engine: &Engine,
    by: &Actor,
    sandbox: &RunningSandbox,
    mer_id: &str,
    spec: &MerchantSpec,
) -> anyhow::Result<()> {
    let businesses = engine.businesses().of_merchant(mer_id).await?;
    let open = businesses
        .businesses
        .iter()
        .any(|b| b.channel == "wechat" && b.state == "S" && b.sub_mch_id.is_some());
    if open {
        return Ok(());
    }
    let mch_id = sandbox
        .current_accounts()
        .wechat
        .service_providers
        .first()
        .map(|sp| sp.mch_id.clone())
        .context("the sandbox serves no WeChat service provider")?;
    let issued: Value = reqwest::Client::new()
        .post(format!(
            "{}/sandbox/wechat/sub-merchants",
            sandbox.base_url()
        ))
        .json(&json!({"mch_id": mch_id, "name": spec.short_name}))
        .send()
        .await
        .context("asking the WeChat simulator for a sub_mch_id")?
        .error_for_status()?
        .json()
        .await?;
    let sub_mch_id = issued["sub_mch_id"]
        .as_str()
        .context("the WeChat simulator issued no sub_mch_id")?
        .to_owned();
    engine
        .businesses()
        .record_sub_mch_id(
            by,
            RecordSubMchId {
                mer_id: mer_id.to_owned(),
                sub_mch_id,
                channel_account_id: None,
            },
        )
        .await?
        .with_context(|| format!("demo merchant {mer_id} vanished"))?;
    Ok(())
}

/// The Alipay business open, through the ISV authorization: unless it is `S` already, the
/// authorization link is made, the simulator's page auto-authorizes (`sandbox_auto_authorize`),
/// and the `app_id`, `app_auth_code` and `state` of its 302 `Location` (not followed: the
/// platform may not be listening yet) go to the engine call `GET /callback/alipay/app-auth`
/// makes.
async fn ensure_alipay(engine: &Engine, by: &Actor, mer_id: &str) -> anyhow::Result<()> {
    let businesses = engine.businesses().of_merchant(mer_id).await?;
    if businesses
        .businesses
        .iter()
        .any(|b| b.channel == "alipay" && b.state == "S")
    {
        return Ok(());
    }
    let link = engine
        .businesses()
        .alipay_auth_link(by, mer_id)
        .await?
        .with_context(|| format!("demo merchant {mer_id} vanished"))?;
    let mut page = url::Url::parse(&link).context("the authorization link")?;
    page.query_pairs_mut()
        .append_pair("sandbox_auto_authorize", "true");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let answer = http
        .get(page)
        .send()
        .await
        .context("opening the Alipay authorization page")?;
    if answer.status() != reqwest::StatusCode::FOUND {
        bail!(
            "the Alipay authorization page answered {} instead of redirecting",
            answer.status()
        );
    }
    let location = answer
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .context("the Alipay authorization page redirected without a Location")?;
    let back = url::Url::parse(location).context("the authorization redirect")?;
    let param = |name: &str| {
        back.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .with_context(|| format!("the authorization redirect has no {name}"))
    };
    engine
        .businesses()
        .alipay_authorized(
            &param("app_id")?,
            &param("app_auth_code")?,
            &param("state")?,
        )
        .await?;
    Ok(())
}

/// `/v2/merchant/busi/config` for the spec's JSAPI directories and appids not bound yet (`S`):
/// one `addsubdevconfig` per item, in order. A refused item fails the demo; one whose outcome
/// is unknown is left `P` for the business job.
async fn ensure_bindings(
    engine: &Engine,
    provider: &Provider<'_>,
    mer_id: &str,
    spec: &MerchantSpec,
) -> anyhow::Result<()> {
    let bound = engine.businesses().of_merchant(mer_id).await?.bindings;
    let missing = |kind: &str, values: &[&str]| -> String {
        values
            .iter()
            .filter(|v| {
                !bound
                    .iter()
                    .any(|b| b.kind == kind && b.value == **v && b.state == "S")
            })
            .copied()
            .collect::<Vec<_>>()
            .join(",")
    };
    let paths = missing("jsapi_path", spec.jsapi_paths);
    let mps = missing("mp_appid", spec.mp_appids);
    let minis = missing("miniapp_appid", spec.miniapp_appids);
    if paths.is_empty() && mps.is_empty() && minis.is_empty() {
        return Ok(());
    }
    let (scope, config) = provider
        .scoped::<BusiConfig>(
            "busi/config",
            mer_id,
            json!({
                "fee_type": "02",
                "wx_woa_path": paths,
                "wx_woa_app_id": mps,
                "wx_applet_app_id": minis,
            }),
        )
        .await?;
    let answer = engine.businesses().configure(&scope, config).await?;
    if let Some(failed) = answer.bindings.iter().find(|b| b.state == "F") {
        bail!(
            "WeChat refused to bind {} to demo merchant {mer_id}: {} {}",
            failed.value,
            failed.err_code.as_deref().unwrap_or_default(),
            failed.err_msg.as_deref().unwrap_or_default()
        );
    }
    for pending in answer.bindings.iter().filter(|b| b.state == "P") {
        tracing::warn!(mer_id, value = %pending.value, "demo binding outcome unknown; the business job asks again");
    }
    Ok(())
}

/// The credentials' view of an onboarded merchant, from its businesses and bindings.
fn demo_merchant(
    spec: &MerchantSpec,
    mer_id: &str,
    apply_no: &str,
    b: &MerchantBusinesses,
) -> DemoMerchant {
    let bound = |kind: &str| -> Vec<String> {
        b.bindings
            .iter()
            .filter(|x| x.kind == kind && x.state == "S")
            .map(|x| x.value.clone())
            .collect()
    };
    let business = |channel: &str| {
        b.businesses
            .iter()
            .find(|x| x.channel == channel && x.state == "S")
    };
    DemoMerchant {
        mer_id: mer_id.to_owned(),
        name: spec.short_name.to_owned(),
        kind: spec.kind.as_str().to_owned(),
        apply_no: apply_no.to_owned(),
        sub_mch_id: business("wechat").and_then(|w| w.sub_mch_id.clone()),
        wx_mp_appids: bound("mp_appid"),
        wx_miniapp_appids: bound("miniapp_appid"),
        wx_jsapi_paths: bound("jsapi_path"),
        alipay: business("alipay").is_some(),
    }
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
    let first_mer_id = c
        .merchants
        .first()
        .map_or("<mer_id>", |m| m.mer_id.as_str());
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
            "merchant          mer_id={} {} ({}, apply_no {}) wechat sub_mch_id={} mp={:?} miniapp={:?} alipay={}",
            m.mer_id,
            m.name,
            m.kind,
            m.apply_no,
            m.sub_mch_id.as_deref().unwrap_or("-"),
            m.wx_mp_appids,
            m.wx_miniapp_appids,
            m.alipay
        );
    }
    let _ = writeln!(out, "platform key id   {}", c.platform_key_id);
    let _ = writeln!(
        out,
        "console           {}{}  (a browser; sign in as a console user below)",
        c.base_url,
        nkpay_api::console::PATH
    );
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
    for l in &c.logins {
        let _ = writeln!(
            out,
            "console user      {:<15} {} / {}{}",
            l.role,
            l.username,
            l.password,
            l.sys_id
                .as_deref()
                .map(|s| format!("  (service provider {s})"))
                .unwrap_or_default()
        );
    }
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
        mer = first_mer_id,
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
