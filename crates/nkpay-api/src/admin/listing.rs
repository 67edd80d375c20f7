//! What the console's listings share: a refusal naming its field (400 `{"error", "field"}`),
//! the query parameters every listing reads (`from`/`to` days, `page`/`size`, `format`), the
//! page envelope (`{"items", "total", "page", "size"}`), and CSV exports streamed page by
//! page through the `csv` crate.

use std::future::Future;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use chrono::{DateTime, Utc};
use futures::stream;
use nkpay_engine::EngineError;
use nkpay_engine::console::trades::{Bound, DayRange};
use nkpay_engine::console::{Page, PageRequest};
use nkpay_engine::shanghai_time;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::AdminError;

/// Rows per database page of a CSV export.
const CSV_PAGE: u64 = 500;

/// How a console listing call fails: a refused field (400 `{"error", "field"}`, the message
/// naming the field and its rule), or any other console failure as [`AdminError`] answers it.
#[derive(Debug)]
pub(crate) enum ListingError {
    /// The field and what it must be.
    Field(String, String),
    /// Anything else.
    Other(AdminError),
}

impl std::fmt::Display for ListingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListingError::Field(field, rule) => write!(f, "{field}: {rule}"),
            ListingError::Other(e) => e.fmt(f),
        }
    }
}

impl ResponseError for ListingError {
    fn status_code(&self) -> StatusCode {
        match self {
            ListingError::Field(..) => StatusCode::BAD_REQUEST,
            ListingError::Other(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ListingError::Field(field, _) => HttpResponse::BadRequest().json(json!({
                "error": self.to_string(),
                "field": field,
            })),
            ListingError::Other(e) => e.error_response(),
        }
    }
}

impl From<EngineError> for ListingError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid { field, rule } => ListingError::Field(field, rule),
            other => ListingError::Other(other.into()),
        }
    }
}

impl From<AdminError> for ListingError {
    fn from(e: AdminError) -> Self {
        ListingError::Other(e)
    }
}

/// A refusal of `field` for breaking `rule`.
pub(crate) fn refused(field: &str, rule: impl Into<String>) -> ListingError {
    ListingError::Field(field.to_owned(), rule.into())
}

/// The parameters every listing reads: `from`/`to` (Asia/Shanghai days `yyyyMMdd`, both
/// included), `page` (from 1) and `size` (1–200, default 50) — or instead `offset` and `limit`
/// (1–200) —, and `format` (`json`, the default, or `csv`).
#[derive(Debug, Deserialize, Default)]
pub(crate) struct ListingParams {
    pub from: Option<String>,
    pub to: Option<String>,
    // Strings, read here: numbers inside a flattened query struct do not deserialize.
    pub page: Option<String>,
    pub size: Option<String>,
    pub offset: Option<String>,
    pub limit: Option<String>,
    pub format: Option<String>,
}

impl ListingParams {
    /// The range asked for: each end a real Asia/Shanghai date written `yyyyMMdd` (the whole
    /// day) or an RFC 3339 instant (`from` included, `to` excluded); anything else is refused
    /// naming `from` / `to`.
    pub fn days(&self) -> Result<DayRange, ListingError> {
        Ok(DayRange {
            from: day("from", self.from.as_deref())?,
            to: day("to", self.to.as_deref())?,
        })
    }

    /// The rows asked for (see [`PageRequest::new`], [`PageRequest::from_offset`]); giving
    /// both forms is refused, naming `offset`.
    pub fn page(&self) -> Result<PageRequest, ListingError> {
        if self.offset.is_some() || self.limit.is_some() {
            if self.page.is_some() || self.size.is_some() {
                return Err(refused(
                    "offset",
                    "give page and size, or offset and limit, not both",
                ));
            }
            let offset = parsed::<u64>(
                "offset",
                self.offset.as_deref(),
                "must be a whole number from 0",
            )?;
            let limit = parsed::<u64>(
                "limit",
                self.limit.as_deref(),
                "must be a whole number, 1 to 200",
            )?;
            return Ok(PageRequest::from_offset(offset, limit)?);
        }
        let page = parsed::<u64>(
            "page",
            self.page.as_deref(),
            "must be a whole number from 1",
        )?;
        let size = parsed::<u64>(
            "size",
            self.size.as_deref(),
            "must be a whole number, 1 to 200",
        )?;
        Ok(PageRequest::new(page, size)?)
    }

    /// Whether a CSV export is asked for; refuses a `format` other than `json` or `csv`.
    pub fn csv(&self) -> Result<bool, ListingError> {
        match self.format.as_deref() {
            None | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(_) => Err(refused("format", "must be json or csv")),
        }
    }
}

