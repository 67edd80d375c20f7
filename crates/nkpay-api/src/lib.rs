//! nkpay-api: the actix-web surface — the merchant open API, channel callbacks, the console API
//! and health endpoints. The merchant API's wire format lives here and only here: each endpoint's
//! typed request read from the envelope's `data` (field-level refusals) and its reply written
//! from the engine's typed answer (yuan strings, `yyyyMMddHHmmss` Asia/Shanghai, `resp_code`),
//! one file per endpoint under [`open`].
//!
//! Not for: business rules; every handler calls nkpay-engine.

pub mod admin;
pub mod callback;
pub mod console;
pub mod health;
pub mod limits;
pub mod observability;
pub mod open;
pub mod request_id;
pub mod statements_download;

use std::sync::Arc;

use actix_web::web;
use nkpay_engine::Engine;

/// The open API's default body limit: a jspay request is well under 8 KiB.
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 64 * 1024;

/// What every handler can reach; built once by the server and shared by all workers.
pub struct ApiState {
    pub db: nkpay_store::Db,
    pub engine: Arc<Engine>,
    /// The largest merchant API request body read; larger ones are refused (`10000000`).
    pub body_limit_bytes: usize,
    /// Requests per caller and callbacks per address (issue 15).
    pub limits: Arc<limits::Limits>,
}

impl ApiState {
    /// State over `engine`'s database with the default body limit and no rate limits
    /// ([`limits::LimitsConfig::off`]); see [`ApiState::with_limits`].
    pub fn new(engine: Arc<Engine>) -> ApiState {
        ApiState {
            db: engine.db().clone(),
            engine,
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
            limits: Arc::new(limits::Limits::new(limits::LimitsConfig::off())),
        }
    }

    /// The same state counting with `config`.
    pub fn with_limits(mut self, config: limits::LimitsConfig) -> ApiState {
        self.limits = Arc::new(limits::Limits::new(config));
        self
    }
}

/// Mounts every route of the platform on an actix `App` (which must carry
/// `web::Data<ApiState>`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    observability::configure(cfg);
    open::configure(cfg);
    callback::configure(cfg);
    admin::configure(cfg);
    statements_download::configure(cfg);
    console::configure(cfg);
}
