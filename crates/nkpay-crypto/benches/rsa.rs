//! RSA-2048 PKCS#1 v1.5 SHA-256: aws-lc-rs (what we sign and verify with) against the pure-Rust
//! `rsa` crate (what we use for parsing and key generation), on the same fixed key and message.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer, Verifier};

const KEY: &str = include_str!("../tests/data/key-pkcs8.pem");
const PUB: &str = include_str!("../tests/data/pub-spki.pem");
const MSG: &[u8] = include_bytes!("../tests/data/msg2.txt");

fn rsa_2048(c: &mut Criterion) {
    let ours = RsaPrivateKey::from_pem_or_base64(KEY).expect("test key");
    let ours_pub = RsaPublicKey::from_pem_or_base64(PUB).expect("test key");
    let rc_sign: SigningKey<Sha256> =
        SigningKey::new(rsa::RsaPrivateKey::from_pkcs8_pem(KEY).expect("test key"));
    let rc_verify: VerifyingKey<Sha256> =
        VerifyingKey::new(rsa::RsaPublicKey::from_public_key_pem(PUB).expect("test key"));

    let sig = ours.sign_sha256(MSG).expect("sign");
    // Both libraries must produce the same bytes, or the comparison means nothing.
    assert_eq!(rc_sign.sign(MSG).to_vec(), sig);
    let rc_sig = Signature::try_from(sig.as_slice()).expect("signature");

    let mut g = c.benchmark_group("rsa2048_sha256");
    g.bench_function("sign/aws-lc-rs", |b| {
        b.iter(|| ours.sign_sha256(black_box(MSG)))
    });
    g.bench_function("sign/rsa-crate", |b| {
        b.iter(|| rc_sign.sign(black_box(MSG)))
    });
    g.bench_function("verify/aws-lc-rs", |b| {
        b.iter(|| ours_pub.verify_sha256(black_box(MSG), black_box(&sig)))
    });
    g.bench_function("verify/rsa-crate", |b| {
        b.iter(|| rc_verify.verify(black_box(MSG), black_box(&rc_sig)))
    });
    g.finish();
}

criterion_group!(benches, rsa_2048);
criterion_main!(benches);
