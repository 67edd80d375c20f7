//! The signed envelope of the merchant API (API.md "Envelope and signature"), both sides of it:
//! requests `{"sys_id","product_id","data","sign"}` and replies `{"data","sign"}`.
//!
//! `sign` is base64 of RSA PKCS#1 v1.5 SHA-256 over S, the canonical form of `data`: compact
//! JSON, top-level keys sorted by bytes, top-level `null`/`""`/`{}`/`[]` dropped, nested objects
//! as received, numbers as written, raw UTF-8 — what dg-sdk builds with `pop_empty_value`,
//! `sort_dict` and `json.dumps(ensure_ascii=False, separators=(',', ':'))`. Clients re-encode
//! `data` after signing (dg-sdk signs raw UTF-8 and posts with `ensure_ascii=True`), so the raw
//! bytes cannot be verified: S is rebuilt from the parsed `data`.
//!
//! - The platform: [`parse`] and [`verify`] on every request,
//!   [`signed_reply_body`] for every answer (errors included).
//! - A merchant (`nkpay call`, the tests): [`sign_request_data`], then [`parse_reply`] and
//!   [`SignedReply::verify`] on the answer.
//! - Notifications are signed over the exact `resp_data` string instead: see
//!   [`crate::merchant_notify`]; their `resp_data` is [`canonical_data`] of the fields.

use serde_json::{Map, Value};

pub use crate::canonical_json::{KeyOrder, SdkForm};
use crate::canonical_json::{canonical_members, canonical_text, canonical_value};
use crate::error::{CryptoError, Result};
use crate::json_text::{self, JsonValue};
use crate::rsa_keys::{RsaPrivateKey, RsaPublicKey};

/// A request envelope as the platform received it, before its signature is checked.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    /// The caller: a service provider's `sys_id`, or a merchant calling for itself.
    pub sys_id: String,
    /// The product the caller signed up for (`product_id`).
    pub product_id: String,
    /// `sign` as received: base64 of the RSA-SHA256 signature over S.
    pub sign: String,
    /// `data` as JSON object text, exactly as received (or unwrapped from a JSON string).
    pub data_text: String,
    /// `data`'s fields, for reading the business request.
    pub data: Map<String, Value>,
    /// `data`'s members with their order and number text kept: what S is rebuilt from.
    members: Vec<(String, JsonValue)>,
}

/// Why a request body is not a usable envelope. The messages are the `resp_desc` merchants see
/// (`<field>不能为空`, `<field>格式错误: …`, as the Dougong v2 API words them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The body is not a JSON object at all (the only refusal with a non-200 status, API.md).
    #[error("请求报文不是合法的JSON: {0}")]
    NotJson(String),
    /// The named envelope field is absent, `null` or blank.
    #[error("{0}不能为空")]
    Missing(&'static str),
    /// The named envelope field is not a JSON string.
    #[error("{0}格式错误: must be a string")]
    NotString(&'static str),
    /// `data` is neither a JSON object nor a string holding one.
    #[error("data格式错误: must be a JSON object (or a string holding one)")]
    DataNotObject,
}

/// The HTTP header naming the platform key that signed a reply or a merchant notification, so a
/// merchant holding several platform public keys picks the right one (API.md "Envelope and
/// signature": key rotation).
pub const KEY_ID_HEADER: &str = "X-Nkp-Key-Id";

/// Parses a request body. `data` may be an object or a JSON string holding one (some SDK paths
/// post it that way); unknown envelope fields are ignored. The body is read strictly (see
/// [`crate::json_text`]): duplicate keys, lone surrogates or nesting deeper than
/// [`json_text::MAX_DEPTH`] make it [`EnvelopeError::NotJson`].
pub fn parse(body: &[u8]) -> Result<SignedRequest, EnvelopeError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| EnvelopeError::NotJson(format!("not UTF-8 at byte {}", e.valid_up_to())))?;
    let members = json_text::members(text).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
    let field = |name: &str| members.iter().find(|m| m.key == name);
    let string_field = |name: &'static str| match field(name).map(|m| &m.value) {
        None | Some(JsonValue::Null) => Err(EnvelopeError::Missing(name)),
        Some(JsonValue::String(s)) if s.trim().is_empty() => Err(EnvelopeError::Missing(name)),
        Some(JsonValue::String(s)) => Ok(s.clone()),
        Some(_) => Err(EnvelopeError::NotString(name)),
    };
    let sys_id = string_field("sys_id")?;
    let product_id = string_field("product_id")?;
    let sign = string_field("sign")?;
    let data = members.into_iter().find(|m| m.key == "data");
    let (data_text, data_members) = match data.map(|m| (m.value, m.raw)) {
        None | Some((JsonValue::Null, _)) => return Err(EnvelopeError::Missing("data")),
        Some((JsonValue::Object(m), raw)) => (raw.to_string(), m),
        Some((JsonValue::String(inner), _)) => match json_text::parse(&inner) {
            Ok(JsonValue::Object(m)) => (inner, m),
            _ => return Err(EnvelopeError::DataNotObject),
        },
        Some(_) => return Err(EnvelopeError::DataNotObject),
    };
    let data = serde_json::from_str::<Map<String, Value>>(&data_text)
        .map_err(|_| EnvelopeError::DataNotObject)?;
    Ok(SignedRequest {
        sys_id,
        product_id,
        sign,
        data_text,
        data,
        members: data_members,
    })
}

