//! Console calls about reconciliation (对账) with the channels' bills (issue 12), base
//! `/admin/api/reconciliation`:
//!
//! - `POST /runs` `{"channel_account_id": 1, "date": "yyyyMMdd"}` (an Asia/Shanghai day) runs
//!   it now and answers 201 with the run when it ended (`status` `done` or `failed`);
//! - `GET /runs?channel_account_id=&date=&before_id=&limit=` → `{"runs": [run…]}`, newest
//!   first (`limit` 1–500, default 50); `GET /runs/{id}` → the run;
//! - `GET /differences?run_id=&state=&kind=&date=&after_id=&limit=` → `{"differences":
//!   [difference…]}`, oldest first (`limit` 1–5000, default 200; page on with `after_id` = the
//!   last id); `state` `open` / `healed` / `resolved`, `kind` `missing_here` / `missing_there` /
//!   `amount_differs` / `state_differs` / `fee_differs`;
//! - `GET /differences.csv` with the same filters (no `limit`): every matching difference as a
//!   UTF-8 CSV with a header row, streamed page by page;
//! - `POST /differences/{id}/resolve` `{"note": "..."}` → the difference, `resolved` (audited;
//!   only an open one: else 400 naming `state`);
//! - `GET /incidents?limit=` → `{"incidents": [{"id", "kind", "nkp_seq_id", "detail",
//!   "created_at"}]}` (open ones, newest first); `POST /incidents/{id}/resolve` `{"note"}` →
//!   `{"id", "resolved": true}` (audited), 404 when unknown or already resolved.
//!
//! A run: `{"id", "channel_account_id", "channel", "date", "status", "bill_rows",
//! "matched_rows", "foreign_rows", "differences", "healed", "error", "started_by",
//! "started_at", "finished_at"}`. A difference: `{"id", "run_id", "channel_account_id",
//! "date", "kind", "row_kind", "order_no", "refund_no", "mer_id", "party_order_id",
//! "our_amount", "channel_amount", "our_fee", "channel_fee" (fen, fees negative on refunds),
//! "our_state", "detail", "state", "heal_action", "note", "resolved_by", "resolved_at",
//! "created_at"}`. Times are UTC (RFC 3339); `date` is `yyyyMMdd`, Asia/Shanghai.
//!
//! Platform admin, operator and finance run and resolve; read-only reads; agent admins get
//! 403. Bad input: 400 `{"error", "field"}` naming the field and the rule.

use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use futures::stream;
use nkpay_engine::reconciliation::{DifferenceQuery, RunQuery};
use nkpay_engine::shanghai_time;
use nkpay_store::entity::{incident, reconciliation_difference, reconciliation_run};
use nkpay_store::reconciliation::{DifferenceFilter, DifferenceKind, DifferenceState};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AdminActor;
use super::error::AdminError;
// A refused field answers 400 `{"error", "field"}`, as every console listing does.
use super::listing::{ListingError as Failure, refused};
use crate::ApiState;

/// Where the reconciliation calls are mounted.
pub const BASE: &str = "/admin/api/reconciliation";
/// Differences per database page of the CSV export.
const CSV_PAGE: u64 = 1000;

/// Mounts the reconciliation calls under [`BASE`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(BASE)
            .app_data(super::error::json_config())
            .route("/runs", web::post().to(start_run))
            .route("/runs", web::get().to(list_runs))
            .route("/runs/{id}", web::get().to(get_run))
            .route("/differences", web::get().to(list_differences))
            .route("/differences.csv", web::get().to(export_differences))
            .route(
                "/differences/{id}/resolve",
                web::post().to(resolve_difference),
            )
            .route("/incidents", web::get().to(list_incidents))
            .route("/incidents/{id}/resolve", web::post().to(resolve_incident)),
    );
}

/// A run as the console shows it (see the module docs).
pub fn run_json(r: reconciliation_run::Model) -> Value {
    json!({
        "id": r.id,
        "channel_account_id": r.channel_account_id,
        "channel": r.channel,
        "date": r.bill_date,
        "status": r.status.as_str(),
        "bill_rows": r.bill_rows,
        "matched_rows": r.matched_rows,
        "foreign_rows": r.foreign_rows,
        "differences": r.differences,
        "healed": r.healed,
        "error": r.error,
        "started_by": r.started_by,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
    })
}

/// A difference as the console shows it (see the module docs); amounts and fees in fen.
pub fn difference_json(d: reconciliation_difference::Model) -> Value {
    json!({
        "id": d.id,
        "run_id": d.run_id,
        "channel_account_id": d.channel_account_id,
        "date": d.bill_date,
        "kind": d.kind.as_str(),
        "row_kind": d.row_kind.as_str(),
        "order_no": d.order_no,
        "refund_no": d.refund_no,
        "mer_id": d.mer_id,
        "party_order_id": d.party_order_id,
        "our_amount": d.our_amount,
        "channel_amount": d.channel_amount,
        "our_fee": d.our_fee,
        "channel_fee": d.channel_fee,
        "our_state": d.our_state,
        "detail": d.detail,
        "state": d.state.as_str(),
        "heal_action": d.heal_action,
        "note": d.note,
        "resolved_by": d.resolved_by,
        "resolved_at": d.resolved_at,
        "created_at": d.created_at,
    })
}