fn day(field: &str, text: Option<&str>) -> Result<Option<Bound>, ListingError> {
    text.map(|t| {
        shanghai_time::parse_date(t)
            .map(Bound::Day)
            .or_else(|| {
                DateTime::parse_from_rfc3339(t)
                    .ok()
                    .map(|i| Bound::Instant(i.with_timezone(&Utc)))
            })
            .ok_or_else(|| {
                refused(
                    field,
                    "must be a real Asia/Shanghai date written yyyyMMdd, or an RFC 3339 time",
                )
            })
    })
    .transpose()
}

/// An optional word parsed into its type; `field` refused with `rule` when it does not parse.
pub(crate) fn parsed<T: std::str::FromStr>(
    field: &str,
    text: Option<&str>,
    rule: &str,
) -> Result<Option<T>, ListingError> {
    text.map(|t| t.parse::<T>().map_err(|_| refused(field, rule)))
        .transpose()
}

/// `{"items": [...], "total", "page", "size", "offset"}`.
pub(crate) fn page_json<T>(page: Page<T>, view: impl Fn(&T) -> Value) -> Value {
    json!({
        "items": page.items.iter().map(view).collect::<Vec<_>>(),
        "total": page.total,
        "page": page.page.page(),
        "size": page.page.size,
        "offset": page.page.offset,
    })
}

/// A time as the console writes it: RFC 3339 UTC, with milliseconds.
pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// How a listing is exported as CSV: the file's name, its columns (fields of `view`), the
/// JSON view of a row, and a row's id (the keyset of the export's pages).
pub(crate) struct Export<T: 'static> {
    pub filename: &'static str,
    pub header: &'static [&'static str],
    pub view: fn(&T) -> Value,
    pub id: fn(&T) -> i64,
}

/// Answers a listing call: with `format=csv` every matching row as [`csv_export`] streams it
/// (pages read by `before`), else the page `params` ask for (read by `page`) as
/// [`page_json`].
pub(crate) async fn list_or_export<T, P, PF, B, BF>(
    params: &ListingParams,
    export: Export<T>,
    page: P,
    before: B,
) -> Result<HttpResponse, ListingError>
where
    T: 'static,
    P: FnOnce(PageRequest) -> PF,
    PF: Future<Output = Result<Page<T>, EngineError>>,
    B: Fn(Option<i64>, u64) -> BF + Clone + 'static,
    BF: Future<Output = Result<Vec<T>, EngineError>> + 'static,
{
    if params.csv()? {
        return csv_export(
            export.filename,
            export.header,
            export.view,
            export.id,
            before,
        )
        .await;
    }
    let rows = page(params.page()?).await?;
    Ok(HttpResponse::Ok().json(page_json(rows, export.view)))
}

/// A CSV export: the columns `header`, then one record per row of `view` (the same JSON
/// object the listing answers; absent values empty, strings as they are, numbers and booleans
/// as JSON writes them). `fetch(before_id)` reads the next page (newest first, ids below
/// `before_id`; `None` for the first page); the first page is read before answering, so a
/// refusal is a status and not a cut stream. The body is streamed page by page.
pub(crate) async fn csv_export<T, F, Fut>(
    filename: &str,
    header: &'static [&'static str],
    view: fn(&T) -> Value,
    id: fn(&T) -> i64,
    fetch: F,
) -> Result<HttpResponse, ListingError>
where
    T: 'static,
    F: Fn(Option<i64>, u64) -> Fut + Clone + 'static,
    Fut: Future<Output = Result<Vec<T>, EngineError>> + 'static,
{
    let first = fetch(None, CSV_PAGE).await?;
    let first_bytes = csv_rows(&first, header, view, true).map_err(|e| {
        tracing::error!(error = %e, "console CSV");
        AdminError::Internal
    })?;
    let next = next_before(&first, id);
    let pages = stream::unfold((Some(first_bytes), next), move |(pending, before)| {
        let fetch = fetch.clone();
        async move {
            if let Some(bytes) = pending {
                return Some((Ok(web::Bytes::from(bytes)), (None, before)));
            }
            let before = before?;
            let rows = match fetch(Some(before), CSV_PAGE).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(error = %e, "console CSV page");
                    return Some((
                        Err(actix_web::error::ErrorInternalServerError("export failed")),
                        (None, None),
                    ));
                }
            };
            let next = next_before(&rows, id);
            match csv_rows(&rows, header, view, false) {
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
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming::<_, actix_web::Error>(pages))
}

/// The id to read below for the next page: the last row's, when the page was full.
fn next_before<T>(rows: &[T], id: fn(&T) -> i64) -> Option<i64> {
    (rows.len() as u64 == CSV_PAGE)
        .then(|| rows.last().map(id))
        .flatten()
}

/// One page of CSV bytes (with the header row first when `with_header`).
fn csv_rows<T>(
    rows: &[T],
    header: &[&str],
    view: fn(&T) -> Value,
    with_header: bool,
) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    if with_header {
        w.write_record(header).map_err(|e| e.to_string())?;
    }
    for row in rows {
        let v = view(row);
        w.write_record(header.iter().map(|k| match &v[*k] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }))
        .map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}
