//! Configuration: `config/default.toml` (or `--config FILE`), then `NKPAY__SECTION__KEY`
//! environment overrides, then validation that names the offending key.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Toml};
use nkpay_channels::HttpSettings;
use nkpay_channels::wechat::WechatSignType;
use nkpay_core::secret::Secret;
use nkpay_engine::admin_identity::{
    AdminAuthSettings, DEFAULT_ACCESS_TTL, DEFAULT_REFRESH_TTL, LoginThrottle, MAX_ACCESS_TTL,
    MAX_REFRESH_TTL, MIN_ACCESS_TTL, MIN_JWT_SECRET_BYTES, MIN_REFRESH_TTL,
};
use nkpay_engine::config::{
    ChannelSettings, DEFAULT_ACCOUNT_REFRESH, DEFAULT_MERCHANT_REFRESH, EngineConfig,
    MAX_ACCOUNT_REFRESH, MAX_MERCHANT_REFRESH, MIN_ACCOUNT_REFRESH, TrustedProxies,
};
use nkpay_engine::notifications::dispatcher::DispatcherConfig;
use nkpay_engine::notifications::url_guard::UrlPolicy;
use serde::Deserialize;
use url::Url;

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

/// `value` must lie in `min..=max`.
fn within<T>(key: &'static str, value: T, min: T, max: T) -> Result<(), ConfigError>
where
    T: PartialOrd + std::fmt::Display,
{
    if value < min || value > max {
        return Err(invalid(key, format!("must be {min} to {max}")));
    }
    Ok(())
}

/// A schedule of delays in seconds: 1 to `max_len` of them, each 1 second to 7 days.
fn delays(key: &'static str, secs: &[u64], max_len: usize) -> Result<(), ConfigError> {
    if secs.is_empty() || secs.len() > max_len {
        return Err(invalid(key, format!("must list 1 to {max_len} delays")));
    }
    if secs.iter().any(|s| *s == 0 || *s > MAX_DELAY_SECS) {
        return Err(invalid(
            key,
            format!("every delay must be 1 to {MAX_DELAY_SECS} seconds (7 days)"),
        ));
    }
    Ok(())
}

/// Upper bounds: beyond them a value is a mistake (or would overflow a timer or a semaphore).
const MAX_DELAY_SECS: u64 = 7 * 24 * 3600;
const MAX_BODY_LIMIT_BYTES: usize = 16 * 1024 * 1024;
const MAX_DB_CONNECTIONS: u32 = 1000;
const MAX_CONNECT_TIMEOUT_MS: u64 = 60_000;
const MAX_REQUEST_TIMEOUT_MS: u64 = 120_000;
const MAX_TIME_SCALE: f64 = 1000.0;
const MAX_NOTIFY_SCHEDULE_LEN: usize = 100;
const MAX_NOTIFY_CONCURRENCY: usize = 10_000;
const MAX_NOTIFY_TIMEOUT_MS: u64 = 120_000;
const MAX_POLL_INTERVAL_MS: u64 = 3_600_000;
const MAX_QUERY_DELAYS_LEN: usize = 100;
const MAX_QUERY_ATTEMPTS: u32 = 100_000;
/// `jobs.create_repeat_limit` at most: each repeat waits on the query back-off.
const MAX_CREATE_REPEATS: u32 = 100;
const MAX_JOB_BATCH: u64 = 10_000;
const MAX_JOB_CONCURRENCY: usize = 1024;
const MAX_LEASE_SECS: u64 = 24 * 3600;

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
    pub jobs: JobsConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    pub log: LogConfig,
    #[serde(default)]
    pub statements: StatementsConfig,
    #[serde(default)]
    pub reconciliation: ReconciliationConfig,
    #[serde(default)]
    pub console: ConsoleConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub platform_keys: PlatformKeysConfig,
}

/// The platform's signing keys on every node (`[platform_keys]`, issue 14).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlatformKeysConfig {
    /// How often, at most, a node reloads the keys and callers' key assignments from the
    /// database (1 to 300 seconds): the longest a rotation or a caller's switch takes to reach
    /// every node.
    pub refresh_secs: u64,
}

impl Default for PlatformKeysConfig {
    fn default() -> Self {
        PlatformKeysConfig {
            refresh_secs: nkpay_engine::platform_keys::DEFAULT_REFRESH.as_secs(),
        }
    }
}

/// Limits (`[limits]`, issue 15): on what merchants may ask, and abuse limits counted per node
/// (see nkpay-api's `limits`; a rate of 0 turns that limit off).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// The platform's cap on one trade's `trans_amt`, in fen (1 to 9999999999); absent leaves
    /// only the channels' own limits (WeChat 2147483647 fen, Alipay 100000000.00 yuan). A trade
    /// over it is refused `10000000` naming `trans_amt`.
    pub max_trans_amt_fen: Option<i64>,
    /// Merchant API requests per second per proven `sys_id` (0 to 100000); over it `90000000`.
    pub per_sys_id_per_sec: u32,
    /// Requests a `sys_id` may send at once (0 to 1000000; 0 is taken as 1 when the rate is on).
    pub per_sys_id_burst: u32,
    /// Channel callbacks per second per client address (0 to 100000).
    pub callback_per_addr_per_sec: u32,
    /// Channel callbacks a client address may send at once (0 to 1000000).
    pub callback_burst: u32,
    /// The largest channel callback body read, in bytes (1024 to 16 MiB).
    pub callback_body_limit_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let d = nkpay_api::limits::LimitsConfig::default();
        LimitsConfig {
            max_trans_amt_fen: None,
            per_sys_id_per_sec: d.per_sys_id_per_sec,
            per_sys_id_burst: d.per_sys_id_burst,
            callback_per_addr_per_sec: d.callback_per_addr_per_sec,
            callback_burst: d.callback_burst,
            callback_body_limit_bytes: d.callback_body_limit_bytes,
        }
    }
}

