//! Reading a request's `data` (API.md "Envelope and signature"): every value is a string
//! (amounts too), an empty string is the same as an absent field (the SDKs drop empties before
//! signing), unknown fields are ignored, a wrongly typed field is refused by name. The form
//! rules every endpoint shares (request ids, amounts, lengths, `org_*` keys) live here too.
//! No text may hold a control character (Unicode `Cc`: NUL, CR, LF, …): refused by name.
//!
//! Every lookup can be recorded ([`Fields::tracked`]), so the fields an endpoint reads can be
//! listed and checked against the bad-input matrix's rules (issue 15).

use std::cell::RefCell;
use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use nkpay_core::money::Money;
use nkpay_crypto::{envelope, json_text};
use nkpay_engine::businesses::is_http_url;
use nkpay_engine::request::{OriginalKey, RequestId, WriteRequest};
use nkpay_engine::shanghai_time;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::reply::Refusal;

/// Longest `req_seq_id` (API.md: 1–64 characters of `[0-9A-Za-z_-]`).
pub const REQ_SEQ_ID_MAX: usize = 64;
/// Longest `remark`, in characters.
pub const REMARK_MAX_CHARS: usize = 255;

/// A request's `data` (or a nested business object such as `wx_data`), named for messages.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    /// `""` for `data`, `"wx_data."` for a nested object.
    prefix: &'static str,
    /// Where each looked-up field's full name is recorded, when listing what an endpoint reads.
    log: Option<&'a RefCell<BTreeSet<String>>>,
}

