//! Hostile input of every kind — random bytes as keys, signatures, ciphertexts and JSON —
//! ends in an error value, never a panic.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use nkpay_crypto::alipay_sign::{split_response, verify_notify, verify_response};
use nkpay_crypto::canonical_json::canonical_top_sorted;
use nkpay_crypto::envelope::{self, KeyOrder};
use nkpay_crypto::json_text;
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use nkpay_crypto::sealed::SecretSealer;
use nkpay_crypto::wechat_refund_cipher::decrypt_req_info;
use nkpay_crypto::wechat_sign::{self, WechatSignType};
use proptest::prelude::*;

fn public_key() -> &'static RsaPublicKey {
    static KEY: OnceLock<RsaPublicKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPublicKey::from_pem_or_base64(include_str!("data/pub-spki.pem")).unwrap())
}

fn private_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        RsaPrivateKey::from_pem_or_base64(include_str!("data/key-pkcs8.pem")).unwrap()
    })
}

fn sealer() -> &'static SecretSealer {
    static S: OnceLock<SecretSealer> = OnceLock::new();
    S.get_or_init(|| SecretSealer::from_key_base64(&STANDARD.encode([7u8; 32])).unwrap())
}

/// Text that looks like JSON often enough to reach deep into the parser.
fn jsonish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\[\\]{}\",:0-9a-z\\\\ .eE+-]{0,40}",
        "\\{(\"[a-z\u{4e2d}]{0,3}\":(\"[^\"]{0,4}\"|-?[0-9]{1,3}(\\.[0-9])?|null|true|\\[\\]|\\{\\}),?){0,5}\\}",
        "\"(\\\\u[0-9a-fA-F]{4}|\\\\[\"\\\\/bfnrtx]|[a-z])*\"",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_key_text_is_an_error(s in any::<String>(), bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        prop_assert!(RsaPrivateKey::from_pem_or_base64(&s).is_err());
        prop_assert!(RsaPublicKey::from_pem_or_base64(&s).is_err());
        let b64 = STANDARD.encode(&bytes);
        prop_assert!(RsaPrivateKey::from_pem_or_base64(&b64).is_err());
        prop_assert!(RsaPublicKey::from_pem_or_base64(&b64).is_err());
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n");
        prop_assert!(RsaPublicKey::from_pem_or_base64(&pem).is_err());
        let pem = format!("-----BEGIN RSA PRIVATE KEY-----\n{b64}\n-----END RSA PRIVATE KEY-----\n");
        prop_assert!(RsaPrivateKey::from_pem_or_base64(&pem).is_err());
    }

    #[test]
    fn random_signatures_do_not_verify(msg in any::<Vec<u8>>(), sig in proptest::collection::vec(any::<u8>(), 0..300), s in any::<String>()) {
        let key = public_key();
        prop_assert!(key.verify_sha256(&msg, &sig).is_err());
        prop_assert!(key.verify_sha256_base64(&msg, &s).is_err());
        prop_assert!(key.verify_sha256_base64(&msg, &STANDARD.encode(&sig)).is_err());
        let mut params = BTreeMap::new();
        params.insert("sign".to_string(), s.clone());
        params.insert("a".to_string(), String::from_utf8_lossy(&msg).into_owned());
        prop_assert!(verify_notify(&params, key).is_err());
        prop_assert!(wechat_sign::verify(&params, "k", WechatSignType::Md5).is_err());
        prop_assert!(wechat_sign::verify(&params, "k", WechatSignType::HmacSha256).is_err());
    }

    #[test]
    fn random_ciphertexts_are_errors(s in any::<String>(), bytes in proptest::collection::vec(any::<u8>(), 0..200), key in any::<String>()) {
        // Random whole blocks can decrypt to valid PKCS#7 and UTF-8 by chance, so only the
        // malformed cases must be errors; all must return rather than panic.
        let whole_blocks = !bytes.is_empty() && bytes.len() % 16 == 0;
        let r = decrypt_req_info(&STANDARD.encode(&bytes), &key);
        prop_assert!(whole_blocks || r.is_err());
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c)) {
            prop_assert!(decrypt_req_info(&s, &key).is_err());
        }
        prop_assert!(sealer().open(&s).is_err());
        prop_assert!(sealer().open(&STANDARD.encode(&bytes)).is_err());
        prop_assert!(SecretSealer::from_key_base64(&s).is_err());
    }

    #[test]
    fn random_json_is_parsed_or_refused_without_panic(s in jsonish()) {
        let parsed = json_text::parse(&s);
        let top = canonical_top_sorted(&s);
        let _ = split_response(&s);
        prop_assert!(verify_response(&s, public_key()).is_err());
        let _ = envelope::parse(s.as_bytes());
        let body = format!(r#"{{"sys_id":"s","product_id":"p","sign":"AAAA","data":{s}}}"#);
        if let Ok(request) = envelope::parse(body.as_bytes()) {
            prop_assert!(!envelope::verify(&request, public_key()));
        }
        let reply = format!(r#"{{"data":{s},"sign":"AAAA"}}"#);
        if let Ok(reply) = envelope::parse_reply(&reply) {
            prop_assert!(reply.verify(public_key()).is_err());
        }
        if let Ok(canon) = &top {
            let key = private_key();
            for order in [KeyOrder::TopLevel, KeyOrder::EveryLevel] {
                let signed = envelope::sign_request_data(&s, order, key).unwrap();
                let body = format!(r#"{{"sys_id":"s","product_id":"p","sign":"{}","data":{s}}}"#, signed.sign);
                if let Ok(request) = envelope::parse(body.as_bytes()) {
                    prop_assert!(envelope::verify(&request, &key.public_key()));
                }
            }
            prop_assert_eq!(&envelope::sign_request_data(&s, KeyOrder::TopLevel, key).unwrap().signing_string, canon);
        }
        if let Ok(v) = parsed {
            // What we emit is JSON we read back to the same value.
            prop_assert_eq!(json_text::parse(&v.to_compact()).unwrap(), v);
            if let Ok(canon) = top {
                prop_assert_eq!(canonical_top_sorted(&canon).unwrap(), canon);
            }
        }
    }
}

#[test]
fn hostile_nesting_of_every_kind_is_refused() {
    for open in ["[", "{\"a\":", "[{\"a\":"] {
        let s = open.repeat(200_000);
        assert!(json_text::parse(&s).is_err());
        assert!(canonical_top_sorted(&s).is_err());
        assert!(envelope::parse(s.as_bytes()).is_err());
        assert!(envelope::parse_reply(&s).is_err());
    }
}
