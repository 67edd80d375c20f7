//! `nkpay keys …` (issue 14): the platform's signing keys from the server's shell, audited as
//! `local:cli:<$USER>`, each printing JSON:
//!
//! - `keys list`: `{"keys": [...], "assignments": [...]}` as `GET /admin/api/platform-keys`;
//! - `keys rotate [--retire-after-days N]` (1–3650, default 30): a new active key; the replaced
//!   one keeps signing for its callers until its announced retirement date. Prints
//!   `{"key", "replaced"}`. Every node sees the new key within `platform_keys.refresh_secs`;
//! - `keys assign --sys-id S --key-id K`: switches a caller to a usable key.

use nkpay_api::open::platform_keys::key_json;
use nkpay_engine::Actor;
use nkpay_engine::signing_keys::DEFAULT_RETIRE_AFTER_DAYS;
use serde_json::json;

use crate::config::Config;

/// What `nkpay keys` does.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum KeysCommand {
    /// List the keys (public halves) and every caller's key.
    List,
    /// Create a new active key; announce the retirement date of the replaced one.
    Rotate {
        /// Days until the replaced key stops signing for its callers (1 to 3650).
        #[arg(long, default_value_t = DEFAULT_RETIRE_AFTER_DAYS)]
        retire_after_days: u32,
    },
    /// Switch a caller (`sys_id`) to another usable key.
    Assign {
        /// The caller: a service provider's sys_id, or a merchant's mer_id calling for itself.
        #[arg(long)]
        sys_id: String,
        /// The key, active or retiring before its retirement date.
        #[arg(long)]
        key_id: String,
    },
}

/// Runs `command` against the configured database; the report as JSON text. A refused value
/// names its flag.
pub async fn run(config: Config, command: KeysCommand) -> anyhow::Result<String> {
    let engine = crate::admin_cli::engine(&config).await?;
    let by = Actor::local(&format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned())
    ));
    let keys = engine.signing_keys();
    let flag = |e: nkpay_engine::EngineError| match e {
        nkpay_engine::EngineError::Invalid { field, rule } => {
            anyhow::anyhow!("--{}: {rule}", field.replace('_', "-"))
        }
        other => anyhow::anyhow!(other),
    };
    let out = match command {
        KeysCommand::List => {
            let listed = keys.list(&by).await?;
            let assignments = keys.assignments(&by).await?;
            json!({
                "keys": listed.iter().map(key_json).collect::<Vec<_>>(),
                "assignments": assignments.iter().map(|a| json!({
                    "sys_id": a.sys_id,
                    "key_id": a.key_id,
                    "assigned_at": a.assigned_at.to_rfc3339(),
                })).collect::<Vec<_>>(),
            })
        }
        KeysCommand::Rotate { retire_after_days } => {
            let rotation = keys.rotate(&by, retire_after_days).await.map_err(flag)?;
            json!({
                "key": key_json(&rotation.key),
                "replaced": rotation.replaced.as_ref().map(key_json),
            })
        }
        KeysCommand::Assign { sys_id, key_id } => {
            let a = keys.assign(&by, &sys_id, &key_id).await.map_err(flag)?;
            json!({
                "sys_id": a.sys_id,
                "key_id": a.key_id,
                "assigned_at": a.assigned_at.to_rfc3339(),
            })
        }
    };
    Ok(format!("{}\n", serde_json::to_string_pretty(&out)?))
}