impl<'a> Fields<'a> {
    /// The top-level `data`.
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Fields {
            map,
            prefix: "",
            log: None,
        }
    }

    /// The top-level `data`, recording into `log` the name of every field looked up (nested
    /// ones as `wx_data.openid`), whether present or not.
    pub fn tracked(map: &'a Map<String, Value>, log: &'a RefCell<BTreeSet<String>>) -> Self {
        Fields {
            map,
            prefix: "",
            log: Some(log),
        }
    }

    /// A nested object of this one, so messages name `wx_data.sub_appid`.
    pub fn nested<'b>(&self, map: &'b Map<String, Value>, prefix: &'static str) -> Fields<'b>
    where
        'a: 'b,
    {
        Fields {
            map,
            prefix,
            log: self.log,
        }
    }

    /// The full name of field `key` as refusals name it (`wx_data.openid` in a nested object).
    pub fn name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The field's value, its name recorded when tracked.
    fn get(&self, key: &str) -> Option<&'a Value> {
        if let Some(log) = self.log {
            log.borrow_mut().insert(self.name(key));
        }
        self.map.get(key)
    }

    /// The field's text; `None` when absent, `null` or `""`. Refused when not a string or
    /// when it holds a control character.
    pub fn optional(&self, key: &str) -> Result<Option<&'a str>, Refusal> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) if s.chars().any(char::is_control) => Err(Refusal::invalid(
                self.name(key),
                "must not contain control characters",
            )),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(Refusal::invalid(self.name(key), "must be a string")),
        }
    }

    /// The field's text; `<field>不能为空` when absent or empty.
    pub fn required(&self, key: &str) -> Result<&'a str, Refusal> {
        self.optional(key)?
            .ok_or_else(|| Refusal::missing(self.name(key)))
    }

    /// A nested business object sent as a JSON object or as a string holding one (the SDKs
    /// send strings). Absent or empty gives `None`.
    pub fn object(&self, key: &str) -> Result<Option<Map<String, Value>>, Refusal> {
        let not_object = || {
            Refusal::invalid(
                self.name(key),
                "must be a JSON object, or a string holding one",
            )
        };
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok((!m.is_empty()).then(|| m.clone())),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => match strict_json(s) {
                Some(Value::Object(m)) => Ok((!m.is_empty()).then_some(m)),
                _ => Err(not_object()),
            },
            Some(_) => Err(not_object()),
        }
    }

    /// `mer_id`, or its alias `huifu_id` (what the Dougong SDK request classes send): an id of
    /// at most 32 characters.
    pub fn mer_id(&self) -> Result<&'a str, Refusal> {
        self.aliased_id("mer_id", "huifu_id", 32)?.ok_or_else(|| {
            Refusal::new(
                nkpay_core::resp_code::RespCode::ParamError,
                "mer_id不能为空: give the merchant's mer_id (or its alias huifu_id)",
            )
        })
    }

    /// Id field `main` (see [`check_id`]), or else `alias`: both are read and checked, and
    /// both given with different values is refused naming `alias`.
    pub fn aliased_id(
        &self,
        main: &str,
        alias: &str,
        max: usize,
    ) -> Result<Option<&'a str>, Refusal> {
        let read = |key: &str| -> Result<Option<&'a str>, Refusal> {
            let value = self.optional(key)?;
            if let Some(v) = value {
                check_id(&self.name(key), v, max)?;
            }
            Ok(value)
        };
        match (read(main)?, read(alias)?) {
            (Some(m), Some(a)) if m != a => Err(Refusal::invalid(
                self.name(alias),
                format!("must be the same as {main} when both are given"),
            )),
            (Some(m), _) => Ok(Some(m)),
            (None, a) => Ok(a),
        }
    }

    /// The request's own id: `req_date` (a real `yyyyMMdd` date) and `req_seq_id`.
    pub fn request_id(&self) -> Result<RequestId, Refusal> {
        let req_date = date(self.required("req_date")?, "req_date")?;
        let req_seq_id = self.required("req_seq_id")?;
        check_req_seq_id("req_seq_id", req_seq_id)?;
        Ok(RequestId {
            req_date,
            req_seq_id: req_seq_id.to_owned(),
        })
    }

    /// A write's id with the fingerprint of the whole `data`.
    pub fn write_request(&self) -> Result<WriteRequest, Refusal> {
        Ok(WriteRequest {
            id: self.request_id()?,
            content_hash: content_hash(self.map),
        })
    }

    /// An amount in yuan with exactly two decimals (`"0.01"`), as fen.
    pub fn amount(&self, key: &str) -> Result<Money, Refusal> {
        Money::parse_yuan(self.required(key)?).map_err(|_| {
            Refusal::invalid(
                self.name(key),
                "must be yuan with exactly two decimals, 0.01 to 99999999.99",
            )
        })
    }

    /// An optional text of at most `max` characters.
    pub fn text(&self, key: &str, max: usize) -> Result<Option<&'a str>, Refusal> {
        let value = self.optional(key)?;
        if let Some(v) = value
            && v.chars().count() > max
        {
            return Err(Refusal::invalid(
                self.name(key),
                format!("must be at most {max} characters"),
            ));
        }
        Ok(value)
    }

    /// An optional http(s) URL with a host, of at most `max` characters; Dougong's `virgo://`
    /// prefix (how its SDKs write notify URLs) is dropped. Where it may point is the engine's
    /// rule.
    pub fn http_url(&self, key: &str, max: usize) -> Result<Option<&'a str>, Refusal> {
        let Some(text) = self.text(key, max)? else {
            return Ok(None);
        };
        let url = text.strip_prefix("virgo://").unwrap_or(text);
        if !is_http_url(url, false) {
            return Err(Refusal::invalid(
                self.name(key),
                "must be an http(s) URL (virgo:// prefix allowed)",
            ));
        }
        Ok(Some(url))
    }

    /// An optional `yyyyMMddHHmmss` Asia/Shanghai time.
    pub fn date_time(&self, key: &str) -> Result<Option<DateTime<Utc>>, Refusal> {
        self.optional(key)?
            .map(|text| {
                shanghai_time::parse_date_time(text).ok_or_else(|| {
                    Refusal::invalid(
                        self.name(key),
                        "must be a real time written yyyyMMddHHmmss (Asia/Shanghai)",
                    )
                })
            })
            .transpose()
    }

    /// How the request names an earlier trade or refund: `org_nkp_seq_id` (preferred), or
    /// `org_req_date` + `org_req_seq_id`, each checked for form.
    pub fn original_key(&self) -> Result<OriginalKey, Refusal> {
        let org_req_date = self
            .optional("org_req_date")?
            .map(|d| date(d, "org_req_date"))
            .transpose()?;
        // Each given id is checked, even the one not used.
        let org_req_seq_id = self.optional("org_req_seq_id")?;
        if let Some(seq) = org_req_seq_id {
            check_req_seq_id("org_req_seq_id", seq)?;
        }
        match (self.optional("org_nkp_seq_id")?, org_req_seq_id) {
            (Some(nkp), _) => {
                let ok = nkp.len() <= 32 && nkp.bytes().all(|b| b.is_ascii_alphanumeric());
                if !ok {
                    return Err(Refusal::invalid(
                        "org_nkp_seq_id",
                        "must be at most 32 letters or digits",
                    ));
                }
                Ok(OriginalKey::Nkp {
                    nkp_seq_id: nkp.to_owned(),
                    req_date: org_req_date,
                })
            }
            (None, Some(seq)) => {
                let req_date = org_req_date.ok_or_else(|| {
                    Refusal::new(
                        nkpay_core::resp_code::RespCode::ParamError,
                        "org_req_date不能为空: needed with org_req_seq_id",
                    )
                })?;
                Ok(OriginalKey::Req(RequestId {
                    req_date,
                    req_seq_id: seq.to_owned(),
                }))
            }
            (None, None) => Err(Refusal::new(
                nkpay_core::resp_code::RespCode::ParamError,
                "org_req_seq_id不能为空: give org_req_date with org_req_seq_id, or org_nkp_seq_id",
            )),
        }
    }
}

