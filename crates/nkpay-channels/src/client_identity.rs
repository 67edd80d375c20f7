//! The client certificate WeChat requires for `secapi` calls (mutual TLS), from PEM or PKCS#12
//! (`apiclient_cert.p12`, password = the merchant number by default). rustls takes PEM, so a
//! PKCS#12 bundle is unpacked in pure Rust (`p12-keystore`, no OpenSSL) and re-encoded.
//!
//! [`ClientIdentity::checked`] is what an operator's upload goes through: the bundle opened,
//! the certificate parsed (`x509-parser`), the private key proven to be the certificate's
//! (its public key compared with the certificate's `SubjectPublicKeyInfo`, rustls' key loader),
//! and the validity period read, so the caller can refuse an expired certificate and show
//! when it expires.

use std::io::BufReader;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use nkpay_core::secret::Secret;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::ChannelError;

/// The service provider's API client certificate (`apiclient_cert`) with its private key.
#[derive(Debug, Clone)]
pub enum ClientIdentity {
    /// `apiclient_cert.pem` and `apiclient_key.pem` contents.
    Pem {
        /// The certificate (chain), PEM `CERTIFICATE` blocks.
        cert_pem: String,
        /// The private key, a PEM `PRIVATE KEY` block; a secret.
        key_pem: Secret<String>,
    },
    /// `apiclient_cert.p12` bytes and its password.
    Pkcs12 {
        /// The PKCS#12 file's bytes; a secret.
        der: Secret<Vec<u8>>,
        /// Its password (WeChat sets the merchant number); a secret.
        password: Secret<String>,
    },
}

/// What a client certificate says about itself (the first, end-entity certificate of the
/// chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// `notBefore`, UTC.
    pub not_before: DateTime<Utc>,
    /// `notAfter`, UTC: after this instant WeChat refuses the certificate.
    pub not_after: DateTime<Utc>,
    /// The subject, RFC 4514 text (WeChat puts the merchant number in `CN`).
    pub subject: String,
    /// The serial number, lower-case hex.
    pub serial_hex: String,
}

/// A client identity that opened and whose key is the certificate's: the PEM pair to store
/// and what the certificate says.
#[derive(Debug, Clone)]
pub struct CheckedIdentity {
    /// The certificate chain, PEM `CERTIFICATE` blocks, end-entity first.
    pub cert_pem: String,
    /// The private key, one PEM block; a secret.
    pub key_pem: Secret<String>,
    /// The end-entity certificate's validity and names.
    pub facts: CertificateFacts,
}

impl ClientIdentity {
    /// A PKCS#12 identity from its base64 text (standard alphabet, padding and whitespace
    /// allowed, as an operator pastes `base64 apiclient_cert.p12`).
    /// [`ChannelError::Config`] naming `client_cert_p12` when it is not base64.
    pub fn pkcs12_from_base64(
        base64_text: &str,
        password: Secret<String>,
    ) -> Result<ClientIdentity, ChannelError> {
        let compact: String = base64_text.split_whitespace().collect();
        let der = STANDARD
            .decode(compact.as_bytes())
            .map_err(|e| ChannelError::config("client_cert_p12", format!("must be base64: {e}")))?;
        Ok(ClientIdentity::Pkcs12 {
            der: Secret::new(der),
            password,
        })
    }

    /// Opens the identity (a PKCS#12 bundle with its password), checks that the first
    /// certificate parses and that the private key belongs to it, and hands back the PEM pair
    /// with the certificate's [`CertificateFacts`]. Does not judge the validity period (the
    /// caller compares `not_after` with its clock). [`ChannelError::Config`] naming the field
    /// at fault: `client_cert_pem` / `client_key_pem` for a PEM pair, `client_cert_p12` /
    /// `client_cert_p12_password` for a bundle.
    pub fn checked(&self) -> Result<CheckedIdentity, ChannelError> {
        let (cert_field, key_field, cert_pem, key_pem) = match self {
            ClientIdentity::Pem { cert_pem, key_pem } => (
                "client_cert_pem",
                "client_key_pem",
                cert_pem.clone(),
                key_pem.clone(),
            ),
            ClientIdentity::Pkcs12 { der, password } => {
                let (cert_pem, key_pem) = pkcs12_to_pem_pair(der.expose(), password.expose())?;
                ("client_cert_p12", "client_cert_p12", cert_pem, key_pem)
            }
        };
        let chain = read_certs(cert_field, &cert_pem)?;
        let Some(leaf) = chain.first() else {
            return Err(ChannelError::config(
                cert_field,
                "holds no PEM CERTIFICATE block",
            ));
        };
        let key = read_key(key_field, key_pem.expose())?;
        let facts = key_matches(cert_field, key_field, leaf, key)?;
        Ok(CheckedIdentity {
            cert_pem,
            key_pem,
            facts,
        })
    }

