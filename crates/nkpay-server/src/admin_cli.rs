//! `nkpay admin …`: admin users and API tokens, service providers and the platform's channel
//! accounts from the server's shell, through the same engine calls as the admin API (audited
//! as `local:cli:<$USER>`). `create-user` makes the first platform admin on an empty database:
//! every command migrates first when `database.migrate_on_start` is set.
//!
//! The service-provider and channel-account commands print JSON on stdout, in the admin API's
//! shapes (`AccountView`, `ProviderView`); secrets are read from files, never from the
//! command line (where `ps` and shell history would keep them).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use nkpay_api::admin::channel_accounts::AccountView;
use nkpay_api::admin::service_providers::ProviderView;
use nkpay_core::secret::Secret;
use nkpay_core::trade_type::TradeType;
use nkpay_engine::admin_identity::{Actor, NewUser};
use nkpay_engine::channel_accounts::{ClientIdentity, WechatAccountSetup};
use nkpay_engine::onboarding::NewAlipayAccount;
use nkpay_engine::service_providers::{NewProvider, ProviderKey};
use nkpay_engine::{Engine, EngineConfig, EngineParts};
use nkpay_store::kinds::{AdminRole, RecordStatus};
use serde_json::{Value, json};
use url::Url;

use crate::config::Config;

/// What `nkpay admin` was asked to do.
#[derive(Debug, Clone)]
pub enum AdminCommand {
    /// Create a user; the password from standard input (first line) or generated.
    CreateUser {
        username: String,
        role: AdminRole,
        sys_id: Option<String>,
        password_stdin: bool,
    },
    /// Create a named API token.
    CreateToken {
        name: String,
        role: AdminRole,
        sys_id: Option<String>,
    },
    /// Revoke a named API token.
    RevokeToken { name: String },
    /// `nkpay admin service-provider …`.
    ServiceProvider(ServiceProviderCommand),
    /// `nkpay admin channel-account …`.
    ChannelAccount(ChannelAccountCommand),
    /// Print the platform's active signing key: what a service provider configures in its SDK
    /// to verify replies and notifications (`{"key_id", "public_key"}`, SPKI PEM).
    PlatformKey,
}

/// `nkpay admin service-provider …`: service providers (agents) as `/admin/api/service-providers`
/// manages them.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ServiceProviderCommand {
    /// Register a service provider with its RSA public key (--public-key-file) or a generated
    /// key pair (--generate; the private key is printed once, as `private_key`).
    Create {
        /// The service provider's sys_id: 1 to 32 letters or digits.
        #[arg(long)]
        sys_id: String,
        /// The product it signs requests for (e.g. NKPAY).
        #[arg(long)]
        product_id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Its RSA public key, PEM or base64 (SPKI or PKCS#1).
        #[arg(
            long,
            required_unless_present = "generate",
            conflicts_with = "generate"
        )]
        public_key_file: Option<PathBuf>,
        /// Generate a 2048-bit key pair; the private key is in the output only, never stored.
        #[arg(long)]
        generate: bool,
    },
    /// Every service provider.
    List,
    /// Suspend a service provider: its calls are refused (10000002).
    Suspend {
        /// The service provider's sys_id.
        #[arg(long)]
        sys_id: String,
    },
    /// Activate a suspended service provider.
    Activate {
        /// The service provider's sys_id.
        #[arg(long)]
        sys_id: String,
    },
    /// Show a service provider's fee-rate floors, or set some (`--set T_JSAPI=0.38`: percent
    /// with at most 2 decimals; payment methods not named keep theirs).
    FeeFloors {
        /// The service provider's sys_id.
        #[arg(long)]
        sys_id: String,
        /// `TRADE_TYPE=PERCENT`, e.g. T_JSAPI=0.38 T_MINIAPP=0.38 A_NATIVE=0.6.
        #[arg(long = "set", value_parser = parse_floor, num_args = 1..)]
        set: Vec<(TradeType, i32)>,
    },
}

