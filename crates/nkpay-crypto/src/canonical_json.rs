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
    let mut kept: Vec<(String, JsonValue)> = members
        .iter()
        .filter(|(_, v)| !v.is_empty_value())
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
    JsonValue::Object(kept).to_compact()
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
