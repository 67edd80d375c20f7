//! The merchant API writes dates and times in Asia/Shanghai (`req_date` `yyyyMMdd`,
//! `time_expire` / `end_time` `yyyyMMddHHmmss`); inside everything is UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

/// `yyyyMMdd`, the form of `req_date` (and of the stored request dates).
pub(crate) const DATE: &str = "%Y%m%d";
/// `yyyyMMddHHmmss`, the form of `time_expire` and `end_time`.
const DATE_TIME: &str = "%Y%m%d%H%M%S";

/// `t` as `yyyyMMddHHmmss` in Asia/Shanghai: how the merchant API and notifications write
/// `end_time` (API.md "query, close").
pub fn format_date_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai).format(DATE_TIME).to_string()
}

/// Today's date in Shanghai at `now`.
pub(crate) fn date_of(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&Shanghai).date_naive()
}

/// A real calendar date written exactly `yyyyMMdd` (8 digits, no separators); `None`
/// otherwise, which the api answers `10000000`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(text, DATE).ok()
}

/// A real Asia/Shanghai time written exactly `yyyyMMddHHmmss`, as a UTC instant; `None`
/// otherwise.
pub fn parse_date_time(text: &str) -> Option<DateTime<Utc>> {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let naive = NaiveDateTime::parse_from_str(text, DATE_TIME).ok()?;
    // Shanghai has had no daylight saving since 1991: every local time is one instant.
    Shanghai
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_is_eight_hours_ahead_and_round_trips() {
        let t = parse_date_time("20250101080000").unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(format_date_time(t), "20250101080000");
        assert_eq!(
            date_of(Utc.with_ymd_and_hms(2024, 12, 31, 16, 0, 0).unwrap()),
            NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()
        );
    }

    #[test]
    fn impossible_or_loosely_written_dates_are_refused() {
        for bad in [
            "20250230",
            "2025-01-01",
            "2025011",
            "202501011",
            "2025013a",
            "+2025010",
        ] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
        for bad in [
            "20250101240000",
            "2025010112000",
            "20250101 12000",
            "20250101126000",
        ] {
            assert!(parse_date_time(bad).is_none(), "{bad}");
        }
        assert!(parse_date("20240229").is_some());
    }
}