/// Whether `request.sign` verifies with the caller's public key over the string some official
/// Dougong SDK signs for `data` ([`SdkForm`], API.md): the canonical form (dg-sdk) first, then the
/// PHP, Java, C# and Go SDKs' forms, then keys sorted at every depth. A form that comes out the
/// same as one already tried is not verified again, so a request without empties or special
/// characters costs one RSA verification, and a forged one at most one per distinct form.
pub fn verify(request: &SignedRequest, key: &RsaPublicKey) -> bool {
    let mut tried: Vec<String> = Vec::with_capacity(SdkForm::ALL.len());
    for form in SdkForm::ALL {
        let signed = form.signing_string(&request.members);
        if tried.contains(&signed) {
            continue;
        }
        if key
            .verify_sha256_base64(signed.as_bytes(), &request.sign)
            .is_ok()
        {
            return true;
        }
        tried.push(signed);
    }
    false
}

/// The string `form`'s SDK signs for a request's `data` (JSON object text): what a merchant
/// using that SDK signs, for tests and `nkpay call`.
///
/// Errors: `data_json` is not a JSON object ([`CryptoError::Json`],
/// [`CryptoError::JsonNotObject`]).
pub fn sdk_signing_string(data_json: &str, form: SdkForm) -> Result<String> {
    match json_text::parse(data_json)? {
        JsonValue::Object(members) => Ok(form.signing_string(&members)),
        _ => Err(CryptoError::JsonNotObject { what: "data" }),
    }
}

/// S of a reply's or notification's `data`: empty top-level values dropped, top-level keys
/// sorted, compact, raw UTF-8. With the empties gone, dg-sdk's reply check (which sorts but keeps
/// `""`, `{}` and `[]`) and clients that drop them rebuild the same string.
pub fn canonical_data(data: &Map<String, Value>) -> String {
    let members: Vec<(String, JsonValue)> = data
        .iter()
        .map(|(k, v)| (k.clone(), json_value(v)))
        .collect();
    canonical_members(&members, KeyOrder::TopLevel)
}

/// The reply body `{"data":<S>,"sign":"<base64>"}`, `data` emitted exactly as signed, with the
/// platform's private key.
///
/// Errors: [`CryptoError::Sign`] if the RSA signer fails.
pub fn signed_reply_body(data: &Map<String, Value>, key: &RsaPrivateKey) -> Result<String> {
    let canonical = canonical_data(data);
    let sign = key.sign_sha256_base64(canonical.as_bytes())?;
    Ok(format!("{{\"data\":{canonical},\"sign\":\"{sign}\"}}"))
}

/// S and `sign` of a request's `data`, as a merchant computes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSignature {
    /// S: the exact string signed.
    pub signing_string: String,
    /// base64 of the RSA-SHA256 signature over S: the envelope's `sign`.
    pub sign: String,
}