impl LimitsConfig {
    /// The abuse limits the API counts with.
    pub fn limits_config(&self) -> nkpay_api::limits::LimitsConfig {
        nkpay_api::limits::LimitsConfig {
            per_sys_id_per_sec: self.per_sys_id_per_sec,
            per_sys_id_burst: self.per_sys_id_burst,
            callback_per_addr_per_sec: self.callback_per_addr_per_sec,
            callback_burst: self.callback_burst,
            callback_body_limit_bytes: self.callback_body_limit_bytes,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(cap) = self.max_trans_amt_fen {
            within(
                "limits.max_trans_amt_fen",
                cap,
                1,
                nkpay_core::money::Money::MAX.fen(),
            )?;
        }
        within(
            "limits.per_sys_id_per_sec",
            self.per_sys_id_per_sec,
            0,
            100_000,
        )?;
        within(
            "limits.per_sys_id_burst",
            self.per_sys_id_burst,
            0,
            1_000_000,
        )?;
        within(
            "limits.callback_per_addr_per_sec",
            self.callback_per_addr_per_sec,
            0,
            100_000,
        )?;
        within("limits.callback_burst", self.callback_burst, 0, 1_000_000)?;
        within(
            "limits.callback_body_limit_bytes",
            self.callback_body_limit_bytes,
            1024,
            MAX_BODY_LIMIT_BYTES,
        )
    }
}

/// `GET /metrics` (`[metrics]`, issue 14; docs/observability.md).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Whether the node records metrics and serves them at `/metrics` on its API listener
    /// (default true). Bound to trust: the load balancer does not proxy it, and the node's own
    /// port must not be reachable from the internet.
    pub enabled: bool,
    /// When set (at least 16 characters), a scrape must send `Authorization: Bearer <token>`.
    /// From the environment: NKPAY__METRICS__TOKEN.
    pub token: Option<String>,
}

/// The shortest `metrics.token` accepted.
const MIN_METRICS_TOKEN_LEN: usize = 16;

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            token: None,
        }
    }
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("enabled", &self.enabled)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The web console (`[console]`, issue 13; docs/console.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// The directory of the built console (`admin-ui/dist`, made by `npm run build` in
    /// `admin-ui/`), relative to the working directory unless absolute. Served at `/console`;
    /// when it holds no `index.html`, `/console` answers 503 saying how to build it.
    pub dir: PathBuf,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            dir: PathBuf::from(nkpay_api::console::DEFAULT_DIR),
        }
    }
}

/// Statement (对账单) files (`[statements]`, issue 12; docs/statements.md).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatementsConfig {
    /// When the job makes the previous day's files, `HH:MM` Asia/Shanghai wall time.
    pub generate_at: String,
    /// The HMAC-SHA256 key of download links, at least 32 characters, the same on every node;
    /// unset: derived from the master key.
    pub link_key: Option<String>,
    /// How long a download link works, 60 s to 7 days.
    pub link_ttl_secs: u64,
    /// Where files are kept: "database" (chunks in the database) or "directory" (a directory
    /// every node shares: `directory`).
    pub storage: String,
    /// The shared directory when `storage = "directory"`.
    pub directory: Option<String>,
    /// Deflate level of the zip entries, 1 to 9; 0 stores them uncompressed.
    pub compression_level: u8,
    /// How often the job looks whether a day is due, 1 to 3600 s.
    pub job_interval_secs: u64,
}

impl Default for StatementsConfig {
    fn default() -> Self {
        StatementsConfig {
            generate_at: "01:00".to_owned(),
            link_key: None,
            link_ttl_secs: 3600,
            storage: "database".to_owned(),
            directory: None,
            compression_level: 6,
            job_interval_secs: 60,
        }
    }
}

impl std::fmt::Debug for StatementsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatementsConfig")
            .field("generate_at", &self.generate_at)
            .field("link_key", &self.link_key.as_ref().map(|_| "***"))
            .field("link_ttl_secs", &self.link_ttl_secs)
            .field("storage", &self.storage)
            .field("directory", &self.directory)
            .field("compression_level", &self.compression_level)
            .field("job_interval_secs", &self.job_interval_secs)
            .finish()
    }
}

/// The reconciliation job (`[reconciliation]`, issue 12; docs/statements.md): when it asks the
/// channels for yesterday's bills and how often it looks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconciliationConfig {
    /// Whether `nkpay serve` runs the job (default true).
    pub enabled: bool,
    /// After this Asia/Shanghai wall time (`HH:MM`, default 10:30) yesterday's bills are asked
    /// for: WeChat Pay publishes after 10:00, Alipay in the morning.
    pub run_after: String,
    /// How often the job looks for a day to reconcile, 1 to 86400 s (default 600).
    pub interval_secs: u64,
    /// A `running` run older than this, 60 s to 7 days (default 3600), is taken for dead and
    /// the day run again.
    pub stale_after_secs: u64,
}

impl Default for ReconciliationConfig {
    fn default() -> Self {
        ReconciliationConfig {
            enabled: true,
            run_after: "10:30".to_owned(),
            interval_secs: 600,
            stale_after_secs: 3600,
        }
    }
}

