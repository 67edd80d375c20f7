//! The merchant-notification outbox: a final state enqueues exactly one notification in the
//! same transaction as the state change; dispatchers on any node claim due ones under a lease,
//! deliver, and record each attempt together with what happens next.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set, TryInsertResult,
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

/// One finished attempt of a claimed notification, to record in a batch with
/// [`record_attempts`].
#[derive(Debug, Clone)]
pub struct FinishedAttempt {
    /// The notification's row id.
    pub id: i64,
    /// What the attempt saw.
    pub attempt: AttemptRecord,
    /// What happens to the notification now.
    pub next: NextStep,
}

/// The most rows one statement of [`record_attempts`] carries; a longer batch is written in
/// several statements of one transaction. Keeps every statement far below SQLite's 32,766 and
/// PostgreSQL's 65,535 bound parameters (7 per attempt row, at most 5 per notification).
const RECORD_CHUNK: usize = 500;

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
    let finished = [FinishedAttempt {
        id,
        attempt: attempt.clone(),
        next,
    }];
    let kept = record_attempts(db, owner, &finished, now).await?;
    Ok(kept.first().copied().unwrap_or(false))
}

/// Stores a batch of finished attempts and applies each one's `next`, all in ONE write
/// transaction (on SQLite one take of the single write lock, on PostgreSQL one commit), so a
/// dispatcher records many deliveries for the price of one. Per row exactly as
/// [`record_attempt`]: every attempt is kept (it happened); a notification changes only while
/// `owner` still holds it. Returns, in the order of `finished`, whether each notification
/// changed — `false` for a row whose lease expired and was taken by another node (or that is no
/// longer pending), without affecting the others.
///
/// All or nothing: on an error nothing of the batch is written, so every row stays claimed by
/// `owner` until its lease runs out and is then retried (at least once, never lost). Errors:
/// the database's, e.g. an attempt for a notification id that does not exist (foreign key).
pub async fn record_attempts(
    db: &Db,
    owner: &str,
    finished: &[FinishedAttempt],
    now: DateTime<Utc>,
) -> Result<Vec<bool>, StoreError> {
    if finished.is_empty() {
        return Ok(Vec::new());
    }
    let txn = db.begin_write().await?;
    let mut changed = HashSet::with_capacity(finished.len());
    for chunk in finished.chunks(RECORD_CHUNK) {
        notification_attempt::Entity::insert_many(chunk.iter().map(attempt_model))
            .exec(&txn)
            .await
            .map_err(|e| StoreError::from_write("notification attempt", e))?;
        let mut update = after_attempts(chunk, owner, now).into_query();
        update.returning_col(notification::Column::Id);
        for row in txn.query_all(&update).await? {
            changed.insert(row.try_get::<i64>("", "id")?);
        }
    }
    txn.commit().await?;
    Ok(finished.iter().map(|f| changed.contains(&f.id)).collect())
}

/// One UPDATE for a chunk of finished attempts: each row gets its own status and (when it is
/// retried) due time through CASE on the id; only rows still pending and held by `owner` change.
fn after_attempts(
    chunk: &[FinishedAttempt],
    owner: &str,
    now: DateTime<Utc>,
) -> sea_orm::UpdateMany<notification::Entity> {
    let with_step = |wanted: fn(&NextStep) -> bool| -> Vec<i64> {
        chunk
            .iter()
            .filter(|f| wanted(&f.next))
            .map(|f| f.id)
            .collect()
    };
    let delivered = with_step(|n| matches!(n, NextStep::Delivered));
    let dead = with_step(|n| matches!(n, NextStep::Dead));
    let status: SimpleExpr = if delivered.is_empty() && dead.is_empty() {
        Expr::value(NotificationStatus::Pending.as_str())
    } else {
        let mut case = CaseStatement::new();
        for (ids, status) in [
            (delivered, NotificationStatus::Delivered),
            (dead, NotificationStatus::Dead),
        ] {
            if !ids.is_empty() {
                case = case.case(
                    notification::Column::Id.is_in(ids),
                    Expr::value(status.as_str()),
                );
            }
        }
        case.finally(Expr::value(NotificationStatus::Pending.as_str()))
            .into()
    };
    let retries: Vec<(i64, DateTime<Utc>)> = chunk
        .iter()
        .filter_map(|f| match f.next {
            NextStep::RetryAt(at) => Some((f.id, at)),
            _ => None,
        })
        .collect();
    let mut update = notification::Entity::update_many()
        .col_expr(notification::Column::Status, status)
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
    if !retries.is_empty() {
        let next_at = retries
            .iter()
            .fold(CaseStatement::new(), |case, (id, at)| {
                case.case(notification::Column::Id.eq(*id), Expr::value(*at))
            })
            .finally(Expr::col(notification::Column::NextAttemptAt));
        update = update.col_expr(notification::Column::NextAttemptAt, next_at.into());
    }
    update
        .filter(notification::Column::Id.is_in(chunk.iter().map(|f| f.id)))
        .filter(still_pending())
        .filter(notification::Column::LeaseOwner.eq(owner))
}

