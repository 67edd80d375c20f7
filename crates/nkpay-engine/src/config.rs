//! What the engine is told by configuration: how the channel jobs pace themselves, how long
//! trades may outlive their expiry, which `notify_url`s are acceptable, and how channel
//! connectors are built.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
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
    /// How many times a create whose outcome was left unknown (the channel may have made the
    /// order; its reply was lost) is repeated with the same parameters, by the merchant's
    /// replays and the trade job together, before the trade is closed upstream and fails.
    pub create_repeat_limit: i32,
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
    /// The platform's own reverse proxies in front of the admin API (`admin.trusted_proxies`):
    /// only their `X-Forwarded-For` is believed when the audit log records a caller's address.
    pub admin_trusted_proxies: TrustedProxies,
    /// How statement files are made, kept and handed out (`[statements]`).
    pub statements: crate::statements::StatementSettings,
    /// The platform's cap on one trade's `trans_amt` (`limits.max_trans_amt_fen`), below the
    /// channels' own limits; `None` leaves only those (issue 15, fault 5).
    pub max_trans_amt: Option<nkpay_core::money::Money>,
    /// A test and operations knob (`server.clock_offset_secs`, signed, at most 400 days either
    /// way; zero in production): added to the wall clock by the scheduled once-a-day jobs when
    /// they decide which day is due — the statement job (`statements.generate_at`) and the
    /// reconciliation job (`reconciliation.run_after`) — so a test can make a node believe it
    /// is tomorrow and close today. The statement job runs wholly on the shifted clock (it also
    /// decides with it whether a day has closed, and stamps its runs and files with it); the
    /// reconciliation job only picks its day with it. Everything else stays on the real clock:
    /// trade, refund and notification timestamps, leases, node identity, the API's date rules.
    /// See [`EngineConfig::scheduling_clock`].
    pub clock_offset: chrono::TimeDelta,
    /// How long a node reuses a merchant's setup as read: a merchant API caller and its
    /// merchant (keys, status, review and freeze; [`crate::Callers::verify_caller_for`]) and
    /// the rows a new trade's route came from (business, channel account, appid binding;
    /// `payments/routing.rs`, kept only when they gave a route). The longest a change made on
    /// another node, or by `nkpay admin` in another process, takes to reach this one — on the
    /// node that made it the change takes effect at once. Zero reads them on every request.
    /// [`DEFAULT_MERCHANT_REFRESH`]; the server takes `server.merchant_refresh_secs` within
    /// 0..=[`MAX_MERCHANT_REFRESH`].
    pub merchant_refresh: Duration,
}

/// The default of [`EngineConfig::merchant_refresh`]: 2 seconds.
pub const DEFAULT_MERCHANT_REFRESH: Duration = Duration::from_secs(2);
/// The longest `server.merchant_refresh_secs` the server accepts: 60 seconds (a suspension or a
/// freeze must not wait longer to reach every node).
pub const MAX_MERCHANT_REFRESH: Duration = Duration::from_secs(60);

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
            create_repeat_limit: 5,
            notify_url_policy: UrlPolicy::PUBLIC_ONLY,
            req_date_tolerance_days: 1,
            replay_wait: Duration::from_secs(15),
            job_interval: Duration::from_secs(1),
            job_batch: 50,
            job_concurrency: 8,
            job_lease: Duration::from_secs(120),
            channels: ChannelSettings::default(),
            admin_auth: AdminAuthSettings::default(),
            admin_trusted_proxies: TrustedProxies::default(),
            statements: crate::statements::StatementSettings::default(),
            max_trans_amt: None,
            clock_offset: chrono::TimeDelta::zero(),
            merchant_refresh: DEFAULT_MERCHANT_REFRESH,
        }
    }
}

impl EngineConfig {
    /// The time the scheduled once-a-day jobs read as "now" to decide which day is due: the
    /// real time `now` (UTC) plus [`EngineConfig::clock_offset`].
    pub fn scheduling_clock(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        now.checked_add_signed(self.clock_offset).unwrap_or(now)
    }

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

/// The reverse proxies whose `X-Forwarded-For` is believed: IP addresses and CIDR networks
/// (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`). Empty by default: the caller's address is the
/// socket peer, whatever headers it sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Reads a list of addresses and CIDR networks. `Err` names the first entry that is
    /// neither, with its position (0-based).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, String> {
        entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let text = entry.as_ref().trim();
                text.parse::<IpNet>()
                    .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("entry {i} ({text:?}) is neither an IP address nor a CIDR network")
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    /// Whether `ip` is one of the trusted proxies (an IPv4-mapped IPv6 address counts as its
    /// IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
    /// How often, at most, a node compares its cached connectors with the stored accounts'
    /// versions (one query of ids and versions) and drops those whose account changed
    /// (disabled, enabled, credentials replaced) on any node: the longest a change takes to
    /// reach every node. [`DEFAULT_ACCOUNT_REFRESH`]; the server takes
    /// `channels.account_refresh_secs` within [`MIN_ACCOUNT_REFRESH`]..=[`MAX_ACCOUNT_REFRESH`].
    pub account_refresh: Duration,
}

/// The default of [`ChannelSettings::account_refresh`]: 5 seconds.
pub const DEFAULT_ACCOUNT_REFRESH: Duration = Duration::from_secs(5);
/// The shortest `channels.account_refresh_secs` the server accepts: 1 second.
pub const MIN_ACCOUNT_REFRESH: Duration = Duration::from_secs(1);
/// The longest `channels.account_refresh_secs` the server accepts: 300 seconds (a disabled
/// account's credentials must not linger longer on another node).
pub const MAX_ACCOUNT_REFRESH: Duration = Duration::from_secs(300);

impl Default for ChannelSettings {
    fn default() -> Self {
        ChannelSettings {
            http: HttpSettings::default(),
            wechat_sign_type: WechatSignType::Md5,
            wechat_server_ip: "127.0.0.1".to_owned(),
            wechat_base_url: None,
            alipay_gateway_url: None,
            extra_roots_pem: None,
            account_refresh: DEFAULT_ACCOUNT_REFRESH,
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
