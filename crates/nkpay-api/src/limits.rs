//! Abuse limits at the HTTP edge (issue 15), counted by `governor`'s keyed GCRA limiters, in
//! this node's memory: with several nodes behind a balancer each node counts on its own, so a
//! caller may get up to the node count times the rate (config/default.toml `[limits]`).
//!
//! - The merchant API: requests per proven caller (`sys_id`, after its signature verified, so a
//!   forged `sys_id` cannot spend another caller's allowance); over it, a signed `90000000`.
//! - Channel callbacks (`/callback/…`, unauthenticated until verified): requests per client
//!   address, and a body cap; either refusal is answered with the channel's failure answer and
//!   recorded nowhere, so a stranger cannot fill the inbound message table while a channel's
//!   own retries still get through later.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The configured limits (`[limits]`); a rate of 0 turns that limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Merchant API requests per second per `sys_id`, sustained (`limits.per_sys_id_per_sec`).
    pub per_sys_id_per_sec: u32,
    /// Merchant API requests a `sys_id` may send at once before the rate applies
    /// (`limits.per_sys_id_burst`; at least 1 when the rate is on).
    pub per_sys_id_burst: u32,
    /// Channel callbacks per second per client address (`limits.callback_per_addr_per_sec`).
    pub callback_per_addr_per_sec: u32,
    /// Channel callbacks a client address may send at once (`limits.callback_burst`).
    pub callback_burst: u32,
    /// The largest channel callback body read, in bytes (`limits.callback_body_limit_bytes`);
    /// WeChat Pay and Alipay notifies are a few KiB.
    pub callback_body_limit_bytes: usize,
}

impl Default for LimitsConfig {
    /// 100 requests per second per caller (burst 200); 50 callbacks per second per address
    /// (burst 100); callback bodies up to 32 KiB.
    fn default() -> Self {
        LimitsConfig {
            per_sys_id_per_sec: 100,
            per_sys_id_burst: 200,
            callback_per_addr_per_sec: 50,
            callback_burst: 100,
            callback_body_limit_bytes: 32 * 1024,
        }
    }
}

impl LimitsConfig {
    /// No rate limits; callback bodies still capped at the default size.
    pub fn off() -> Self {
        LimitsConfig {
            per_sys_id_per_sec: 0,
            per_sys_id_burst: 0,
            callback_per_addr_per_sec: 0,
            callback_burst: 0,
            ..LimitsConfig::default()
        }
    }
}

/// Keys kept before idle ones are dropped (a limiter whose bucket is full again remembers
/// nothing worth keeping), so a sender cycling through addresses cannot grow memory unbounded.
const MAX_KEYS: usize = 10_000;

/// One keyed limiter, or none when its rate is 0.
struct Keyed<K: Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
    per_sec: u32,
    burst: u32,
}

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn new(per_sec: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_sec).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Keyed {
            limiter,
            per_sec,
            burst,
        }
    }

    /// Whether `key` may go on now (and counts it).
    fn allow(&self, key: &K) -> bool {
        let Some(limiter) = &self.limiter else {
            return true;
        };
        if limiter.len() > MAX_KEYS {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter.check_key(key).is_ok()
    }
}

/// The node's abuse limits, shared by every worker.
pub struct Limits {
    per_sys_id: Keyed<String>,
    callbacks: Keyed<IpAddr>,
    callback_body_limit_bytes: usize,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("per_sys_id_per_sec", &self.per_sys_id.per_sec)
            .field("per_sys_id_burst", &self.per_sys_id.burst)
            .field("callback_per_addr_per_sec", &self.callbacks.per_sec)
            .field("callback_burst", &self.callbacks.burst)
            .field("callback_body_limit_bytes", &self.callback_body_limit_bytes)
            .finish()
    }
}

impl Limits {
    /// Limits counting from now.
    pub fn new(config: LimitsConfig) -> Self {
        Limits {
            per_sys_id: Keyed::new(config.per_sys_id_per_sec, config.per_sys_id_burst),
            callbacks: Keyed::new(config.callback_per_addr_per_sec, config.callback_burst),
            callback_body_limit_bytes: config.callback_body_limit_bytes,
        }
    }

    /// Counts one merchant API request of the proven caller `sys_id`; `Err` with the
    /// `resp_desc` of its `90000000` refusal when it is over its rate.
    pub fn check_sys_id(&self, sys_id: &str) -> Result<(), String> {
        if self.per_sys_id.allow(&sys_id.to_owned()) {
            return Ok(());
        }
        Err(format!(
            "请求过于频繁: sys_id {sys_id} is over {} requests per second (burst {}); retry later",
            self.per_sys_id.per_sec, self.per_sys_id.burst
        ))
    }

    /// Counts one channel callback from `addr` (`None`: the peer is unknown, not counted);
    /// `false` when the address is over its rate.
    pub fn allow_callback(&self, addr: Option<IpAddr>) -> bool {
        addr.is_none_or(|a| self.callbacks.allow(&a))
    }

    /// The largest channel callback body read, in bytes.
    pub fn callback_body_limit_bytes(&self) -> usize {
        self.callback_body_limit_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_excess_is_refused_per_key() {
        let limits = Limits::new(LimitsConfig {
            per_sys_id_per_sec: 1,
            per_sys_id_burst: 3,
            ..LimitsConfig::default()
        });
        let passed = (0..3).filter(|_| limits.check_sys_id("A").is_ok()).count();
        assert_eq!(passed, 3);
        let err = limits.check_sys_id("A").unwrap_err();
        assert!(err.contains("sys_id A"), "{err}");
        assert!(
            limits.check_sys_id("B").is_ok(),
            "another caller has its own"
        );
    }

    #[test]
    fn a_zero_rate_is_off() {
        let limits = Limits::new(LimitsConfig::off());
        assert!((0..1000).all(|_| limits.check_sys_id("A").is_ok()));
        let ip: IpAddr = [127, 0, 0, 1].into();
        assert!((0..1000).all(|_| limits.allow_callback(Some(ip))));
    }
}
