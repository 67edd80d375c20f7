//! `nkpay admin …`: admin users and API tokens from the server's shell, through the same engine
//! calls as the admin API (audited as `local:cli`). `create-user` makes the first platform
//! admin on an empty database: it migrates first when `database.migrate_on_start` is set.

use std::io::Read;
use std::sync::Arc;

use anyhow::Context as _;
use nkpay_core::secret::Secret;
use nkpay_engine::admin_identity::{Actor, NewUser};
use nkpay_engine::{Engine, EngineConfig, EngineParts};
use nkpay_store::kinds::AdminRole;
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
    let by = Actor::local("cli");
    match command {
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

async fn engine(config: &Config) -> anyhow::Result<Engine> {
    let sealer = Arc::new(crate::master_key::load(&config.secrets)?);
    let db = crate::serve::open_database(config).await?;
    if config.database.migrate_on_start {
        nkpay_store::migrate(&db).await?;
    }
    let signer = nkpay_engine::platform_keys::load_or_create(&db, &sealer).await?;
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
