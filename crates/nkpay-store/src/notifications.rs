//! The merchant-notification outbox: a final state enqueues exactly one notification in the
//! same transaction as the state change; dispatchers on any node claim due ones under a lease,
//! deliver, and record each attempt together with what happens next.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TryInsertResult,
};

use crate::db::Db;
use crate::entity::{notification, notification_attempt};
use crate::error::StoreError;
use crate::kinds::{NotificationKind, NotificationStatus};
use crate::lease::{self, LeaseColumns};

/// How much of a receiver's answer an attempt keeps.
pub const RESPONSE_BODY_LIMIT: usize = 2048;

/// A notification to enqueue.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// The merchant it goes to.
    pub mer_id: String,
    /// Trade or refund.
    pub kind: NotificationKind,
    /// The trade's or refund's `nkp_seq_id`.
    pub subject_nkp_seq_id: String,
    /// Where it is POSTed.
    pub notify_url: String,
    /// The exact `resp_data` string to sign and send.
    pub resp_data: String,
    /// When the first attempt is due (UTC).
    pub first_attempt_at: DateTime<Utc>,
}

/// One delivery attempt as the dispatcher saw it.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// When the attempt began (UTC).
    pub started_at: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// The receiver's HTTP status, if it answered.
    pub http_status: Option<i32>,
    /// Why no usable answer came (time-out, refused, redirect …).
    pub error: Option<String>,
    /// The answer's body; cut to [`RESPONSE_BODY_LIMIT`] bytes here.
    pub response_body: Option<String>,
    /// Whether the receiver took it.
    pub delivered: bool,
}

/// What happens to a notification after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// The merchant acknowledged it.
    Delivered,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// The schedule is used up.
    Dead,
}

/// Enqueues the notification of a final state (chain 0). `false` when it already exists, so
/// calling it twice for the same subject writes one row.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    new: &NewNotification,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let row = active_model(new, 0, now);
    let res = notification::Entity::insert(row)
        .on_conflict_do_nothing_on([
            notification::Column::Kind,
            notification::Column::SubjectNkpSeqId,
            notification::Column::ChainNo,
        ])
        .exec(conn)
        .await
        .map_err(|e| StoreError::from_write("notification", e))?;
    Ok(matches!(res, TryInsertResult::Inserted(_)))
}

fn active_model(
    new: &NewNotification,
    chain_no: i32,
    now: DateTime<Utc>,
) -> notification::ActiveModel {
    notification::ActiveModel {
        mer_id: Set(new.mer_id.clone()),
        kind: Set(new.kind),
        subject_nkp_seq_id: Set(new.subject_nkp_seq_id.clone()),
        chain_no: Set(chain_no),
        notify_url: Set(new.notify_url.clone()),
        resp_data: Set(new.resp_data.clone()),
        status: Set(NotificationStatus::Pending),
        attempt_count: Set(0),
        next_attempt_at: Set(new.first_attempt_at),
        lease_owner: Set(None),
        lease_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Re-sends a notification from the console: a new chain with the same URL and body, due now.
pub async fn resend(
    db: &Db,
    id: i64,
    now: DateTime<Utc>,
) -> Result<notification::Model, StoreError> {
    let txn = db.begin_write().await?;
    let original = notification::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "notification",
            key: id.to_string(),
        })?;
    let last_chain: Option<i32> = notification::Entity::find()
        .select_only()
        .column_as(notification::Column::ChainNo.max(), "max_chain")
        .filter(notification::Column::Kind.eq(original.kind))
        .filter(notification::Column::SubjectNkpSeqId.eq(&original.subject_nkp_seq_id))
        .into_tuple()
        .one(&txn)
        .await?
        .flatten();
    let kind = original.kind;
    let new = NewNotification {
        mer_id: original.mer_id,
        kind,
        subject_nkp_seq_id: original.subject_nkp_seq_id,
        notify_url: original.notify_url,
        resp_data: original.resp_data,
        first_attempt_at: now,
    };
    let saved = active_model(&new, last_chain.unwrap_or(0) + 1, now)
        .insert(&txn)
        .await
        .map_err(|e| StoreError::from_write("notification", e))?;
    txn.commit().await?;
    Ok(saved)
}

const LEASE: LeaseColumns = LeaseColumns {
    table: "notifications",
    status: "status",
    due_status: "pending",
    due_at: "next_attempt_at",
    owner: "lease_owner",
    until: "lease_until",
};

/// Claims up to `limit` pending notifications due at `now` for `owner` (a node id) until
/// `now + lease`, oldest due first. Rows whose lease expired are claimable again.
pub async fn claim_due(
    db: &Db,
    owner: &str,
    now: DateTime<Utc>,
    lease: TimeDelta,
    limit: u64,
) -> Result<Vec<notification::Model>, StoreError> {
    let mut rows =
        lease::claim::<notification::Entity>(db, &LEASE, owner, now, lease, limit).await?;
    rows.sort_by_key(|n| (n.next_attempt_at, n.id));
    Ok(rows)
}