/// Signs a request's `data` (JSON object text) as a merchant's SDK does, in the given form
/// (dg-sdk: [`KeyOrder::TopLevel`]).
///
/// Errors: `data_json` is not a JSON object ([`CryptoError::Json`],
/// [`CryptoError::JsonNotObject`]), or the signer fails.
pub fn sign_request_data(
    data_json: &str,
    order: KeyOrder,
    key: &RsaPrivateKey,
) -> Result<RequestSignature> {
    let signing_string = canonical_text(data_json, order)?;
    let sign = key.sign_sha256_base64(signing_string.as_bytes())?;
    Ok(RequestSignature {
        signing_string,
        sign,
    })
}

/// A reply envelope as a merchant received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReply {
    /// `data` exactly as received.
    pub data_text: String,
    /// S rebuilt from `data` (empties dropped, top-level sorted): what the platform signed.
    pub signing_string: String,
    /// `sign` as received.
    pub sign: String,
}

/// Parses a reply body `{"data":{…},"sign":"…"}` as a merchant does, without checking the sign.
///
/// Errors: not JSON ([`CryptoError::Json`]), `data` absent or not an object
/// ([`CryptoError::MissingField`], [`CryptoError::JsonNotObject`]), `sign` absent or not a string
/// ([`CryptoError::MissingField`]).
pub fn parse_reply(body: &str) -> Result<SignedReply> {
    let members = json_text::members(body)?;
    let data = members
        .iter()
        .find(|m| m.key == "data")
        .ok_or(CryptoError::MissingField("data"))?;
    let signing_string = canonical_value(&data.value, KeyOrder::TopLevel)?;
    let sign = match members.iter().find(|m| m.key == "sign").map(|m| &m.value) {
        Some(JsonValue::String(s)) => s.clone(),
        _ => return Err(CryptoError::MissingField("sign")),
    };
    Ok(SignedReply {
        data_text: data.raw.to_string(),
        signing_string,
        sign,
    })
}

impl SignedReply {
    /// Checks `sign` over S with the platform's public key (`GET /v2/platform/keys`).
    ///
    /// Errors: [`CryptoError::BadSignature`] or [`CryptoError::Base64`].
    pub fn verify(&self, key: &RsaPublicKey) -> Result<()> {
        key.verify_sha256_base64(self.signing_string.as_bytes(), &self.sign)
    }
}