/// `nkpay admin channel-account …`: the platform's channel accounts as
/// `/admin/api/channel-accounts` manages them.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ChannelAccountCommand {
    /// Register a WeChat Pay service-provider account. The API v2 key, the client certificate
    /// (PKCS#12 with its password, or the PEM pair) are read from files.
    AddWechat {
        /// Display name.
        #[arg(long)]
        name: String,
        /// The service provider's own appid.
        #[arg(long)]
        appid: String,
        /// The service provider's mch_id.
        #[arg(long)]
        mch_id: String,
        /// A file holding the 32-character API v2 key.
        #[arg(long)]
        api_key_file: PathBuf,
        /// `apiclient_cert.p12`.
        #[arg(long, requires = "p12_password_file", conflicts_with_all = ["cert_file", "key_file"])]
        p12_file: Option<PathBuf>,
        /// A file holding the PKCS#12 password (WeChat sets the mch_id).
        #[arg(long, requires = "p12_file")]
        p12_password_file: Option<PathBuf>,
        /// `apiclient_cert.pem`.
        #[arg(long, requires = "key_file")]
        cert_file: Option<PathBuf>,
        /// `apiclient_key.pem`.
        #[arg(long, requires = "cert_file")]
        key_file: Option<PathBuf>,
        /// WeChat Pay's API base URL; unset: `channels.wechat_base_url`.
        #[arg(long, default_value = "")]
        gateway_url: String,
        /// Serve merchants whose business names no account.
        #[arg(long)]
        default: bool,
    },
    /// Register an Alipay ISV app. The app private key is read from a file.
    AddAlipay {
        /// Display name.
        #[arg(long)]
        name: String,
        /// The ISV app's app_id.
        #[arg(long)]
        app_id: String,
        /// The app's RSA2 private key (PEM or base64).
        #[arg(long)]
        private_key_file: PathBuf,
        /// Alipay's public key (PEM or base64).
        #[arg(long)]
        alipay_public_key_file: PathBuf,
        /// The ISV's PID (2088…), sent as sys_service_provider_id.
        #[arg(long)]
        isv_pid: String,
        /// Alipay's gateway URL; unset: `channels.alipay_gateway_url`.
        #[arg(long, default_value = "")]
        gateway_url: String,
        /// Serve merchants whose business names no account.
        #[arg(long)]
        default: bool,
    },
    /// Every channel account (secrets shown only as "set").
    List,
    /// Let an account take new trades again.
    Enable {
        /// The channel account's id (as `list` shows it).
        #[arg(long)]
        id: i64,
    },
    /// Stop an account taking new trades; its trades in flight still finish.
    Disable {
        /// The channel account's id (as `list` shows it).
        #[arg(long)]
        id: i64,
    },
    /// The test call: prints {"ok", "code", "message"}; exits 0 either way (read "ok").
    Test {
        /// The channel account's id (as `list` shows it).
        #[arg(long)]
        id: i64,
    },
}

/// `T_JSAPI=0.38` → (T_JSAPI, 38 basis points).
fn parse_floor(text: &str) -> Result<(TradeType, i32), String> {
    let (name, percent) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: write TRADE_TYPE=PERCENT, e.g. T_JSAPI=0.38"))?;
    let trade_type = name
        .parse::<TradeType>()
        .map_err(|_| format!("{name}: not a payment method (T_JSAPI, T_MINIAPP, A_NATIVE)"))?;
    let bp = nkpay_core::fee_rate::parse_percent(percent).ok_or_else(|| {
        format!(
            "{name}: {percent:?} is not a percent from 0 to 100 with at most 2 decimals, e.g. 0.38"
        )
    })?;
    Ok((trade_type, bp))
}

/// Parses a role as the CLI spells it (`platform-admin`, `operator`, `finance`, `agent-admin`,
/// `read-only`).
pub fn parse_role(s: &str) -> Result<AdminRole, String> {
    s.parse::<AdminRole>().map_err(|e| e.to_string())
}