/// Stores an attempt and applies `next` in one transaction. The attempt is always kept (it
/// happened); the notification changes only while `owner` still holds it, and the result says
/// whether it did — `false` means the lease expired and another node owns the row now.
pub async fn record_attempt(
    db: &Db,
    id: i64,
    owner: &str,
    attempt: &AttemptRecord,
    next: NextStep,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let txn = db.begin_write().await?;
    notification_attempt::ActiveModel {
        notification_id: Set(id),
        started_at: Set(attempt.started_at),
        duration_ms: Set(attempt.duration_ms),
        http_status: Set(attempt.http_status),
        error: Set(attempt.error.clone()),
        response_body: Set(attempt
            .response_body
            .as_deref()
            .map(|b| truncate_utf8(b, RESPONSE_BODY_LIMIT).to_owned())),
        delivered: Set(attempt.delivered),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| StoreError::from_write("notification attempt", e))?;

    let (status, next_at) = match next {
        NextStep::Delivered => (NotificationStatus::Delivered, None),
        NextStep::RetryAt(at) => (NotificationStatus::Pending, Some(at)),
        NextStep::Dead => (NotificationStatus::Dead, None),
    };
    let mut update = notification::Entity::update_many()
        .col_expr(notification::Column::Status, Expr::value(status.as_str()))
        .col_expr(
            notification::Column::AttemptCount,
            Expr::col(notification::Column::AttemptCount).add(1),
        )
        .col_expr(
            notification::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            notification::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(notification::Column::UpdatedAt, Expr::value(now));
    if let Some(at) = next_at {
        update = update.col_expr(notification::Column::NextAttemptAt, Expr::value(at));
    }
    let res = update
        .filter(notification::Column::Id.eq(id))
        .filter(notification::Column::Status.eq(NotificationStatus::Pending.as_str()))
        .filter(notification::Column::LeaseOwner.eq(owner))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(res.rows_affected == 1)
}

/// Gives a claimed notification back without an attempt (e.g. the node is shutting down).
pub async fn release(
    conn: &impl ConnectionTrait,
    id: i64,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = notification::Entity::update_many()
        .col_expr(
            notification::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            notification::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(notification::Column::UpdatedAt, Expr::value(now))
        .filter(notification::Column::Id.eq(id))
        .filter(notification::Column::LeaseOwner.eq(owner))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The notification with row id `id`.
pub async fn find(
    conn: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<notification::Model>, StoreError> {
    Ok(notification::Entity::find_by_id(id).one(conn).await?)
}

/// Every notification (all chains) about one trade or refund, oldest first.
pub async fn list_for_subject(
    conn: &impl ConnectionTrait,
    kind: NotificationKind,
    subject_nkp_seq_id: &str,
) -> Result<Vec<notification::Model>, StoreError> {
    Ok(notification::Entity::find()
        .filter(notification::Column::Kind.eq(kind.as_str()))
        .filter(notification::Column::SubjectNkpSeqId.eq(subject_nkp_seq_id))
        .order_by_asc(notification::Column::ChainNo)
        .all(conn)
        .await?)
}

/// A notification's attempts, oldest first.
pub async fn list_attempts(
    conn: &impl ConnectionTrait,
    notification_id: i64,
) -> Result<Vec<notification_attempt::Model>, StoreError> {
    Ok(notification_attempt::Entity::find()
        .filter(notification_attempt::Column::NotificationId.eq(notification_id))
        .order_by_asc(notification_attempt::Column::Id)
        .all(conn)
        .await?)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The caller (`sys_id`) a notification answers to, whose platform key signs it: the caller
/// that created the trade or refund, that sent the application (`MERCHANT_AUDIT`), or for a
/// business opening the merchant's service provider. `None` when the subject is gone.
pub async fn caller_of(
    conn: &impl ConnectionTrait,
    row: &notification::Model,
) -> Result<Option<String>, StoreError> {
    use crate::entity::{merchant, merchant_application, refund, trade};
    let subject = row.subject_nkp_seq_id.as_str();
    match row.kind {
        NotificationKind::Trade => {
            sys_id_where::<trade::Entity>(
                conn,
                trade::Column::SysId,
                trade::Column::NkpSeqId,
                subject,
            )
            .await
        }
        NotificationKind::Refund => {
            sys_id_where::<refund::Entity>(
                conn,
                refund::Column::SysId,
                refund::Column::NkpSeqId,
                subject,
            )
            .await
        }
        NotificationKind::MerchantAudit => {
            sys_id_where::<merchant_application::Entity>(
                conn,
                merchant_application::Column::SysId,
                merchant_application::Column::ApplyNo,
                subject,
            )
            .await
        }
        NotificationKind::Business => {
            sys_id_where::<merchant::Entity>(
                conn,
                merchant::Column::SysId,
                merchant::Column::MerId,
                &row.mer_id,
            )
            .await
        }
    }
}

/// The `sys_id` column of the row of `E` whose `key` is `value`.
async fn sys_id_where<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    sys_id: E::Column,
    key: E::Column,
    value: &str,
) -> Result<Option<String>, StoreError> {
    Ok(E::find()
        .select_only()
        .column(sys_id)
        .filter(key.eq(value))
        .into_tuple::<String>()
        .one(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_body_is_cut_on_a_character_boundary() {
        let body = "好".repeat(1000); // 3000 bytes
        let cut = truncate_utf8(&body, RESPONSE_BODY_LIMIT);
        assert_eq!(cut.len(), 2046);
        assert!(cut.chars().all(|c| c == '好'));
        assert_eq!(truncate_utf8("ok", RESPONSE_BODY_LIMIT), "ok");
    }
}
