//! The numbers the console and metrics show about merchant notifications: how many are
//! pending, due, in flight, delivered and dead, and how long recent attempts took.

use chrono::{DateTime, TimeDelta, Utc};
use nkpay_store::{Db, notification_console};
use serde::Serialize;

use crate::error::EngineError;

/// Attempts started within this window count towards the latency figures.
const LATENCY_WINDOW: TimeDelta = TimeDelta::hours(1);
/// At most this many of the latest attempts are sampled.
const LATENCY_SAMPLE: u64 = 1000;

/// Counts of merchant notifications by state at one moment, and the attempt latencies of the
/// last hour (at most the latest 1000 attempts); the console's `/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NotifyStats {
    /// Not delivered yet and still being retried (due, in flight or waiting for their time).
    pub pending: u64,
    /// Pending, due now and not being delivered: the backlog.
    pub due: u64,
    /// Being delivered right now (held under a live lease).
    pub in_flight: u64,
    /// Answered 2xx.
    pub delivered: u64,
    /// Given up after the last attempt of the schedule; re-sendable from the console.
    pub dead: u64,
    /// How many attempts the latency figures are drawn from.
    pub recent_attempts: u64,
    /// Median attempt duration, milliseconds; `None` without recent attempts.
    pub latency_p50_ms: Option<i64>,
    /// 95th percentile (nearest rank), milliseconds.
    pub latency_p95_ms: Option<i64>,
    /// Slowest recent attempt, milliseconds.
    pub latency_max_ms: Option<i64>,
}

/// The figures at `now`; fails only with [`EngineError::Store`].
pub async fn stats(db: &Db, now: DateTime<Utc>) -> Result<NotifyStats, EngineError> {
    let counts = notification_console::counts(db.conn(), now).await?;
    let mut durations = notification_console::recent_attempt_durations(
        db.conn(),
        now - LATENCY_WINDOW,
        LATENCY_SAMPLE,
    )
    .await?;
    durations.sort_unstable();
    Ok(NotifyStats {
        pending: counts.pending,
        due: counts.due,
        in_flight: counts.in_flight,
        delivered: counts.delivered,
        dead: counts.dead,
        recent_attempts: durations.len() as u64,
        latency_p50_ms: percentile(&durations, 50),
        latency_p95_ms: percentile(&durations, 95),
        latency_max_ms: durations.last().copied(),
    })
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 95), Some(95));
        assert_eq!(percentile(&[7], 95), Some(7));
        assert_eq!(percentile(&[1, 2, 3], 50), Some(2));
        assert_eq!(percentile(&[], 50), None);
    }
}