    /// Key and certificate chain as one PEM buffer, as `reqwest::Identity::from_pem` takes it.
    pub(crate) fn to_pem(&self) -> Result<Vec<u8>, ChannelError> {
        match self {
            ClientIdentity::Pem { cert_pem, key_pem } => {
                if !cert_pem.contains("-----BEGIN CERTIFICATE-----") {
                    return Err(ChannelError::config(
                        "client_cert_pem",
                        "holds no PEM CERTIFICATE block",
                    ));
                }
                if !key_pem.expose().contains("PRIVATE KEY-----") {
                    return Err(ChannelError::config(
                        "client_key_pem",
                        "holds no PEM PRIVATE KEY block",
                    ));
                }
                let mut pem = key_pem.expose().trim_end().to_owned();
                pem.push('\n');
                pem.push_str(cert_pem.trim_end());
                pem.push('\n');
                Ok(pem.into_bytes())
            }
            ClientIdentity::Pkcs12 { der, password } => {
                pkcs12_to_pem(der.expose(), password.expose())
            }
        }
    }
}

fn pkcs12_to_pem(der: &[u8], password: &str) -> Result<Vec<u8>, ChannelError> {
    let (cert_pem, key_pem) = pkcs12_to_pem_pair(der, password)?;
    let mut pem = key_pem.expose().clone();
    pem.push_str(&cert_pem);
    Ok(pem.into_bytes())
}

/// A PKCS#12 bundle (`apiclient_cert.p12`) as the PEM pair: the certificate chain (end-entity
/// first) and the PKCS#8 private key. [`ChannelError::Config`] naming
/// `client_cert_p12_password` when the password does not open it (the bundle's MAC fails),
/// `client_cert_p12` for anything else (not PKCS#12, no key with its certificate).
pub fn pkcs12_to_pem_pair(
    der: &[u8],
    password: &str,
) -> Result<(String, Secret<String>), ChannelError> {
    let store = p12_keystore::KeyStore::from_pkcs12(der, password, Default::default()).map_err(
        |e| match e {
            p12_keystore::error::Error::MacError(_) => ChannelError::config(
                "client_cert_p12_password",
                "does not open the PKCS#12 bundle (its integrity check fails)",
            ),
            other => ChannelError::config(
                "client_cert_p12",
                format!("cannot be opened as PKCS#12: {other}"),
            ),
        },
    )?;
    let (_, chain) = store.private_key_chain().ok_or_else(|| {
        ChannelError::config("client_cert_p12", "holds no private key with a certificate")
    })?;
    if chain.certs().is_empty() {
        return Err(ChannelError::config(
            "client_cert_p12",
            "holds a private key without its certificate",
        ));
    }
    let key_pem = Secret::new(pem_block("PRIVATE KEY", chain.key().as_der()));
    let cert_pem = chain
        .certs()
        .iter()
        .map(|cert| pem_block("CERTIFICATE", cert.as_der()))
        .collect();
    Ok((cert_pem, key_pem))
}

/// The `CERTIFICATE` blocks of `pem`, in order.
fn read_certs(
    field: &'static str,
    pem: &str,
) -> Result<Vec<CertificateDer<'static>>, ChannelError> {
    rustls_pemfile::certs(&mut BufReader::new(pem.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ChannelError::config(field, format!("is not readable PEM: {e}")))
}

