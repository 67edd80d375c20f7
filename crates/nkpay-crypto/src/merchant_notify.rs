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
