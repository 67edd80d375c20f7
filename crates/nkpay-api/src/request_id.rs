//! The request id (issue 14; docs/observability.md): every request gets one — the caller's own
//! `X-Request-Id` when it is sane (1 to 64 characters of `A-Z a-z 0-9 . _ -`), else a fresh one
//! (32 hex digits) —, every log line written while handling it carries it (a `request` span
//! with `request_id`, so JSON logs show it in `span` and `spans`), and every response returns it
//! as `X-Request-Id`. The id is for correlating logs; it is not the merchant API's `req_seq_id`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Instrument;

/// The header read and written (`X-Request-Id`).
pub const HEADER: &str = "x-request-id";

/// The longest id accepted from a caller.
pub const MAX_LEN: usize = 64;

/// A request's id, in the request's extensions for handlers that want it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Whether a caller's id is kept: 1 to [`MAX_LEN`] characters of `A-Z a-z 0-9 . _ -`, so it is
/// safe in a header, a log line and a file name.
pub fn is_sane(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A fresh id: a random UUID as 32 lowercase hex digits.
pub fn fresh() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Middleware (`actix_web::middleware::from_fn(propagate)`, outermost): takes or makes the id,
/// runs the request inside a `request` span carrying it, and sets `X-Request-Id` on the
/// response, error responses included.
pub async fn propagate<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane(v))
        .map_or_else(fresh, str::to_owned);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path()
    );
    req.extensions_mut().insert(RequestId(id.clone()));
    // A sane or fresh id is always a valid header value.
    let value = HeaderValue::from_str(&id).ok();
    match next.call(req).instrument(span).await {
        Ok(mut res) => {
            if let Some(value) = value {
                res.headers_mut()
                    .insert(HeaderName::from_static(HEADER), value);
            }
            Ok(res)
        }
        // The error's own response, with the id (it is rendered outside this middleware).
        Err(e) => {
            let mut response = e.error_response();
            if let Some(value) = value {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(HEADER), value);
            }
            Err(InternalError::from_response(e, response).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_short_and_plain() {
        assert!(is_sane("abc-123_X.y"));
        assert!(is_sane(&"a".repeat(64)));
        assert!(!is_sane(""));
        assert!(!is_sane(&"a".repeat(65)));
        assert!(!is_sane("has space"));
        assert!(!is_sane("new\nline"));
        assert!(!is_sane("ünïcode"));
        assert!(!is_sane("semi;colon"));
        let id = fresh();
        assert_eq!(id.len(), 32);
        assert!(is_sane(&id));
        assert_ne!(fresh(), id);
    }
}
