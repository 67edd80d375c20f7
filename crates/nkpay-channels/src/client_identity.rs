//! The client certificate WeChat requires for `secapi` calls (mutual TLS), from PEM or PKCS#12
//! (`apiclient_cert.p12`, password = the merchant number by default). rustls takes PEM, so a
//! PKCS#12 bundle is unpacked in pure Rust and re-encoded.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use nkpay_core::secret::Secret;

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

impl ClientIdentity {
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
    let store = p12_keystore::KeyStore::from_pkcs12(der, password, Default::default())
        .map_err(|e| ChannelError::config("client_pkcs12", format!("cannot open: {e}")))?;
    let (_, chain) = store.private_key_chain().ok_or_else(|| {
        ChannelError::config("client_pkcs12", "holds no private key with a certificate")
    })?;
    if chain.certs().is_empty() {
        return Err(ChannelError::config(
            "client_pkcs12",
            "holds a private key without its certificate",
        ));
    }
    let mut pem = pem_block("PRIVATE KEY", chain.key().as_der());
    for cert in chain.certs() {
        pem.push_str(&pem_block("CERTIFICATE", cert.as_der()));
    }
    Ok(pem.into_bytes())
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

    #[test]
    fn pkcs12_bundle_becomes_a_pem_key_and_certificate() {
        let ck = self_signed();
        let key = PrivateKey::from_der(&ck.signing_key.serialize_der()).unwrap();
        let cert = Certificate::from_der(ck.cert.der()).unwrap();
        let mut store = KeyStore::new();
        store.add_entry(
            "apiclient",
            KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(b"1".to_vec(), key, [cert])),
        );
        let der = store.writer("10000100").write().unwrap();
        let identity = ClientIdentity::Pkcs12 {
            der: Secret::new(der),
            password: Secret::new("10000100".into()),
        };
        let pem = String::from_utf8(identity.to_pem().unwrap()).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(pem.contains(&pem_block("CERTIFICATE", ck.cert.der())));
        assert!(reqwest::Identity::from_pem(pem.as_bytes()).is_ok());
    }

    #[test]
    fn pkcs12_with_the_wrong_password_is_a_config_error() {
        let ck = self_signed();
        let key = PrivateKey::from_der(&ck.signing_key.serialize_der()).unwrap();
        let cert = Certificate::from_der(ck.cert.der()).unwrap();
        let mut store = KeyStore::new();
        store.add_entry(
            "a",
            KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(b"1".to_vec(), key, [cert])),
        );
        let der = store.writer("right").write().unwrap();
        let identity = ClientIdentity::Pkcs12 {
            der: Secret::new(der),
            password: Secret::new("wrong".into()),
        };
        let err = identity.to_pem().unwrap_err();
        assert!(err.to_string().contains("client_pkcs12"), "{err}");
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
}