/// JSON text held in a string field, read as strictly as the envelope (no duplicate keys, no
/// lone surrogates, nesting at most [`json_text::MAX_DEPTH`]); `None` when it is not.
pub fn strict_json(text: &str) -> Option<Value> {
    json_text::parse(text).ok()?;
    serde_json::from_str(text).ok()
}

/// A real date written `yyyyMMdd`.
pub fn date(text: &str, field: &str) -> Result<NaiveDate, Refusal> {
    shanghai_time::parse_date(text)
        .ok_or_else(|| Refusal::invalid(field, "must be a real date written yyyyMMdd"))
}

/// `[0-9A-Za-z_-]{1,64}` (API.md "Parties and identifiers").
pub fn check_req_seq_id(field: &str, value: &str) -> Result<(), Refusal> {
    if value.is_empty() || !is_id(value, REQ_SEQ_ID_MAX) {
        return Err(Refusal::invalid(
            field,
            "must be 1 to 64 characters of 0-9 A-Z a-z _ -",
        ));
    }
    Ok(())
}

/// An id of `[0-9A-Za-z_-]` of at most `max` bytes.
pub fn check_id(field: &str, value: &str, max: usize) -> Result<(), Refusal> {
    if !is_id(value, max) {
        return Err(Refusal::invalid(
            field,
            format!("must be at most {max} characters of 0-9 A-Z a-z _ -"),
        ));
    }
    Ok(())
}

