//! The string S the merchant envelope signs (API.md "Envelope and signature"): `data` as compact
//! JSON, top-level keys sorted by bytes, top-level empties dropped, nested objects as received,
//! raw UTF-8 — byte for byte what dg-sdk builds with `pop_empty_value`, `sort_dict` and
//! `json.dumps(ensure_ascii=False, separators=(',', ':'))`.
//!
//! This is the envelope's canonical writer; the envelope itself (parse, sign, verify, reply
//! bodies) is [`crate::envelope`].

use crate::error::{CryptoError, Result};
use crate::json_text::{self, JsonValue};

/// Which object keys are sorted in the canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrder {
    /// Only the top-level keys of `data`, nested objects as received: what dg-sdk signs and
    /// what the platform signs replies and notifications with (API.md).
    TopLevel,
    /// Keys sorted at every depth, objects inside arrays too: what some other SDKs sign; the
    /// platform accepts it on requests (API.md).
    EveryLevel,
}

/// How one official Dougong SDK builds the string it signs from a request's `data` (issue 15,
/// fault 6). Each is read off the SDK's source:
///
/// - [`DgPython`](SdkForm::DgPython), dg-sdk (`dg_sdk/core/param_handler.py`): top-level `null`,
///   `""`, `{}`, `[]` dropped (`pop_empty_value`), top-level keys sorted (`sort_dict`),
///   `json.dumps(ensure_ascii=False, separators=(',', ':'))`. The canonical form: tried first.
/// - [`Php`](SdkForm::Php), bspay-php-sdk (`BsPay::filterEmptyData`, `BsPayRequestV2::createBody`):
///   the same empties dropped, `ksort`, `json_encode(JSON_UNESCAPED_SLASHES|JSON_UNESCAPED_UNICODE)`,
///   which still writes U+2028 and U+2029 as `\u2028`/`\u2029`.
/// - [`Java`](SdkForm::Java), bspay-java-sdk (`JsonUtils.sort4JsonString`): fastjson parses `data`
///   into a `TreeMap` (top-level keys sorted) and writes it back: only `null` members dropped
///   (`""`, `{}`, `[]` kept), nested objects as received, raw UTF-8.
/// - [`CSharp`](SdkForm::CSharp), bspay-csharp-sdk (`JsonUtils.sort4JsonString`): Newtonsoft into a
///   `SortedDictionary`, written back with nothing dropped (`null` kept) and U+0085, U+2028,
///   U+2029 escaped. Its keys sort by the culture's rules, which equal byte order for the API's
///   lower-case ASCII field names.
/// - [`GoSdk`](SdkForm::GoSdk), bspay-go-sdk (`DoPostReq`, `FormatSignSrcText`): `nil` members
///   dropped (`DeleteEmptyValue`), `json.Marshal` of maps (keys sorted at every depth, U+2028,
///   U+2029, `<`, `>`, `&` escaped), then `\u003c`, `\u003e`, `\u0026` put back as `<`, `>`, `&`.
/// - [`GoEncoder`](SdkForm::GoEncoder): the same string without that last step, as Go's
///   `encoding/json` writes it by default (a merchant signing with it directly).
/// - [`EveryLevel`](SdkForm::EveryLevel): the canonical form with keys sorted at every depth
///   ([`KeyOrder::EveryLevel`]), which the platform has long accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdkForm {
    /// dg-sdk (Python): the canonical form.
    DgPython,
    /// bspay-php-sdk.
    Php,
    /// bspay-java-sdk (fastjson).
    Java,
    /// bspay-csharp-sdk (Newtonsoft.Json).
    CSharp,
    /// bspay-go-sdk.
    GoSdk,
    /// Go's `encoding/json` defaults, without the Go SDK's un-escaping of `<`, `>`, `&`.
    GoEncoder,
    /// Canonical, keys sorted at every depth.
    EveryLevel,
}

/// Which top-level members an SDK leaves out before signing.
#[derive(Clone, Copy)]
enum Dropped {
    /// `null`, `""`, `{}`, `[]`.
    Empties,
    /// `null` only.
    Nulls,
    /// Nothing.
    Nothing,
}