fn incident_view(i: incident::Model) -> serde_json::Value {
    json!({
        "id": i.id,
        "kind": i.kind,
        "nkp_seq_id": i.nkp_seq_id,
        "detail": i.detail,
        "created_at": i.created_at,
    })
}

fn date(field: &str, text: Option<&str>) -> Result<Option<NaiveDate>, Failure> {
    text.map(|t| {
        shanghai_time::parse_date(t)
            .ok_or_else(|| refused(field, "must be a real date written yyyyMMdd"))
    })
    .transpose()
}

#[derive(Deserialize)]
struct StartBody {
    channel_account_id: Option<i64>,
    date: Option<String>,
}

async fn start_run(
    state: web::Data<ApiState>,
    actor: AdminActor,
    body: web::Json<StartBody>,
) -> Result<HttpResponse, Failure> {
    let body = body.into_inner();
    let account = body.channel_account_id.ok_or_else(|| {
        refused(
            "channel_account_id",
            "is required: the channel account's id",
        )
    })?;
    let day = date("date", body.date.as_deref())?
        .ok_or_else(|| refused("date", "is required: the bill's day, yyyyMMdd"))?;
    let run = state
        .engine
        .reconciliation()
        .start_run(&actor.0, account, day)
        .await?;
    Ok(HttpResponse::Created().json(run_json(run)))
}

#[derive(Deserialize)]
struct RunsQuery {
    channel_account_id: Option<i64>,
    date: Option<String>,
    before_id: Option<i64>,
    limit: Option<u64>,
}

async fn list_runs(
    state: web::Data<ApiState>,
    actor: AdminActor,
    query: web::Query<RunsQuery>,
) -> Result<HttpResponse, Failure> {
    let q = query.into_inner();
    let runs = RunQuery {
        channel_account_id: q.channel_account_id,
        date: date("date", q.date.as_deref())?,
        before_id: q.before_id,
        limit: q.limit.unwrap_or(50),
    };
    let runs = state
        .engine
        .reconciliation()
        .list_runs(&actor.0, &runs)
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "runs": runs.into_iter().map(run_json).collect::<Vec<_>>()
    })))
}

async fn get_run(
    state: web::Data<ApiState>,
    actor: AdminActor,
    id: web::Path<i64>,
) -> Result<HttpResponse, Failure> {
    let id = id.into_inner();
    let run = state.engine.reconciliation().get_run(&actor.0, id).await?;
    let run = run.ok_or_else(|| AdminError::NotFound(format!("reconciliation run {id}")))?;
    Ok(HttpResponse::Ok().json(run_json(run)))
}

#[derive(Deserialize)]
struct DifferencesQuery {
    run_id: Option<i64>,
    state: Option<String>,
    kind: Option<String>,
    date: Option<String>,
    after_id: Option<i64>,
    limit: Option<u64>,
}

impl DifferencesQuery {
    fn filter(&self) -> Result<DifferenceFilter, Failure> {
        let state = self
            .state
            .as_deref()
            .map(|s| {
                s.parse::<DifferenceState>()
                    .map_err(|_| refused("state", "must be open, healed or resolved"))
            })
            .transpose()?;
        let kind = self
            .kind
            .as_deref()
            .map(|k| {
                k.parse::<DifferenceKind>().map_err(|_| {
                    refused(
                        "kind",
                        "must be missing_here, missing_there, amount_differs, state_differs or fee_differs",
                    )
                })
            })
            .transpose()?;
        let day = date("date", self.date.as_deref())?;
        Ok(DifferenceFilter {
            run_id: self.run_id,
            state,
            kind,
            bill_date: day.map(|d| d.format("%Y%m%d").to_string()),
        })
    }
}

async fn list_differences(
    state: web::Data<ApiState>,
    actor: AdminActor,
    query: web::Query<DifferencesQuery>,
) -> Result<HttpResponse, Failure> {
    let q = query.into_inner();
    let wanted = DifferenceQuery {
        filter: q.filter()?,
        after_id: q.after_id.unwrap_or(0),
        limit: q.limit.unwrap_or(200),
    };
    let list = state
        .engine
        .reconciliation()
        .list_differences(&actor.0, &wanted)
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "differences": list.into_iter().map(difference_json).collect::<Vec<_>>()
    })))
}

