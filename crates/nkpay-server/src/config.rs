//! Configuration: `config/default.toml` (or `--config FILE`), then `NKPAY__SECTION__KEY`
//! environment overrides, then validation that names the offending key.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use serde::Deserialize;

/// The embedded default, compiled in so `nkpay` runs from any directory.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration: {0}")]
    Parse(String),
    #[error("configuration key `{key}`: {rule}")]
    Invalid { key: &'static str, rule: String },
}

fn invalid(key: &'static str, rule: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        rule: rule.into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub secrets: SecretsConfig,
    pub sandbox: SandboxConfig,
    pub channels: ChannelsConfig,
    pub notify: NotifyConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    pub log: LogConfig,
}

#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Bearer token guarding the console API (`/admin/api/...`), at least 16 characters;
    /// unset disables the console API. Set it from the environment: NKPAY__ADMIN__TOKEN.
    #[serde(default)]
    pub token: Option<String>,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub node_id: u16,
    pub public_base_url: String,
    pub body_limit_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
    pub migrate_on_start: bool,
    pub max_connections: u32,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// Base64 of 32 bytes; wins over the file when both are set (environment use).
    #[serde(default)]
    pub master_key: Option<String>,
    #[serde(default)]
    pub master_key_file: Option<PathBuf>,
    #[serde(default)]
    pub create_master_key_if_missing: bool,
}

impl std::fmt::Debug for SecretsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsConfig")
            .field("master_key", &self.master_key.as_ref().map(|_| "***"))
            .field("master_key_file", &self.master_key_file)
            .field(
                "create_master_key_if_missing",
                &self.create_master_key_if_missing,
            )
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    pub enabled: bool,
    #[serde(default = "default_sandbox_port")]
    pub port: u16,
    #[serde(default = "default_time_scale")]
    pub time_scale: f64,
}

