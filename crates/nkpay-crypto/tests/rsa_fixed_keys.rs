//! Our RSA-SHA256 signatures equal OpenSSL's byte for byte (PKCS#1 v1.5 is deterministic), and
//! every supported key format imports to the same key while anything else is refused clearly.

use nkpay_crypto::CryptoError;
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};

const KEY_PKCS8: &str = include_str!("data/key-pkcs8.pem");
const KEY_PKCS1: &str = include_str!("data/key-pkcs1.pem");
const PUB_SPKI: &str = include_str!("data/pub-spki.pem");
const PUB_PKCS1: &str = include_str!("data/pub-pkcs1.pem");
const KEY_1024: &str = include_str!("data/key-1024.pem");
const KEY_EC: &str = include_str!("data/key-ec.pem");
const MSG1: &str = include_str!("data/msg1.txt");
const SIG1: &str = include_str!("data/msg1.sig.b64");
const MSG2: &str = include_str!("data/msg2.txt");
const SIG2: &str = include_str!("data/msg2.sig.b64");

/// The base64 body of a PEM, as consoles hand keys out.
fn bare(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

#[test]
fn signatures_equal_openssl_byte_for_byte() {
    let key = RsaPrivateKey::from_pem_or_base64(KEY_PKCS8).unwrap();
    assert_eq!(
        key.sign_sha256_base64(MSG1.as_bytes()).unwrap(),
        SIG1.trim()
    );
    assert_eq!(
        key.sign_sha256_base64(MSG2.as_bytes()).unwrap(),
        SIG2.trim()
    );
}

#[test]
fn openssl_signatures_verify_and_altered_ones_do_not() {
    let key = RsaPublicKey::from_pem_or_base64(PUB_SPKI).unwrap();
    key.verify_sha256_base64(MSG1.as_bytes(), SIG1).unwrap();
    key.verify_sha256_base64(MSG2.as_bytes(), SIG2).unwrap();
    assert_eq!(
        key.verify_sha256_base64(MSG2.as_bytes(), SIG1).unwrap_err(),
        CryptoError::BadSignature { what: "RSA-SHA256" }
    );
    assert!(key.verify_sha256_base64(b"hello nkpaY", SIG1).is_err());
    assert_eq!(
        key.verify_sha256_base64(MSG1.as_bytes(), "not base64!")
            .unwrap_err(),
        CryptoError::Base64 { what: "signature" }
    );
}

#[test]
fn every_private_key_format_is_the_same_key() {
    let expected = RsaPublicKey::from_pem_or_base64(PUB_SPKI).unwrap();
    for text in [
        KEY_PKCS8.to_string(),
        KEY_PKCS1.to_string(),
        bare(KEY_PKCS8),
        bare(KEY_PKCS1),
        KEY_PKCS8.replace('\n', "\r\n"),
        format!("  {KEY_PKCS8}\n\n"),
    ] {
        let key = RsaPrivateKey::from_pem_or_base64(&text).unwrap();
        assert_eq!(key.public_key(), expected);
        assert_eq!(
            key.sign_sha256_base64(MSG1.as_bytes()).unwrap(),
            SIG1.trim()
        );
    }
}

#[test]
fn every_public_key_format_is_the_same_key() {
    let expected = RsaPublicKey::from_pem_or_base64(PUB_SPKI).unwrap();
    for text in [PUB_PKCS1.to_string(), bare(PUB_SPKI), bare(PUB_PKCS1)] {
        assert_eq!(RsaPublicKey::from_pem_or_base64(&text).unwrap(), expected);
    }
    assert_eq!(expected.bits(), 2048);
}

#[test]
fn exported_keys_import_back_unchanged() {
    let key = RsaPrivateKey::from_pem_or_base64(KEY_PKCS1).unwrap();
    let pem = key.to_pkcs8_pem();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(pem.lines().all(|l| l.len() <= 64));
    let again = RsaPrivateKey::from_pem_or_base64(&pem).unwrap();
    assert_eq!(
        again.sign_sha256_base64(MSG1.as_bytes()).unwrap(),
        SIG1.trim()
    );
    assert_eq!(
        RsaPrivateKey::from_pem_or_base64(&key.to_pkcs8_base64())
            .unwrap()
            .public_key(),
        key.public_key()
    );
    let public = key.public_key();
    assert_eq!(
        RsaPublicKey::from_pem_or_base64(&public.to_spki_pem()).unwrap(),
        public
    );
    assert_eq!(public.to_spki_base64(), bare(PUB_SPKI));
}

#[test]
fn generated_key_signs_and_its_public_key_verifies() {
    let key = RsaPrivateKey::generate_2048().unwrap();
    assert_eq!(key.bits(), 2048);
    let sig = key.sign_sha256(b"x").unwrap();
    assert_eq!(sig.len(), 256);
    key.public_key().verify_sha256(b"x", &sig).unwrap();
    let other = RsaPrivateKey::generate_2048().unwrap();
    assert!(other.public_key().verify_sha256(b"x", &sig).is_err());
}

#[test]
fn private_key_debug_shows_no_key_material() {
    let key = RsaPrivateKey::from_pem_or_base64(KEY_PKCS8).unwrap();
    let shown = format!("{key:?}");
    assert_eq!(shown, "RsaPrivateKey(2048 bits, ***)");
}

#[test]
fn short_keys_are_refused_with_their_size() {
    let err = RsaPrivateKey::from_pem_or_base64(KEY_1024).unwrap_err();
    assert_eq!(
        err,
        CryptoError::KeySize {
            what: "private key",
            bits: 1024
        }
    );
    assert!(err.to_string().contains("2048"));
}

#[test]
fn ec_key_is_refused_as_not_rsa() {
    let err = RsaPrivateKey::from_pem_or_base64(KEY_EC).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("not an RSA key"), "{msg}");
    assert!(msg.contains("1.2.840.10045.2.1"), "{msg}");
    assert!(RsaPrivateKey::from_pem_or_base64(&bare(KEY_EC)).is_err());
}

#[test]
fn wrong_pem_labels_are_refused_naming_the_label() {
    let cert_like = KEY_PKCS8.replace("PRIVATE KEY", "CERTIFICATE");
    let msg = RsaPrivateKey::from_pem_or_base64(&cert_like)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("\"CERTIFICATE\""), "{msg}");
    // A private key is not a public key, and the other way round.
    assert!(RsaPublicKey::from_pem_or_base64(KEY_PKCS8).is_err());
    assert!(RsaPrivateKey::from_pem_or_base64(PUB_SPKI).is_err());
    assert!(RsaPublicKey::from_pem_or_base64(&bare(KEY_PKCS8)).is_err());
}

#[test]
fn encrypted_and_broken_pem_are_refused() {
    let encrypted = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
    let msg = RsaPrivateKey::from_pem_or_base64(encrypted)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("encrypted"), "{msg}");
    let truncated = &KEY_PKCS8[..KEY_PKCS8.len() - 30];
    assert!(RsaPrivateKey::from_pem_or_base64(truncated).is_err());
    assert!(RsaPrivateKey::from_pem_or_base64("").is_err());
    assert!(RsaPrivateKey::from_pem_or_base64("aGVsbG8=").is_err());
    assert!(RsaPublicKey::from_pem_or_base64("%%%").is_err());
}