impl SdkForm {
    /// Every form, the canonical one first: the order the platform tries them in.
    pub const ALL: [SdkForm; 7] = [
        SdkForm::DgPython,
        SdkForm::Php,
        SdkForm::Java,
        SdkForm::CSharp,
        SdkForm::GoSdk,
        SdkForm::GoEncoder,
        SdkForm::EveryLevel,
    ];

    fn order(self) -> KeyOrder {
        match self {
            SdkForm::GoSdk | SdkForm::GoEncoder | SdkForm::EveryLevel => KeyOrder::EveryLevel,
            _ => KeyOrder::TopLevel,
        }
    }

    fn dropped(self) -> Dropped {
        match self {
            SdkForm::DgPython | SdkForm::Php | SdkForm::EveryLevel => Dropped::Empties,
            SdkForm::Java | SdkForm::GoSdk | SdkForm::GoEncoder => Dropped::Nulls,
            SdkForm::CSharp => Dropped::Nothing,
        }
    }

    fn escaped(self) -> &'static [char] {
        match self {
            SdkForm::DgPython | SdkForm::Java | SdkForm::EveryLevel => &[],
            SdkForm::Php | SdkForm::GoSdk => &['\u{2028}', '\u{2029}'],
            SdkForm::CSharp => &['\u{85}', '\u{2028}', '\u{2029}'],
            SdkForm::GoEncoder => &['\u{2028}', '\u{2029}', '<', '>', '&'],
        }
    }

    /// The string this SDK signs for an object with `members`.
    pub(crate) fn signing_string(self, members: &[(String, JsonValue)]) -> String {
        let dropped = self.dropped();
        let kept = members.iter().filter(|(_, v)| match dropped {
            Dropped::Empties => !v.is_empty_value(),
            Dropped::Nulls => *v != JsonValue::Null,
            Dropped::Nothing => true,
        });
        sorted_object(kept, self.order()).to_compact_escaping(self.escaped())
    }
}

/// S for an object given as JSON text, top-level keys sorted, top-level `null`/`""`/`{}`/`[]`
/// dropped. The merchant envelope is built on this through [`crate::envelope`]; the engine also
/// hashes and stores notification `resp_data` in this form.
///
/// Errors: the text is not JSON ([`CryptoError::Json`], [`CryptoError::JsonTooDeep`]) or not an
/// object ([`CryptoError::JsonNotObject`]).
pub fn canonical_top_sorted(json_text: &str) -> Result<String> {
    canonical_text(json_text, KeyOrder::TopLevel)
}

/// S for an object given as JSON text, with the keys sorted as `order` says.
pub(crate) fn canonical_text(json_text: &str, order: KeyOrder) -> Result<String> {
    canonical_value(&json_text::parse(json_text)?, order)
}

/// S for an already parsed value, which must be an object.
pub(crate) fn canonical_value(v: &JsonValue, order: KeyOrder) -> Result<String> {
    match v {
        JsonValue::Object(members) => Ok(canonical_members(members, order)),
        _ => Err(CryptoError::JsonNotObject { what: "data" }),
    }
}

/// S for the members of an object: empty values dropped, keys sorted by bytes, compact.
pub(crate) fn canonical_members(members: &[(String, JsonValue)], order: KeyOrder) -> String {
    let kept = members.iter().filter(|(_, v)| !v.is_empty_value());
    sorted_object(kept, order).to_compact()
}

/// An object of `members` with its keys sorted by bytes (at every depth for
/// [`KeyOrder::EveryLevel`]).
fn sorted_object<'a>(
    members: impl Iterator<Item = &'a (String, JsonValue)>,
    order: KeyOrder,
) -> JsonValue {
    let mut kept: Vec<(String, JsonValue)> = members
        .map(|(k, v)| {
            let v = match order {
                KeyOrder::TopLevel => v.clone(),
                KeyOrder::EveryLevel => sorted_deep(v),
            };
            (k.clone(), v)
        })
        .collect();
    // Keys are unique (the parser refuses duplicates, serde_json maps cannot hold two), so an
    // unstable sort is deterministic.
    kept.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    JsonValue::Object(kept)
}

