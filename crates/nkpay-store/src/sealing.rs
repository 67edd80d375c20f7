//! Secrets at rest: what goes into a `*_sealed` column is `SecretSealer` output (AES-256-GCM
//! under the configured key), never the plaintext; what comes out is a `Secret` that does not
//! print.

use nkpay_core::secret::Secret;
use nkpay_crypto::sealed::SecretSealer;

use crate::error::StoreError;

/// Seals `plain` for storage; `what` names the secret in errors ("WeChat API key").
pub fn seal(
    sealer: &SecretSealer,
    what: &'static str,
    plain: &Secret<String>,
) -> Result<String, StoreError> {
    sealer
        .seal(plain.expose().as_bytes())
        .map_err(|source| StoreError::Sealing { what, source })
}

/// Seals an optional secret; `None` stays `None`.
pub fn seal_opt(
    sealer: &SecretSealer,
    what: &'static str,
    plain: Option<&Secret<String>>,
) -> Result<Option<String>, StoreError> {
    plain.map(|p| seal(sealer, what, p)).transpose()
}

/// Opens a sealed column value. Fails when the configured key is not the one that sealed it or
/// the value was altered.
pub fn open(
    sealer: &SecretSealer,
    what: &'static str,
    sealed: &str,
) -> Result<Secret<String>, StoreError> {
    let bytes = sealer
        .open(sealed)
        .map_err(|source| StoreError::Sealing { what, source })?;
    String::from_utf8(bytes)
        .map(Secret::new)
        .map_err(|_| StoreError::Corrupt {
            what,
            reason: "opened secret is not UTF-8".to_owned(),
        })
}

/// Opens an optional sealed column value.
pub fn open_opt(
    sealer: &SecretSealer,
    what: &'static str,
    sealed: Option<&str>,
) -> Result<Option<Secret<String>>, StoreError> {
    sealed.map(|s| open(sealer, what, s)).transpose()
}
