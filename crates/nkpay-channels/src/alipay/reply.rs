//! Alipay's synchronous reply: `{"<method>_response":{…},"sign":"…"}`. The signature covers the
//! inner object's bytes exactly as received, so we take them from the body and never re-serialize.

use nkpay_crypto::alipay_sign;
use nkpay_crypto::rsa_keys::RsaPublicKey;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::transport::Delivery;

const SUCCESS: &str = "10000";
const SERVICE_UNAVAILABLE: &str = "20000";
const BUSINESS_FAILURE: &str = "40004";

/// What a reply we can trust says.
pub(super) enum Answer {
    /// `code` 10000: the inner object, to read the call's fields from.
    Success(String),
    /// The channel is busy or failed inside (`20000`, `ACQ.SYSTEM_ERROR`): the outcome is unknown.
    Busy(String),
    /// A business failure (`40004` with its `sub_code`) or a gateway refusal (`20001`
    /// invalid token, `40002` invalid signature or parameter, …). `code` is the most specific
    /// code the reply has.
    Refused { code: String, message: String },
}

#[derive(Deserialize)]
struct Status {
    code: String,
    #[serde(default)]
    msg: String,
    sub_code: Option<String>,
    sub_msg: Option<String>,
}

/// The key the reply object sits under: `alipay.trade.query` → `alipay_trade_query_response`.
pub(super) fn response_key(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// `Err` is why the reply cannot be used (no reply, not JSON, forged, unsigned success).
pub(super) fn open(
    delivery: &Delivery,
    method: &str,
    alipay_public_key: &RsaPublicKey,
) -> Result<Answer, String> {
    let body = match delivery {
        Delivery::NoReply { reason } => return Err(format!("no reply: {reason}")),
        Delivery::Reply { status, .. } if *status != 200 => {
            return Err(format!("HTTP {status} from the Alipay gateway"));
        }
        Delivery::Reply { body, .. } => body,
    };
    let text = std::str::from_utf8(body).map_err(|_| "reply is not UTF-8".to_string())?;
    let (inner, status) = verified_inner(text, method, alipay_public_key)?;
    Ok(classify(inner, status))
}

/// Finds the reply object, checks its signature over the raw bytes, and reads its status.
fn verified_inner<'a>(
    text: &'a str,
    method: &str,
    alipay_public_key: &RsaPublicKey,
) -> Result<(&'a str, Status), String> {
    let parts = alipay_sign::split_response(text)
        .map_err(|e| format!("reply is not an Alipay reply: {e}"))?;
    let key = response_key(method);
    // Gateway-level errors may come under `error_response` instead.
    if parts.name != key && parts.name != "error_response" {
        return Err(format!("reply is {}, not {key}", parts.name));
    }
    let status: Status = serde_json::from_str(parts.content)
        .map_err(|e| format!("{} has no code: {e}", parts.name))?;
    match parts.sign {
        Some(sign) => alipay_public_key
            .verify_sha256_base64(parts.content.as_bytes(), &sign)
            .map_err(|e| format!("reply signature does not verify: {e}"))?,
        // The gateway does not sign its own refusals (bad signature, bad token); results and
        // business failures are always signed, so an unsigned one is not believed.
        None if status.code == SUCCESS || status.code == BUSINESS_FAILURE => {
            return Err(format!("unsigned reply with code {}", status.code));
        }
        None => {}
    }
    Ok((parts.content, status))
}

fn classify(inner: &str, s: Status) -> Answer {
    let message = s.sub_msg.clone().unwrap_or_else(|| s.msg.clone());
    match s.code.as_str() {
        SUCCESS => Answer::Success(inner.to_owned()),
        SERVICE_UNAVAILABLE => Answer::Busy(format!("{}: {message}", s.code)),
        _ => match s.sub_code {
            Some(sub) if sub.ends_with("ACQ.SYSTEM_ERROR") => {
                Answer::Busy(format!("{sub}: {message}"))
            }
            Some(sub) => Answer::Refused { code: sub, message },
            None => Answer::Refused {
                code: s.code,
                message,
            },
        },
    }
}

/// The call's own fields from a successful reply object.
pub(super) fn typed<T: DeserializeOwned>(inner: &str) -> Result<T, String> {
    serde_json::from_str(inner).map_err(|e| format!("reply field missing or malformed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED_REPLY: &str = include_str!("../../testdata/alipay/responses.jsonl");

    fn alipay_key() -> RsaPublicKey {
        RsaPublicKey::from_pem_or_base64(include_str!(
            "../../testdata/alipay/alipay-public-key.pem"
        ))
        .unwrap()
    }

    fn reply(body: &str) -> Delivery {
        Delivery::Reply {
            status: 200,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn reply_signed_by_alipay_verifies_over_its_raw_bytes() {
        let line = SIGNED_REPLY.lines().next().unwrap();
        match open(&reply(line), "alipay.open.file.upload", &alipay_key()).unwrap() {
            Answer::Success(inner) => {
                assert!(inner.contains("CAxAToWB1JsAAAAAAAAAAAAADgSLAQBr"));
            }
            _ => panic!("expected success"),
        }
    }

    #[test]
    fn reply_with_one_byte_changed_is_not_believed() {
        let forged = SIGNED_REPLY
            .lines()
            .next()
            .unwrap()
            .replace("CAxATo", "CAxATp");
        let err = open(&reply(&forged), "alipay.open.file.upload", &alipay_key())
            .err()
            .unwrap();
        assert!(err.contains("does not verify"), "{err}");
    }

    #[test]
    fn reformatted_reply_does_not_verify_because_bytes_matter() {
        let spaced = SIGNED_REPLY
            .lines()
            .next()
            .unwrap()
            .replace("\"code\":\"10000\"", "\"code\": \"10000\"");
        assert!(open(&reply(&spaced), "alipay.open.file.upload", &alipay_key()).is_err());
    }

    #[test]
    fn unsigned_success_is_not_believed() {
        let body = r#"{"alipay_trade_query_response":{"code":"10000","msg":"Success","trade_status":"TRADE_SUCCESS"}}"#;
        let err = open(&reply(body), "alipay.trade.query", &alipay_key())
            .err()
            .unwrap();
        assert!(err.contains("unsigned"), "{err}");
    }

    #[test]
    fn unsigned_gateway_refusal_is_read_with_its_sub_code() {
        let body = r#"{"alipay_trade_query_response":{"code":"20001","msg":"Insufficient Token Permissions","sub_code":"aop.invalid-app-auth-token","sub_msg":"无效的应用授权令牌"}}"#;
        match open(&reply(body), "alipay.trade.query", &alipay_key()).unwrap() {
            Answer::Refused { code, message } => {
                assert_eq!(code, "aop.invalid-app-auth-token");
                assert_eq!(message, "无效的应用授权令牌");
            }
            _ => panic!("expected a refusal"),
        }
    }

    #[test]
    fn error_response_key_is_read_too() {
        let body = r#"{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}}"#;
        assert!(matches!(
            open(&reply(body), "alipay.trade.precreate", &alipay_key()).unwrap(),
            Answer::Refused { code, .. } if code == "isv.invalid-signature"
        ));
    }

    #[test]
    fn timeouts_and_http_errors_are_reasons_not_answers() {
        let none = Delivery::NoReply {
            reason: "timed out".into(),
        };
        assert!(open(&none, "alipay.trade.query", &alipay_key()).is_err());
        let bad = Delivery::Reply {
            status: 502,
            body: Vec::new(),
        };
        assert!(
            open(&bad, "alipay.trade.query", &alipay_key())
                .err()
                .unwrap()
                .contains("HTTP 502")
        );
    }
}
