//! Alipay's own signatures (a notification and a sync reply) verify, and a fixed-key request
//! signature made by pycryptodome, python-alipay-sdk and openssl is reproduced exactly.

use std::collections::BTreeMap;

use nkpay_crypto::alipay_sign::{
    notify_string_to_sign, request_string_to_sign, sign_params, split_response, verify_notify,
    verify_request, verify_response,
};
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use serde_json::Value;

const APP_PRIVATE: &str = include_str!("data/alipay/app-private-key.pem");
const APP_PUBLIC: &str = include_str!("data/alipay/app-public-key.pem");
const ALIPAY_PUBLIC: &str = include_str!("data/alipay/alipay-public-key.pem");
const REQUEST: &str = include_str!("data/alipay/request.json");
const NOTIFY: &str = include_str!("data/alipay/notify.json");
const RESPONSES: &str = include_str!("data/alipay/responses.jsonl");

fn str_field<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap()
}

#[test]
fn request_signature_is_reproduced_with_the_app_key() {
    let v: Value = serde_json::from_str(REQUEST).unwrap();
    let s = str_field(&v, "string_to_sign");
    let expected = str_field(&v, "sign");
    let key = RsaPrivateKey::from_pem_or_base64(APP_PRIVATE).unwrap();
    assert_eq!(key.sign_sha256_base64(s.as_bytes()).unwrap(), expected);

    // The same string rebuilt from the params (no value here contains '&').
    let mut params: BTreeMap<String, String> = s
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    params.insert("app_auth_token".into(), String::new());
    assert_eq!(request_string_to_sign(&params), s);
    assert_eq!(sign_params(&params, &key).unwrap(), expected);

    params.insert("sign".into(), expected.to_string());
    let public = RsaPublicKey::from_pem_or_base64(APP_PUBLIC).unwrap();
    verify_request(&params, &public).unwrap();
    params.insert("total_amount".into(), "0.02".into());
    assert!(verify_request(&params, &public).is_err());
}

fn notify_params() -> (BTreeMap<String, String>, RsaPublicKey) {
    let v: Value = serde_json::from_str(NOTIFY).unwrap();
    let mut params: BTreeMap<String, String> = v["params"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    params.insert("sign".into(), str_field(&v, "sign").to_string());
    let key = RsaPublicKey::from_pem_or_base64(str_field(&v, "alipay_public_key")).unwrap();
    (params, key)
}

#[test]
fn alipay_signed_notification_verifies() {
    let (params, key) = notify_params();
    let s = notify_string_to_sign(&params);
    assert!(!s.contains("sign_type=") && !s.contains("sign="));
    assert!(s.contains(r#"fund_bill_list=[{"amount":"0.10","fundChannel":"ALIPAYACCOUNT"}]"#));
    verify_notify(&params, &key).unwrap();
}

#[test]
fn notification_with_any_field_changed_does_not_verify() {
    let (params, key) = notify_params();
    for field in ["total_amount", "trade_status", "out_trade_no", "subject"] {
        let mut p = params.clone();
        p.insert(field.into(), format!("{}x", p[field]));
        assert!(verify_notify(&p, &key).is_err(), "{field}");
    }
    // The notification string leaves sign_type out; the request string would not.
    assert!(verify_request(&params, &key).is_err());
    let mut no_sign = params.clone();
    no_sign.remove("sign");
    assert!(verify_notify(&no_sign, &key).is_err());
    let other = RsaPublicKey::from_pem_or_base64(ALIPAY_PUBLIC).unwrap();
    assert!(verify_notify(&params, &other).is_err());
}

#[test]
fn alipay_signed_reply_verifies_over_its_raw_bytes() {
    let key = RsaPublicKey::from_pem_or_base64(ALIPAY_PUBLIC).unwrap();
    for line in RESPONSES.lines().filter(|l| !l.trim().is_empty()) {
        let parts = split_response(line).unwrap();
        assert_eq!(parts.name, "alipay_open_file_upload_response");
        // The signed bytes are exactly the text between the member's colon and ",\"sign\"".
        let start = line.find(':').unwrap() + 1;
        let end = line.rfind(",\"sign\"").unwrap();
        assert_eq!(parts.content, &line[start..end]);
        key.verify_sha256_base64(parts.content.as_bytes(), parts.sign.as_deref().unwrap())
            .unwrap();
        verify_response(line, &key).unwrap();

        // Re-encoded JSON (spaces added) is not what Alipay signed.
        let respaced = line.replacen("\"code\":", "\"code\": ", 1);
        assert!(verify_response(&respaced, &key).is_err());
    }
}
