//! Who is calling (`sys_id` + `product_id` → the key that verifies the request) and what it may
//! touch: a service provider only its own merchants, a merchant only itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use nkpay_core::resp_code::RespCode;
use nkpay_crypto::envelope::{self, SignedRequest};
use nkpay_crypto::rsa_keys::RsaPublicKey;
use nkpay_store::entity::merchant;
use nkpay_store::kinds::RecordStatus;
use nkpay_store::merchants::{self, Caller as StoredCaller};

use crate::engine::service;
use crate::error::EngineError;
use crate::ttl_cache::TtlCache;

/// Whose key signs a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    /// A service provider (agent) acting for the merchants it onboarded.
    ServiceProvider,
    /// A merchant calling for itself (`sys_id` = its `mer_id`).
    Merchant,
}

/// An identified caller: found by [`Callers::authenticate`], its `sign` proven with
/// `public_key` — or, within a key replacement's overlap window, `previous_key` — by
/// [`Callers::verify_caller`].
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's `sys_id`.
    pub sys_id: String,
    /// Service provider or merchant.
    pub kind: CallerKind,
    /// The registered RSA-2048 public key that verifies the caller's `sign`.
    pub public_key: RsaPublicKey,
    /// A service provider's replaced key while its overlap window is open (see
    /// [`crate::ServiceProviders::replace_key`]); `None` for merchants and outside an overlap.
    pub previous_key: Option<PreviousKey>,
}

/// A service provider's replaced key, still verifying its requests until `valid_until`.
#[derive(Debug, Clone)]
pub struct PreviousKey {
    /// The replaced public key.
    pub public_key: RsaPublicKey,
    /// When it stops verifying (UTC, exclusive): the replacement time plus the overlap.
    pub valid_until: DateTime<Utc>,
}

impl Caller {
    /// Whether `request.sign` verifies with the current key, or at `now` (before the end of
    /// the overlap window) with the previous key (issue 11, "key replacement with an overlap
    /// window").
    pub fn signed(&self, request: &SignedRequest, now: DateTime<Utc>) -> bool {
        envelope::verify(request, &self.public_key)
            || self.previous_key.as_ref().is_some_and(|previous| {
                now < previous.valid_until && envelope::verify(request, &previous.public_key)
            })
    }
}

/// A caller allowed to act for one active merchant: what every merchant API request runs under
/// once [`Callers::authorize`] let it through.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Who calls.
    pub caller: Caller,
    /// The merchant the request is for (`mer_id` / `huifu_id`), active.
    pub merchant: merchant::Model,
}

impl Scope {
    /// The merchant's `mer_id`.
    pub(crate) fn mer_id(&self) -> &str {
        &self.merchant.mer_id
    }
}

/// The most parsed keys [`ParsedKeys`] holds; past it, it starts again empty.
const PARSED_KEYS_MAX: usize = 4096;

/// Callers' public keys as parsed (PEM or base64 → DER → a key aws-lc-rs verifies with), by the
/// exact text stored: a request still reads its caller's row, so a replaced or disabled key
/// takes effect at once, but the same text is parsed once per process, not per request. Bounded
/// by [`PARSED_KEYS_MAX`].
#[derive(Default)]
pub(crate) struct ParsedKeys {
    keys: Mutex<HashMap<String, RsaPublicKey>>,
}

