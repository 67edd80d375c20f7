//! Fuzz target `envelope` (docs/fuzzing.md): request envelopes from the committed corpus
//! `fuzz/corpus/envelope`, mutated, and random bytes. Properties: parsing never panics; a
//! parsed request whose `sign` we did not make never verifies; every SDK form of the parsed
//! `data` is JSON that reads back to the same members (the canonical writer round-trips); a
//! request signed in the canonical form verifies.

use std::sync::OnceLock;

#[path = "../../../fuzz/fuzzing.rs"]
#[allow(dead_code)]
mod fuzzing;

use nkpay_crypto::envelope::{self, KeyOrder, SdkForm};
use nkpay_crypto::json_text;
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use proptest::prelude::*;

fn private_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        RsaPrivateKey::from_pem_or_base64(include_str!("data/key-pkcs8.pem")).unwrap()
    })
}

fn public_key() -> &'static RsaPublicKey {
    static KEY: OnceLock<RsaPublicKey> = OnceLock::new();
    KEY.get_or_init(|| private_key().public_key())
}

fn seeds() -> Vec<Vec<u8>> {
    fuzzing::seeds(&fuzzing::corpus_dir(env!("CARGO_MANIFEST_DIR"), "envelope"))
}

proptest! {
    #![proptest_config(fuzzing::config())]

    #[test]
    fn fuzz_envelope(body in fuzzing::inputs(seeds())) {
        let Ok(request) = envelope::parse(&body) else {
            return Ok(());
        };
        // The corpus signs nothing: "AAAA" and its mutations never verify.
        prop_assert!(!envelope::verify(&request, public_key()));
        for form in SdkForm::ALL {
            let text = envelope::sdk_signing_string(&request.data_text, form).unwrap();
            let again = json_text::parse(&text).unwrap();
            prop_assert_eq!(
                envelope::sdk_signing_string(&again.to_compact(), form).unwrap(),
                text
            );
        }
        let signed = envelope::sign_request_data(&request.data_text, KeyOrder::TopLevel, private_key()).unwrap();
        let resigned = format!(
            r#"{{"sys_id":"s","product_id":"p","sign":"{}","data":{}}}"#,
            signed.sign, request.data_text
        );
        let request = envelope::parse(resigned.as_bytes()).unwrap();
        prop_assert!(envelope::verify(&request, public_key()));
    }
}
