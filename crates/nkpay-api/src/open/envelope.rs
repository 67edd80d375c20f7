//! The signed envelope of the merchant API (`API.md`): `{"sys_id","product_id","data","sign"}`
//! in, `{"data","sign"}` out.
//!
//! Clients re-encode `data` after signing (dg-sdk signs `json.dumps(..., ensure_ascii=False)`
//! but posts with `ensure_ascii=True`), so the raw bytes cannot be verified: the canonical
//! string is rebuilt from the parsed `data`, keeping nested key order and number text.

use nkpay_crypto::canonical_json::{canonical_all_sorted, canonical_top_sorted};
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A parsed request: who calls, and `data` both as the canonical input text and as fields.
#[derive(Debug)]
pub struct SignedRequest {
    pub sys_id: String,
    pub product_id: String,
    pub sign: String,
    /// `data` as a JSON object text, as received (or unwrapped from a JSON string).
    pub data_text: String,
    pub data: Map<String, Value>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("请求报文不是合法的JSON: {0}")]
    NotJson(String),
    #[error("{0}不能为空")]
    Missing(&'static str),
    #[error("{0}格式错误: must be a string")]
    NotString(&'static str),
    #[error("data格式错误: must be a JSON object (or a string holding one)")]
    DataNotObject,
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow, default)]
    sys_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    product_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    sign: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// Whether the body is JSON at all: only a body that is not may get a non-200 status.
pub fn is_json(body: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

pub fn parse(body: &[u8]) -> Result<SignedRequest, EnvelopeError> {
    let raw: RawEnvelope<'_> =
        serde_json::from_slice(body).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
    let sys_id = string_field(raw.sys_id, "sys_id")?;
    let product_id = string_field(raw.product_id, "product_id")?;
    let sign = string_field(raw.sign, "sign")?;
    let data_raw = raw.data.ok_or(EnvelopeError::Missing("data"))?;
    let data_text = match serde_json::from_str::<Value>(data_raw.get()) {
        Ok(Value::Object(_)) => data_raw.get().to_string(),
        // Some SDK paths post `data` as a JSON string holding the object.
        Ok(Value::String(inner)) => inner,
        _ => return Err(EnvelopeError::DataNotObject),
    };
    let data = match serde_json::from_str::<Value>(&data_text) {
        Ok(Value::Object(map)) => map,
        _ => return Err(EnvelopeError::DataNotObject),
    };
    Ok(SignedRequest {
        sys_id,
        product_id,
        sign,
        data_text,
        data,
    })
}

fn string_field(raw: Option<&RawValue>, name: &'static str) -> Result<String, EnvelopeError> {
    let raw = raw.ok_or(EnvelopeError::Missing(name))?;
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Ok(Value::String(_)) | Ok(Value::Null) => Err(EnvelopeError::Missing(name)),
        _ => Err(EnvelopeError::NotString(name)),
    }
}

/// Verifies `sign` over the canonical `data`: top-level keys sorted (what dg-sdk signs), or
/// sorted at every depth (what some other SDKs sign).
pub fn verify(request: &SignedRequest, key: &RsaPublicKey) -> bool {
    let forms = [
        canonical_top_sorted(&request.data_text),
        canonical_all_sorted(&request.data_text),
    ];
    forms.iter().flatten().any(|canonical| {
        key.verify_sha256_base64(canonical.as_bytes(), request.sign.trim())
            .is_ok()
    })
}

/// The canonical string of a response or notification `data`: empty top-level values are left
/// out first, so that clients that keep `""` (dg-sdk's verify does) and clients that drop it
/// rebuild the same string.
pub fn canonical_data(data: Map<String, Value>) -> String {
    let kept: Map<String, Value> = data
        .into_iter()
        .filter(|(_, v)| !is_empty_value(v))
        .collect();
    let text = Value::Object(kept).to_string();
    // Serializing a Value always yields valid JSON, so canonicalization cannot fail; fall back
    // to the serialized text rather than panic.
    canonical_top_sorted(&text).unwrap_or(text)
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The response body `{"data":<canonical>,"sign":"…"}`: `data` is emitted exactly as signed.
pub fn signed_body(data: Map<String, Value>, key: &RsaPrivateKey) -> String {
    let canonical = canonical_data(data);
    let sign = key
        .sign_sha256_base64(canonical.as_bytes())
        .unwrap_or_default();
    format!("{{\"data\":{canonical},\"sign\":\"{sign}\"}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_may_arrive_as_a_json_string() {
        let body =
            br#"{"sys_id":"s","product_id":"p","sign":"x","data":"{\"b\":\"1\",\"a\":\"2\"}"}"#;
        let req = parse(body).unwrap();
        assert_eq!(req.data_text, r#"{"b":"1","a":"2"}"#);
        assert_eq!(req.data["a"], "2");
    }

    #[test]
    fn missing_and_mistyped_envelope_fields_are_named() {
        assert_eq!(
            parse(br#"{"product_id":"p","sign":"x","data":{}}"#).unwrap_err(),
            EnvelopeError::Missing("sys_id")
        );
        assert_eq!(
            parse(br#"{"sys_id":1,"product_id":"p","sign":"x","data":{}}"#).unwrap_err(),
            EnvelopeError::NotString("sys_id")
        );
        assert_eq!(
            parse(br#"{"sys_id":"s","product_id":"p","sign":"x","data":[1]}"#).unwrap_err(),
            EnvelopeError::DataNotObject
        );
        assert!(matches!(
            parse(b"{not json"),
            Err(EnvelopeError::NotJson(_))
        ));
    }

    #[test]
    fn response_data_drops_empty_values_and_sorts_top_level() {
        let mut data = Map::new();
        data.insert("resp_desc".into(), Value::from("成功"));
        data.insert("bank_code".into(), Value::from(""));
        data.insert("resp_code".into(), Value::from("00000000"));
        assert_eq!(
            canonical_data(data),
            r#"{"resp_code":"00000000","resp_desc":"成功"}"#
        );
    }
}