impl ParsedKeys {
    /// The key `text` holds; errors as [`RsaPublicKey::from_pem_or_base64`] (never cached).
    pub(crate) fn parse(
        &self,
        text: &str,
    ) -> Result<RsaPublicKey, nkpay_crypto::error::CryptoError> {
        if let Some(key) = self.lock().get(text) {
            return Ok(key.clone());
        }
        let key = RsaPublicKey::from_pem_or_base64(text)?;
        let mut keys = self.lock();
        if keys.len() >= PARSED_KEYS_MAX {
            keys.clear();
        }
        keys.insert(text.to_owned(), key.clone());
        Ok(key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, RsaPublicKey>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What [`Callers::verify_caller_for`] read for one `sys_id` (and `mer_id`): the caller's
/// stored row, a merchant caller's provider's `product_id`, and the merchant the request named
/// when it was read with the caller.
#[derive(Debug)]
pub(crate) struct FoundCaller {
    stored: StoredCaller,
    /// A merchant caller's service provider's `product_id` (what it signs under); `None` for a
    /// service provider, or when the provider is gone.
    provider_product: Option<String>,
    /// The merchant the request names, when the caller is its provider or the merchant itself.
    merchant: Option<merchant::Model>,
}

/// The most (`sys_id`, `mer_id`) pairs a node's [`CallerCache`] holds; past it, it starts again.
pub(crate) const CALLER_CACHE_MAX: usize = 10_000;

/// Each node's reuse of [`FoundCaller`]s by (`sys_id`, `mer_id` or empty), for
/// [`crate::EngineConfig::merchant_refresh`]; emptied by [`crate::Context::merchant_setup_changed`].
pub(crate) type CallerCache = TtlCache<(String, String), Arc<FoundCaller>>;

service!(
    /// Who is calling and for which merchant: the start of every merchant API request.
    Callers
);

impl Callers {
    /// The caller of a signed merchant request, proven: its `sys_id` + `product_id` known
    /// (`10000002`) and `sign` verified over the canonical `data` with its registered key, or
    /// with a service provider's previous key until its overlap window ends ([`Caller::signed`];
    /// else `10000001`; API.md "Envelope and signature"). What it reads is reused for
    /// [`crate::EngineConfig::merchant_refresh`] ([`CallerCache`]).
    pub async fn verify_caller(&self, request: &SignedRequest) -> Result<Caller, EngineError> {
        Ok(self.verify_caller_for(request, None).await?.0)
    }

    /// [`Callers::verify_caller`] for a request about merchant `mer_id`, with the merchant
    /// read in the same query when the caller is its service provider or the merchant itself
    /// (issue 16: one read where there were two) — hand it to [`Callers::authorize_with`].
    /// Answers and refusals are exactly [`Callers::verify_caller`]'s.
    ///
    /// The caller and merchant as read are reused by the next requests of the same `sys_id`
    /// and `mer_id` for [`crate::EngineConfig::merchant_refresh`]: a suspension, a freeze, a
    /// review or a key replacement made through this node's engine takes effect at once (the
    /// writes empty the cache when they commit), one made on another node or by `nkpay admin`
    /// within that time. An unknown `sys_id` is never remembered (it is read again on every
    /// request); a suspended provider is, like an active one.
    pub async fn verify_caller_for(
        &self,
        request: &SignedRequest,
        mer_id: Option<&str>,
    ) -> Result<(Caller, Option<merchant::Model>), EngineError> {
        let key = (
            request.sys_id.clone(),
            mer_id.unwrap_or_default().to_owned(),
        );
        let found = match self.caller_cache.get(&key) {
            Some(hit) => Some(hit),
            None => {
                let ticket = self.caller_cache.ticket();
                let read = self
                    .read_caller(&request.sys_id, mer_id)
                    .await?
                    .map(Arc::new);
                if let Some(found) = &read {
                    self.caller_cache.put(ticket, key, Arc::clone(found));
                }
                read
            }
        };
        let caller = self.caller_of(&request.sys_id, &request.product_id, found.as_deref())?;
        if !caller.signed(request, Utc::now()) {
            return Err(EngineError::refused(
                RespCode::SignatureInvalid,
                "验签失败: sign does not verify over data (compact JSON, top-level keys sorted, raw UTF-8) with the key of this sys_id",
            ));
        }
        Ok((caller, found.and_then(|f| f.merchant.clone())))
    }

    /// Finds the caller of `sys_id` and checks `product_id` against it (`10000002`, also when
    /// the caller is disabled), read afresh (never from the [`CallerCache`]). Does not check
    /// `sign`: [`Callers::verify_caller`] does.
    pub async fn authenticate(
        &self,
        sys_id: &str,
        product_id: &str,
    ) -> Result<Caller, EngineError> {
        let found = self.read_caller(sys_id, None).await?;
        self.caller_of(sys_id, product_id, found.as_ref())
    }

    /// Reads the caller of `sys_id` (`None`: there is none) and, when `mer_id` is that caller's
    /// own merchant or the caller itself, the merchant — one query in the common case of a
    /// service provider and its merchant.
    async fn read_caller(
        &self,
        sys_id: &str,
        mer_id: Option<&str>,
    ) -> Result<Option<FoundCaller>, EngineError> {
        let reader = self.db.reader();
        if let Some(mer_id) = mer_id
            && let Some((sp, m)) =
                merchants::find_provider_with_merchant(reader, sys_id, mer_id).await?
        {
            return Ok(Some(FoundCaller {
                stored: StoredCaller::ServiceProvider(sp),
                provider_product: None,
                merchant: Some(m),
            }));
        }
        let Some(stored) = merchants::find_caller(reader, sys_id).await? else {
            return Ok(None);
        };
        let (provider_product, merchant) = match &stored {
            StoredCaller::ServiceProvider(_) => (None, None),
            StoredCaller::Merchant(m) => (
                // A merchant signs for itself under its service provider's product.
                merchants::find_service_provider(reader, &m.sys_id)
                    .await?
                    .map(|sp| sp.product_id),
                (mer_id == Some(m.mer_id.as_str())).then(|| m.clone()),
            ),
        };
        Ok(Some(FoundCaller {
            stored,
            provider_product,
            merchant,
        }))
    }

    /// The caller `found` for `sys_id` (`None`: there is none), its `product_id` and status
    /// checked (`10000002`), its keys parsed.
    fn caller_of(
        &self,
        sys_id: &str,
        product_id: &str,
        found: Option<&FoundCaller>,
    ) -> Result<Caller, EngineError> {
        let unknown = || {
            EngineError::refused(
                RespCode::UnknownSysId,
                format!(
                    "sys_id {sys_id} 不存在或产品号不匹配: unknown sys_id, or product_id does not belong to it"
                ),
            )
        };
        let Some(found) = found else {
            return Err(unknown());
        };
        let (kind, key_text, previous, product, status) = match &found.stored {
            StoredCaller::ServiceProvider(sp) => (
                CallerKind::ServiceProvider,
                sp.rsa_public_key.as_str(),
                sp.previous_rsa_public_key
                    .as_deref()
                    .zip(sp.previous_key_valid_until),
                sp.product_id.as_str(),
                sp.status,
            ),
            StoredCaller::Merchant(m) => (
                CallerKind::Merchant,
                m.rsa_public_key.as_deref().unwrap_or_default(),
                None,
                found.provider_product.as_deref().unwrap_or_default(),
                m.status,
            ),
        };
        if product != product_id {
            return Err(unknown());
        }
        if status != RecordStatus::Active {
            return Err(EngineError::refused(
                RespCode::UnknownSysId,
                format!("sys_id {sys_id} 已停用: this caller is disabled"),
            ));
        }
        let stored_key = |text: &str| {
            self.caller_keys.parse(text).map_err(|e| {
                EngineError::Internal(format!(
                    "stored public key of sys_id {sys_id} is unusable: {e}"
                ))
            })
        };
        let public_key = stored_key(key_text)?;
        // An overlap that has already ended is not worth parsing.
        let previous_key = match previous {
            Some((text, valid_until)) if Utc::now() < valid_until => Some(PreviousKey {
                public_key: stored_key(text)?,
                valid_until,
            }),
            _ => None,
        };
        Ok(Caller {
            sys_id: sys_id.to_owned(),
            kind,
            public_key,
            previous_key,
        })
    }

    /// The merchant `mer_id`, when `caller` may act for it and it is active (`22000000`).
    pub async fn authorize(&self, caller: &Caller, mer_id: &str) -> Result<Scope, EngineError> {
        self.authorize_with(caller, mer_id, None).await
    }

    /// [`Callers::authorize`] with the merchant already read by
    /// [`Callers::verify_caller_for`] (`fetched`; read here when `None` or another merchant).
    pub async fn authorize_with(
        &self,
        caller: &Caller,
        mer_id: &str,
        fetched: Option<merchant::Model>,
    ) -> Result<Scope, EngineError> {
        let not_allowed = || {
            EngineError::refused(
                RespCode::MerchantNotAllowed,
                format!(
                    "mer_id {mer_id} 不存在或无权操作: no such merchant for sys_id {}",
                    caller.sys_id
                ),
            )
        };
        let merchant = match fetched.filter(|m| m.mer_id == mer_id) {
            Some(m) => m,
            None => merchants::find_merchant(self.db.reader(), mer_id)
                .await?
                .ok_or_else(not_allowed)?,
        };
        let allowed = match caller.kind {
            CallerKind::ServiceProvider => merchant.sys_id == caller.sys_id,
            CallerKind::Merchant => merchant.mer_id == caller.sys_id,
        };
        if !allowed {
            return Err(not_allowed());
        }
        if merchant.status != RecordStatus::Active {
            return Err(EngineError::refused(
                RespCode::MerchantNotAllowed,
                format!("mer_id {mer_id} 未生效: the merchant is not active"),
            ));
        }
        Ok(Scope {
            caller: caller.clone(),
            merchant,
        })
    }
}
