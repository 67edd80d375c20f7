//! How a sandbox is started: where it listens, its accounts, its clock scale, fault settings and
//! TLS. `SandboxConfig::demo()` is the zero-configuration start; `load_file` reads a TOML or JSON
//! file of the same shape as the exported accounts (plus optional `time_scale`, `timings`,
//! `faults`).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::accounts::Accounts;
use crate::error::SandboxError;
use crate::faults::Faults;

/// Durations of the simulated services, in channel time (multiplied by `time_scale`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timings {
    /// WeChat refuses closeorder until an order is this old (5 minutes).
    pub close_min_age_secs: f64,
    /// A WeChat refund stays PROCESSING this long before it reaches its outcome.
    pub refund_settle_secs: f64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            close_min_age_secs: 300.0,
            refund_settle_secs: 5.0,
        }
    }
}

/// TLS material, PEM text. With TLS on, `secapi/` calls demand a client certificate signed by
/// `client_ca_pem`, as WeChat demands the merchant's certificate.
#[derive(Clone)]
pub struct TlsConfig {
    pub cert_pem: String,
    pub key_pem: String,
    pub client_ca_pem: String,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
pub struct SandboxConfig {
    pub host: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// Multiplies every channel delay: notify retry intervals, refund settling, the close-order
    /// minimum age. 0.001 turns WeChat's 24-hour retry schedule into 87 seconds.
    pub time_scale: f64,
    pub accounts: Accounts,
    pub faults: Faults,
    pub timings: Timings,
    pub tls: Option<TlsConfig>,
    /// Per notify delivery attempt, in real milliseconds.
    pub notify_timeout_ms: u64,
    /// actix workers; the sandbox is light, two are plenty.
    pub workers: usize,
}

impl SandboxConfig {
    /// Demo accounts on 127.0.0.1, an ephemeral port, real time.
    pub fn demo() -> Self {
        SandboxConfig {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            time_scale: 1.0,
            accounts: Accounts::demo(),
            faults: Faults::default(),
            timings: Timings::default(),
            tls: None,
            notify_timeout_ms: 5000,
            workers: 2,
        }
    }

    /// Reads accounts (and optional `time_scale`, `timings`, `faults`) from a `.toml` or `.json`
    /// file over the demo defaults for everything else. A file with no accounts at all keeps the
    /// demo accounts.
    pub fn load_file(path: &Path) -> Result<Self, SandboxError> {
        let text = std::fs::read_to_string(path).map_err(|source| SandboxError::ReadFile {
            path: path.display().to_string(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let file: ConfigFile = if is_json {
            serde_json::from_str(&text)
                .map_err(|e| SandboxError::Config(format!("{}: {e}", path.display())))?
        } else {
            toml::from_str(&text)
                .map_err(|e| SandboxError::Config(format!("{}: {e}", path.display())))?
        };
        let mut config = SandboxConfig::demo();
        let has_accounts = !file.accounts.wechat.service_providers.is_empty()
            || !file.accounts.alipay.isv_apps.is_empty();
        if has_accounts {
            config.accounts = file.accounts;
        }
        if let Some(scale) = file.time_scale {
            config.time_scale = scale;
        }
        if let Some(timings) = file.timings {
            config.timings = timings;
        }
        if let Some(faults) = file.faults {
            config.faults = faults;
        }
        Ok(config)
    }

    pub(crate) fn validate(&self) -> Result<(), SandboxError> {
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err(SandboxError::Config(format!(
                "time_scale must be a positive number, got {}",
                self.time_scale
            )));
        }
        for (name, v) in [
            (
                "timings.close_min_age_secs",
                self.timings.close_min_age_secs,
            ),
            (
                "timings.refund_settle_secs",
                self.timings.refund_settle_secs,
            ),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(SandboxError::Config(format!(
                    "{name} must be zero or more seconds, got {v}"
                )));
            }
        }
        self.faults.validate().map_err(SandboxError::Config)?;
        Ok(())
    }
}

/// The file form: the accounts at the top level, so an `--accounts-out` file is a valid config.
#[derive(Deserialize)]
struct ConfigFile {
    #[serde(flatten)]
    accounts: Accounts,
    time_scale: Option<f64>,
    timings: Option<Timings>,
    faults: Option<Faults>,
}
