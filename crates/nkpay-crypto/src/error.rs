//! The one error type of this crate. Messages say what was wrong with which input, and never
//! contain key material or the plaintext of a secret.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    #[error("invalid JSON at byte {offset}: {reason}")]
    Json { offset: usize, reason: &'static str },
    #[error("JSON nests deeper than {max} levels")]
    JsonTooDeep { max: usize },
    #[error("JSON {what} must be an object")]
    JsonNotObject { what: &'static str },
    #[error("{what} is not valid base64")]
    Base64 { what: &'static str },
    #[error("{what}: {reason}")]
    Key { what: &'static str, reason: String },
    #[error("{what}: RSA key of {bits} bits; 2048 to 4096 bits required")]
    KeySize { what: &'static str, bits: usize },
    #[error("{what}: signature does not verify")]
    BadSignature { what: &'static str },
    #[error("field {0:?} is missing or empty")]
    MissingField(&'static str),
    #[error("sign_type {0:?} is not supported: expected MD5 or HMAC-SHA256")]
    UnknownSignType(String),
    #[error("signing failed: {0}")]
    Sign(&'static str),
    #[error("{what}: {reason}")]
    Cipher {
        what: &'static str,
        reason: &'static str,
    },
}

pub type Result<T, E = CryptoError> = std::result::Result<T, E>;
