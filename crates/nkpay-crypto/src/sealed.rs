//! Secrets at rest (merchant API keys, private keys, Alipay tokens) sealed with AES-256-GCM under
//! a key from configuration. Output is base64(nonce ‖ ciphertext ‖ tag) with a random 96-bit
//! nonce per seal; anything altered fails to open.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::{CryptoError, Result};

const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const WHAT: &str = "sealed secret";

/// An AES-256-GCM key for sealing secrets at rest. `Debug` does not show the key.
pub struct SecretSealer {
    key: LessSafeKey,
}

impl SecretSealer {
    /// `key_b64`: base64 of exactly 32 random bytes (see `generate_key_base64`).
    pub fn from_key_base64(key_b64: &str) -> Result<SecretSealer> {
        let mut raw = STANDARD
            .decode(key_b64.trim())
            .map_err(|_| CryptoError::Base64 {
                what: "sealing key",
            })?;
        if raw.len() != KEY_LEN {
            raw.fill(0);
            return Err(CryptoError::Cipher {
                what: "sealing key",
                reason: "must be base64 of exactly 32 bytes",
            });
        }
        let unbound = UnboundKey::new(&AES_256_GCM, &raw);
        raw.fill(0);
        let unbound = unbound.map_err(|_| CryptoError::Cipher {
            what: "sealing key",
            reason: "rejected by AES-256-GCM",
        })?;
        Ok(SecretSealer {
            key: LessSafeKey::new(unbound),
        })
    }

    /// A new random key for configuration.
    pub fn generate_key_base64() -> String {
        let mut k = [0u8; KEY_LEN];
        // The system RNG failing means the OS cannot give randomness; no key is better than a
        // weak one, but this API returns String, so fall back to rand's OS generator.
        if SystemRandom::new().fill(&mut k).is_err() {
            use rand::RngCore;
            rand::rngs::OsRng.fill_bytes(&mut k);
        }
        let out = STANDARD.encode(k);
        k.fill(0);
        out
    }

    /// base64(nonce ‖ ciphertext ‖ tag) of `plain`, with a fresh random nonce.
    ///
    /// Errors: [`CryptoError::Cipher`] when the system has no randomness.
    pub fn seal(&self, plain: &[u8]) -> Result<String> {
        self.seal_bound(plain, b"")
    }

    /// The plaintext of what [`Self::seal`] produced under this key.
    ///
    /// Errors: [`CryptoError::Base64`], or [`CryptoError::Cipher`] when the value was altered,
    /// truncated or sealed under another key.
    pub fn open(&self, sealed_b64: &str) -> Result<Vec<u8>> {
        self.open_bound(sealed_b64, b"")
    }

    /// Seals with `context` (e.g. the owning row's id) as associated data, so a sealed value
    /// copied to another row does not open there.
    fn seal_bound(&self, plain: &[u8], context: &[u8]) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CryptoError::Cipher {
                what: WHAT,
                reason: "no randomness for the nonce",
            })?;
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut buf,
            )
            .map_err(|_| CryptoError::Cipher {
                what: WHAT,
                reason: "sealing failed",
            })?;
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(STANDARD.encode(out))
    }

    fn open_bound(&self, sealed_b64: &str, context: &[u8]) -> Result<Vec<u8>> {
        let raw = STANDARD
            .decode(sealed_b64.trim())
            .map_err(|_| CryptoError::Base64 { what: WHAT })?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Cipher {
                what: WHAT,
                reason: "too short to be sealed data",
            });
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Cipher {
            what: WHAT,
            reason: "bad nonce",
        })?;
        let mut buf = ct.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut buf)
            .map_err(|_| CryptoError::Cipher {
                what: WHAT,
                reason: "does not open: altered, or sealed under another key or context",
            })?;
        Ok(plain.to_vec())
    }
}

impl fmt::Debug for SecretSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretSealer(AES-256-GCM, ***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> SecretSealer {
        SecretSealer::from_key_base64(&SecretSealer::generate_key_base64()).unwrap()
    }

    #[test]
    fn sealed_secret_opens_to_the_same_bytes() {
        let s = sealer();
        let sealed = s.seal(b"192006250b4c09247ec02edce69f6a2d").unwrap();
        assert_eq!(
            s.open(&sealed).unwrap(),
            b"192006250b4c09247ec02edce69f6a2d"
        );
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let s = sealer();
        assert_ne!(s.seal(b"x").unwrap(), s.seal(b"x").unwrap());
    }

    #[test]
    fn tampered_ciphertext_does_not_open() {
        let s = sealer();
        let mut raw = STANDARD.decode(s.seal(b"secret").unwrap()).unwrap();
        for i in 0..raw.len() {
            raw[i] ^= 1;
            assert!(s.open(&STANDARD.encode(&raw)).is_err(), "byte {i}");
            raw[i] ^= 1;
        }
        assert!(s.open(&STANDARD.encode(&raw)).is_ok());
    }

    #[test]
    fn another_key_or_context_does_not_open() {
        let sealed = sealer().seal(b"secret").unwrap();
        assert!(sealer().open(&sealed).is_err());
        let s = sealer();
        let bound = s.seal_bound(b"secret", b"merchant:1").unwrap();
        assert!(s.open_bound(&bound, b"merchant:2").is_err());
        assert_eq!(s.open_bound(&bound, b"merchant:1").unwrap(), b"secret");
    }

    #[test]
    fn key_must_be_32_bytes_of_base64() {
        assert!(SecretSealer::from_key_base64("short").is_err());
        assert!(SecretSealer::from_key_base64(&STANDARD.encode([0u8; 16])).is_err());
        assert!(SecretSealer::from_key_base64(&STANDARD.encode([0u8; 32])).is_ok());
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", sealer()), "SecretSealer(AES-256-GCM, ***)");
    }
}
