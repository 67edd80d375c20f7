//! What the console and the metrics read about the notification outbox: filtered listings,
//! counts by state, recent attempt durations, and the notifications a range re-send covers.
//! Read-only; the writes stay in `notifications`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entity::{notification, notification_attempt};
use crate::error::StoreError;
use crate::kinds::NotificationStatus;

/// Which notifications a listing returns; every field narrows it.
#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    /// Only this status.
    pub status: Option<NotificationStatus>,
    /// Only this merchant.
    pub mer_id: Option<String>,
    /// The trade's or refund's `nkp_seq_id`.
    pub subject_nkp_seq_id: Option<String>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    /// Only ids below this one (the next page of a newest-first listing).
    pub before_id: Option<i64>,
}

/// Notifications matching `filter`, newest first, at most `limit`.
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: &NotificationFilter,
    limit: u64,
) -> Result<Vec<notification::Model>, StoreError> {
    let mut q = notification::Entity::find();
    if let Some(status) = filter.status {
        q = q.filter(notification::Column::Status.eq(status.as_str()));
    }
    if let Some(mer_id) = &filter.mer_id {
        q = q.filter(notification::Column::MerId.eq(mer_id.as_str()));
    }
    if let Some(seq) = &filter.subject_nkp_seq_id {
        q = q.filter(notification::Column::SubjectNkpSeqId.eq(seq.as_str()));
    }
    if let Some(from) = filter.created_from {
        q = q.filter(notification::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.created_to {
        q = q.filter(notification::Column::CreatedAt.lt(to));
    }
    if let Some(before) = filter.before_id {
        q = q.filter(notification::Column::Id.lt(before));
    }
    Ok(q.order_by_desc(notification::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// How many notifications are in each state, and how many pending ones are due or held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Pending, due or not.
    pub pending: u64,
    /// Pending and due at `now`, not held by a live lease: waiting for a dispatcher.
    pub due: u64,
    /// Pending and held by a live lease: being delivered right now.
    pub in_flight: u64,
    /// Delivered.
    pub delivered: u64,
    /// Given up after the last attempt.
    pub dead: u64,
}

/// The outbox counts at `now` (UTC).
pub async fn counts(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<OutboxCounts, StoreError> {
    let by_status: Vec<(String, i64)> = notification::Entity::find()
        .select_only()
        .column(notification::Column::Status)
        .column_as(notification::Column::Id.count(), "n")
        .group_by(notification::Column::Status)
        .into_tuple()
        .all(conn)
        .await?;
    let mut out = OutboxCounts::default();
    for (status, n) in by_status {
        let n = u64::try_from(n).unwrap_or(0);
        match status.parse::<NotificationStatus>() {
            Ok(NotificationStatus::Pending) => out.pending = n,
            Ok(NotificationStatus::Delivered) => out.delivered = n,
            Ok(NotificationStatus::Dead) => out.dead = n,
            Err(_) => {}
        }
    }
    let pending = || {
        notification::Entity::find()
            .filter(notification::Column::Status.eq(NotificationStatus::Pending.as_str()))
    };
    out.in_flight = pending()
        .filter(notification::Column::LeaseUntil.gt(now))
        .count(conn)
        .await?;
    out.due = pending()
        .filter(notification::Column::NextAttemptAt.lte(now))
        .filter(
            notification::Column::LeaseUntil
                .is_null()
                .or(notification::Column::LeaseUntil.lte(now)),
        )
        .count(conn)
        .await?;
    Ok(out)
}

/// The durations (ms) of the latest `limit` attempts started at or after `since`, newest first.
pub async fn recent_attempt_durations(
    conn: &impl ConnectionTrait,
    since: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<i64>, StoreError> {
    Ok(notification_attempt::Entity::find()
        .select_only()
        .column(notification_attempt::Column::DurationMs)
        .filter(notification_attempt::Column::StartedAt.gte(since))
        .order_by_desc(notification_attempt::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?)
}

/// A merchant's notifications created in `[from, to)`, oldest first, at most `limit`: what a
/// range re-send starts from.
pub async fn list_for_merchant_between(
    conn: &impl ConnectionTrait,
    mer_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<notification::Model>, StoreError> {
    Ok(notification::Entity::find()
        .filter(notification::Column::MerId.eq(mer_id))
        .filter(notification::Column::CreatedAt.gte(from))
        .filter(notification::Column::CreatedAt.lt(to))
        .order_by_asc(notification::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}
