//! The console API's access check, for now a bearer token from configuration: `Authorization:
//! Bearer <token>`, compared in constant time. The console's JWT login (a later issue) replaces
//! this extractor's inside; handlers that take an [`AdminAuth`] need not change.

use std::future::{Ready, ready};

use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use nkpay_core::secret::Secret;
use subtle::ConstantTimeEq;

use super::error::AdminError;

/// The shortest token accepted, so a placeholder like `admin` cannot guard the console.
pub const MIN_TOKEN_CHARS: usize = 16;

/// The configured console token; register it with `App::app_data(web::Data::new(token))`.
#[derive(Clone)]
pub struct AdminToken(Secret<String>);

impl AdminToken {
    /// `None` when `token` is shorter than [`MIN_TOKEN_CHARS`].
    pub fn new(token: impl Into<String>) -> Option<AdminToken> {
        let token = token.into();
        (token.chars().count() >= MIN_TOKEN_CHARS).then(|| AdminToken(Secret::new(token)))
    }

    fn matches(&self, given: &str) -> bool {
        bool::from(self.0.expose().as_bytes().ct_eq(given.as_bytes()))
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

/// Proof that the request carried the console token. Take it as a handler argument.
#[derive(Debug, Clone, Copy)]
pub struct AdminAuth(());

impl FromRequest for AdminAuth {
    type Error = AdminError;
    type Future = Ready<Result<AdminAuth, AdminError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req))
    }
}

fn check(req: &HttpRequest) -> Result<AdminAuth, AdminError> {
    let Some(token) = req.app_data::<web::Data<AdminToken>>() else {
        return Err(AdminError::Disabled);
    };
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(given) if token.matches(given) => Ok(AdminAuth(())),
        _ => Err(AdminError::Unauthorized),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_tokens_are_refused_and_debug_hides_the_token() {
        assert!(AdminToken::new("admin").is_none());
        let t = AdminToken::new("0123456789abcdef").expect("long enough");
        assert_eq!(format!("{t:?}"), "AdminToken(***)");
        assert!(t.matches("0123456789abcdef"));
        assert!(!t.matches("0123456789abcdeF"));
        assert!(!t.matches("0123456789abcdef0"));
    }
}
