//! RSA keys as configured by people: PEM or bare base64 DER, PKCS#8 or PKCS#1, private or public.
//! The `rsa` crate parses and converts; aws-lc-rs signs and verifies (faster, constant-time).
//! Keys must be 2048 to 4096 bits: shorter ones are too weak, longer ones the `rsa` crate refuses.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::der::zeroize::Zeroizing;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;

use crate::error::{CryptoError, Result};

const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 4096;

/// A private key ready to sign. Cheap to clone; `Debug` shows only the modulus size.
#[derive(Clone)]
pub struct RsaPrivateKey {
    inner: Arc<PrivateInner>,
}

struct PrivateInner {
    key_pair: RsaKeyPair,
    pkcs8_der: Zeroizing<Vec<u8>>,
    public: RsaPublicKey,
}

/// A public key ready to verify.
#[derive(Clone)]
pub struct RsaPublicKey {
    spki_der: Arc<[u8]>,
    parsed: ParsedPublicKey,
    bits: usize,
}

impl RsaPrivateKey {
    /// Accepts `-----BEGIN PRIVATE KEY-----` (PKCS#8), `-----BEGIN RSA PRIVATE KEY-----`
    /// (PKCS#1), or either DER as bare base64 (the form Alipay's and Dougong's consoles hand out).
    pub fn from_pem_or_base64(text: &str) -> Result<RsaPrivateKey> {
        const WHAT: &str = "private key";
        let (label, der) = decode_pem_or_base64(text, WHAT)?;
        let der = Zeroizing::new(der);
        let key = match label.as_deref() {
            Some("PRIVATE KEY") => {
                rsa::RsaPrivateKey::from_pkcs8_der(&der).map_err(|e| pkcs8_error(&der, WHAT, e))?
            }
            Some("RSA PRIVATE KEY") => rsa::RsaPrivateKey::from_pkcs1_der(&der)
                .map_err(|e| key_error(WHAT, format!("invalid PKCS#1 RSA private key: {e}")))?,
            Some(other) => return Err(wrong_label(WHAT, other, "PRIVATE KEY or RSA PRIVATE KEY")),
            None => match rsa::RsaPrivateKey::from_pkcs8_der(&der) {
                Ok(k) => k,
                Err(e8) => rsa::RsaPrivateKey::from_pkcs1_der(&der)
                    .map_err(|_| pkcs8_error(&der, WHAT, e8))?,
            },
        };
        Self::from_rsa(&key)
    }

    /// A fresh 2048-bit key (platform keys, merchant onboarding, tests).
    pub fn generate_2048() -> Result<RsaPrivateKey> {
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
            .map_err(|_| CryptoError::Sign("RSA key generation failed"))?;
        Self::from_rsa(&key)
    }

    fn from_rsa(key: &rsa::RsaPrivateKey) -> Result<RsaPrivateKey> {
        const WHAT: &str = "private key";
        check_bits(key.n().bits(), WHAT)?;
        let pkcs8 = key
            .to_pkcs8_der()
            .map_err(|e| key_error(WHAT, format!("cannot encode as PKCS#8: {e}")))?;
        let pkcs8_der = Zeroizing::new(pkcs8.as_bytes().to_vec());
        let key_pair = RsaKeyPair::from_pkcs8(&pkcs8_der)
            .map_err(|e| key_error(WHAT, format!("rejected by aws-lc: {e}")))?;
        let public = RsaPublicKey::from_rsa(&key.to_public_key(), "public key")?;
        Ok(RsaPrivateKey {
            inner: Arc::new(PrivateInner {
                key_pair,
                pkcs8_der,
                public,
            }),
        })
    }