/// `status = 'pending'`, for an UPDATE of rows already picked by id (`id IN (…)`), written as
/// `(status || '') = 'pending'` so that no index on `status` can serve it: PostgreSQL, its
/// statistics stale after a burst of notifications (its estimate: few pending rows), otherwise
/// scans the claim index's whole `pending` range and filters it by id — 8 ms for 30,000
/// pending rows where the primary key takes 0.3 ms. Same rows either way, on both databases.
pub(crate) fn still_pending() -> SimpleExpr {
    Expr::cust(format!(
        "(status || '') = '{}'",
        NotificationStatus::Pending.as_str()
    ))
}

fn attempt_model(f: &FinishedAttempt) -> notification_attempt::ActiveModel {
    let attempt = &f.attempt;
    notification_attempt::ActiveModel {
        notification_id: Set(f.id),
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
    Ok(callers_of(conn, std::slice::from_ref(row))
        .await?
        .remove(&row.id)
        .flatten())
}

/// [`caller_of`] for many notifications at once, e.g. a dispatcher's whole claim: one query per
/// kind of subject among `rows` (per 500 subjects) instead of one per row. Maps every row's id
/// to its caller, `None` when the subject is gone.
pub async fn callers_of(
    conn: &impl ConnectionTrait,
    rows: &[notification::Model],
) -> Result<HashMap<i64, Option<String>>, StoreError> {
    use crate::entity::{merchant, merchant_application, refund, trade};
    let key_of = |row: &notification::Model| -> String {
        match row.kind {
            NotificationKind::Business => row.mer_id.clone(),
            _ => row.subject_nkp_seq_id.clone(),
        }
    };
    let mut found: HashMap<NotificationKind, HashMap<String, String>> = HashMap::new();
    for kind in [
        NotificationKind::Trade,
        NotificationKind::Refund,
        NotificationKind::MerchantAudit,
        NotificationKind::Business,
    ] {
        let keys: Vec<String> = rows
            .iter()
            .filter(|r| r.kind == kind)
            .map(key_of)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if keys.is_empty() {
            continue;
        }
        let map = match kind {
            NotificationKind::Trade => {
                sys_ids_where::<trade::Entity>(
                    conn,
                    trade::Column::SysId,
                    trade::Column::NkpSeqId,
                    &keys,
                )
                .await?
            }
            NotificationKind::Refund => {
                sys_ids_where::<refund::Entity>(
                    conn,
                    refund::Column::SysId,
                    refund::Column::NkpSeqId,
                    &keys,
                )
                .await?
            }
            NotificationKind::MerchantAudit => {
                sys_ids_where::<merchant_application::Entity>(
                    conn,
                    merchant_application::Column::SysId,
                    merchant_application::Column::ApplyNo,
                    &keys,
                )
                .await?
            }
            NotificationKind::Business => {
                sys_ids_where::<merchant::Entity>(
                    conn,
                    merchant::Column::SysId,
                    merchant::Column::MerId,
                    &keys,
                )
                .await?
            }
        };
        found.insert(kind, map);
    }
    Ok(rows
        .iter()
        .map(|row| {
            let caller = found
                .get(&row.kind)
                .and_then(|m| m.get(&key_of(row)))
                .cloned();
            (row.id, caller)
        })
        .collect())
}

/// `key → sys_id` of the rows of `E` whose `key` is one of `values`.
async fn sys_ids_where<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    sys_id: E::Column,
    key: E::Column,
    values: &[String],
) -> Result<HashMap<String, String>, StoreError> {
    let mut map = HashMap::with_capacity(values.len());
    for chunk in values.chunks(RECORD_CHUNK) {
        let pairs: Vec<(String, String)> = E::find()
            .select_only()
            .column(key)
            .column(sys_id)
            .filter(key.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(conn)
            .await?;
        map.extend(pairs);
    }
    Ok(map)
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
