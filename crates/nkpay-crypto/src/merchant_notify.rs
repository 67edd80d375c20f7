//! Merchant notifications: `sign` is base64 RSA-SHA256 over the exact `resp_data` string, so
//! a receiver verifies the bytes it got, with no canonicalization.

use crate::error::Result;
use crate::rsa_keys::{RsaPrivateKey, RsaPublicKey};

/// The `sign` field for `resp_data` (the platform side).
pub fn sign_notify(resp_data: &str, key: &RsaPrivateKey) -> Result<String> {
    key.sign_sha256_base64(resp_data.as_bytes())
}

/// What a merchant (or our own tests) run on a received notification.
pub fn verify_notify(resp_data: &str, sign_b64: &str, key: &RsaPublicKey) -> Result<()> {
    key.verify_sha256_base64(resp_data.as_bytes(), sign_b64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = include_str!("../tests/data/key-pkcs8.pem");
    const RESP_DATA: &str = r#"{"end_time":"20240101120501","mer_id":"6666000000000001","notify_type":"TRADE","nkp_seq_id":"2024010112000012300007000000","remark":"备注","trans_amt":"0.01","trans_stat":"S"}"#;

    #[test]
    fn notification_signed_by_the_platform_verifies_over_the_exact_string() {
        let key = RsaPrivateKey::from_pem_or_base64(KEY).unwrap();
        let sign = sign_notify(RESP_DATA, &key).unwrap();
        verify_notify(RESP_DATA, &sign, &key.public_key()).unwrap();
    }

    #[test]
    fn re_encoded_or_altered_resp_data_does_not_verify() {
        let key = RsaPrivateKey::from_pem_or_base64(KEY).unwrap();
        let sign = sign_notify(RESP_DATA, &key).unwrap();
        let respaced = RESP_DATA.replace("\":\"", "\": \"");
        assert!(verify_notify(&respaced, &sign, &key.public_key()).is_err());
        let escaped = RESP_DATA.replace("备注", "\\u5907\\u6ce8");
        assert!(verify_notify(&escaped, &sign, &key.public_key()).is_err());
        let other = RsaPrivateKey::generate_2048().unwrap();
        assert!(verify_notify(RESP_DATA, &sign, &other.public_key()).is_err());
    }
}
