//! What the engine is told by configuration: how the channel jobs pace themselves, how long
//! trades may outlive their expiry, which `notify_url`s are acceptable, and how channel
//! connectors are built.

use std::time::Duration;

use nkpay_channels::HttpSettings;
use nkpay_channels::wechat::WechatSignType;
use url::Url;

use crate::admin_identity::AdminAuthSettings;
use crate::notifications::url_guard::UrlPolicy;

/// The engine's timings and policies; `Default` is the production setting (the server reads
/// overrides from its configuration file).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Delays between channel queries of a trade nobody called back about: the first query
    /// comes `query_delays[0]` after the order, then each next delay; the last one repeats.
    pub query_delays: Vec<Duration>,
    /// After this many queries without a final state the job stops asking and opens an
    /// incident (an operator looks at it).
    pub query_max_attempts: i32,
    /// An unpaid trade is closed (upstream and here) this long after its `time_expire`.
    pub expiry_grace: Duration,
    /// How old a WeChat order must be before `closeorder` accepts it (5 minutes at WeChat Pay;
    /// tests against a faster simulator shorten it). Handed to every WeChat connector, whose
    /// `Channel::earliest_close` the engine follows: earlier closes are accepted and carried out
    /// by the job once allowed.
    pub wechat_close_min_age: Duration,
    /// A WeChat order the channel does not know is given up only once the trade is this old,
    /// so a create still in flight is not mistaken for one that never arrived.
    pub not_found_grace: Duration,
    /// Which `notify_url` destinations merchants may give.
    pub notify_url_policy: UrlPolicy,
    /// `req_date` may be this many days before or after today (Asia/Shanghai).
    pub req_date_tolerance_days: i64,
    /// How long a duplicate request waits for the first one's answer before answering from
    /// the trade as it stands.
    pub replay_wait: Duration,
    /// How often the job loop looks for due trades.
    pub job_interval: Duration,
    /// Trades (or refunds) one job round claims at most; a full batch starts the next round at
    /// once.
    pub job_batch: u64,
    /// How many claimed trades (or refunds) one node works on at once: each is a channel call.
    pub job_concurrency: usize,
    /// How long a claim holds a trade; longer than any channel call, so a live node never loses
    /// one it is working on, and a dead node's claims come back after it.
    pub job_lease: Duration,
    /// How the channel connectors are built.
    pub channels: ChannelSettings,
    /// How admin access tokens are signed and how long they live.
    pub admin_auth: AdminAuthSettings,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            query_delays: [5, 10, 30, 60, 120, 300]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            query_max_attempts: 400,
            expiry_grace: Duration::from_secs(60),
            wechat_close_min_age: nkpay_channels::wechat::CLOSE_MIN_AGE,
            not_found_grace: Duration::from_secs(60),
            notify_url_policy: UrlPolicy::PUBLIC_ONLY,
            req_date_tolerance_days: 1,
            replay_wait: Duration::from_secs(15),
            job_interval: Duration::from_secs(1),
            job_batch: 50,
            job_concurrency: 8,
            job_lease: Duration::from_secs(120),
            channels: ChannelSettings::default(),
            admin_auth: AdminAuthSettings::default(),
        }
    }
}

impl EngineConfig {
    /// The delay before query number `attempt` (0-based); 60 s when `query_delays` is empty.
    pub fn query_delay(&self, attempt: i32) -> Duration {
        let i = usize::try_from(attempt.max(0)).unwrap_or(usize::MAX);
        self.query_delays
            .get(i)
            .or(self.query_delays.last())
            .copied()
            .unwrap_or(Duration::from_secs(60))
    }
}

/// A configured duration as a chrono span (saturating: a huge setting means "never").
pub(crate) fn delta(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

/// How connectors are built from the stored channel accounts.
#[derive(Debug, Clone)]
pub struct ChannelSettings {
    /// Time-outs and permitted re-sends of every channel call.
    pub http: HttpSettings,
    /// How WeChat requests and `pay_info` are signed.
    pub wechat_sign_type: WechatSignType,
    /// Sent as `spbill_create_ip` when the payer's IP is not known.
    pub wechat_server_ip: String,
    /// Used when a stored account has no base URL of its own.
    pub wechat_base_url: Option<Url>,
    /// Used when a stored Alipay account has no gateway URL of its own.
    pub alipay_gateway_url: Option<Url>,
    /// Extra trusted CA certificates (PEM) for a channel behind a private CA (a TLS sandbox).
    pub extra_roots_pem: Option<String>,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        ChannelSettings {
            http: HttpSettings::default(),
            wechat_sign_type: WechatSignType::Md5,
            wechat_server_ip: "127.0.0.1".to_owned(),
            wechat_base_url: None,
            alipay_gateway_url: None,
            extra_roots_pem: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_delays_repeat_the_last_one() {
        let c = EngineConfig::default();
        assert_eq!(c.query_delay(0), Duration::from_secs(5));
        assert_eq!(c.query_delay(5), Duration::from_secs(300));
        assert_eq!(c.query_delay(99), Duration::from_secs(300));
        let empty = EngineConfig {
            query_delays: Vec::new(),
            ..EngineConfig::default()
        };
        assert_eq!(empty.query_delay(0), Duration::from_secs(60));
    }
}
