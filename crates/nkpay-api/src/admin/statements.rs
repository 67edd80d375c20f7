//! Console calls about statement (对账单) files (issue 12):
//!
//! - `GET /admin/api/statements?data_date=yyyyMMdd&bill_type=TRADE_BILL&owner_id=&limit=&offset=`
//!   — files, newest trade day first (`limit` 1–1000, default 100; `offset` files skipped,
//!   default 0), `total` the count of all matching: `{"total", "offset", "limit", "files": [{"file_id",
//!   "file_name", "file_date", "data_date", "bill_type", "huifu_id", "download_url",
//!   "file_size", "sha256", "partial" ("Y"/"N") — as filequery's `file_details` — plus
//!   "owner_kind" ("mer" / "sys"), "row_count", "created_at" (UTC)}]}`; `download_url` is a
//!   signed link any holder may use until it expires.
//! - `GET /admin/api/statements/{file_id}/download` — the zip itself (`application/zip`).
//! - `POST /admin/api/statements/generate` with `{"date": "yyyyMMdd"}` (a trade day) or
//!   `{"month": "yyyyMM"}` (the monthly bills) — remakes that period's files through the same
//!   engine path as `nkpay bill generate --date` and the scheduled job (today / this month
//!   partial; a closed period gives identical bytes; the old files stay listed and downloadable
//!   until the new ones are complete) and answers 200 with [`report_json`]'s shape:
//!   `{"data_date", "partial", "files": [{"file_id", "file_name", "size_bytes", "sha256",
//!   "rows"}]}`. Platform admin and operator only (finance, read-only, agent admin: 403);
//!   audited as `statement.generate`.
//!
//! Every role reads statements; an agent admin only its own service provider's and its
//! merchants' (another's is 404). Bad input: 400 `{"error", "field"}` naming the field and rule.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use nkpay_engine::EngineError;
use nkpay_engine::shanghai_time;
use nkpay_engine::statements::{BillType, GenerateReport, Period};
use nkpay_store::statements::FileFilter;
use serde::Deserialize;
use serde_json::json;

use super::auth::AdminActor;
use super::error::AdminError;
use crate::ApiState;

/// The statements' base path.
pub const STATEMENTS: &str = "/admin/api/statements";
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;

/// Mounts the statement routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(STATEMENTS)
            .app_data(super::error::json_config())
            .route("", web::get().to(list))
            .route("/generate", web::post().to(generate))
            .route("/{file_id}/download", web::get().to(download)),
    );
}

/// The listing's query.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Trade day `yyyyMMdd`.
    pub data_date: Option<String>,
    /// Bill type.
    pub bill_type: Option<String>,
    /// A `mer_id` or `sys_id`.
    pub owner_id: Option<String>,
    /// 1–1000.
    pub limit: Option<u64>,
    /// Files to skip first (a whole number, default 0).
    pub offset: Option<String>,
}

fn bad(field: &str, rule: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({
        "error": format!("{field}: {rule}"),
        "field": field,
    }))
}

async fn list(
    state: web::Data<ApiState>,
    actor: AdminActor,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AdminError> {
    let q = query.into_inner();
    if let Some(d) = &q.data_date
        && shanghai_time::parse_date(d).is_none()
    {
        return Ok(bad("data_date", "must be a real date written yyyyMMdd"));
    }
    if let Some(b) = &q.bill_type
        && BillType::parse(b).is_none()
    {
        return Ok(bad(
            "bill_type",
            "must be TRADE_BILL, SETTLE_BILL, TRADE_BILL_MONTH or SETTLE_BILL_MONTH",
        ));
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Ok(bad("limit", "must be 1 to 1000"));
    }
    let offset = match q.offset.as_deref() {
        None | Some("") => 0,
        Some(text) => match text.parse::<u64>() {
            Ok(n) => n,
            Err(_) => return Ok(bad("offset", "must be a whole number 0 or more")),
        },
    };
    let filter = FileFilter {
        data_date: q.data_date,
        bill_type: q.bill_type,
        owner_id: q.owner_id,
        owner_ids: None,
        limit,
        offset,
    };
    let (files, total) = state
        .engine
        .statements()
        .page(&actor.0, filter, Utc::now())
        .await?;
    let files: Vec<_> = files
        .iter()
        .map(|f| {
            let mut out = crate::open::filequery::file_json(f);
            out.insert("owner_kind".into(), json!(f.owner_kind));
            out.insert("row_count".into(), json!(f.row_count));
            out.insert("created_at".into(), json!(f.created_at));
            out
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "files": files,
        "total": total,
        "offset": offset,
        "limit": limit,
    })))
}

