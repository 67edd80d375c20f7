//! The platform's signing keys on every node (issue 14, "Platform signing keys without
//! breaking anyone"). Merchants' SDKs (dg-sdk among them) verify every reply and notification
//! with one configured platform public key, so a rotation must never switch keys under a
//! caller: each caller (`sys_id`) is signed for with the key assigned to it
//! (`platform_key_assignments`) until it is switched, or until that key's announced retirement
//! date passes — then it moves to the newest key, lazily, the first time something is signed
//! for it. A caller seen for the first time gets the newest key; a message for no known caller
//! (a bad `sys_id`) is signed with the newest key.
//!
//! [`PlatformKeys`] is the key ring a node signs with: every usable key, reloaded from the
//! database at most every `platform_keys.refresh_secs` (and at once when a caller's key is one
//! the ring does not hold yet), so a rotation or a switch on one node reaches every node within
//! that interval. A fresh database gets its first key from [`load_or_create`]; two nodes
//! starting at once create exactly one (a unique partial index on the active key; the loser
//! reads the winner's).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use nkpay_core::secret::Secret;
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use nkpay_crypto::sealed::SecretSealer;
use nkpay_store::entity::platform_key;
use nkpay_store::kinds::KeyStatus;
use nkpay_store::platform_keys::{self, NewPlatformKey};
use nkpay_store::{Db, merchants};

use crate::error::EngineError;

/// How often, by default, a node reloads its key ring (`platform_keys.refresh_secs`).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(10);
/// The shortest allowed reload interval.
pub const MIN_REFRESH: Duration = Duration::from_secs(1);
/// The longest allowed reload interval: the longest a rotation or a switch takes to reach
/// every node.
pub const MAX_REFRESH: Duration = Duration::from_secs(300);

/// The most callers whose key a node remembers between reloads; past it the memory starts
/// over (it is only a cache of `platform_key_assignments`).
const MAX_REMEMBERED_CALLERS: usize = 100_000;

/// One signing key, opened: what signs a reply or a notification, and its id.
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

    /// The key's id, sent as `X-Nkp-Key-Id` with every reply and notification it signs.
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

/// The key ring of a node: every usable platform key, opened, and which one signs for each
/// caller. Cheap to clone; clones share the ring.
#[derive(Clone)]
pub struct PlatformKeys {
    inner: Arc<Inner>,
    refresh: Duration,
}

struct Inner {
    /// Where the ring reloads from; `None` for a fixed ring ([`PlatformKeys::fixed`]).
    store: Option<KeyStore>,
    ring: RwLock<Arc<Ring>>,
    /// Held while reloading, so one task reloads and the others sign on with the ring they have.
    reloading: tokio::sync::Mutex<()>,
    /// `sys_id` → its key id (`None`: not a caller), and when that was read.
    callers: Mutex<HashMap<String, (Option<String>, Instant)>>,
}

struct KeyStore {
    db: Db,
    sealer: Arc<SecretSealer>,
}

struct Ring {
    newest: PlatformSigner,
    /// Every usable key by id, with its retirement date (`None` for the active key).
    keys: HashMap<String, (PlatformSigner, Option<DateTime<Utc>>)>,
    loaded_at: Instant,
}

impl Ring {
    fn of(signer: PlatformSigner) -> Ring {
        Ring {
            keys: HashMap::from([(signer.key_id.clone(), (signer.clone(), None))]),
            newest: signer,
            loaded_at: Instant::now(),
        }
    }

    /// The key `key_id` when it may still sign at `now`.
    fn usable(&self, key_id: &str, now: DateTime<Utc>) -> Option<PlatformSigner> {
        self.keys
            .get(key_id)
            .filter(|(_, retire_at)| retire_at.is_none_or(|at| at > now))
            .map(|(signer, _)| signer.clone())
    }
}

impl std::fmt::Debug for PlatformKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformKeys")
            .field("newest", &self.newest().key_id)
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

impl From<PlatformSigner> for PlatformKeys {
    fn from(signer: PlatformSigner) -> PlatformKeys {
        PlatformKeys::fixed(signer)
    }
}

impl PlatformKeys {
    /// A ring of one key that signs for everyone and never reloads: for a process without the
    /// database's keys (the standalone notification node, tests).
    pub fn fixed(signer: PlatformSigner) -> PlatformKeys {
        PlatformKeys {
            inner: Arc::new(Inner {
                store: None,
                ring: RwLock::new(Arc::new(Ring::of(signer))),
                reloading: tokio::sync::Mutex::new(()),
                callers: Mutex::new(HashMap::new()),
            }),
            refresh: DEFAULT_REFRESH,
        }
    }

    /// The same ring, reloaded from the database at most every `refresh` (clamped to
    /// [`MIN_REFRESH`]..=[`MAX_REFRESH`]; configuration checks the range and names the key).
    pub fn with_refresh(mut self, refresh: Duration) -> PlatformKeys {
        self.refresh = refresh.clamp(MIN_REFRESH, MAX_REFRESH);
        self
    }

