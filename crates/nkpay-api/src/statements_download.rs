//! `GET /statements/download/{file_id}?expires=<unix seconds>&sign=<hex>`: a statement file
//! for whoever holds the signed link `filequery` (or the console) gave — no other credential.
//! The link's HMAC and expiry are checked by the engine (`nkpay_engine::statements::link`):
//! an altered or expired link is 403 `{"error": ...}`, a file that no longer exists 404. The
//! zip streams chunk by chunk (`application/zip`, `Content-Disposition: attachment`).

use actix_web::http::StatusCode;
use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use futures::StreamExt;
use nkpay_engine::statements::link::DOWNLOAD_PATH;
use nkpay_engine::statements::{Download, DownloadRefusal};
use serde::Deserialize;

use crate::ApiState;

/// The link's query.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    /// Unix seconds (UTC) until which the link works.
    pub expires: Option<i64>,
    /// Hex HMAC-SHA256 over `"{file_id}\n{expires}"`.
    pub sign: Option<String>,
}

/// Mounts the download route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        &format!("{DOWNLOAD_PATH}{{file_id}}"),
        web::get().to(download),
    );
}

async fn download(
    state: web::Data<ApiState>,
    path: web::Path<String>,
    query: web::Query<LinkQuery>,
) -> HttpResponse {
    let (Some(expires), Some(sign)) = (query.expires, query.sign.as_deref()) else {
        return refuse(
            StatusCode::FORBIDDEN,
            "download link incomplete: expires and sign are required",
        );
    };
    match state
        .engine
        .statements()
        .download_by_link(&path, expires, sign, Utc::now())
        .await
    {
        Ok(d) => zip_response(d),
        Err(r @ (DownloadRefusal::Expired | DownloadRefusal::BadSignature)) => {
            refuse(StatusCode::FORBIDDEN, &r.to_string())
        }
        Err(r @ DownloadRefusal::NotFound) => refuse(StatusCode::NOT_FOUND, &r.to_string()),
    }
}

fn refuse(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({ "error": message }))
}

/// A statement file as a streamed `application/zip` attachment (shared with the console's
/// download).
pub fn zip_response(d: Download) -> HttpResponse {
    let name = d.file.file_name.clone();
    let body = d.chunks.map(|chunk| {
        chunk.map(web::Bytes::from).map_err(|e| {
            tracing::error!(error = %e, "statement download interrupted");
            actix_web::error::ErrorInternalServerError("statement file unreadable")
        })
    });
    HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(name)],
        })
        .insert_header(("X-Nkp-Sha256", d.file.sha256.clone().unwrap_or_default()))
        .streaming(body)
}