fn sorted_deep(v: &JsonValue) -> JsonValue {
    match v {
        JsonValue::Object(members) => {
            let mut m: Vec<(String, JsonValue)> = members
                .iter()
                .map(|(k, v)| (k.clone(), sorted_deep(v)))
                .collect();
            m.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            JsonValue::Object(m)
        }
        JsonValue::Array(items) => JsonValue::Array(items.iter().map(sorted_deep).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Received as `requests` sends it (ensure_ascii=True, default separators, insertion order).
    const RECEIVED: &str = r#"{"req_seq_id": "rQ2024010112000001", "req_date": "20240101", "huifu_id": "6666000000000001", "trade_type": "T_JSAPI", "trans_amt": "0.01", "goods_desc": "\u6d4b\u8bd5\u5546\u54c1-\u62ff\u94c1\u00b7\"\u7279\u4ef7\"", "remark": "", "acct_split_bunch": {}, "terminal_device_data": null, "tags": [], "wx_data": {"sub_appid": "wxd678efh567hg6787", "openid": "", "detail": {"goods_detail": [{"goods_name": "\u5496\u5561", "quantity": 1, "price": 12.5}], "cost_price": 1250}}, "alipay_data": "{\"subject\":\"\u6c34\"}", "notify_url": "https://m.example.com/n?a=1&b=2", "limit_pay_type": ["NO_CREDIT"], "delay_acct_flag": false, "fee_flag": 2}"#;

    /// dg-sdk 2.0.28 on RECEIVED's dict: pop_empty_value → sort_dict →
    /// json.dumps(ensure_ascii=False, separators=(',', ':')), computed with CPython 3.11.
    const DG_SDK_SIGNS: &str = r#"{"alipay_data":"{\"subject\":\"水\"}","delay_acct_flag":false,"fee_flag":2,"goods_desc":"测试商品-拿铁·\"特价\"","huifu_id":"6666000000000001","limit_pay_type":["NO_CREDIT"],"notify_url":"https://m.example.com/n?a=1&b=2","req_date":"20240101","req_seq_id":"rQ2024010112000001","trade_type":"T_JSAPI","trans_amt":"0.01","wx_data":{"sub_appid":"wxd678efh567hg6787","openid":"","detail":{"goods_detail":[{"goods_name":"咖啡","quantity":1,"price":12.5}],"cost_price":1250}}}"#;

    #[test]
    fn top_sorted_form_equals_what_dg_sdk_signs() {
        assert_eq!(canonical_top_sorted(RECEIVED).unwrap(), DG_SDK_SIGNS);
    }

    #[test]
    fn all_sorted_form_sorts_nested_objects_and_objects_in_arrays() {
        assert_eq!(
            canonical_text(RECEIVED, KeyOrder::EveryLevel).unwrap(),
            r#"{"alipay_data":"{\"subject\":\"水\"}","delay_acct_flag":false,"fee_flag":2,"goods_desc":"测试商品-拿铁·\"特价\"","huifu_id":"6666000000000001","limit_pay_type":["NO_CREDIT"],"notify_url":"https://m.example.com/n?a=1&b=2","req_date":"20240101","req_seq_id":"rQ2024010112000001","trade_type":"T_JSAPI","trans_amt":"0.01","wx_data":{"detail":{"cost_price":1250,"goods_detail":[{"goods_name":"咖啡","price":12.5,"quantity":1}]},"openid":"","sub_appid":"wxd678efh567hg6787"}}"#
        );
    }

    #[test]
    fn keys_sort_by_bytes_not_by_locale() {
        assert_eq!(
            canonical_top_sorted(r#"{"b":1,"B":2,"_":3,"中":4,"a1":5,"a":6}"#).unwrap(),
            r#"{"B":2,"_":3,"a":6,"a1":5,"b":1,"中":4}"#
        );
    }

    #[test]
    fn data_that_is_not_an_object_is_rejected() {
        assert_eq!(
            canonical_top_sorted("[1]").unwrap_err(),
            CryptoError::JsonNotObject { what: "data" }
        );
    }
}
