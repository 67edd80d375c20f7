//! Both channels write times in Asia/Shanghai local time; inside we keep UTC.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

/// `yyyyMMddHHmmss` (WeChat).
pub(crate) const COMPACT: &str = "%Y%m%d%H%M%S";
/// `yyyy-MM-dd HH:mm:ss` (Alipay, WeChat bills and refund notifies).
pub(crate) const DASHED: &str = "%Y-%m-%d %H:%M:%S";
/// The same with optional fractional seconds, as Alipay writes `gmt_refund`.
pub(crate) const DASHED_FRACTION: &str = "%Y-%m-%d %H:%M:%S%.f";

pub(crate) fn format(t: DateTime<Utc>, pattern: &str) -> String {
    t.with_timezone(&Shanghai).format(pattern).to_string()
}

/// Shanghai has had no daylight saving since 1991, so every local time maps to one instant.
pub(crate) fn parse(text: &str, pattern: &str) -> Result<DateTime<Utc>, String> {
    let naive = NaiveDateTime::parse_from_str(text, pattern)
        .map_err(|e| format!("time {text:?} is not {pattern}: {e}"))?;
    Shanghai
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("time {text:?} does not exist in Asia/Shanghai"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_local_time_is_eight_hours_ahead_of_utc() {
        let t = parse("20141030133525", COMPACT).unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2014, 10, 30, 5, 35, 25).unwrap());
        assert_eq!(format(t, DASHED), "2014-10-30 13:35:25");
    }

    #[test]
    fn fractional_seconds_are_optional_in_the_fraction_pattern() {
        let whole = parse("2024-03-01 11:30:00", DASHED_FRACTION).unwrap();
        let milli = parse("2024-03-01 11:30:00.123", DASHED_FRACTION).unwrap();
        assert_eq!((milli - whole).num_milliseconds(), 123);
    }

    #[test]
    fn malformed_time_names_the_expected_pattern() {
        assert!(
            parse("2014-10-30", COMPACT)
                .unwrap_err()
                .contains("%Y%m%d%H%M%S")
        );
    }
}
