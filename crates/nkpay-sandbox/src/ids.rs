//! Ids the simulated channels mint, shaped like the real ones (lengths and prefixes), unique
//! within one sandbox through a counter, unpredictable across sandboxes through random digits.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;
use rand::Rng;
use rand::distributions::{Alphanumeric, Uniform};

#[derive(Debug, Default)]
pub(crate) struct Ids(AtomicU64);

fn random_digits(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(Uniform::new_inclusive(b'0', b'9'))
        .take(n)
        .map(char::from)
        .collect()
}

pub(crate) fn random_alnum(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

fn day(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai).format("%Y%m%d").to_string()
}

impl Ids {
    fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// `wx` + `yyyyMMddHHmmss` + 20 characters: 36 in all, like WeChat's.
    pub fn prepay_id(&self, t: DateTime<Utc>) -> String {
        let stamp = t.with_timezone(&Shanghai).format("%Y%m%d%H%M%S");
        format!("wx{stamp}{:010x}{}", self.next(), random_alnum(10))
    }

    /// 28 digits starting 4200.
    pub fn transaction_id(&self, t: DateTime<Utc>) -> String {
        format!("4200{:010}{}{}", self.next(), day(t), random_digits(6))
    }

    /// 29 digits starting 50.
    pub fn refund_id(&self, t: DateTime<Utc>) -> String {
        format!("503{:010}{}{}", self.next(), day(t), random_digits(8))
    }

    /// 28 digits: the day, `22001`, then a sequence.
    pub fn alipay_trade_no(&self, t: DateTime<Utc>) -> String {
        format!("{}22001{:010}{}", day(t), self.next(), random_digits(5))
    }

    /// 34 digits.
    pub fn alipay_notify_id(&self, t: DateTime<Utc>) -> String {
        format!("{}{:012}{}", day(t), self.next(), random_digits(14))
    }

    /// The token in a precreate `qr_code`.
    pub fn qr_token(&self) -> String {
        format!("bax{:08x}{}", self.next(), random_alnum(13))
    }

    pub fn notify_seq(&self) -> u64 {
        self.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_channels_lengths() {
        let ids = Ids::default();
        let t = Utc::now();
        assert_eq!(ids.prepay_id(t).len(), 36);
        assert_eq!(ids.transaction_id(t).len(), 28);
        assert_eq!(ids.refund_id(t).len(), 29);
        assert_eq!(ids.alipay_trade_no(t).len(), 28);
        assert_eq!(ids.alipay_notify_id(t).len(), 34);
        assert_ne!(ids.transaction_id(t), ids.transaction_id(t));
    }
}
