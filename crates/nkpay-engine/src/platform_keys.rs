//! The platform's signing key: responses and notifications are signed with the active key and
//! carry its id (`X-Nkp-Key-Id`). A fresh database gets a new key on first start.

use chrono::Utc;
use nkpay_core::secret::Secret;
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use nkpay_crypto::sealed::SecretSealer;
use nkpay_store::Db;
use nkpay_store::platform_keys::{self, NewPlatformKey};

use crate::error::EngineError;

/// The active signing key, opened once at start and shared.
#[derive(Clone)]
pub struct PlatformSigner {
    key_id: String,
    key: RsaPrivateKey,
}

impl std::fmt::Debug for PlatformSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl PlatformSigner {
    /// The signer of `key`, announced as `key_id` (`X-Nkp-Key-Id`, API.md "Envelope and
    /// signature"), so a merchant can tell which public key verifies it.
    pub fn new(key_id: impl Into<String>, key: RsaPrivateKey) -> Self {
        PlatformSigner {
            key_id: key_id.into(),
            key,
        }
    }

    /// The key's id, sent as `X-Nkp-Key-Id` with every reply and notification.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The RSA-2048 key itself, for the api's signed replies.
    pub fn private_key(&self) -> &RsaPrivateKey {
        &self.key
    }

    /// The public half merchants verify replies and notifications with.
    pub fn public_key(&self) -> RsaPublicKey {
        self.key.public_key()
    }

    /// base64 RSA-SHA256 (PKCS#1 v1.5) of `message`: a notification's `sign` over its exact
    /// `resp_data` (API.md "Asynchronous notifications to merchants").
    pub(crate) fn sign_base64(&self, message: &[u8]) -> Result<String, EngineError> {
        Ok(self.key.sign_sha256_base64(message)?)
    }
}

/// Opens the active key, creating and storing one when the database has none. Fails with
/// [`EngineError::Store`] or [`EngineError::Crypto`] when the stored key cannot be read or
/// opened (a wrong sealing key in configuration, say).
pub async fn load_or_create(db: &Db, sealer: &SecretSealer) -> Result<PlatformSigner, EngineError> {
    if let Some(active) = platform_keys::active_key(db.conn()).await? {
        let pem = platform_keys::open_private_key(sealer, &active)?;
        let key = RsaPrivateKey::from_pem_or_base64(pem.expose())?;
        return Ok(PlatformSigner::new(active.key_id, key));
    }
    rotate(db, sealer).await
}

/// Makes a new key the active one; older keys stay listed as retired.
async fn rotate(db: &Db, sealer: &SecretSealer) -> Result<PlatformSigner, EngineError> {
    let key = RsaPrivateKey::generate_2048()?;
    let now = Utc::now();
    let key_id = format!("k{}", now.format("%Y%m%d%H%M%S%3f"));
    let new = NewPlatformKey {
        key_id: key_id.clone(),
        private_key: Secret::new(key.to_pkcs8_pem()),
        public_key: key.public_key().to_spki_pem(),
    };
    match platform_keys::rotate_to(db, sealer, &new, now).await {
        Ok(_) => Ok(PlatformSigner::new(key_id, key)),
        // Another node created the first key at the same moment: use the one that won.
        Err(nkpay_store::StoreError::Duplicate { .. }) => {
            let active = platform_keys::active_key(db.conn())
                .await?
                .ok_or_else(|| EngineError::Internal("no active platform key".into()))?;
            let pem = platform_keys::open_private_key(sealer, &active)?;
            Ok(PlatformSigner::new(
                active.key_id,
                RsaPrivateKey::from_pem_or_base64(pem.expose())?,
            ))
        }
        Err(e) => Err(e.into()),
    }
}
