//! Why a merchant request is refused, as it reaches the merchant: a `resp_code` and a
//! `resp_desc` naming the field and the rule (API.md "Codes"). Engine errors become one here,
//! once; internal causes are logged and never shown.

use nkpay_core::resp_code::RespCode;
use nkpay_engine::EngineError;

/// A refusal: the code and the description answered in the signed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The `resp_code`.
    pub code: RespCode,
    /// The `resp_desc`: Chinese first (as Dougong answers), then the rule in English.
    pub desc: String,
}

impl Refusal {
    /// `10000000` `<field>格式错误: <rule>`.
    pub fn invalid(field: impl AsRef<str>, rule: impl AsRef<str>) -> Refusal {
        Refusal {
            code: RespCode::ParamError,
            desc: format!("{}格式错误: {}", field.as_ref(), rule.as_ref()),
        }
    }

    /// `10000000` `<field>不能为空`, with an optional hint after it.
    pub fn missing(field: impl AsRef<str>) -> Refusal {
        Refusal {
            code: RespCode::ParamError,
            desc: format!("{}不能为空", field.as_ref()),
        }
    }

    /// A refusal with its own code and description.
    pub fn new(code: RespCode, desc: impl Into<String>) -> Refusal {
        Refusal {
            code,
            desc: desc.into(),
        }
    }
}

impl From<EngineError> for Refusal {
    fn from(e: EngineError) -> Refusal {
        match e {
            EngineError::Invalid { .. } => Refusal::new(RespCode::ParamError, e.to_string()),
            EngineError::Refused { code, desc } => Refusal { code, desc },
            EngineError::Channel(inner) => {
                Refusal::new(RespCode::ChannelError, format!("通道异常: {inner}"))
            }
            EngineError::Store(_) | EngineError::Crypto(_) | EngineError::Internal(_) => {
                tracing::error!(error = %e, "internal error answering a merchant request");
                Refusal::new(
                    RespCode::InternalError,
                    RespCode::InternalError.default_desc(),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_are_not_shown_to_merchants() {
        let r = Refusal::from(EngineError::Internal("db password wrong".into()));
        assert_eq!(r.code, RespCode::InternalError);
        assert!(!r.desc.contains("password"));
        let r = Refusal::from(EngineError::invalid("trans_amt", "must be yuan"));
        assert_eq!(r.code, RespCode::ParamError);
        assert_eq!(r.desc, "trans_amt格式错误: must be yuan");
    }
}