    /// How often the ring is reloaded at most.
    pub fn refresh(&self) -> Duration {
        self.refresh
    }

    /// The newest key as this node last loaded it: what new callers get.
    pub fn newest(&self) -> PlatformSigner {
        self.current().newest.clone()
    }

    /// The key that signs for the caller `sys_id`: its assigned key while that may sign; the
    /// newest one for a caller seen for the first time (assigned to it from then on), for a
    /// caller whose key's retirement date has passed (moved to it), and for `None` or a
    /// `sys_id` that is no caller. Reloads the ring when it is older than the refresh interval.
    /// Fails with [`EngineError::Store`] when the database cannot be read, or
    /// [`EngineError::Store`]/[`EngineError::Crypto`] when a stored key cannot be opened.
    pub async fn signer_for(&self, sys_id: Option<&str>) -> Result<PlatformSigner, EngineError> {
        let ring = self.fresh_ring().await;
        let (Some(store), Some(sys_id)) = (&self.inner.store, sys_id) else {
            return Ok(ring.newest.clone());
        };
        let key_id = match self.remembered(sys_id) {
            Some(known) => known,
            None => {
                let read = caller_key(store, sys_id).await?;
                self.remember(sys_id, read.clone());
                read
            }
        };
        let Some(key_id) = key_id else {
            return Ok(ring.newest.clone());
        };
        let now = Utc::now();
        if let Some(signer) = ring.usable(&key_id, now) {
            return Ok(signer);
        }
        // A key this ring does not hold yet (rotated or switched on another node), or one
        // whose retirement date has passed.
        let ring = self.reload(store).await?;
        if let Some(signer) = ring.usable(&key_id, now) {
            return Ok(signer);
        }
        let newest = ring.newest.key_id();
        if platform_keys::move_assignment(store.db.conn(), sys_id, &key_id, newest, now).await? {
            tracing::info!(
                sys_id,
                from = %key_id,
                to = newest,
                "caller moved to the newest platform key: its key's retirement date has passed"
            );
        }
        self.forget(sys_id);
        let now_assigned = platform_keys::assignment(store.db.conn(), sys_id)
            .await?
            .map(|a| a.key_id);
        Ok(now_assigned
            .and_then(|id| ring.usable(&id, now))
            .unwrap_or_else(|| ring.newest.clone()))
    }

    /// Reloads the ring now, whatever its age (after a rotation on this node, say).
    pub async fn reload_now(&self) -> Result<(), EngineError> {
        if let Some(store) = &self.inner.store {
            self.reload(store).await?;
            self.inner
                .callers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        }
        Ok(())
    }

    fn current(&self) -> Arc<Ring> {
        self.inner
            .ring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The ring, reloaded first when it is older than the interval and no other task is
    /// reloading it. A failed reload is logged and the ring kept until the next interval.
    async fn fresh_ring(&self) -> Arc<Ring> {
        let ring = self.current();
        let Some(store) = &self.inner.store else {
            return ring;
        };
        if ring.loaded_at.elapsed() < self.refresh {
            return ring;
        }
        let Ok(_reloading) = self.inner.reloading.try_lock() else {
            return ring;
        };
        match load_ring(store, Some(ring.as_ref())).await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                self.install(fresh.clone());
                fresh
            }
            Err(e) => {
                tracing::warn!(error = %e, "reloading the platform keys failed; signing with the keys held");
                let kept = Arc::new(Ring {
                    newest: ring.newest.clone(),
                    keys: ring.keys.clone(),
                    loaded_at: Instant::now(),
                });
                self.install(kept.clone());
                kept
            }
        }
    }

    async fn reload(&self, store: &KeyStore) -> Result<Arc<Ring>, EngineError> {
        let _reloading = self.inner.reloading.lock().await;
        let held = self.current();
        let fresh = Arc::new(load_ring(store, Some(held.as_ref())).await?);
        self.install(fresh.clone());
        Ok(fresh)
    }

    fn install(&self, ring: Arc<Ring>) {
        *self.inner.ring.write().unwrap_or_else(|e| e.into_inner()) = ring;
    }

    fn remembered(&self, sys_id: &str) -> Option<Option<String>> {
        let callers = self.inner.callers.lock().unwrap_or_else(|e| e.into_inner());
        callers
            .get(sys_id)
            .filter(|(_, at)| at.elapsed() < self.refresh)
            .map(|(key_id, _)| key_id.clone())
    }

    fn remember(&self, sys_id: &str, key_id: Option<String>) {
        let mut callers = self.inner.callers.lock().unwrap_or_else(|e| e.into_inner());
        if callers.len() >= MAX_REMEMBERED_CALLERS {
            callers.clear();
        }
        callers.insert(sys_id.to_owned(), (key_id, Instant::now()));
    }

    fn forget(&self, sys_id: &str) {
        self.inner
            .callers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(sys_id);
    }
}