/// The one private key of `pem` (PKCS#8, PKCS#1 RSA or SEC1 EC).
fn read_key(field: &'static str, pem: &str) -> Result<PrivateKeyDer<'static>, ChannelError> {
    rustls_pemfile::private_key(&mut BufReader::new(pem.as_bytes()))
        .map_err(|e| ChannelError::config(field, format!("is not readable PEM: {e}")))?
        .ok_or_else(|| ChannelError::config(field, "holds no PEM PRIVATE KEY block"))
}

/// The certificate's facts, once `key` is proven to be its private key.
fn key_matches(
    cert_field: &'static str,
    key_field: &'static str,
    leaf: &CertificateDer<'_>,
    key: PrivateKeyDer<'static>,
) -> Result<CertificateFacts, ChannelError> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|e| {
        ChannelError::config(cert_field, format!("is not an X.509 certificate: {e}"))
    })?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing_key = provider.key_provider.load_private_key(key).map_err(|e| {
        ChannelError::config(key_field, format!("is not a usable private key: {e}"))
    })?;
    let public = signing_key.public_key().ok_or_else(|| {
        ChannelError::config(
            key_field,
            "is of a kind whose public key cannot be compared with the certificate's",
        )
    })?;
    if public.as_ref() != cert.public_key().raw {
        return Err(ChannelError::config(
            key_field,
            "is not the private key of the certificate (their public keys differ)",
        ));
    }
    let time = |t: x509_parser::time::ASN1Time, what: &str| {
        DateTime::from_timestamp(t.timestamp(), 0)
            .ok_or_else(|| ChannelError::config(cert_field, format!("has an unreadable {what}")))
    };
    Ok(CertificateFacts {
        not_before: time(cert.validity().not_before, "notBefore")?,
        not_after: time(cert.validity().not_after, "notAfter")?,
        subject: cert.subject().to_string(),
        serial_hex: cert.raw_serial_as_string().replace(':', ""),
    })
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    // Base64 is ASCII, so splitting its bytes at 64 keeps every line valid UTF-8.
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};

    fn self_signed() -> rcgen::CertifiedKey<rcgen::KeyPair> {
        rcgen::generate_simple_self_signed(vec!["apiclient".to_string()]).unwrap()
    }

    /// `cert` with `key` as a PKCS#12 identity sealed with `password`, opened with `given`.
    fn bundle(
        cert: &rcgen::Certificate,
        key: &rcgen::KeyPair,
        password: &str,
        given: &str,
    ) -> ClientIdentity {
        let entry = PrivateKeyChain::new(
            b"1".to_vec(),
            PrivateKey::from_der(&key.serialize_der()).unwrap(),
            [Certificate::from_der(cert.der()).unwrap()],
        );
        let mut store = KeyStore::new();
        store.add_entry("apiclient", KeyStoreEntry::PrivateKeyChain(entry));
        ClientIdentity::Pkcs12 {
            der: Secret::new(store.writer(password).write().unwrap()),
            password: Secret::new(given.into()),
        }
    }

    #[test]
    fn pkcs12_bundle_becomes_a_pem_key_and_certificate() {
        let ck = self_signed();
        let identity = bundle(&ck.cert, &ck.signing_key, "10000100", "10000100");
        let pem = String::from_utf8(identity.to_pem().unwrap()).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(pem.contains(&pem_block("CERTIFICATE", ck.cert.der())));
        assert!(reqwest::Identity::from_pem(pem.as_bytes()).is_ok());
    }

    #[test]
    fn pkcs12_with_the_wrong_password_is_a_config_error() {
        let ck = self_signed();
        let err = bundle(&ck.cert, &ck.signing_key, "right", "wrong")
            .to_pem()
            .unwrap_err();
        assert!(
            err.to_string().contains("client_cert_p12_password"),
            "{err}"
        );
    }

    #[test]
    fn pem_identity_without_a_key_block_is_refused() {
        let ck = self_signed();
        let identity = ClientIdentity::Pem {
            cert_pem: ck.cert.pem(),
            key_pem: Secret::new("not a key".into()),
        };
        assert!(
            identity
                .to_pem()
                .unwrap_err()
                .to_string()
                .contains("client_key_pem")
        );
    }

    fn certified(not_after: (i32, u8, u8)) -> (rcgen::Certificate, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["apiclient".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        (params.self_signed(&key).unwrap(), key)
    }

    /// The field a refused identity names.
    fn refused_field(identity: ClientIdentity) -> &'static str {
        match identity.checked() {
            Err(ChannelError::Config { field, .. }) => field,
            other => panic!("not refused as configuration: {other:?}"),
        }
    }

    #[test]
    fn a_pem_pair_is_checked_and_its_validity_read() {
        let (cert, key) = certified((2031, 6, 30));
        let checked = ClientIdentity::Pem {
            cert_pem: cert.pem(),
            key_pem: Secret::new(key.serialize_pem()),
        }
        .checked()
        .unwrap();
        assert_eq!(
            checked.facts.not_after.to_rfc3339(),
            "2031-06-30T00:00:00+00:00"
        );
        assert_eq!(
            checked.facts.not_before.to_rfc3339(),
            "2020-01-01T00:00:00+00:00"
        );
        assert!(
            checked.facts.subject.contains("CN="),
            "{}",
            checked.facts.subject
        );
        assert_eq!(checked.cert_pem, cert.pem());
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_naming_the_key() {
        let (cert, _) = certified((2031, 6, 30));
        let other = rcgen::KeyPair::generate().unwrap();
        assert_eq!(
            refused_field(ClientIdentity::Pem {
                cert_pem: cert.pem(),
                key_pem: Secret::new(other.serialize_pem()),
            }),
            "client_key_pem"
        );
        assert_eq!(
            refused_field(ClientIdentity::Pem {
                cert_pem: "not a certificate".into(),
                key_pem: Secret::new(other.serialize_pem()),
            }),
            "client_cert_pem"
        );
    }

    #[test]
    fn a_pkcs12_bundle_is_checked_as_its_pem_pair() {
        let (cert, key) = certified((2030, 1, 2));
        let checked = bundle(&cert, &key, "1900000109", "1900000109")
            .checked()
            .unwrap();
        assert_eq!(
            checked.facts.not_after.to_rfc3339(),
            "2030-01-02T00:00:00+00:00"
        );
        assert_eq!(checked.cert_pem, pem_block("CERTIFICATE", cert.der()));
        assert_eq!(
            refused_field(ClientIdentity::Pkcs12 {
                der: Secret::new(b"not pkcs12".to_vec()),
                password: Secret::new("1900000109".into()),
            }),
            "client_cert_p12"
        );
    }
}