/// The admin API's identity settings. The single shared `admin.token` of earlier versions is
/// gone (refused as an unknown key): admin users log in, machines use named API tokens
/// (`nkpay admin create-user`, `nkpay admin create-token`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// The HS256 key of admin access tokens, at least 32 characters; every node must share it.
    /// Unset: derived from the master key. From the environment: NKPAY__ADMIN__JWT_SECRET.
    pub jwt_secret: Option<String>,
    /// How long an access token from `POST /admin/api/session` is valid, 60 to 3600 seconds.
    pub access_token_ttl_secs: u64,
    /// The reverse proxies in front of the admin API (IP addresses or CIDR networks) whose
    /// `X-Forwarded-For` is believed for the audited client address; empty: the socket peer.
    pub trusted_proxies: Vec<String>,
    /// How long a console refresh token is valid, 600 seconds to 90 days (default 7 days).
    pub refresh_token_ttl_secs: u64,
    /// The sliding window failed sign-ins are counted over, 60 to 86400 seconds (default 900).
    pub login_window_secs: u64,
    /// Failed sign-ins for one username within the window before 429, 1 to 1000 (default 5).
    pub login_max_failures_per_account: u32,
    /// Failed sign-ins from one client address within the window before 429, 1 to 10000
    /// (default 20).
    pub login_max_failures_per_address: u32,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            jwt_secret: None,
            access_token_ttl_secs: DEFAULT_ACCESS_TTL.as_secs(),
            trusted_proxies: Vec::new(),
            refresh_token_ttl_secs: DEFAULT_REFRESH_TTL.as_secs(),
            login_window_secs: LoginThrottle::default().window.as_secs(),
            login_max_failures_per_account: LoginThrottle::default().max_failures_per_account,
            login_max_failures_per_address: LoginThrottle::default().max_failures_per_address,
        }
    }
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "***"))
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("refresh_token_ttl_secs", &self.refresh_token_ttl_secs)
            .field("login_window_secs", &self.login_window_secs)
            .field(
                "login_max_failures_per_account",
                &self.login_max_failures_per_account,
            )
            .field(
                "login_max_failures_per_address",
                &self.login_max_failures_per_address,
            )
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
    /// How long this node's hold on `node_id` lasts unless renewed (renewed every third of
    /// it; 3 to 600 seconds): a node that died frees its id this long after its last renewal.
    #[serde(default = "default_node_lease_secs")]
    pub node_lease_secs: u64,
    /// A test and operations knob: seconds (signed, at most 400 days either way) added to the
    /// clock the statement and reconciliation jobs use to decide which day is due
    /// (`nkpay_engine::EngineConfig::clock_offset`). 0 in production.
    #[serde(default)]
    pub clock_offset_secs: i64,
    /// How long this node reuses a merchant's setup as read — a merchant API caller, its
    /// merchant, and the business, channel account and appid binding a new trade was routed
    /// by (0 to 60 seconds; 0 reads them on every request): the longest a suspension, a
    /// freeze, a review, a key replacement, a business or binding change, or a channel account
    /// disabled on another node, or by `nkpay admin`, takes to reach this node
    /// (`nkpay_engine::EngineConfig::merchant_refresh`).
    #[serde(default = "default_merchant_refresh_secs")]
    pub merchant_refresh_secs: u64,
}

fn default_node_lease_secs() -> u64 {
    30
}

fn default_merchant_refresh_secs() -> u64 {
    DEFAULT_MERCHANT_REFRESH.as_secs()
}

/// The most `server.clock_offset_secs` may shift the scheduling clock, either way: 400 days.
const MAX_CLOCK_OFFSET_SECS: i64 = 400 * 24 * 3600;

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
    /// How WeChat requests and `pay_info` are signed: "MD5" or "HMAC-SHA256".
    #[serde(default = "default_wechat_sign_type")]
    pub wechat_sign_type: String,
    /// Sent as `spbill_create_ip` when the payer's IP is not known (an IPv4 or IPv6 address).
    #[serde(default = "default_wechat_spbill_create_ip")]
    pub wechat_spbill_create_ip: String,
    /// How often, at most, a node compares its cached connectors with the stored channel
    /// accounts (1 to 300 seconds): the longest a disable or a credential change takes to reach
    /// every node.
    #[serde(default = "default_account_refresh_secs")]
    pub account_refresh_secs: u64,
}

fn default_account_refresh_secs() -> u64 {
    DEFAULT_ACCOUNT_REFRESH.as_secs()
}

fn default_wechat_sign_type() -> String {
    ChannelSettings::default()
        .wechat_sign_type
        .as_str()
        .to_owned()
}
fn default_wechat_spbill_create_ip() -> String {
    ChannelSettings::default().wechat_server_ip
}

/// The channel jobs: when trades nobody called back about are queried, when expired ones are
/// closed, and how the job loop paces itself. Missing keys take the engine's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Seconds between channel queries of a silent trade; the last one repeats.
    pub query_delays_secs: Vec<u64>,
    /// Queries without a final state before the job stops asking and opens an incident.
    pub query_max_attempts: u32,
    /// An unpaid trade is closed this long after its `time_expire`.
    pub expiry_grace_secs: u64,
    /// A WeChat order the channel does not know is given up only once the trade is this old.
    pub not_found_grace_secs: u64,
    /// Repeats of a create whose outcome was left unknown before the trade is closed upstream.
    pub create_repeat_limit: u32,
    /// How often the job loop looks for due trades and refunds.
    pub interval_ms: u64,
    /// Rows claimed per round.
    pub batch_size: u64,
    /// Claimed rows worked on at once.
    pub concurrency: usize,
    /// How long a claim holds a row before another node may take it.
    pub lease_secs: u64,
    /// How many steps of niceness the jobs' thread runs below the process's own priority (0 to
    /// 19; 0: the same; the result capped at niceness 19), so the requests get the CPU first
    /// (`crate::jobs_runtime`).
    pub nice: i32,
}

