//! What the console does with notifications: list them, show one with its attempts and its
//! other chains, and re-send — one, or all of a merchant's in a time range. A re-send opens a
//! new chain (a new row with its own attempts, due now); the old chain and its history stay.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use nkpay_store::entity::{notification, notification_attempt};
use nkpay_store::kinds::{NotificationKind, NotificationStatus};
use nkpay_store::notification_console::{self, NotificationFilter};
use nkpay_store::{Db, notifications};

use crate::error::EngineError;

/// The most rows one listing returns.
pub const MAX_PAGE: u64 = 200;
/// The most notifications one range re-send may cover; a wider range is refused.
const MAX_RANGE_RESEND: usize = 5000;
/// The widest range a range re-send accepts.
const MAX_RANGE: TimeDelta = TimeDelta::days(31);

/// Notifications matching `filter`, newest first; `limit` is capped at [`MAX_PAGE`].
pub async fn list(
    db: &Db,
    filter: &NotificationFilter,
    limit: u64,
) -> Result<Vec<notification::Model>, EngineError> {
    Ok(notification_console::list(db.conn(), filter, limit.clamp(1, MAX_PAGE)).await?)
}

/// One notification with its attempts (oldest first) and every chain about the same subject.
#[derive(Debug, Clone)]
pub struct NotificationDetail {
    /// The notification asked for.
    pub notification: notification::Model,
    /// Its attempts, oldest first.
    pub attempts: Vec<notification_attempt::Model>,
    /// Every chain about the same trade or refund (this one included), oldest first: each
    /// re-send is a chain of its own.
    pub chains: Vec<notification::Model>,
}

/// Notification `id` with its attempts and chains; `Ok(None)` when there is none.
pub async fn detail(db: &Db, id: i64) -> Result<Option<NotificationDetail>, EngineError> {
    let Some(n) = notifications::find(db.conn(), id).await? else {
        return Ok(None);
    };
    let attempts = notifications::list_attempts(db.conn(), id).await?;
    let kind: NotificationKind = n.kind;
    let chains = notifications::list_for_subject(db.conn(), kind, &n.subject_nkp_seq_id).await?;
    Ok(Some(NotificationDetail {
        notification: n,
        attempts,
        chains,
    }))
}

/// Re-sends notification `id` now, as a new chain; `Ok(None)` when there is no such
/// notification.
pub async fn resend_one(
    db: &Db,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<notification::Model>, EngineError> {
    match notifications::resend(db, id, now).await {
        Ok(n) => Ok(Some(n)),
        Err(nkpay_store::StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// What a range re-send did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeResend {
    /// The new chains' ids.
    pub resent: Vec<i64>,
    /// Subjects whose latest chain is still pending: it will be delivered anyway.
    pub skipped_pending: Vec<i64>,
}

/// Re-sends every trade and refund of `mer_id` whose notification was created in `[from, to)`:
/// one new chain per trade or refund, from its latest chain; subjects still being retried are
/// left to their current chain. [`EngineError::Invalid`] when `from` is not before `to`, the
/// range spans more than 31 days or holds more than 5000 notifications.
pub async fn resend_range(
    db: &Db,
    mer_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<RangeResend, EngineError> {
    if from >= to {
        return Err(EngineError::invalid("from", "must be before to"));
    }
    if to - from > MAX_RANGE {
        return Err(EngineError::invalid(
            "to",
            format!("the range may span at most {} days", MAX_RANGE.num_days()),
        ));
    }
    let limit = MAX_RANGE_RESEND as u64 + 1;
    let rows =
        notification_console::list_for_merchant_between(db.conn(), mer_id, from, to, limit).await?;
    if rows.len() > MAX_RANGE_RESEND {
        return Err(EngineError::invalid(
            "from",
            format!("more than {MAX_RANGE_RESEND} notifications in the range; narrow it"),
        ));
    }
    let mut seen = HashSet::new();
    let subjects: Vec<(NotificationKind, String)> = rows
        .into_iter()
        .map(|row| (row.kind, row.subject_nkp_seq_id))
        .filter(|key| seen.insert(key.clone()))
        .collect();
    let mut out = RangeResend::default();
    for (kind, subject) in subjects {
        let chains = notifications::list_for_subject(db.conn(), kind, &subject).await?;
        let Some(latest) = chains.last() else {
            continue;
        };
        if latest.status == NotificationStatus::Pending {
            out.skipped_pending.push(latest.id);
            continue;
        }
        out.resent
            .push(notifications::resend(db, latest.id, now).await?.id);
    }
    Ok(out)
}