fn default_sandbox_port() -> u16 {
    8090
}
fn default_poll_interval_ms() -> u64 {
    500
}
fn default_time_scale() -> f64 {
    1.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsConfig {
    pub wechat_base_url: String,
    pub alipay_gateway_url: String,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
    #[serde(default)]
    pub wechat_client_cert_file: Option<PathBuf>,
    #[serde(default)]
    pub wechat_client_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    pub schedule_secs: Vec<u64>,
    pub concurrency: usize,
    pub per_host_concurrency: usize,
    pub timeout_ms: u64,
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    pub allow_loopback: bool,
    pub allow_private: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: String,
    pub level: String,
}

impl Config {
    /// Loads the compiled-in default (or `file` instead), applies `NKPAY__…` overrides from
    /// `env`, and validates.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let base = match file {
            Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?,
            None => DEFAULT_TOML.to_string(),
        };
        // Overrides come from the given pairs rather than the process environment so tests can
        // exercise them without touching global state; values parse like figment's Env does.
        let mut figment = Figment::new().merge(Toml::string(&base));
        for (key, value) in env {
            let Some(rest) = key.strip_prefix("NKPAY__") else {
                continue;
            };
            let path = rest.to_ascii_lowercase().replace("__", ".");
            let value: figment::value::Value = value
                .parse()
                .unwrap_or_else(|never: std::convert::Infallible| match never {});
            figment = figment.merge((path, value));
        }
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.server.node_id == 0 || self.server.node_id > 9999 {
            return Err(invalid("server.node_id", "must be 1 to 9999"));
        }
        if url::Url::parse(&self.server.public_base_url).is_err() {
            return Err(invalid(
                "server.public_base_url",
                "must be an absolute http(s) URL",
            ));
        }
        if self.server.body_limit_bytes < 1024 {
            return Err(invalid("server.body_limit_bytes", "must be at least 1024"));
        }
        let db = &self.database.url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database.url",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        if self.secrets.master_key.is_none() && self.secrets.master_key_file.is_none() {
            return Err(invalid(
                "secrets.master_key",
                "set secrets.master_key (base64 of 32 bytes) or secrets.master_key_file",
            ));
        }
        for (key, value) in [
            ("channels.wechat_base_url", &self.channels.wechat_base_url),
            (
                "channels.alipay_gateway_url",
                &self.channels.alipay_gateway_url,
            ),
        ] {
            if url::Url::parse(value).is_err() {
                return Err(invalid(key, "must be an absolute http(s) URL"));
            }
        }
        if self.channels.connect_timeout_ms == 0 || self.channels.request_timeout_ms == 0 {
            return Err(invalid(
                "channels.request_timeout_ms",
                "time-outs must be greater than 0",
            ));
        }
        if self.sandbox.enabled
            && (self.sandbox.time_scale.is_nan() || self.sandbox.time_scale <= 0.0)
        {
            return Err(invalid("sandbox.time_scale", "must be greater than 0"));
        }
        if self.notify.schedule_secs.is_empty() {
            return Err(invalid("notify.schedule_secs", "needs at least one delay"));
        }
        if self.notify.schedule_secs.contains(&0) {
            return Err(invalid(
                "notify.schedule_secs",
                "every delay must be at least 1 second",
            ));
        }
        if self.notify.timeout_ms < 100 || self.notify.poll_interval_ms == 0 {
            return Err(invalid(
                "notify.timeout_ms",
                "timeout_ms must be at least 100 and poll_interval_ms positive",
            ));
        }
        if let Some(token) = &self.admin.token
            && token.chars().count() < nkpay_api::admin::auth::MIN_TOKEN_CHARS
        {
            return Err(invalid(
                "admin.token",
                format!(
                    "must be at least {} characters",
                    nkpay_api::admin::auth::MIN_TOKEN_CHARS
                ),
            ));
        }
        if self.notify.concurrency == 0 || self.notify.per_host_concurrency == 0 {
            return Err(invalid("notify.concurrency", "must be at least 1"));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(invalid("log.format", "must be \"text\" or \"json\""));
        }
        Ok(())
    }

    pub fn bind_addr(&self) -> String {
        format!("{}:{}", self.server.host, self.server.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn embedded_default_is_sqlite_with_the_sandbox() {
        let config = Config::load(None, env(&[])).unwrap();
        assert!(config.database.url.starts_with("sqlite:"));
        assert!(config.sandbox.enabled);
        assert_eq!(config.notify.schedule_secs.len(), 15);
    }

    #[test]
    fn environment_overrides_nested_keys_with_typed_values() {
        let config = Config::load(
            None,
            env(&[
                ("NKPAY__SERVER__PORT", "9123"),
                (
                    "NKPAY__DATABASE__URL",
                    "postgres://postgres@127.0.0.1:5432/test",
                ),
                ("NKPAY__SANDBOX__ENABLED", "false"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.port, 9123);
        assert!(config.database.url.starts_with("postgres://"));
        assert!(!config.sandbox.enabled);
    }

    #[test]
    fn invalid_values_name_the_key() {
        let err = Config::load(None, env(&[("NKPAY__SERVER__NODE_ID", "0")])).unwrap_err();
        assert!(err.to_string().contains("server.node_id"), "{err}");
        let err = Config::load(None, env(&[("NKPAY__DATABASE__URL", "mysql://x")])).unwrap_err();
        assert!(err.to_string().contains("database.url"), "{err}");
        let err = Config::load(None, env(&[("NKPAY__LOG__FORMAT", "xml")])).unwrap_err();
        assert!(err.to_string().contains("log.format"), "{err}");
        let err = Config::load(None, env(&[("NKPAY__SERVER__PORT", "not-a-port")])).unwrap_err();
        assert!(err.to_string().contains("port"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Config::load(None, env(&[("NKPAY__SERVER__PROT", "1")])).unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
    }

    #[test]
    fn production_example_is_valid() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/production.example.toml");
        let config = Config::load(Some(&path), env(&[])).unwrap();
        assert!(config.database.url.starts_with("postgres://"));
        assert!(!config.notify.allow_loopback);
    }
}