async fn download(
    state: web::Data<ApiState>,
    actor: AdminActor,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    match state.engine.statements().open_for(&actor.0, &path).await? {
        Some(d) => Ok(crate::statements_download::zip_response(d)),
        None => Err(AdminError::NotFound(format!("statement file {path}"))),
    }
}

/// `POST /admin/api/statements/generate`'s body: exactly one of `date` and `month`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateBody {
    /// A trade day, `yyyyMMdd` (Asia/Shanghai): its `TRADE_BILL` and `SETTLE_BILL` files.
    pub date: Option<String>,
    /// A month, `yyyyMM`: its `TRADE_BILL_MONTH` and `SETTLE_BILL_MONTH` files.
    pub month: Option<String>,
}

/// A generation's report as JSON: `{"data_date": "yyyyMMdd", "partial": bool, "files":
/// [{"file_id", "file_name", "size_bytes" (bytes), "sha256" (hex), "rows"}]}` — what
/// `nkpay bill generate` prints and the console's regeneration answers.
pub fn report_json(report: &GenerateReport) -> serde_json::Value {
    let files: Vec<_> = report
        .files
        .iter()
        .map(|f| {
            json!({
                "file_id": f.file_id,
                "file_name": f.file_name,
                "size_bytes": f.size_bytes,
                "sha256": f.sha256,
                "rows": f.rows,
            })
        })
        .collect();
    json!({
        "data_date": report.data_date.format("%Y%m%d").to_string(),
        "partial": report.partial,
        "files": files,
    })
}

/// The period `body` names; otherwise the refused field and its rule.
fn period_of(body: &GenerateBody) -> Result<Period, (&'static str, &'static str)> {
    match (&body.date, &body.month) {
        (Some(d), None) => shanghai_time::parse_date(d)
            .map(Period::Day)
            .ok_or(("date", "must be a real date written yyyyMMdd")),
        (None, Some(m)) => {
            let first = (m.len() == 6 && m.bytes().all(|b| b.is_ascii_digit()))
                .then(|| shanghai_time::parse_date(&format!("{m}01")))
                .flatten();
            first
                .map(Period::Month)
                .ok_or(("month", "must be a real month written yyyyMM"))
        }
        (Some(_), Some(_)) => Err(("month", "give either date or month, not both")),
        (None, None) => Err((
            "date",
            "give date (a trade day, yyyyMMdd) or month (yyyyMM)",
        )),
    }
}

async fn generate(
    state: web::Data<ApiState>,
    actor: AdminActor,
    body: web::Json<GenerateBody>,
) -> Result<HttpResponse, AdminError> {
    let period = match period_of(&body) {
        Ok(p) => p,
        Err((field, rule)) => return Ok(bad(field, rule)),
    };
    let field = match period {
        Period::Day(_) => "date",
        Period::Month(_) => "month",
    };
    match state
        .engine
        .statements()
        .regenerate(&actor.0, period, Utc::now())
        .await
    {
        Ok(report) => Ok(HttpResponse::Ok().json(report_json(&report))),
        // The engine names `date` for a period that has not begun; the caller may have sent
        // `month`.
        Err(EngineError::Invalid { rule, .. }) => Ok(bad(field, &rule)),
        Err(e) => Err(e.into()),
    }
}