/// Runs `command`; the text to print (a generated password or a token appears here once).
pub async fn run(config: Config, command: AdminCommand) -> anyhow::Result<String> {
    let engine = engine(&config).await?;
    let identity = engine.admin_identity();
    let by = Actor::local(&format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned())
    ));
    match command {
        AdminCommand::ServiceProvider(command) => {
            json_line(service_provider(&engine, &by, command).await?)
        }
        AdminCommand::ChannelAccount(command) => {
            json_line(channel_account(&engine, &by, command).await?)
        }
        AdminCommand::PlatformKey => {
            let newest = engine.signer().newest();
            json_line(json!({
                "key_id": newest.key_id(),
                "public_key": newest.public_key().to_spki_pem(),
            }))
        }
        AdminCommand::CreateUser {
            username,
            role,
            sys_id,
            password_stdin,
        } => {
            let password = if password_stdin {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("reading the password from standard input")?;
                let line = text.lines().next().unwrap_or_default().to_owned();
                Some(Secret::new(line))
            } else {
                None
            };
            let made = identity
                .create_user(
                    &by,
                    NewUser {
                        username,
                        role,
                        sys_id,
                        password,
                    },
                )
                .await?;
            let mut out = format!(
                "created admin user {} (role {})\n",
                made.user.username, made.user.role
            );
            if let Some(p) = made.generated_password {
                out.push_str(&format!("password (shown once): {}\n", p.expose()));
            }
            Ok(out)
        }
        AdminCommand::CreateToken { name, role, sys_id } => {
            let made = identity
                .create_token(&by, &name, role, sys_id.as_deref())
                .await?;
            Ok(format!(
                "created API token {} (role {})\ntoken (shown once): {}\n",
                made.row.name,
                made.row.role,
                made.token.expose()
            ))
        }
        AdminCommand::RevokeToken { name } => {
            if identity.revoke_token(&by, &name).await? {
                Ok(format!("revoked API token {name}\n"))
            } else {
                anyhow::bail!("no active API token named {name}")
            }
        }
    }
}

/// `row`, or an error naming the missing service provider.
fn found<T>(row: Option<T>, sys_id: &str) -> anyhow::Result<T> {
    row.ok_or_else(|| anyhow::anyhow!("no service provider {sys_id}"))
}

/// `value` as one line of JSON.
fn json_line(value: Value) -> anyhow::Result<String> {
    Ok(format!("{}\n", serde_json::to_string(&value)?))
}

/// A secret read from `path`, surrounding whitespace trimmed (a trailing newline is not part of
/// a key).
fn read_secret(path: &Path, what: &str) -> anyhow::Result<Secret<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {what} from {}", path.display()))?;
    Ok(Secret::new(text.trim().to_owned()))
}

async fn service_provider(
    engine: &Engine,
    by: &Actor,
    command: ServiceProviderCommand,
) -> anyhow::Result<Value> {
    let providers = engine.service_providers();
    Ok(match command {
        ServiceProviderCommand::Create {
            sys_id,
            product_id,
            name,
            public_key_file,
            generate,
        } => {
            let key = match (public_key_file, generate) {
                (_, true) => ProviderKey::Generate,
                (Some(file), false) => ProviderKey::Registered(
                    std::fs::read_to_string(&file)
                        .with_context(|| format!("reading {}", file.display()))?,
                ),
                (None, false) => anyhow::bail!("give --public-key-file FILE or --generate"),
            };
            let created = providers
                .create(
                    by,
                    NewProvider {
                        sys_id,
                        product_id,
                        name,
                        key,
                    },
                )
                .await?;
            let mut out = serde_json::to_value(ProviderView::from(created.provider))?;
            if let Some(private_key) = created.private_key {
                out["private_key"] = private_key.into_inner().into();
            }
            out
        }
        ServiceProviderCommand::List => {
            let rows = providers.list(by).await?;
            let items: Vec<ProviderView> = rows.into_iter().map(ProviderView::from).collect();
            json!({ "items": items })
        }
        ServiceProviderCommand::Suspend { sys_id } => {
            let row = providers
                .set_status(by, &sys_id, RecordStatus::Disabled)
                .await?;
            serde_json::to_value(ProviderView::from(found(row, &sys_id)?))?
        }
        ServiceProviderCommand::Activate { sys_id } => {
            let row = providers
                .set_status(by, &sys_id, RecordStatus::Active)
                .await?;
            serde_json::to_value(ProviderView::from(found(row, &sys_id)?))?
        }
        ServiceProviderCommand::FeeFloors { sys_id, set } => {
            let rows = if set.is_empty() {
                providers.fee_floors(by, &sys_id).await?
            } else {
                providers.set_fee_floors(by, &sys_id, &set).await?
            };
            nkpay_api::admin::service_providers::floors_reply(&sys_id, &found(rows, &sys_id)?)
        }
    })
}

