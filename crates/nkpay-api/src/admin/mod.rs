//! The console API (`/admin/api/...`): what the service provider's console calls. JSON in and
//! out, every call behind [`auth::AdminAuth`]. Handlers translate; the rules are in nkpay-engine.

pub mod auth;
mod console_db;
mod error;
pub mod notifications;

use actix_web::web;

pub use auth::{AdminAuth, AdminToken};

/// Mounts the console API. The app must carry `web::Data<AdminToken>` (else every call answers
/// 503) and the database: `web::Data<ApiState>`, or a bare `web::Data<nkpay_store::Db>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    notifications::configure(cfg);
}
