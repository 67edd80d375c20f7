//! The merchant API envelope's `sign` (API.md "Envelope and signature"): RSA-SHA256 over the
//! canonical form of `data`, rebuilt from what was received because clients re-encode after
//! signing.

use crate::canonical_json::{
    canonical_all_sorted_value, canonical_top_sorted, canonical_top_sorted_keep_empty,
    canonical_top_sorted_value,
};
use crate::error::{CryptoError, Result};
use crate::json_text::{self, JsonValue};
use crate::rsa_keys::{RsaPrivateKey, RsaPublicKey};

/// `sign` for a request's `data`, as dg-sdk computes it (empties dropped, top-level sorted).
pub fn sign_request_data(data_json: &str, key: &RsaPrivateKey) -> Result<String> {
    key.sign_sha256_base64(canonical_top_sorted(data_json)?.as_bytes())
}

/// `sign` for a response's `data`: dg-sdk's `verify_sign` sorts the top level but keeps `""`,
/// `{}` and `[]` (it drops only `null`), so the response form keeps them too.
pub fn sign_response_data(data_json: &str, key: &RsaPrivateKey) -> Result<String> {
    key.sign_sha256_base64(canonical_top_sorted_keep_empty(data_json)?.as_bytes())
}

/// Verifies a request's `sign` over `data` given as JSON text.
pub fn verify_request_data(data_json: &str, sign_b64: &str, key: &RsaPublicKey) -> Result<()> {
    verify_request_value(&json_text::parse(data_json)?, sign_b64, key)
}

/// Verifies a request's `sign` over an already parsed `data`: the top-sorted form first, then
/// the form sorted at every depth that some SDKs sign.
pub fn verify_request_value(data: &JsonValue, sign_b64: &str, key: &RsaPublicKey) -> Result<()> {
    let top = canonical_top_sorted_value(data)?;
    if key.verify_sha256_base64(top.as_bytes(), sign_b64).is_ok() {
        return Ok(());
    }
    let all = canonical_all_sorted_value(data)?;
    if all != top && key.verify_sha256_base64(all.as_bytes(), sign_b64).is_ok() {
        return Ok(());
    }
    Err(CryptoError::BadSignature {
        what: "request sign over data",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical_json::canonical_all_sorted;

    const KEY: &str = include_str!("../tests/data/key-pkcs8.pem");
    const DATA: &str = r#"{"trans_amt": "0.01", "mer_id": "6666000000000001", "remark": "", "wx_data": {"sub_openid": "o1", "sub_appid": "wx1"}, "goods_desc": "\u6d4b\u8bd5"}"#;

    fn keys() -> (RsaPrivateKey, RsaPublicKey) {
        let k = RsaPrivateKey::from_pem_or_base64(KEY).unwrap();
        let p = k.public_key();
        (k, p)
    }

    #[test]
    fn request_signed_like_dg_sdk_verifies_after_re_encoding() {
        let (k, p) = keys();
        let sign = sign_request_data(DATA, &k).unwrap();
        // The same data as another client would re-encode it: other spacing and escapes.
        let reencoded = r#"{"mer_id":"6666000000000001","goods_desc":"测试","trans_amt":"0.01","wx_data":{"sub_openid":"o1","sub_appid":"wx1"}}"#;
        verify_request_data(reencoded, &sign, &p).unwrap();
    }

    #[test]
    fn request_signed_all_sorted_verifies() {
        let (k, p) = keys();
        let all = canonical_all_sorted(DATA).unwrap();
        let sign = k.sign_sha256_base64(all.as_bytes()).unwrap();
        verify_request_data(DATA, &sign, &p).unwrap();
    }

    #[test]
    fn changed_amount_or_nested_order_without_resigning_fails() {
        let (k, p) = keys();
        let sign = sign_request_data(DATA, &k).unwrap();
        let changed = DATA.replace("0.01", "0.02");
        assert_eq!(
            verify_request_data(&changed, &sign, &p).unwrap_err(),
            CryptoError::BadSignature {
                what: "request sign over data"
            }
        );
    }

    #[test]
    fn response_sign_covers_empty_fields_as_dg_sdk_rebuilds_them() {
        let (k, p) = keys();
        let data = r#"{"resp_code":"00000000","remark":"","bank_message":""}"#;
        let sign = sign_response_data(data, &k).unwrap();
        let sdk_form = r#"{"bank_message":"","remark":"","resp_code":"00000000"}"#;
        p.verify_sha256_base64(sdk_form.as_bytes(), &sign).unwrap();
    }
}