impl Default for JobsConfig {
    fn default() -> Self {
        let e = EngineConfig::default();
        JobsConfig {
            query_delays_secs: e.query_delays.iter().map(Duration::as_secs).collect(),
            query_max_attempts: u32::try_from(e.query_max_attempts).unwrap_or(u32::MAX),
            expiry_grace_secs: e.expiry_grace.as_secs(),
            not_found_grace_secs: e.not_found_grace.as_secs(),
            create_repeat_limit: u32::try_from(e.create_repeat_limit).unwrap_or(u32::MAX),
            interval_ms: u64::try_from(e.job_interval.as_millis()).unwrap_or(u64::MAX),
            batch_size: e.job_batch,
            concurrency: e.job_concurrency,
            lease_secs: e.job_lease.as_secs(),
            nice: crate::jobs_runtime::DEFAULT_NICE,
        }
    }
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
        within(
            "server.node_lease_secs",
            self.server.node_lease_secs,
            3,
            600,
        )?;
        within(
            "server.merchant_refresh_secs",
            self.server.merchant_refresh_secs,
            0,
            MAX_MERCHANT_REFRESH.as_secs(),
        )?;
        within(
            "server.clock_offset_secs",
            self.server.clock_offset_secs,
            -MAX_CLOCK_OFFSET_SECS,
            MAX_CLOCK_OFFSET_SECS,
        )?;
        if url::Url::parse(&self.server.public_base_url).is_err() {
            return Err(invalid(
                "server.public_base_url",
                "must be an absolute http(s) URL",
            ));
        }
        within(
            "server.body_limit_bytes",
            self.server.body_limit_bytes,
            1024,
            MAX_BODY_LIMIT_BYTES,
        )?;
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
        within(
            "database.max_connections",
            self.database.max_connections,
            1,
            MAX_DB_CONNECTIONS,
        )?;
        if self.secrets.master_key.is_none() && self.secrets.master_key_file.is_none() {
            return Err(invalid(
                "secrets.master_key",
                "set secrets.master_key (base64 of 32 bytes) or secrets.master_key_file",
            ));
        }
        self.validate_channels()?;
        let scale = self.sandbox.time_scale;
        let scale_ok = scale.is_finite() && scale > 0.0 && scale <= MAX_TIME_SCALE;
        if self.sandbox.enabled && !scale_ok {
            return Err(invalid(
                "sandbox.time_scale",
                format!("must be greater than 0 and at most {MAX_TIME_SCALE}"),
            ));
        }
        self.validate_notify()?;
        self.validate_jobs()?;
        self.limits.validate()?;
        if let Some(secret) = &self.admin.jwt_secret
            && secret.len() < MIN_JWT_SECRET_BYTES
        {
            return Err(invalid(
                "admin.jwt_secret",
                format!("must be at least {MIN_JWT_SECRET_BYTES} characters"),
            ));
        }
        within(
            "admin.access_token_ttl_secs",
            self.admin.access_token_ttl_secs,
            MIN_ACCESS_TTL.as_secs(),
            MAX_ACCESS_TTL.as_secs(),
        )?;
        TrustedProxies::parse(&self.admin.trusted_proxies)
            .map_err(|rule| invalid("admin.trusted_proxies", rule))?;
        within(
            "admin.refresh_token_ttl_secs",
            self.admin.refresh_token_ttl_secs,
            MIN_REFRESH_TTL.as_secs(),
            MAX_REFRESH_TTL.as_secs(),
        )?;
        within(
            "admin.login_window_secs",
            self.admin.login_window_secs,
            60,
            86_400,
        )?;
        within(
            "admin.login_max_failures_per_account",
            self.admin.login_max_failures_per_account,
            1,
            1000,
        )?;
        within(
            "admin.login_max_failures_per_address",
            self.admin.login_max_failures_per_address,
            1,
            10_000,
        )?;
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(invalid("log.format", "must be \"text\" or \"json\""));
        }
        if let Some(token) = &self.metrics.token
            && token.chars().count() < MIN_METRICS_TOKEN_LEN
        {
            return Err(invalid(
                "metrics.token",
                format!("must be at least {MIN_METRICS_TOKEN_LEN} characters"),
            ));
        }
        // The link key's derivation reads the master key, which may not exist before the first
        // start: here only the form of the keys is checked.
        self.statement_settings_with(false)?;
        self.reconciliation_schedule()?;
        within(
            "platform_keys.refresh_secs",
            self.platform_keys.refresh_secs,
            nkpay_engine::platform_keys::MIN_REFRESH.as_secs(),
            nkpay_engine::platform_keys::MAX_REFRESH.as_secs(),
        )?;
        Ok(())
    }

    /// How often a node reloads the platform keys (`platform_keys.refresh_secs`, checked at
    /// load).
    pub fn platform_keys_refresh(&self) -> Duration {
        Duration::from_secs(self.platform_keys.refresh_secs)
    }

    /// The reconciliation job's schedule from `[reconciliation]`, checked: `run_after` `HH:MM`
    /// (Asia/Shanghai), `interval_secs` 1 to 86400, `stale_after_secs` 60 to 604800; `None` when
    /// `enabled = false` (serve does not start the job). Errors name the key.
    pub fn reconciliation_schedule(
        &self,
    ) -> Result<Option<nkpay_engine::reconciliation::job::Schedule>, ConfigError> {
        let r = &self.reconciliation;
        let run_after = chrono::NaiveTime::parse_from_str(&r.run_after, "%H:%M")
            .map_err(|_| invalid("reconciliation.run_after", "must be HH:MM (Asia/Shanghai)"))?;
        within("reconciliation.interval_secs", r.interval_secs, 1, 86_400)?;
        within(
            "reconciliation.stale_after_secs",
            r.stale_after_secs,
            60,
            MAX_DELAY_SECS,
        )?;
        Ok(r.enabled
            .then_some(nkpay_engine::reconciliation::job::Schedule {
                run_after,
                interval: Duration::from_secs(r.interval_secs),
                stale_after: Duration::from_secs(r.stale_after_secs),
            }))
    }

    /// The `[statements]` settings, checked: `generate_at` `HH:MM`, `link_key` at least 32
    /// characters (unset: SHA-256 of a fixed label and the master key, so every node sharing the
    /// master key shares it), `link_ttl_secs` 60 s to 7 days, `storage` "database" or
    /// "directory" (with `directory`), `compression_level` 0 to 9, `job_interval_secs` 1 to
    /// 3600.
    pub fn statement_settings(
        &self,
    ) -> Result<nkpay_engine::statements::StatementSettings, ConfigError> {
        self.statement_settings_with(true)
    }

    fn statement_settings_with(
        &self,
        derive_link_key: bool,
    ) -> Result<nkpay_engine::statements::StatementSettings, ConfigError> {
        use nkpay_engine::statements::{StatementSettings, StatementStorage, writer::Compression};
        let st = &self.statements;
        let generate_at = chrono::NaiveTime::parse_from_str(&st.generate_at, "%H:%M")
            .map_err(|_| invalid("statements.generate_at", "must be HH:MM (Asia/Shanghai)"))?;
        let link_key = match &st.link_key {
            Some(k) if k.len() >= 32 => k.as_bytes().to_vec(),
            Some(_) => {
                return Err(invalid(
                    "statements.link_key",
                    "must be at least 32 characters",
                ));
            }
            None if !derive_link_key => Vec::new(),
            None => {
                use sha2::{Digest, Sha256};
                let base = crate::master_key::derived_jwt_secret(&self.secrets)?;
                let mut h = Sha256::new();
                h.update(b"nkpay statement download link key v1\0");
                h.update(base.expose());
                h.finalize().to_vec()
            }
        };
        within("statements.link_ttl_secs", st.link_ttl_secs, 60, 7 * 86400)?;
        within(
            "statements.job_interval_secs",
            st.job_interval_secs,
            1,
            3600,
        )?;
        let storage = match (st.storage.as_str(), &st.directory) {
            ("database", _) => StatementStorage::Database,
            ("directory", Some(dir)) if !dir.trim().is_empty() => {
                StatementStorage::Directory(dir.into())
            }
            ("directory", _) => {
                return Err(invalid(
                    "statements.directory",
                    "must name the shared directory when storage = \"directory\"",
                ));
            }
            _ => {
                return Err(invalid(
                    "statements.storage",
                    "must be \"database\" or \"directory\"",
                ));
            }
        };
        let compression = match st.compression_level {
            0 => Compression::Stored,
            l @ 1..=9 => Compression::Deflate(l),
            _ => return Err(invalid("statements.compression_level", "must be 0 to 9")),
        };
        Ok(StatementSettings {
            generate_at,
            link_key: nkpay_core::secret::Secret::new(link_key),
            link_ttl: Duration::from_secs(st.link_ttl_secs),
            storage,
            compression,
            job_interval: Duration::from_secs(st.job_interval_secs),
        })
    }

    fn validate_channels(&self) -> Result<(), ConfigError> {
        let c = &self.channels;
        for (key, value) in [
            ("channels.wechat_base_url", &c.wechat_base_url),
            ("channels.alipay_gateway_url", &c.alipay_gateway_url),
        ] {
            if url::Url::parse(value).is_err() {
                return Err(invalid(key, "must be an absolute http(s) URL"));
            }
        }
        within(
            "channels.connect_timeout_ms",
            c.connect_timeout_ms,
            1,
            MAX_CONNECT_TIMEOUT_MS,
        )?;
        within(
            "channels.request_timeout_ms",
            c.request_timeout_ms,
            1,
            MAX_REQUEST_TIMEOUT_MS,
        )?;
        if c.wechat_sign_type.parse::<WechatSignType>().is_err() {
            return Err(invalid(
                "channels.wechat_sign_type",
                "must be \"MD5\" or \"HMAC-SHA256\"",
            ));
        }
        if c.wechat_spbill_create_ip.parse::<IpAddr>().is_err() {
            return Err(invalid(
                "channels.wechat_spbill_create_ip",
                "must be an IPv4 or IPv6 address",
            ));
        }
        within(
            "channels.account_refresh_secs",
            c.account_refresh_secs,
            MIN_ACCOUNT_REFRESH.as_secs(),
            MAX_ACCOUNT_REFRESH.as_secs(),
        )?;
        Ok(())
    }

    fn validate_notify(&self) -> Result<(), ConfigError> {
        let n = &self.notify;
        delays(
            "notify.schedule_secs",
            &n.schedule_secs,
            MAX_NOTIFY_SCHEDULE_LEN,
        )?;
        within(
            "notify.concurrency",
            n.concurrency,
            1,
            MAX_NOTIFY_CONCURRENCY,
        )?;
        if n.per_host_concurrency == 0 || n.per_host_concurrency > n.concurrency {
            return Err(invalid(
                "notify.per_host_concurrency",
                "must be at least 1 and at most notify.concurrency",
            ));
        }
        within(
            "notify.timeout_ms",
            n.timeout_ms,
            100,
            MAX_NOTIFY_TIMEOUT_MS,
        )?;
        within(
            "notify.poll_interval_ms",
            n.poll_interval_ms,
            1,
            MAX_POLL_INTERVAL_MS,
        )?;
        Ok(())
    }

    fn validate_jobs(&self) -> Result<(), ConfigError> {
        let j = &self.jobs;
        delays(
            "jobs.query_delays_secs",
            &j.query_delays_secs,
            MAX_QUERY_DELAYS_LEN,
        )?;
        within(
            "jobs.query_max_attempts",
            j.query_max_attempts,
            1,
            MAX_QUERY_ATTEMPTS,
        )?;
        within(
            "jobs.expiry_grace_secs",
            j.expiry_grace_secs,
            0,
            MAX_DELAY_SECS,
        )?;
        // A create still in flight must not be taken for an order that never arrived.
        let request_secs = self.channels.request_timeout_ms.div_ceil(1000);
        within(
            "jobs.not_found_grace_secs",
            j.not_found_grace_secs,
            request_secs,
            MAX_DELAY_SECS,
        )
        .map_err(|_| {
            invalid(
                "jobs.not_found_grace_secs",
                format!(
                    "must be at least channels.request_timeout_ms ({request_secs} s) and at most \
                     {MAX_DELAY_SECS} (7 days)"
                ),
            )
        })?;
        within(
            "jobs.create_repeat_limit",
            j.create_repeat_limit,
            0,
            MAX_CREATE_REPEATS,
        )?;
        within("jobs.interval_ms", j.interval_ms, 10, MAX_POLL_INTERVAL_MS)?;
        within("jobs.batch_size", j.batch_size, 1, MAX_JOB_BATCH)?;
        within("jobs.concurrency", j.concurrency, 1, MAX_JOB_CONCURRENCY)?;
        within("jobs.nice", j.nice, 0, crate::jobs_runtime::MAX_NICE)?;
        // One row's work may be a close and a query, each up to the request time-out.
        let min_lease = request_secs.saturating_mul(2).max(1);
        if j.lease_secs < min_lease || j.lease_secs > MAX_LEASE_SECS {
            return Err(invalid(
                "jobs.lease_secs",
                format!(
                    "must be at least twice channels.request_timeout_ms ({min_lease} s) and at \
                     most {MAX_LEASE_SECS}"
                ),
            ));
        }
        Ok(())
    }

    /// What the engine is told: the job timings, the notify URL policy and how channel
    /// connectors are built (their gateways at `wechat` and `alipay`).
    /// How admin access tokens are signed (`admin.jwt_secret`, else derived from the master
    /// key) and how long they live (`admin.access_token_ttl_secs`), the refresh tokens'
    /// lifetime (`admin.refresh_token_ttl_secs`) and login throttling (`admin.login_*`).
    pub fn admin_auth(&self) -> Result<AdminAuthSettings, ConfigError> {
        let jwt_secret = match &self.admin.jwt_secret {
            Some(secret) => Secret::new(secret.as_bytes().to_vec()),
            None => crate::master_key::derived_jwt_secret(&self.secrets)?,
        };
        Ok(AdminAuthSettings {
            jwt_secret,
            access_ttl: Duration::from_secs(self.admin.access_token_ttl_secs),
            refresh_ttl: Duration::from_secs(self.admin.refresh_token_ttl_secs),
            throttle: LoginThrottle {
                window: Duration::from_secs(self.admin.login_window_secs),
                max_failures_per_account: self.admin.login_max_failures_per_account,
                max_failures_per_address: self.admin.login_max_failures_per_address,
            },
        })
    }

    pub fn engine_config(&self, wechat: Url, alipay: Url) -> EngineConfig {
        let j = &self.jobs;
        let defaults = EngineConfig::default();
        EngineConfig {
            query_delays: j
                .query_delays_secs
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            query_max_attempts: i32::try_from(j.query_max_attempts).unwrap_or(i32::MAX),
            expiry_grace: Duration::from_secs(j.expiry_grace_secs),
            not_found_grace: Duration::from_secs(j.not_found_grace_secs),
            create_repeat_limit: i32::try_from(j.create_repeat_limit).unwrap_or(i32::MAX),
            job_interval: Duration::from_millis(j.interval_ms),
            job_batch: j.batch_size,
            job_concurrency: j.concurrency,
            job_lease: Duration::from_secs(j.lease_secs),
            notify_url_policy: UrlPolicy {
                allow_loopback: self.notify.allow_loopback,
                allow_private: self.notify.allow_private,
            },
            channels: ChannelSettings {
                http: HttpSettings {
                    connect_timeout: Duration::from_millis(self.channels.connect_timeout_ms),
                    total_timeout: Duration::from_millis(self.channels.request_timeout_ms),
                    ..HttpSettings::default()
                },
                // Validated at load; the fallbacks are never taken.
                wechat_sign_type: self
                    .channels
                    .wechat_sign_type
                    .parse()
                    .unwrap_or(defaults.channels.wechat_sign_type),
                wechat_server_ip: self.channels.wechat_spbill_create_ip.clone(),
                wechat_base_url: Some(wechat),
                alipay_gateway_url: Some(alipay),
                account_refresh: Duration::from_secs(self.channels.account_refresh_secs),
                ..ChannelSettings::default()
            },
            // Validated at load; the fallback is never taken.
            admin_trusted_proxies: TrustedProxies::parse(&self.admin.trusted_proxies)
                .unwrap_or_default(),
            // Validated at load; the fallback is never taken.
            statements: self.statement_settings().unwrap_or_default(),
            // Validated at load; an out-of-range value is never met here.
            max_trans_amt: self
                .limits
                .max_trans_amt_fen
                .and_then(|fen| nkpay_core::money::Money::from_fen(fen).ok()),
            clock_offset: chrono::TimeDelta::seconds(self.server.clock_offset_secs),
            merchant_refresh: Duration::from_secs(self.server.merchant_refresh_secs),
            ..defaults
        }
    }

    /// How the merchant notification dispatcher runs.
    pub fn dispatcher_config(&self) -> DispatcherConfig {
        let n = &self.notify;
        let timeout = Duration::from_millis(n.timeout_ms);
        DispatcherConfig {
            schedule: n
                .schedule_secs
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            concurrency: n.concurrency,
            per_host_concurrency: n.per_host_concurrency,
            timeout,
            lease: (timeout * 4).max(Duration::from_secs(30)),
            poll_interval: Duration::from_millis(n.poll_interval_ms),
            policy: UrlPolicy {
                allow_loopback: n.allow_loopback,
                allow_private: n.allow_private,
            },
        }
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
    fn the_per_trade_cap_is_read_and_checked() {
        let config = Config::load(None, env(&[])).unwrap();
        assert_eq!(config.limits.max_trans_amt_fen, None);
        assert_eq!(
            config
                .engine_config(url("http://wx/"), url("http://ali/"))
                .max_trans_amt,
            None
        );
        let config = Config::load(
            None,
            env(&[("NKPAY__LIMITS__MAX_TRANS_AMT_FEN", "5000000")]),
        )
        .unwrap();
        let engine = config.engine_config(url("http://wx/"), url("http://ali/"));
        assert_eq!(engine.max_trans_amt.map(|m| m.fen()), Some(5_000_000));
        for bad in ["0", "-1", "10000000000"] {
            let err =
                Config::load(None, env(&[("NKPAY__LIMITS__MAX_TRANS_AMT_FEN", bad)])).unwrap_err();
            assert!(
                err.to_string().contains("limits.max_trans_amt_fen"),
                "{bad}: {err}"
            );
        }
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
        assert_eq!(config.database.max_connections, 32);
        assert_eq!(config.jobs, JobsConfig::default());
        let engine = config.engine_config(url("https://wx/"), url("https://ali/"));
        assert_eq!(engine.channels.wechat_sign_type, WechatSignType::Md5);
        assert_eq!(engine.channels.wechat_server_ip, "203.0.113.10");
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    /// The embedded default states the engine's own defaults, so reading it tells the truth.
    #[test]
    fn the_embedded_default_states_the_engine_defaults() {
        let config = Config::load(None, env(&[])).unwrap();
        assert_eq!(config.jobs, JobsConfig::default());
        let got = config.engine_config(url("http://wx/"), url("http://ali/"));
        let want = EngineConfig::default();
        assert_eq!(got.query_delays, want.query_delays);
        assert_eq!(got.query_max_attempts, want.query_max_attempts);
        assert_eq!(got.expiry_grace, want.expiry_grace);
        assert_eq!(got.not_found_grace, want.not_found_grace);
        assert_eq!(got.create_repeat_limit, want.create_repeat_limit);
        assert_eq!(got.job_interval, want.job_interval);
        assert_eq!(got.job_batch, want.job_batch);
        assert_eq!(got.job_concurrency, want.job_concurrency);
        assert_eq!(got.job_lease, want.job_lease);
        assert_eq!(
            got.channels.wechat_sign_type,
            want.channels.wechat_sign_type
        );
        assert_eq!(
            got.channels.wechat_server_ip,
            want.channels.wechat_server_ip
        );
    }

    /// A configuration written before the new keys existed still loads, with the defaults.
    #[test]
    fn a_file_without_the_job_and_wechat_keys_takes_the_defaults() {
        let old: String = DEFAULT_TOML
            .split("\n[jobs]\n")
            .next()
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("wechat_sign_type") && !l.starts_with("wechat_spbill"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            + "[log]\nformat = \"text\"\nlevel = \"info\"\n";
        assert!(!old.contains("[jobs]") && !old.contains("wechat_sign_type"));
        let dir = std::env::temp_dir().join(format!("nkpay-config-old-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("old.toml");
        std::fs::write(&file, old).unwrap();
        let config = Config::load(Some(&file), env(&[])).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(config.jobs, JobsConfig::default());
        assert_eq!(config.channels.wechat_sign_type, "MD5");
        assert_eq!(config.channels.wechat_spbill_create_ip, "127.0.0.1");
    }

    #[test]
    fn account_refresh_and_trusted_proxies_are_read_and_checked() {
        let config = Config::load(None, env(&[])).unwrap();
        let engine = config.engine_config(url("http://wx/"), url("http://ali/"));
        assert_eq!(engine.channels.account_refresh, DEFAULT_ACCOUNT_REFRESH);
        assert!(engine.admin_trusted_proxies.is_empty());
        let config = Config::load(
            None,
            env(&[
                ("NKPAY__CHANNELS__ACCOUNT_REFRESH_SECS", "30"),
                (
                    "NKPAY__ADMIN__TRUSTED_PROXIES",
                    "[\"10.0.0.0/8\", \"192.0.2.7\"]",
                ),
            ]),
        )
        .unwrap();
        let engine = config.engine_config(url("http://wx/"), url("http://ali/"));
        assert_eq!(engine.channels.account_refresh, Duration::from_secs(30));
        assert!(
            engine
                .admin_trusted_proxies
                .contains("10.9.8.7".parse().unwrap())
        );
        assert!(
            engine
                .admin_trusted_proxies
                .contains("192.0.2.7".parse().unwrap())
        );
        assert!(
            !engine
                .admin_trusted_proxies
                .contains("192.0.2.8".parse().unwrap())
        );
        let err =
            Config::load(None, env(&[("NKPAY__CHANNELS__ACCOUNT_REFRESH_SECS", "0")])).unwrap_err();
        assert!(
            err.to_string().contains("channels.account_refresh_secs"),
            "{err}"
        );
        let err = Config::load(
            None,
            env(&[("NKPAY__ADMIN__TRUSTED_PROXIES", "[\"proxy\"]")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("admin.trusted_proxies"), "{err}");
    }

    #[test]
    fn merchant_refresh_is_read_and_checked() {
        let config = Config::load(None, env(&[])).unwrap();
        let engine = config.engine_config(url("http://wx/"), url("http://ali/"));
        assert_eq!(engine.merchant_refresh, DEFAULT_MERCHANT_REFRESH);
        for (set, want) in [("0", Duration::ZERO), ("60", MAX_MERCHANT_REFRESH)] {
            let config =
                Config::load(None, env(&[("NKPAY__SERVER__MERCHANT_REFRESH_SECS", set)])).unwrap();
            let engine = config.engine_config(url("http://wx/"), url("http://ali/"));
            assert_eq!(engine.merchant_refresh, want, "{set}");
        }
        let err =
            Config::load(None, env(&[("NKPAY__SERVER__MERCHANT_REFRESH_SECS", "61")])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("server.merchant_refresh_secs"), "{text}");
        assert!(text.contains("60"), "{text}");
    }

    #[test]
    fn the_reconciliation_section_is_read_checked_and_defaults_to_the_job_defaults() {
        use nkpay_engine::reconciliation::job::Schedule;
        let config = Config::load(None, env(&[])).unwrap();
        assert_eq!(config.reconciliation, ReconciliationConfig::default());
        let s = config.reconciliation_schedule().unwrap().unwrap();
        let want = Schedule::default();
        assert_eq!(
            (s.run_after, s.interval, s.stale_after),
            (want.run_after, want.interval, want.stale_after)
        );
        let config = Config::load(
            None,
            env(&[
                ("NKPAY__RECONCILIATION__RUN_AFTER", "11:05"),
                ("NKPAY__RECONCILIATION__INTERVAL_SECS", "30"),
                ("NKPAY__RECONCILIATION__STALE_AFTER_SECS", "900"),
            ]),
        )
        .unwrap();
        let s = config.reconciliation_schedule().unwrap().unwrap();
        assert_eq!(
            s.run_after,
            chrono::NaiveTime::from_hms_opt(11, 5, 0).unwrap()
        );
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!(s.stale_after, Duration::from_secs(900));
        let off = Config::load(None, env(&[("NKPAY__RECONCILIATION__ENABLED", "false")])).unwrap();
        assert!(off.reconciliation_schedule().unwrap().is_none());
        for (key, value, name) in [
            (
                "NKPAY__RECONCILIATION__RUN_AFTER",
                "25:00",
                "reconciliation.run_after",
            ),
            (
                "NKPAY__RECONCILIATION__RUN_AFTER",
                "1030",
                "reconciliation.run_after",
            ),
            (
                "NKPAY__RECONCILIATION__INTERVAL_SECS",
                "0",
                "reconciliation.interval_secs",
            ),
            (
                "NKPAY__RECONCILIATION__STALE_AFTER_SECS",
                "59",
                "reconciliation.stale_after_secs",
            ),
        ] {
            let err = Config::load(None, env(&[(key, value)])).unwrap_err();
            assert!(err.to_string().contains(name), "{key}={value}: {err}");
        }
    }

    #[test]
    fn the_metrics_section_is_read_and_its_token_checked() {
        let config = Config::load(None, env(&[])).unwrap();
        assert!(config.metrics.enabled);
        assert!(config.metrics.token.is_none());
        let config = Config::load(
            None,
            env(&[
                ("NKPAY__METRICS__ENABLED", "false"),
                ("NKPAY__METRICS__TOKEN", "0123456789abcdef"),
            ]),
        )
        .unwrap();
        assert!(!config.metrics.enabled);
        assert_eq!(config.metrics.token.as_deref(), Some("0123456789abcdef"));
        assert!(!format!("{config:?}").contains("0123456789abcdef"));
        let err = Config::load(None, env(&[("NKPAY__METRICS__TOKEN", "short")])).unwrap_err();
        assert!(err.to_string().contains("metrics.token"), "{err}");
        let err = Config::load(None, env(&[("NKPAY__METRICS__PORT", "9100")])).unwrap_err();
        assert!(err.to_string().contains("port"), "{err}");
    }

    #[test]
    fn client_certificate_files_are_no_longer_configuration() {
        for key in [
            "NKPAY__CHANNELS__WECHAT_CLIENT_CERT_FILE",
            "NKPAY__CHANNELS__WECHAT_CLIENT_KEY_FILE",
        ] {
            let err = Config::load(None, env(&[(key, "/etc/nkpay/x.pem")])).unwrap_err();
            assert!(err.to_string().contains("wechat_client_"), "{err}");
        }
    }
}
