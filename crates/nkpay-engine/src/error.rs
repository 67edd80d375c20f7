//! The engine's one error type. The API edge maps each variant to a `resp_code` once.

use nkpay_core::resp_code::RespCode;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Bad input: `field` names the field, `rule` what it must be (API `10000000`).
    #[error("{field}格式错误: {rule}")]
    Invalid { field: String, rule: String },
    /// A required field is absent or empty (API `10000000`).
    #[error("{field}不能为空")]
    Missing { field: String },
    /// A business refusal with its API code and a description that names the cause.
    #[error("{desc}")]
    Refused { code: RespCode, desc: String },
    #[error("storage: {0}")]
    Store(#[from] nkpay_store::StoreError),
    #[error("crypto: {0}")]
    Crypto(#[from] nkpay_crypto::CryptoError),
    #[error("channel: {0}")]
    Channel(#[from] nkpay_channels::ChannelError),
    /// Something that should not happen; logged, answered with `99999999`, never a panic.
    #[error("internal: {0}")]
    Internal(String),
}

impl EngineError {
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        EngineError::Invalid {
            field: field.into(),
            rule: rule.into(),
        }
    }

    pub fn missing(field: impl Into<String>) -> Self {
        EngineError::Missing {
            field: field.into(),
        }
    }

    pub fn refused(code: RespCode, desc: impl Into<String>) -> Self {
        EngineError::Refused {
            code,
            desc: desc.into(),
        }
    }
}