/// The key id of the caller `sys_id`: its assignment, or for a caller without one the newest
/// key in the database (not the ring's, which may be a rotation behind), assigned to it now;
/// `None` when `sys_id` is no caller.
async fn caller_key(store: &KeyStore, sys_id: &str) -> Result<Option<String>, EngineError> {
    let conn = store.db.conn();
    if let Some(assigned) = platform_keys::assignment(conn, sys_id).await? {
        return Ok(Some(assigned.key_id));
    }
    if merchants::find_caller(conn, sys_id).await?.is_none() {
        return Ok(None);
    }
    let newest = platform_keys::active_key(conn)
        .await?
        .ok_or_else(|| EngineError::Internal("no active platform key in the database".into()))?;
    Ok(Some(
        platform_keys::assign_if_absent(conn, sys_id, &newest.key_id, Utc::now()).await?,
    ))
}

/// Reads the usable keys, opening only those `held` does not have yet; marks keys whose
/// retirement date passed as retired on the way (a conditional UPDATE any node may make).
async fn load_ring(store: &KeyStore, held: Option<&Ring>) -> Result<Ring, EngineError> {
    let now = Utc::now();
    let conn = store.db.conn();
    platform_keys::retire_due(conn, now).await?;
    let rows = platform_keys::usable_keys(conn, now).await?;
    let mut keys = HashMap::with_capacity(rows.len());
    let mut newest = None;
    for row in &rows {
        let signer = match held.and_then(|r| r.keys.get(&row.key_id)) {
            Some((signer, _)) => signer.clone(),
            None => open(&store.sealer, row)?,
        };
        let retire_at = match row.status {
            KeyStatus::Active => {
                newest.get_or_insert_with(|| signer.clone());
                None
            }
            _ => row.retired_at,
        };
        keys.insert(row.key_id.clone(), (signer, retire_at));
    }
    let newest = newest
        .ok_or_else(|| EngineError::Internal("no active platform key in the database".into()))?;
    Ok(Ring {
        newest,
        keys,
        loaded_at: Instant::now(),
    })
}

fn open(sealer: &SecretSealer, row: &platform_key::Model) -> Result<PlatformSigner, EngineError> {
    let pem = platform_keys::open_private_key(sealer, row)?;
    let key = RsaPrivateKey::from_pem_or_base64(pem.expose())?;
    Ok(PlatformSigner::new(row.key_id.clone(), key))
}

/// Opens the platform's keys, creating the first one when the database has none; reloaded
/// every [`DEFAULT_REFRESH`] unless [`PlatformKeys::with_refresh`] says otherwise. Two nodes
/// creating the first key at once make one: the loser reads the winner's. Fails with
/// [`EngineError::Store`] or [`EngineError::Crypto`] when a stored key cannot be read or opened
/// (a wrong sealing key in configuration, say).
pub async fn load_or_create(
    db: &Db,
    sealer: &Arc<SecretSealer>,
) -> Result<PlatformKeys, EngineError> {
    let store = KeyStore {
        db: db.clone(),
        sealer: sealer.clone(),
    };
    if platform_keys::active_key(db.conn()).await?.is_none() {
        let (new, _) = generate().await?;
        match platform_keys::create_first(db.conn(), sealer, &new, Utc::now()).await {
            Ok(_) => tracing::info!(key_id = %new.key_id, "first platform signing key created"),
            // Another node created the first key at the same moment: the ring reads the winner's.
            Err(e) if e.is_duplicate() => {}
            Err(e) => return Err(e.into()),
        }
    }
    let ring = load_ring(&store, None).await?;
    Ok(PlatformKeys {
        inner: Arc::new(Inner {
            store: Some(store),
            ring: RwLock::new(Arc::new(ring)),
            reloading: tokio::sync::Mutex::new(()),
            callers: Mutex::new(HashMap::new()),
        }),
        refresh: DEFAULT_REFRESH,
    })
}

/// A new RSA-2048 key pair with a fresh key id (`k` + UTC time to the millisecond + 4 random
/// hex digits), generated off the async threads.
pub(crate) async fn generate() -> Result<(NewPlatformKey, RsaPrivateKey), EngineError> {
    let key = tokio::task::spawn_blocking(RsaPrivateKey::generate_2048)
        .await
        .map_err(|e| EngineError::Internal(format!("key generation task failed: {e}")))??;
    let key_id = format!(
        "k{}{:04x}",
        Utc::now().format("%Y%m%d%H%M%S%3f"),
        rand::random::<u16>()
    );
    let new = NewPlatformKey {
        key_id,
        private_key: Secret::new(key.to_pkcs8_pem()),
        public_key: key.public_key().to_spki_pem(),
    };
    Ok((new, key))
}