    /// The key as `-----BEGIN PRIVATE KEY-----` PEM (PKCS#8), for storing (sealed) or handing
    /// to a merchant once.
    pub fn to_pkcs8_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.inner.pkcs8_der)
    }

    /// The PKCS#8 DER as bare base64, the one-line form the Dougong and Alipay consoles use.
    pub fn to_pkcs8_base64(&self) -> String {
        STANDARD.encode(&*self.inner.pkcs8_der)
    }

    /// The matching public key.
    pub fn public_key(&self) -> RsaPublicKey {
        self.inner.public.clone()
    }

    /// The modulus size in bits (2048 to 4096).
    pub fn bits(&self) -> usize {
        self.inner.public.bits
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 (deterministic: same key and message, same bytes).
    pub fn sign_sha256(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let kp = &self.inner.key_pair;
        let mut sig = vec![0u8; kp.public_modulus_len()];
        kp.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig)
            .map_err(|_| CryptoError::Sign("RSA-SHA256 signing failed"))?;
        Ok(sig)
    }

    /// [`Self::sign_sha256`] as standard base64: the `sign` of the merchant envelope, of
    /// merchant notifications and of Alipay RSA2 requests.
    pub fn sign_sha256_base64(&self, msg: &[u8]) -> Result<String> {
        self.sign_sha256(msg).map(|s| STANDARD.encode(s))
    }
}

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaPrivateKey({} bits, ***)", self.bits())
    }
}

impl RsaPublicKey {
    /// Accepts `-----BEGIN PUBLIC KEY-----` (SPKI), `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1),
    /// or either DER as bare base64.
    pub fn from_pem_or_base64(text: &str) -> Result<RsaPublicKey> {
        const WHAT: &str = "public key";
        let (label, der) = decode_pem_or_base64(text, WHAT)?;
        let key = match label.as_deref() {
            Some("PUBLIC KEY") => rsa::RsaPublicKey::from_public_key_der(&der)
                .map_err(|e| key_error(WHAT, format!("not an RSA SubjectPublicKeyInfo: {e}")))?,
            Some("RSA PUBLIC KEY") => rsa::RsaPublicKey::from_pkcs1_der(&der)
                .map_err(|e| key_error(WHAT, format!("invalid PKCS#1 RSA public key: {e}")))?,
            Some(other) => return Err(wrong_label(WHAT, other, "PUBLIC KEY or RSA PUBLIC KEY")),
            None => match rsa::RsaPublicKey::from_public_key_der(&der) {
                Ok(k) => k,
                Err(e) => rsa::RsaPublicKey::from_pkcs1_der(&der).map_err(|_| {
                    key_error(
                        WHAT,
                        format!("neither an RSA SubjectPublicKeyInfo nor PKCS#1 DER ({e})"),
                    )
                })?,
            },
        };
        Self::from_rsa(&key, WHAT)
    }

    fn from_rsa(key: &rsa::RsaPublicKey, what: &'static str) -> Result<RsaPublicKey> {
        let bits = key.n().bits();
        check_bits(bits, what)?;
        let spki = key
            .to_public_key_der()
            .map_err(|e| key_error(what, format!("cannot encode as SPKI: {e}")))?;
        let pkcs1 = key
            .to_pkcs1_der()
            .map_err(|e| key_error(what, format!("cannot encode as PKCS#1: {e}")))?;
        let parsed = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pkcs1.as_bytes())
            .map_err(|e| key_error(what, format!("rejected by aws-lc: {e}")))?;
        Ok(RsaPublicKey {
            spki_der: Arc::from(spki.as_bytes()),
            parsed,
            bits,
        })
    }

    /// The key as `-----BEGIN PUBLIC KEY-----` PEM (SubjectPublicKeyInfo).
    pub fn to_spki_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki_der)
    }

    /// The SPKI DER as bare base64, the one-line form the consoles use.
    pub fn to_spki_base64(&self) -> String {
        STANDARD.encode(&*self.spki_der)
    }

    /// The modulus size in bits (2048 to 4096).
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The key's fingerprint: lower-case hex SHA-256 of its SubjectPublicKeyInfo DER (64
    /// characters); the same whichever form (PEM or base64, SPKI or PKCS#1) the key came in.
    pub fn sha256_fingerprint(&self) -> String {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&*self.spki_der))
    }

    /// Checks an RSASSA-PKCS1-v1_5 SHA-256 signature (raw bytes) over `msg`.
    ///
    /// Errors: [`CryptoError::BadSignature`].
    pub fn verify_sha256(&self, msg: &[u8], sig: &[u8]) -> Result<()> {
        self.parsed
            .verify_sig(msg, sig)
            .map_err(|_| CryptoError::BadSignature { what: "RSA-SHA256" })
    }

    /// [`Self::verify_sha256`] with the signature in standard base64. Surrounding whitespace in
    /// the signature is tolerated (form fields often carry a newline).
    ///
    /// Errors: [`CryptoError::Base64`], [`CryptoError::BadSignature`].
    pub fn verify_sha256_base64(&self, msg: &[u8], sig_b64: &str) -> Result<()> {
        let sig = STANDARD
            .decode(sig_b64.trim())
            .map_err(|_| CryptoError::Base64 { what: "signature" })?;
        self.verify_sha256(msg, &sig)
    }
}