fn is_id(value: &str, max: usize) -> bool {
    value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The fingerprint of a request's content: hex SHA-256 of its canonical `data` (top-level keys
/// sorted, empty values dropped), so a replay re-encoded by another client still matches.
pub fn content_hash(data: &Map<String, Value>) -> String {
    let canonical = envelope::canonical_data(data);
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn empty_and_null_read_as_absent_and_numbers_are_refused_by_name() {
        let m = map(json!({"a": "", "b": null, "c": "x", "d": 1}));
        let f = Fields::new(&m);
        assert_eq!(f.optional("a").unwrap(), None);
        assert_eq!(f.optional("b").unwrap(), None);
        assert_eq!(f.optional("c").unwrap(), Some("x"));
        assert_eq!(
            f.optional("d").unwrap_err().desc,
            "d格式错误: must be a string"
        );
        assert_eq!(f.required("a").unwrap_err().desc, "a不能为空");
    }

    #[test]
    fn nested_object_may_be_a_string_or_an_object() {
        let m = map(json!({
            "s": "{\"sub_appid\":\"wx1\"}",
            "o": {"sub_appid": "wx2"},
            "bad": "[1]",
            "n": 3
        }));
        let f = Fields::new(&m);
        assert_eq!(f.object("s").unwrap().unwrap()["sub_appid"], "wx1");
        assert_eq!(f.object("o").unwrap().unwrap()["sub_appid"], "wx2");
        assert!(f.object("bad").unwrap_err().desc.starts_with("bad格式错误"));
        assert!(f.object("n").is_err());
        assert!(f.object("absent").unwrap().is_none());
    }

    #[test]
    fn alias_is_read_when_the_main_name_is_absent() {
        let m = map(json!({"huifu_id": "6666000100000001"}));
        assert_eq!(Fields::new(&m).mer_id().unwrap(), "6666000100000001");
        let none = map(json!({}));
        let err = Fields::new(&none).mer_id().unwrap_err();
        assert!(err.desc.starts_with("mer_id不能为空"), "{}", err.desc);
        assert!(err.desc.contains("huifu_id"), "{}", err.desc);
    }

    #[test]
    fn req_seq_id_allows_only_its_charset_and_length() {
        assert!(check_req_seq_id("req_seq_id", "abc_DEF-123").is_ok());
        assert!(check_req_seq_id("req_seq_id", &"a".repeat(64)).is_ok());
        for bad in ["", "a b", "a.b", "订单1", &"a".repeat(65)] {
            let err = check_req_seq_id("req_seq_id", bad).unwrap_err();
            assert!(err.desc.starts_with("req_seq_id格式错误"), "{bad}");
        }
    }

    #[test]
    fn amounts_must_be_yuan_with_two_decimals() {
        for bad in ["1", "1.0", "0.00", "-1.00", "1.001", "abc"] {
            let m = map(json!({ "ord_amt": bad }));
            let err = Fields::new(&m).amount("ord_amt").unwrap_err();
            assert!(
                err.desc.starts_with("ord_amt格式错误"),
                "{bad}: {}",
                err.desc
            );
        }
        let m = map(json!({ "ord_amt": "0.01" }));
        assert_eq!(Fields::new(&m).amount("ord_amt").unwrap().fen(), 1);
    }

    #[test]
    fn org_key_prefers_nkp_seq_id_and_needs_a_date_with_req_seq_id() {
        let m = map(json!({"org_nkp_seq_id": "N1", "org_req_seq_id": "r1"}));
        assert!(matches!(
            Fields::new(&m).original_key().unwrap(),
            OriginalKey::Nkp { .. }
        ));
        let m = map(json!({"org_req_seq_id": "r1"}));
        assert!(
            Fields::new(&m)
                .original_key()
                .unwrap_err()
                .desc
                .starts_with("org_req_date不能为空")
        );
        let m = map(json!({"org_nkp_seq_id": "N-1"}));
        assert!(
            Fields::new(&m)
                .original_key()
                .unwrap_err()
                .desc
                .starts_with("org_nkp_seq_id格式错误")
        );
    }

    #[test]
    fn content_hash_ignores_key_order_and_empty_fields_but_not_values() {
        let h = |v: Value| content_hash(&map(v));
        assert_eq!(
            h(json!({"b": "1", "a": "2", "c": ""})),
            h(json!({"a": "2", "b": "1"}))
        );
        assert_ne!(
            h(json!({"a": "2", "b": "1"})),
            h(json!({"a": "2", "b": "3"}))
        );
        assert_eq!(h(json!({"a": "1"})).len(), 64);
    }
}