/// The same value for the canonical writer. Numbers take serde_json's text, which is also what
/// the body carries, so S and the body agree; amounts are strings anyway (API.md).
fn json_value(v: &Value) -> JsonValue {
    match v {
        Value::Null => JsonValue::Null,
        Value::Bool(b) => JsonValue::Bool(*b),
        Value::Number(n) => JsonValue::Number(n.to_string()),
        Value::String(s) => JsonValue::String(s.clone()),
        Value::Array(items) => JsonValue::Array(items.iter().map(json_value).collect()),
        Value::Object(m) => {
            JsonValue::Object(m.iter().map(|(k, v)| (k.clone(), json_value(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = include_str!("../tests/data/key-pkcs8.pem");
    const DATA: &str = r#"{"trans_amt": "0.01", "mer_id": "6666000000000001", "remark": "", "wx_data": {"sub_openid": "o1", "sub_appid": "wx1"}, "goods_desc": "\u6d4b\u8bd5"}"#;

    fn keys() -> (RsaPrivateKey, RsaPublicKey) {
        let k = RsaPrivateKey::from_pem_or_base64(KEY).unwrap();
        let p = k.public_key();
        (k, p)
    }

    fn envelope(data: &str, sign: &str) -> Vec<u8> {
        format!(r#"{{"sys_id":"s","product_id":"p","sign":"{sign}","data":{data}}}"#).into_bytes()
    }

    #[test]
    fn request_signed_like_dg_sdk_verifies_after_re_encoding() {
        let (k, p) = keys();
        let signed = sign_request_data(DATA, KeyOrder::TopLevel, &k).unwrap();
        assert_eq!(
            signed.signing_string,
            r#"{"goods_desc":"测试","mer_id":"6666000000000001","trans_amt":"0.01","wx_data":{"sub_openid":"o1","sub_appid":"wx1"}}"#
        );
        // The same data as another client would re-encode it: other spacing and escapes.
        let reencoded = r#"{"mer_id":"6666000000000001","goods_desc":"测试","trans_amt":"0.01","wx_data":{"sub_openid":"o1","sub_appid":"wx1"}}"#;
        let req = parse(&envelope(reencoded, &signed.sign)).unwrap();
        assert!(verify(&req, &p));
        assert_eq!(req.data_text, reencoded);
        assert_eq!(req.data["goods_desc"], "测试");
    }

    /// Issue 15, fault 6: for each official SDK, `data` as that SDK posts it and the exact string
    /// it signs (read off its source, see [`SdkForm`]). The goods description carries U+2028,
    /// `<`, `>` and `&`; `remark` is empty and `acct_split_bunch` null where the SDK keeps them.
    fn sdk_cases() -> Vec<(SdkForm, String, String)> {
        let desc = "拿铁\u{2028}<特价>&";
        vec![
            (
                SdkForm::DgPython,
                // requests posts json.dumps(ensure_ascii=True) of the emptied, sorted dict.
                r#"{"goods_desc": "\u62ff\u94c1\u2028<\u7279\u4ef7>&", "huifu_id": "6666000000000001", "terminal_device_data": {"device_type": "1", "device_ip": "1.2.3.4"}, "trans_amt": "0.01"}"#.to_owned(),
                format!(r#"{{"goods_desc":"{desc}","huifu_id":"6666000000000001","terminal_device_data":{{"device_type":"1","device_ip":"1.2.3.4"}},"trans_amt":"0.01"}}"#),
            ),
            (
                SdkForm::Php,
                // The body is json_encode($body) without flags: \uXXXX and escaped slashes.
                r#"{"goods_desc":"\u62ff\u94c1\u2028<\u7279\u4ef7>&","huifu_id":"6666000000000001","notify_url":"https:\/\/m.example.com\/n","terminal_device_data":{"device_type":"1","device_ip":"1.2.3.4"},"trans_amt":"0.01"}"#.to_owned(),
                r#"{"goods_desc":"拿铁\u2028<特价>&","huifu_id":"6666000000000001","notify_url":"https://m.example.com/n","terminal_device_data":{"device_type":"1","device_ip":"1.2.3.4"},"trans_amt":"0.01"}"#.to_owned(),
            ),
            (
                SdkForm::Java,
                // fastjson: nulls gone, "" kept, nested objects in the order it writes them.
                format!(r#"{{"trans_amt":"0.01","remark":"","huifu_id":"6666000000000001","goods_desc":"{desc}","terminal_device_data":{{"device_type":"1","device_ip":"1.2.3.4"}}}}"#),
                format!(r#"{{"goods_desc":"{desc}","huifu_id":"6666000000000001","remark":"","terminal_device_data":{{"device_type":"1","device_ip":"1.2.3.4"}},"trans_amt":"0.01"}}"#),
            ),
            (
                SdkForm::CSharp,
                // Newtonsoft: null and "" kept, U+2028 escaped.
                r#"{"trans_amt":"0.01","remark":"","acct_split_bunch":null,"huifu_id":"6666000000000001","goods_desc":"拿铁\u2028<特价>&","terminal_device_data":{"device_type":"1","device_ip":"1.2.3.4"}}"#.to_owned(),
                r#"{"acct_split_bunch":null,"goods_desc":"拿铁\u2028<特价>&","huifu_id":"6666000000000001","remark":"","terminal_device_data":{"device_type":"1","device_ip":"1.2.3.4"},"trans_amt":"0.01"}"#.to_owned(),
            ),
            (
                SdkForm::GoSdk,
                // json.Marshal of maps: sorted at every depth, "" kept, `<>&` put back.
                r#"{"goods_desc":"拿铁\u2028<特价>&","huifu_id":"6666000000000001","remark":"","terminal_device_data":{"device_ip":"1.2.3.4","device_type":"1"},"trans_amt":"0.01"}"#.to_owned(),
                r#"{"goods_desc":"拿铁\u2028<特价>&","huifu_id":"6666000000000001","remark":"","terminal_device_data":{"device_ip":"1.2.3.4","device_type":"1"},"trans_amt":"0.01"}"#.to_owned(),
            ),
            (
                SdkForm::GoEncoder,
                r#"{"goods_desc":"拿铁\u2028\u003c特价\u003e\u0026","huifu_id":"6666000000000001","remark":"","terminal_device_data":{"device_ip":"1.2.3.4","device_type":"1"},"trans_amt":"0.01"}"#.to_owned(),
                r#"{"goods_desc":"拿铁\u2028\u003c特价\u003e\u0026","huifu_id":"6666000000000001","remark":"","terminal_device_data":{"device_ip":"1.2.3.4","device_type":"1"},"trans_amt":"0.01"}"#.to_owned(),
            ),
        ]
    }

    #[test]
    fn each_official_sdks_signature_verifies_and_a_forged_one_does_not() {
        let (k, p) = keys();
        for (form, posted, signs) in sdk_cases() {
            assert_eq!(
                sdk_signing_string(&posted, form).unwrap(),
                signs,
                "{form:?}: the string the SDK signs"
            );
            let sign = k.sign_sha256_base64(signs.as_bytes()).unwrap();
            let req = parse(&envelope(&posted, &sign)).unwrap();
            assert!(verify(&req, &p), "{form:?}");
            // The same signature over changed data is refused in every form.
            let forged = posted.replace("0.01", "9.99");
            assert!(
                !verify(&parse(&envelope(&forged, &sign)).unwrap(), &p),
                "{form:?}"
            );
        }
    }

    #[test]
    fn a_string_no_sdk_builds_is_refused() {
        let (k, p) = keys();
        let posted = r#"{"trans_amt":"0.01","goods_desc":"a\u2028b","remark":""}"#;
        // Unsorted keys; ASCII-escaped non-ASCII (ensure_ascii=True) with the empty kept.
        for signs in [
            "{\"trans_amt\":\"0.01\",\"goods_desc\":\"a\u{2028}b\"}",
            r#"{"goods_desc":"a\u2028b","remark":"","trans_amt":"0.01"}"#,
        ] {
            let sign = k.sign_sha256_base64(signs.as_bytes()).unwrap();
            let req = parse(&envelope(posted, &sign)).unwrap();
            // The second is what Go would write: it must verify; the first no SDK writes.
            assert_eq!(verify(&req, &p), signs.contains("remark"), "{signs}");
        }
    }

    #[test]
    fn request_signed_all_sorted_verifies() {
        let (k, p) = keys();
        let signed = sign_request_data(DATA, KeyOrder::EveryLevel, &k).unwrap();
        assert!(
            signed
                .signing_string
                .contains(r#"{"sub_appid":"wx1","sub_openid":"o1"}"#)
        );
        assert!(verify(&parse(&envelope(DATA, &signed.sign)).unwrap(), &p));
    }

    #[test]
    fn changed_amount_or_another_key_does_not_verify() {
        let (k, p) = keys();
        let signed = sign_request_data(DATA, KeyOrder::TopLevel, &k).unwrap();
        let changed = DATA.replace("0.01", "0.02");
        assert!(!verify(
            &parse(&envelope(&changed, &signed.sign)).unwrap(),
            &p
        ));
        let other = RsaPrivateKey::generate_2048().unwrap().public_key();
        assert!(!verify(
            &parse(&envelope(DATA, &signed.sign)).unwrap(),
            &other
        ));
        assert!(!verify(&parse(&envelope(DATA, "not base64")).unwrap(), &p));
    }

    #[test]
    fn data_may_arrive_as_a_json_string() {
        let (k, p) = keys();
        let signed = sign_request_data(r#"{"b":"1","a":"2"}"#, KeyOrder::TopLevel, &k).unwrap();
        let body = envelope(r#""{\"b\":\"1\",\"a\":\"2\"}""#, &signed.sign);
        let req = parse(&body).unwrap();
        assert_eq!(req.data_text, r#"{"b":"1","a":"2"}"#);
        assert_eq!(req.data["a"], "2");
        assert!(verify(&req, &p));
    }

    #[test]
    fn missing_and_mistyped_envelope_fields_are_named_in_the_merchants_words() {
        let err = |body: &[u8]| parse(body).unwrap_err();
        let missing = err(br#"{"product_id":"p","sign":"x","data":{}}"#);
        assert_eq!(missing, EnvelopeError::Missing("sys_id"));
        assert_eq!(missing.to_string(), "sys_id不能为空");
        assert_eq!(
            err(br#"{"sys_id":" ","product_id":null,"sign":"x","data":{}}"#),
            EnvelopeError::Missing("sys_id")
        );
        assert_eq!(
            err(br#"{"sys_id":"s","product_id":null,"sign":"x","data":{}}"#),
            EnvelopeError::Missing("product_id")
        );
        assert_eq!(
            err(br#"{"sys_id":"s","product_id":"p","data":{}}"#),
            EnvelopeError::Missing("sign")
        );
        assert_eq!(
            err(br#"{"sys_id":"s","product_id":"p","sign":"x","data":null}"#),
            EnvelopeError::Missing("data")
        );
        let not_string = err(br#"{"sys_id":1,"product_id":"p","sign":"x","data":{}}"#);
        assert_eq!(not_string, EnvelopeError::NotString("sys_id"));
        assert_eq!(not_string.to_string(), "sys_id格式错误: must be a string");
        for data in ["[1]", "1", r#""[1]""#, r#""{not json""#] {
            let e = err(&envelope(data, "x"));
            assert_eq!(e, EnvelopeError::DataNotObject, "{data}");
            assert_eq!(
                e.to_string(),
                "data格式错误: must be a JSON object (or a string holding one)"
            );
        }
        for body in [&b"{not json"[..], b"[]", b"", b"\xff", br#"{"a":1,"a":2}"#] {
            let e = err(body);
            assert!(matches!(e, EnvelopeError::NotJson(_)), "{e:?}");
            assert!(e.to_string().starts_with("请求报文不是合法的JSON: "), "{e}");
        }
    }

    #[test]
    fn reply_data_drops_empty_values_and_sorts_the_top_level_only() {
        let data: Map<String, Value> = serde_json::from_str(
            r#"{"resp_desc":"成功","bank_code":"","resp_code":"00000000","n":null,"o":{},"l":[],"fee":1.5,"wx":{"z":"\"1\"","a":0}}"#,
        )
        .unwrap();
        assert_eq!(
            canonical_data(&data),
            r#"{"fee":1.5,"resp_code":"00000000","resp_desc":"成功","wx":{"a":0,"z":"\"1\""}}"#
        );
    }

    #[test]
    fn reply_body_is_data_as_signed_and_verifies_as_a_merchant_rebuilds_it() {
        let (k, p) = keys();
        let data: Map<String, Value> = serde_json::from_str(
            r#"{"resp_code":"00000000","remark":"","bank_message":"","resp_desc":"成功"}"#,
        )
        .unwrap();
        let body = signed_reply_body(&data, &k).unwrap();
        let reply = parse_reply(&body).unwrap();
        // No empty value is left in the body, so dg-sdk's check (sort, keep "") rebuilds the
        // same S as the one signed.
        assert_eq!(
            reply.data_text,
            r#"{"resp_code":"00000000","resp_desc":"成功"}"#
        );
        assert_eq!(reply.signing_string, reply.data_text);
        reply.verify(&p).unwrap();
        assert!(body.starts_with(r#"{"data":{"resp_code":"00000000","#));

        let tampered = body.replace("成功", "失败");
        assert!(parse_reply(&tampered).unwrap().verify(&p).is_err());
    }

    #[test]
    fn reply_without_data_or_sign_is_refused() {
        assert_eq!(
            parse_reply(r#"{"sign":"x"}"#).unwrap_err(),
            CryptoError::MissingField("data")
        );
        assert_eq!(
            parse_reply(r#"{"data":{"a":"1"},"sign":1}"#).unwrap_err(),
            CryptoError::MissingField("sign")
        );
        assert!(matches!(
            parse_reply(r#"{"data":[1],"sign":"x"}"#).unwrap_err(),
            CryptoError::JsonNotObject { .. }
        ));
    }
}
