//! Alipay RSA2 (RSA PKCS#1 v1.5 SHA-256) over sorted `k=v` strings with raw (not URL-encoded)
//! values. Requests sign every non-empty param but `sign`; notifications also leave out
//! `sign_type`. Sync replies sign the exact bytes of their `*_response` object instead.

use std::collections::BTreeMap;

use crate::error::{CryptoError, Result};
use crate::json_text;
use crate::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use crate::sorted_pairs::join_sorted_pairs;

/// The string an Alipay request signs: every non-empty param but `sign` (`sign_type` included),
/// sorted by key, `k=v` joined by `&`, values raw (Alipay open platform docs, "自行实现签名").
pub fn request_string_to_sign(params: &BTreeMap<String, String>) -> String {
    join_sorted_pairs(params, &["sign"])
}

/// The string an Alipay asynchronous notification signs: as a request, but without `sign_type`
/// either (Alipay docs, "异步通知验签").
pub fn notify_string_to_sign(params: &BTreeMap<String, String>) -> String {
    join_sorted_pairs(params, &["sign", "sign_type"])
}

/// The `sign` param of a request: base64 RSA2 (RSA PKCS#1 v1.5 SHA-256) over
/// [`request_string_to_sign`] with the app's private key.
pub fn sign_params(params: &BTreeMap<String, String>, key: &RsaPrivateKey) -> Result<String> {
    key.sign_sha256_base64(request_string_to_sign(params).as_bytes())
}

fn sign_of(params: &BTreeMap<String, String>) -> Result<&str> {
    params
        .get("sign")
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(CryptoError::MissingField("sign"))
}

/// Verifies a request as a gateway would (the sandbox plays Alipay).
///
/// Errors: [`CryptoError::MissingField`] without `sign`, else the RSA check's error.
pub fn verify_request(params: &BTreeMap<String, String>, key: &RsaPublicKey) -> Result<()> {
    let sig = sign_of(params)?;
    key.verify_sha256_base64(request_string_to_sign(params).as_bytes(), sig)
}

/// Verifies an asynchronous notification with the Alipay public key.
///
/// Errors: [`CryptoError::MissingField`] without `sign`, else the RSA check's error.
pub fn verify_notify(params: &BTreeMap<String, String>, key: &RsaPublicKey) -> Result<()> {
    let sig = sign_of(params)?;
    key.verify_sha256_base64(notify_string_to_sign(params).as_bytes(), sig)
}

/// Verifies a notification that declares another `charset` than UTF-8: Alipay signs the bytes
/// of [`notify_string_to_sign`] in the declared charset (its SDK's
/// `content.getBytes(charset)`), so `encode` turns the string into those bytes (GBK …).
///
/// Errors: as [`verify_notify`].
pub fn verify_notify_encoded(
    params: &BTreeMap<String, String>,
    key: &RsaPublicKey,
    encode: impl FnOnce(&str) -> Vec<u8>,
) -> Result<()> {
    let sig = sign_of(params)?;
    key.verify_sha256_base64(&encode(&notify_string_to_sign(params)), sig)
}

/// A sync reply split into what was signed and the signature, bytes as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedResponse<'a> {
    /// `alipay_trade_precreate_response`, or `error_response` for gateway errors.
    pub name: String,
    /// The exact text of the `*_response` object: the bytes the sign covers.
    pub content: &'a str,
    /// Absent on some gateway errors (Alipay does not sign every failure).
    pub sign: Option<String>,
}

/// Finds the `*_response` member and the `sign` of a sync reply without re-encoding anything.
///
/// Errors: not a JSON object, no `*_response` member ([`CryptoError::MissingField`]), or a
/// `sign` that is not a string.
pub fn split_response(body: &str) -> Result<SignedResponse<'_>> {
    let members = json_text::members(body)?;
    let (name, content) = members
        .iter()
        .find(|m| m.key.ends_with("_response"))
        .map(|m| (m.key.clone(), m.raw))
        .ok_or(CryptoError::MissingField("*_response"))?;
    let sign = match members.iter().find(|m| m.key == "sign") {
        Some(m) => match &m.value {
            json_text::JsonValue::String(s) => Some(s.clone()),
            _ => {
                return Err(CryptoError::JsonNotObject {
                    what: "sign (a string)",
                });
            }
        },
        None => None,
    };
    Ok(SignedResponse {
        name,
        content,
        sign,
    })
}

/// Verifies a sync reply's `sign` over the exact bytes of its `*_response` object (Alipay docs,
/// "同步响应验签").
///
/// Errors: as [`split_response`], [`CryptoError::MissingField`] without `sign`, or the RSA
/// check's error.
pub fn verify_response(body: &str, key: &RsaPublicKey) -> Result<()> {
    let parts = split_response(body)?;
    let sig = parts.sign.ok_or(CryptoError::MissingField("sign"))?;
    key.verify_sha256_base64(parts.content.as_bytes(), &sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn request_string_keeps_sign_type_and_drops_sign_and_empties() {
        let p = params(&[
            ("method", "alipay.trade.query"),
            ("app_id", "1"),
            ("sign_type", "RSA2"),
            ("sign", "x"),
            ("app_auth_token", ""),
            ("biz_content", r#"{"a":"b c&d"}"#),
        ]);
        assert_eq!(
            request_string_to_sign(&p),
            r#"app_id=1&biz_content={"a":"b c&d"}&method=alipay.trade.query&sign_type=RSA2"#
        );
        assert_eq!(
            notify_string_to_sign(&p),
            r#"app_id=1&biz_content={"a":"b c&d"}&method=alipay.trade.query"#
        );
    }

    #[test]
    fn split_response_finds_error_response_too() {
        let body = r#"{"error_response":{"code":"40002","sub_code":"isv.invalid-signature"}}"#;
        let parts = split_response(body).unwrap();
        assert_eq!(parts.name, "error_response");
        assert_eq!(
            parts.content,
            r#"{"code":"40002","sub_code":"isv.invalid-signature"}"#
        );
        assert_eq!(parts.sign, None);
    }

    #[test]
    fn sign_with_no_value_is_a_missing_field() {
        let p = params(&[("app_id", "1"), ("sign", "")]);
        let key =
            RsaPublicKey::from_pem_or_base64(include_str!("../tests/data/pub-spki.pem")).unwrap();
        assert_eq!(
            verify_notify(&p, &key).unwrap_err(),
            CryptoError::MissingField("sign")
        );
    }
}
