//! How the console API answers a failure: an HTTP status and `{"error": "..."}`, the message
//! naming what to fix. Internal errors are logged and answered without their details.

use actix_web::http::StatusCode;
use actix_web::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use nkpay_engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "admin bearer token missing, wrong, expired or revoked (Authorization: Bearer <access \
         token from POST /admin/api/session, or an API token>)"
    )]
    Unauthorized,
    /// A sign-in refused: unknown user, wrong password, disabled user, missing or wrong TOTP
    /// code — one answer for all.
    #[error("username, password or one-time code wrong")]
    LoginFailed,
    /// Too many failed sign-ins for the username or the address: 429 with `Retry-After`
    /// (seconds), naming neither.
    #[error("too many failed sign-ins; try again later")]
    Throttled {
        /// Seconds until a sign-in is considered again.
        retry_after_secs: u64,
    },
    /// A refresh token that is unknown, expired, spent or revoked: 401.
    #[error("refresh token unknown, expired, spent or revoked: sign in again")]
    RefreshRefused,
    /// A route registered without its line in `admin::ROUTES`: 404 for everyone.
    #[error("no admin route {0} (a route needs its line in nkpay_api::admin::ROUTES)")]
    NoRoute(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("internal error")]
    Internal,
}

impl From<EngineError> for AdminError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid { .. } => AdminError::BadRequest(e.to_string()),
            EngineError::Forbidden(rule) => AdminError::Forbidden(rule),
            other => {
                tracing::error!(error = %other, "console API");
                AdminError::Internal
            }
        }
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::Unauthorized | AdminError::LoginFailed | AdminError::RefreshRefused => {
                StatusCode::UNAUTHORIZED
            }
            AdminError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AdminError::NoRoute(_) => StatusCode::NOT_FOUND,
            AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        if matches!(self, AdminError::Unauthorized) {
            res.insert_header((WWW_AUTHENTICATE, "Bearer"));
        }
        if let AdminError::Throttled { retry_after_secs } = self {
            res.insert_header((RETRY_AFTER, retry_after_secs.to_string()));
        }
        res.json(serde_json::json!({ "error": self.to_string() }))
    }
}

/// The console's JSON body reader: at most 4 KiB, a malformed body answered as a
/// [`AdminError::BadRequest`] naming the problem.
pub(crate) fn json_config() -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .limit(4096)
        .error_handler(|e, _| AdminError::BadRequest(format!("body: {e}")).into())
}
