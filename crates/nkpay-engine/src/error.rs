//! The engine's one error type. The API edge maps each variant to a `resp_code` once
//! (`nkpay-api`'s `open::refusal`); the `Display` text of the first three is the `resp_desc`.

use nkpay_core::resp_code::RespCode;

/// Why an engine call did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Bad input: `field` names the field, `rule` what it must be (API `10000000`).
    #[error("{field}格式错误: {rule}")]
    Invalid {
        /// The request (or configuration) field, as the caller spells it.
        field: String,
        /// What the field must be, in words the caller can act on.
        rule: String,
    },
    /// A business refusal with its API code and a description that names the cause.
    #[error("{desc}")]
    Refused {
        /// The `resp_code` to answer with (API.md "Codes").
        code: RespCode,
        /// The `resp_desc`: the Chinese rule, then the cause in English.
        desc: String,
    },
    /// An admin actor's role does not allow what it asked (admin API 403; the merchant API
    /// never meets it, and would answer `22000000`). The text names the role and the action.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The database failed (API `99999999`; the cause is logged, never shown).
    #[error("storage: {0}")]
    Store(#[from] nkpay_store::StoreError),
    /// A key or signature operation failed (API `99999999`).
    #[error("crypto: {0}")]
    Crypto(#[from] nkpay_crypto::CryptoError),
    /// A channel call could not be made or understood (API `98888888`, `通道异常: …`).
    #[error("channel: {0}")]
    Channel(#[from] nkpay_channels::ChannelError),
    /// Something that should not happen; logged, answered with `99999999`, never a panic.
    #[error("internal: {0}")]
    Internal(String),
}

impl EngineError {
    /// [`EngineError::Invalid`]: `field` breaks `rule`.
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        EngineError::Invalid {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// [`EngineError::Refused`] with `code` and `desc`.
    pub fn refused(code: RespCode, desc: impl Into<String>) -> Self {
        EngineError::Refused {
            code,
            desc: desc.into(),
        }
    }
}
