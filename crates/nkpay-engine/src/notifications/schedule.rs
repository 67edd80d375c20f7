//! The retry schedule: how long to wait after each failed attempt, and what a notification
//! becomes after an attempt. A schedule of N delays allows N + 1 attempts; after the last one
//! fails the notification is dead (listed in the console, re-sendable).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use nkpay_store::notifications::NextStep;
use rand::Rng;

/// The platform default (API.md "Asynchronous notifications to merchants", the same as WeChat
/// Pay's own notify retries): 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m, 3h, 3h, 3h, 6h,
/// 6h.
pub(crate) fn default_schedule() -> Vec<Duration> {
    const SECS: [u64; 15] = [
        15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
    ];
    SECS.iter().map(|s| Duration::from_secs(*s)).collect()
}

/// The longest schedule accepted, so a typo cannot keep a notification alive for years.
const MAX_SCHEDULE_LEN: usize = 50;
/// The longest single delay accepted.
const MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why a `notify_schedule` was refused; `Display` names the item, ready for the console.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// No delay at all.
    #[error("notify_schedule格式错误: is empty; give delays like 15,15,30,180")]
    Empty,
    /// An item that is not a number with an optional `ms`/`s`/`m`/`h` unit.
    #[error("notify_schedule格式错误: {0:?} is not a delay (seconds, or a number with ms/s/m/h)")]
    BadDelay(String),
    /// A zero delay, which would retry in a tight loop.
    #[error("notify_schedule格式错误: {0:?} is zero; every delay must be positive")]
    Zero(String),
    /// A delay over 7 days.
    #[error(
        "notify_schedule格式错误: {0:?} is longer than {days} days",
        days = MAX_DELAY.as_secs() / 86400
    )]
    TooLong(String),
    /// More than 50 delays.
    #[error("notify_schedule格式错误: more than {MAX_SCHEDULE_LEN} delays")]
    TooMany,
}

/// Parses a merchant's `notify_schedule`: comma-separated delays, each in seconds (`15`) or
/// with a unit (`500ms`, `15s`, `3m`, `6h`).
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, ScheduleError> {
    let items: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return Err(ScheduleError::Empty);
    }
    if items.len() > MAX_SCHEDULE_LEN {
        return Err(ScheduleError::TooMany);
    }
    items.into_iter().map(parse_delay).collect()
}

fn parse_delay(item: &str) -> Result<Duration, ScheduleError> {
    let bad = || ScheduleError::BadDelay(item.to_string());
    let split = item
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(item.len());
    let (digits, unit) = item.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(bad()),
    };
    let millis = n.checked_mul(millis_per_unit).ok_or_else(bad)?;
    let delay = Duration::from_millis(millis);
    if delay.is_zero() {
        return Err(ScheduleError::Zero(item.to_string()));
    }
    if delay > MAX_DELAY {
        return Err(ScheduleError::TooLong(item.to_string()));
    }
    Ok(delay)
}

/// What follows an attempt: `attempts_before` attempts had already been made.
pub(crate) fn next_step(
    attempts_before: i32,
    delivered: bool,
    schedule: &[Duration],
    now: DateTime<Utc>,
) -> NextStep {
    if delivered {
        return NextStep::Delivered;
    }
    let index = usize::try_from(attempts_before).unwrap_or(0);
    match schedule.get(index) {
        Some(delay) => NextStep::RetryAt(now + to_delta(with_jitter(*delay))),
        None => NextStep::Dead,
    }
}

/// Up to 10% later than scheduled, so that notifications that failed together (a receiver
/// outage) do not all come back in the same instant.
fn with_jitter(delay: Duration) -> Duration {
    let spread = u64::try_from(delay.as_millis() / 10).unwrap_or(u64::MAX);
    if spread == 0 {
        return delay;
    }
    delay + Duration::from_millis(rand::thread_rng().gen_range(0..=spread))
}

pub(crate) fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_matches_the_contract() {
        assert_eq!(
            default_schedule(),
            parse_schedule("15s,15s,30s,3m,10m,20m,30m,30m,30m,60m,3h,3h,3h,6h,6h").unwrap()
        );
    }

    #[test]
    fn merchant_schedule_reads_seconds_and_units() {
        assert_eq!(
            parse_schedule(" 15, 500ms,3m ,1h,").unwrap(),
            vec![
                Duration::from_secs(15),
                Duration::from_millis(500),
                Duration::from_secs(180),
                Duration::from_secs(3600)
            ]
        );
    }

    #[test]
    fn bad_merchant_schedules_name_the_item() {
        assert_eq!(parse_schedule(" , "), Err(ScheduleError::Empty));
        assert_eq!(
            parse_schedule("15,x"),
            Err(ScheduleError::BadDelay("x".into()))
        );
        assert_eq!(
            parse_schedule("15,-1"),
            Err(ScheduleError::BadDelay("-1".into()))
        );
        assert_eq!(parse_schedule("0"), Err(ScheduleError::Zero("0".into())));
        assert_eq!(
            parse_schedule("8d"),
            Err(ScheduleError::BadDelay("8d".into()))
        );
        assert_eq!(
            parse_schedule("200h"),
            Err(ScheduleError::TooLong("200h".into()))
        );
        assert_eq!(
            parse_schedule("99999999999999999999"),
            Err(ScheduleError::BadDelay("99999999999999999999".into()))
        );
        assert_eq!(
            parse_schedule(&"1,".repeat(51)),
            Err(ScheduleError::TooMany)
        );
        assert!(
            parse_schedule("1,x")
                .unwrap_err()
                .to_string()
                .starts_with("notify_schedule格式错误")
        );
    }

    #[test]
    fn each_failure_waits_its_delay_plus_at_most_a_tenth() {
        let now = Utc::now();
        let schedule = [Duration::from_secs(10), Duration::from_secs(100)];
        for (before, base) in [(0, 10_000), (1, 100_000)] {
            let NextStep::RetryAt(at) = next_step(before, false, &schedule, now) else {
                panic!("attempt {before} should be retried");
            };
            let waited = (at - now).num_milliseconds();
            assert!(
                (base..=base + base / 10).contains(&waited),
                "{before}: {waited}"
            );
        }
    }

    #[test]
    fn the_attempt_after_the_last_delay_is_final() {
        let schedule = [Duration::from_millis(5)];
        let now = Utc::now();
        assert_eq!(next_step(1, false, &schedule, now), NextStep::Dead);
        assert_eq!(next_step(1, true, &schedule, now), NextStep::Delivered);
        assert_eq!(next_step(0, true, &schedule, now), NextStep::Delivered);
    }
}