impl PartialEq for RsaPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}
impl Eq for RsaPublicKey {}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaPublicKey({} bits)", self.bits)
    }
}

fn check_bits(bits: usize, what: &'static str) -> Result<()> {
    if (MIN_BITS..=MAX_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(CryptoError::KeySize { what, bits })
    }
}

fn key_error(what: &'static str, reason: String) -> CryptoError {
    CryptoError::Key { what, reason }
}

fn wrong_label(what: &'static str, found: &str, expected: &str) -> CryptoError {
    key_error(
        what,
        format!("PEM label \"{found}\" is not supported; expected {expected}"),
    )
}

/// For a PKCS#8 that did not parse as RSA, say which algorithm it holds if we can tell.
fn pkcs8_error(der: &[u8], what: &'static str, e: rsa::pkcs8::Error) -> CryptoError {
    match rsa::pkcs8::PrivateKeyInfo::try_from(der) {
        Ok(info) if info.algorithm.oid != rsa::pkcs1::ALGORITHM_OID => key_error(
            what,
            format!(
                "not an RSA key (PKCS#8 algorithm {}); an RSA key is required",
                info.algorithm.oid
            ),
        ),
        _ => key_error(
            what,
            format!("neither an RSA PKCS#8 nor a PKCS#1 private key ({e})"),
        ),
    }
}

/// Returns the PEM label (None for bare base64) and the DER bytes.
fn decode_pem_or_base64(text: &str, what: &'static str) -> Result<(Option<String>, Vec<u8>)> {
    let text = text.trim();
    if text.is_empty() {
        return Err(key_error(what, "empty".to_owned()));
    }
    let Some(after_begin) = text.strip_prefix("-----BEGIN ") else {
        let der = base64_body(text).ok_or_else(|| {
            key_error(
                what,
                "neither PEM nor base64 DER (expected -----BEGIN ...----- or base64)".to_owned(),
            )
        })?;
        return Ok((None, der));
    };
    let bad_pem = |reason: &str| key_error(what, format!("malformed PEM: {reason}"));
    let (label, rest) = after_begin
        .split_once("-----")
        .ok_or_else(|| bad_pem("unterminated BEGIN line"))?;
    let end_marker = format!("-----END {label}-----");
    let (body, tail) = rest
        .split_once(&end_marker)
        .ok_or_else(|| bad_pem("no matching END line"))?;
    if !tail.trim().is_empty() {
        return Err(bad_pem("text after the END line"));
    }
    if body.contains(':') {
        return Err(key_error(
            what,
            "encrypted PEM (with headers) is not supported; export the key unencrypted".to_owned(),
        ));
    }
    let der = base64_body(body).ok_or_else(|| bad_pem("body is not base64"))?;
    Ok((Some(label.to_owned()), der))
}

/// Base64 with line breaks and spaces ignored, as keys get pasted.
fn base64_body(s: &str) -> Option<Vec<u8>> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    STANDARD.decode(compact).ok().filter(|d| !d.is_empty())
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = Zeroizing::new(STANDARD.encode(der));
    let mut out = format!("-----BEGIN {label}-----\n");
    // Base64 output is ASCII, so 64-byte chunks are valid UTF-8.
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
