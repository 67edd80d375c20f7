//! The crate's one error type: what can go wrong starting or configuring the sandbox. Request
//! handling never fails with it — every bad request gets the channel's documented error reply.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SandboxError {
    #[error("sandbox configuration: {0}")]
    Config(String),
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    WriteFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("key {field}: {source}")]
    Key {
        field: String,
        #[source]
        source: nkpay_crypto::CryptoError,
    },
}
