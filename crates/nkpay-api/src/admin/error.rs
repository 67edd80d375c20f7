//! How the console API answers a failure: an HTTP status and `{"error": "..."}`, the message
//! naming what to fix. Internal errors are logged and answered without their details.

use actix_web::http::StatusCode;
use actix_web::http::header::WWW_AUTHENTICATE;
use actix_web::{HttpResponse, ResponseError};
use nkpay_engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin API disabled: no admin token is configured")]
    Disabled,
    #[error("admin bearer token missing or wrong (Authorization: Bearer <token>)")]
    Unauthorized,
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
            AdminError::Disabled => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
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
        res.json(serde_json::json!({ "error": self.to_string() }))
    }
}
