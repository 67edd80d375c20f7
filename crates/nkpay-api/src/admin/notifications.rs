//! Console calls about merchant notifications: list, detail with attempts, re-send one or a
//! merchant's range, and the counts (docs/notifications.md, "Console API").

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use nkpay_engine::notifications::{console, stats};
use nkpay_store::entity::{notification, notification_attempt};
use nkpay_store::kinds::NotificationStatus;
use nkpay_store::notification_console::NotificationFilter;
use serde::{Deserialize, Serialize};

use nkpay_engine::Permission;

use super::auth::AdminActor;
use super::console_db::ConsoleDb;
use super::error::AdminError;
use crate::ApiState;

pub const BASE: &str = "/admin/api/notifications";
const DEFAULT_PAGE: u64 = 50;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let query_errors = web::QueryConfig::default()
        .error_handler(|e, _| AdminError::BadRequest(format!("query: {e}")).into());
    let json_errors = super::error::json_config();
    cfg.service(
        web::scope(BASE)
            .app_data(query_errors)
            .app_data(json_errors)
            // `stats` and `resend` before `{id}`, which would otherwise take them as ids.
            .route("/stats", web::get().to(get_stats))
            .route("/resend", web::post().to(resend_range))
            .route("", web::get().to(list))
            .route("/{id}", web::get().to(detail))
            .route("/{id}/resend", web::post().to(resend_one)),
    );
}

/// A notification as the console shows it.
#[derive(Debug, Serialize)]
pub struct NotificationView {
    pub id: i64,
    pub mer_id: String,
    /// `TRADE` or `REFUND`.
    pub notify_type: String,
    pub nkp_seq_id: String,
    pub chain_no: i32,
    pub notify_url: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempt_count: i32,
    /// When the next attempt is due; only while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The node delivering it right now, if any.
    pub lease_owner: Option<String>,
    pub resp_data: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<notification::Model> for NotificationView {
    fn from(n: notification::Model) -> Self {
        let pending = n.status == NotificationStatus::Pending;
        NotificationView {
            id: n.id,
            mer_id: n.mer_id,
            notify_type: n.kind.to_string(),
            nkp_seq_id: n.subject_nkp_seq_id,
            chain_no: n.chain_no,
            notify_url: n.notify_url,
            next_attempt_at: pending.then_some(n.next_attempt_at),
            status: n.status.to_string(),
            attempt_count: n.attempt_count,
            lease_owner: n.lease_owner,
            resp_data: n.resp_data,
            created_at: n.created_at,
            updated_at: n.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AttemptView {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    /// The first 2 KiB of the answer.
    pub response_body: Option<String>,
    pub delivered: bool,
}

impl From<notification_attempt::Model> for AttemptView {
    fn from(a: notification_attempt::Model) -> Self {
        AttemptView {
            id: a.id,
            started_at: a.started_at,
            duration_ms: a.duration_ms,
            http_status: a.http_status,
            error: a.error,
            response_body: a.response_body,
            delivered: a.delivered,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    mer_id: Option<String>,
    nkp_seq_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before_id: Option<i64>,
    limit: Option<u64>,
}

async fn list(
    actor: AdminActor,
    ConsoleDb(db): ConsoleDb,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, AdminError> {
    actor.require(Permission::ReadNotifications)?;
    let q = q.into_inner();
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(s.parse::<NotificationStatus>().map_err(|_| {
            AdminError::BadRequest(format!(
                "status must be pending, delivered or dead, not {s:?}"
            ))
        })?),
    };
    let filter = NotificationFilter {
        status,
        mer_id: q.mer_id.filter(|s| !s.is_empty()),
        subject_nkp_seq_id: q.nkp_seq_id.filter(|s| !s.is_empty()),
        created_from: time("from", q.from.as_deref())?,
        created_to: time("to", q.to.as_deref())?,
        before_id: q.before_id,
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, console::MAX_PAGE);
    let rows = console::list(&db, &filter, limit).await?;
    let next_before_id = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let items: Vec<NotificationView> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "items": items,
        "next_before_id": next_before_id,
    })))
}

async fn detail(
    actor: AdminActor,
    ConsoleDb(db): ConsoleDb,
    id: web::Path<i64>,
) -> Result<HttpResponse, AdminError> {
    actor.require(Permission::ReadNotifications)?;
    let id = id.into_inner();
    let d = console::detail(&db, id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("notification {id}")))?;
    let attempts: Vec<AttemptView> = d.attempts.into_iter().map(Into::into).collect();
    let chains: Vec<NotificationView> = d.chains.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "notification": NotificationView::from(d.notification),
        "attempts": attempts,
        "chains": chains,
    })))
}

async fn resend_one(
    actor: AdminActor,
    state: web::Data<ApiState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AdminError> {
    let by = actor.require(Permission::ResendNotifications)?;
    let id = id.into_inner();
    let new = console::resend_one(&state.db, id, Utc::now())
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("notification {id}")))?;
    state
        .engine
        .admin_identity()
        .record(
            by,
            "notification.resend",
            &format!("notification:{id}"),
            serde_json::json!({"from": id, "new": new.id, "mer_id": new.mer_id}),
        )
        .await?;
    tracing::info!(
        from = id,
        new = new.id,
        actor = %by.audit_name(),
        "notification re-sent from the console"
    );
    Ok(HttpResponse::Created().json(serde_json::json!({
        "notification": NotificationView::from(new),
    })))
}

#[derive(Debug, Deserialize)]
struct RangeBody {
    mer_id: String,
    from: String,
    to: String,
}

async fn resend_range(
    actor: AdminActor,
    state: web::Data<ApiState>,
    body: web::Json<RangeBody>,
) -> Result<HttpResponse, AdminError> {
    let by = actor.require(Permission::ResendNotifications)?;
    let body = body.into_inner();
    if body.mer_id.is_empty() {
        return Err(AdminError::BadRequest("mer_id is required".into()));
    }
    let from = time("from", Some(&body.from))?
        .ok_or_else(|| AdminError::BadRequest("from is required".into()))?;
    let to = time("to", Some(&body.to))?
        .ok_or_else(|| AdminError::BadRequest("to is required".into()))?;
    let done = console::resend_range(&state.db, &body.mer_id, from, to, Utc::now()).await?;
    state
        .engine
        .admin_identity()
        .record(
            by,
            "notification.resend_range",
            &format!("merchant:{}", body.mer_id),
            serde_json::json!({
                "from": from, "to": to,
                "resent": done.resent, "skipped_pending": done.skipped_pending,
            }),
        )
        .await?;
    tracing::info!(mer_id = %body.mer_id, resent = done.resent.len(), actor = %by.audit_name(), "notifications re-sent from the console");
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "resent": done.resent,
        "skipped_pending": done.skipped_pending,
    })))
}

async fn get_stats(
    actor: AdminActor,
    ConsoleDb(db): ConsoleDb,
) -> Result<HttpResponse, AdminError> {
    actor.require(Permission::ReadNotifications)?;
    Ok(HttpResponse::Ok().json(stats(&db, Utc::now()).await?))
}

/// An RFC 3339 time, e.g. `2026-11-22T00:00:00Z` (in a query string write `+08:00` as `%2B08:00`).
fn time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, AdminError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                AdminError::BadRequest(format!(
                    "{field} must be an RFC 3339 time like 2026-11-22T00:00:00Z, not {v:?}"
                ))
            }),
    }
}
