//! The one error type of this crate. Messages say what was wrong with which input, and never
//! contain key material or the plaintext of a secret.

use thiserror::Error;

/// Everything that can go wrong signing, verifying, parsing keys or JSON, or (de)ciphering.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// Text that is not strict RFC 8259 JSON; `offset` is the byte where reading stopped.
    #[error("invalid JSON at byte {offset}: {reason}")]
    Json {
        /// Byte offset into the text.
        offset: usize,
        /// The rule broken (`expected ',' or '}'`, `duplicate key`, …).
        reason: &'static str,
    },
    /// An object naming the same key twice (two readers could pick different values).
    #[error("invalid JSON at byte {offset}: duplicate key {key:?}")]
    JsonDuplicateKey {
        /// Byte offset of the second occurrence.
        offset: usize,
        /// The key (its first 64 characters).
        key: String,
    },
    /// JSON nested deeper than [`crate::json_text::MAX_DEPTH`].
    #[error("JSON nests deeper than {max} levels")]
    JsonTooDeep {
        /// The limit.
        max: usize,
    },
    /// A JSON value that must be an object (a `data` to sign, a document) is something else.
    #[error("JSON {what} must be an object")]
    JsonNotObject {
        /// Which value.
        what: &'static str,
    },
    /// Text that should be standard base64 (RFC 4648, with padding) is not.
    #[error("{what} is not valid base64")]
    Base64 {
        /// Which input (`signature`, `req_info`, `sealing key`, …).
        what: &'static str,
    },
    /// A key that cannot be used: wrong PEM label, not RSA, malformed DER.
    #[error("{what}: {reason}")]
    Key {
        /// `private key` or `public key`.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An RSA key outside 2048 to 4096 bits.
    #[error("{what}: RSA key of {bits} bits; 2048 to 4096 bits required")]
    KeySize {
        /// `private key` or `public key`.
        what: &'static str,
        /// The modulus size found.
        bits: usize,
    },
    /// A signature that does not verify over the rebuilt string.
    #[error("{what}: signature does not verify")]
    BadSignature {
        /// Which signature (`request sign over data`, `WeChat Pay sign`, `RSA-SHA256`).
        what: &'static str,
    },
    /// A field needed to sign or verify (`sign`, `data`, `*_response`) is absent or empty.
    #[error("field {0:?} is missing or empty")]
    MissingField(&'static str),
    /// A WeChat Pay `sign_type` other than `MD5` and `HMAC-SHA256`.
    #[error("sign_type {0:?} is not supported: expected MD5 or HMAC-SHA256")]
    UnknownSignType(String),
    /// The RSA signer or key generator failed (no randomness, library error).
    #[error("signing failed: {0}")]
    Sign(&'static str),
    /// A cipher refused its input: wrong key, altered or truncated ciphertext, bad padding.
    #[error("{what}: {reason}")]
    Cipher {
        /// Which input (`req_info`, `sealed secret`, `sealing key`).
        what: &'static str,
        /// Why.
        reason: &'static str,
    },
}

/// This crate's `Result`, with [`CryptoError`] by default.
pub type Result<T, E = CryptoError> = std::result::Result<T, E>;
