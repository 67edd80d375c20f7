//! `GET /admin/api/audit?actor=&action=&from=&to=&page=&size=&format=` (issue 13), platform
//! admins only: the audit log, newest first, `{"items": [entry…], "total", "page", "size"}`,
//! or with `format=csv` every matching entry as UTF-8 CSV with a header row, streamed.
//! `actor` as recorded (`user:alice`, `token:ci`, `local:cli`), `action` exactly
//! (`admin_user.create`, `trade.refund`, …), `from`/`to` Asia/Shanghai days `yyyyMMdd`, both
//! included; `page` from 1, `size` 1–200 (default 50). An entry: `{"id", "at", "actor",
//! "action", "target", "address", "detail"}` (`detail`: before → after as recorded; in CSV its
//! JSON text).

use actix_web::{HttpResponse, web};
use nkpay_engine::console::identities::AuditQuery;
use nkpay_store::entity::audit_log;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AdminActor;
use super::listing::{Export, ListingError, ListingParams, list_or_export, time};
use crate::ApiState;

/// The route.
pub const PATH: &str = "/admin/api/audit";

/// Mounts the audit log listing.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::get().to(list));
}

/// An audit entry as the console shows it.
pub fn entry_json(e: &audit_log::Model) -> Value {
    json!({
        "id": e.id,
        "at": time(e.at),
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "address": e.address,
        "detail": e.detail,
    })
}

/// The CSV's columns, in order.
const CSV: &[&str] = &["id", "at", "actor", "action", "target", "address", "detail"];

#[derive(Debug, Deserialize)]
struct Params {
    #[serde(flatten)]
    listing: ListingParams,
    actor: Option<String>,
    action: Option<String>,
}

async fn list(
    state: web::Data<ApiState>,
    actor: AdminActor,
    params: web::Query<Params>,
) -> Result<HttpResponse, ListingError> {
    let q = AuditQuery {
        days: params.listing.days()?,
        actor: params.actor.clone(),
        action: params.action.clone(),
    };
    let console = state.engine.console().clone();
    let by = actor.0;
    let export = Export {
        filename: "audit.csv",
        header: CSV,
        view: entry_json,
        id: |e| e.id,
    };
    let (c, b, qq) = (console.clone(), by.clone(), q.clone());
    list_or_export(
        &params.listing,
        export,
        |page| async move { c.audit(&b, &qq, page).await },
        move |before, limit| {
            let (console, by, q) = (console.clone(), by.clone(), q.clone());
            async move { console.audit_before(&by, &q, before, limit).await }
        },
    )
    .await
}