/// The CSV columns, in order: the difference view's fields.
const CSV_HEADER: [&str; 22] = [
    "id",
    "run_id",
    "channel_account_id",
    "date",
    "kind",
    "row_kind",
    "order_no",
    "refund_no",
    "mer_id",
    "party_order_id",
    "our_amount",
    "channel_amount",
    "our_fee",
    "channel_fee",
    "our_state",
    "detail",
    "state",
    "heal_action",
    "note",
    "resolved_by",
    "resolved_at",
    "created_at",
];

/// One CSV page: the header (first page only), then each difference's [`difference_json`]
/// fields in [`CSV_HEADER`] order (absent values empty, times RFC 3339).
fn csv_page(rows: &[reconciliation_difference::Model], header: bool) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    if header {
        w.write_record(CSV_HEADER).map_err(|e| e.to_string())?;
    }
    for d in rows {
        let v = difference_json(d.clone());
        w.write_record(CSV_HEADER.iter().map(|k| match &v[*k] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }))
        .map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

async fn export_differences(
    state: web::Data<ApiState>,
    actor: AdminActor,
    query: web::Query<DifferencesQuery>,
) -> Result<HttpResponse, Failure> {
    let q = query.into_inner();
    let filter = q.filter()?;
    // The first page is read before answering, so a refusal (role) is a status, not a cut
    // stream.
    let wanted = DifferenceQuery {
        filter: filter.clone(),
        after_id: 0,
        limit: CSV_PAGE,
    };
    let first = state
        .engine
        .reconciliation()
        .list_differences(&actor.0, &wanted)
        .await?;
    let first_bytes = csv_page(&first, true).map_err(|e| {
        tracing::error!(error = %e, "differences CSV");
        AdminError::Internal
    })?;
    let next_after = (first.len() as u64 == CSV_PAGE).then(|| first.last().map_or(0, |d| d.id));
    let actor = actor.0;
    let pages = stream::unfold((Some(first_bytes), next_after), move |(pending, after)| {
        let state = state.clone();
        let actor = actor.clone();
        let filter = filter.clone();
        async move {
            if let Some(bytes) = pending {
                return Some((Ok(web::Bytes::from(bytes)), (None, after)));
            }
            let after = after?;
            let q = DifferenceQuery {
                filter,
                after_id: after,
                limit: CSV_PAGE,
            };
            let rows = match state
                .engine
                .reconciliation()
                .list_differences(&actor, &q)
                .await
            {
                Ok(rows) => rows,
                Err(e) => {
                    return Some((
                        Err(actix_web::error::ErrorInternalServerError(e.to_string())),
                        (None, None),
                    ));
                }
            };
            let next = (rows.len() as u64 == CSV_PAGE).then(|| rows.last().map_or(after, |d| d.id));
            match csv_page(&rows, false) {
                Ok(bytes) => Some((Ok(web::Bytes::from(bytes)), (None, next))),
                Err(e) => Some((
                    Err(actix_web::error::ErrorInternalServerError(e)),
                    (None, None),
                )),
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"reconciliation_differences.csv\"",
        ))
        .streaming::<_, actix_web::Error>(pages))
}

#[derive(Deserialize)]
struct NoteBody {
    note: Option<String>,
}

async fn resolve_difference(
    state: web::Data<ApiState>,
    actor: AdminActor,
    id: web::Path<i64>,
    body: web::Json<NoteBody>,
) -> Result<HttpResponse, Failure> {
    let id = id.into_inner();
    let note = body.into_inner().note.unwrap_or_default();
    let d = state
        .engine
        .reconciliation()
        .resolve_difference(&actor.0, id, &note)
        .await?;
    let d = d.ok_or_else(|| AdminError::NotFound(format!("difference {id}")))?;
    Ok(HttpResponse::Ok().json(difference_json(d)))
}

#[derive(Deserialize)]
struct IncidentsQuery {
    limit: Option<u64>,
}

async fn list_incidents(
    state: web::Data<ApiState>,
    actor: AdminActor,
    query: web::Query<IncidentsQuery>,
) -> Result<HttpResponse, Failure> {
    let limit = query.limit.unwrap_or(100);
    let list = state
        .engine
        .reconciliation()
        .open_incidents(&actor.0, limit)
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "incidents": list.into_iter().map(incident_view).collect::<Vec<_>>()
    })))
}

async fn resolve_incident(
    state: web::Data<ApiState>,
    actor: AdminActor,
    id: web::Path<i64>,
    body: web::Json<NoteBody>,
) -> Result<HttpResponse, Failure> {
    let id = id.into_inner();
    let note = body.into_inner().note.unwrap_or_default();
    if !state
        .engine
        .reconciliation()
        .resolve_incident(&actor.0, id, &note)
        .await?
    {
        return Err(AdminError::NotFound(format!("open incident {id}")).into());
    }
    Ok(HttpResponse::Ok().json(json!({ "id": id, "resolved": true })))
}