async fn channel_account(
    engine: &Engine,
    by: &Actor,
    command: ChannelAccountCommand,
) -> anyhow::Result<Value> {
    let accounts = engine.channel_accounts();
    let view = |row: Option<_>, id: i64| -> anyhow::Result<Value> {
        let row = row.ok_or_else(|| anyhow::anyhow!("no channel account {id}"))?;
        Ok(serde_json::to_value(AccountView::from(row))?)
    };
    match command {
        ChannelAccountCommand::AddWechat {
            name,
            appid,
            mch_id,
            api_key_file,
            p12_file,
            p12_password_file,
            cert_file,
            key_file,
            gateway_url,
            default,
        } => {
            let client_certificate = match (p12_file, p12_password_file, cert_file, key_file) {
                (Some(p12), Some(password), None, None) => Some(ClientIdentity::Pkcs12 {
                    der: Secret::new(
                        std::fs::read(&p12)
                            .with_context(|| format!("reading {}", p12.display()))?,
                    ),
                    password: read_secret(&password, "the PKCS#12 password")?,
                }),
                (None, None, Some(cert), Some(key)) => Some(ClientIdentity::Pem {
                    cert_pem: std::fs::read_to_string(&cert)
                        .with_context(|| format!("reading {}", cert.display()))?,
                    key_pem: read_secret(&key, "the client private key")?,
                }),
                (None, None, None, None) => None,
                _ => anyhow::bail!(
                    "give the client certificate once: --p12-file with --p12-password-file, or \
                     --cert-file with --key-file"
                ),
            };
            let setup = WechatAccountSetup {
                name,
                gateway_url,
                is_default: default,
                appid,
                mch_id,
                api_key: read_secret(&api_key_file, "the API v2 key")?,
                client_certificate,
            };
            let row = accounts.create_wechat(by, setup).await?;
            Ok(serde_json::to_value(AccountView::from(row))?)
        }
        ChannelAccountCommand::AddAlipay {
            name,
            app_id,
            private_key_file,
            alipay_public_key_file,
            isv_pid,
            gateway_url,
            default,
        } => {
            let new = NewAlipayAccount {
                name,
                gateway_url,
                is_default: default,
                app_id,
                app_private_key: read_secret(&private_key_file, "the app private key")?,
                alipay_public_key: std::fs::read_to_string(&alipay_public_key_file)
                    .with_context(|| format!("reading {}", alipay_public_key_file.display()))?,
                isv_pid: Some(isv_pid),
            };
            let row = accounts.create_alipay(by, new).await?;
            Ok(serde_json::to_value(AccountView::from(row))?)
        }
        ChannelAccountCommand::List => {
            let rows = accounts.list(by).await?;
            let items: Vec<AccountView> = rows.into_iter().map(AccountView::from).collect();
            Ok(json!({ "items": items }))
        }
        ChannelAccountCommand::Enable { id } => view(accounts.set_enabled(by, id, true).await?, id),
        ChannelAccountCommand::Disable { id } => {
            view(accounts.set_enabled(by, id, false).await?, id)
        }
        ChannelAccountCommand::Test { id } => {
            let result = accounts
                .test(by, id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no channel account {id}"))?;
            Ok(json!({ "ok": result.ok, "code": result.code, "message": result.message }))
        }
    }
}

/// The engine over the configured database, as every CLI command that needs it builds it.
pub(crate) async fn engine(config: &Config) -> anyhow::Result<Engine> {
    let sealer = Arc::new(crate::master_key::load(&config.secrets)?);
    let db = crate::serve::open_database(config).await?;
    if config.database.migrate_on_start {
        nkpay_store::migrate(&db).await?;
    }
    let signer = nkpay_engine::platform_keys::load_or_create(&db, &sealer)
        .await?
        .with_refresh(config.platform_keys_refresh());
    Ok(Engine::new(EngineParts {
        db,
        sealer,
        node_id: config.server.node_id,
        signer,
        public_base_url: config.server.public_base_url.clone(),
        config: EngineConfig {
            admin_auth: config.admin_auth()?,
            ..config.engine_config(
                Url::parse(&config.channels.wechat_base_url)?,
                Url::parse(&config.channels.alipay_gateway_url)?,
            )
        },
    })?)
}
