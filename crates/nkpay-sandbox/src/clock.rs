//! Time as the channels show it: wall-clock timestamps in Asia/Shanghai, and channel delays
//! shrunk by the configured time scale so tests can live through a 24-hour retry schedule.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeScale(pub f64);

impl TimeScale {
    /// A channel delay of `secs` seconds, in real time.
    pub fn delay(self, secs: f64) -> Duration {
        Duration::from_secs_f64((secs * self.0).max(0.0))
    }
}

pub(crate) fn now() -> DateTime<Utc> {
    Utc::now()
}

/// `yyyyMMddHHmmss` in Asia/Shanghai (WeChat `time_end`).
pub(crate) fn wechat_compact(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai)
        .format("%Y%m%d%H%M%S")
        .to_string()
}

/// `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai (Alipay times, WeChat refund success_time).
pub(crate) fn shanghai_seconds(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// `yyyy-MM-dd HH:mm:ss.SSS` in Asia/Shanghai (Alipay `gmt_refund`).
pub(crate) fn shanghai_millis(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai)
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

/// `yyyy年MM月dd日 HH:mm:ss` in Asia/Shanghai (Alipay bill headers).
pub(crate) fn shanghai_chinese(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai)
        .format("%Y年%m月%d日 %H:%M:%S")
        .to_string()
}

/// The Asia/Shanghai calendar day of `t`, `yyyyMMdd`.
pub(crate) fn shanghai_day(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai).format("%Y%m%d").to_string()
}

/// Parses a wall-clock time in Asia/Shanghai with `format`; None when malformed or not a real
/// instant.
pub(crate) fn parse_shanghai(text: &str, format: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text, format).ok()?;
    let local = Shanghai.from_local_datetime(&naive).single()?;
    Some(local.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_is_eight_hours_ahead_of_utc() {
        let t = Utc.with_ymd_and_hms(2025, 1, 31, 16, 30, 5).unwrap();
        assert_eq!(wechat_compact(t), "20250201003005");
        assert_eq!(shanghai_seconds(t), "2025-02-01 00:30:05");
        assert_eq!(shanghai_day(t), "20250201");
        assert_eq!(parse_shanghai("20250201003005", "%Y%m%d%H%M%S"), Some(t));
    }

    #[test]
    fn malformed_times_do_not_parse() {
        assert_eq!(parse_shanghai("20251301000000", "%Y%m%d%H%M%S"), None);
        assert_eq!(parse_shanghai("2025-01-01", "%Y%m%d%H%M%S"), None);
    }

    #[test]
    fn delays_scale() {
        assert_eq!(TimeScale(0.001).delay(15.0), Duration::from_millis(15));
    }
}
