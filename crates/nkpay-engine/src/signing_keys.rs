//! The platform's signing keys as operators manage them and merchants read them (issue 14):
//! rotate (a new active key; the replaced one announced retiring on a date), switch a caller
//! (`sys_id`) to another usable key, list keys and assignments, and the public listing of
//! `GET /v2/platform/keys`. Every write is audited in its transaction (`platform_key.rotate`,
//! `platform_key.assign`). Which key signs what is [`crate::platform_keys::PlatformKeys`].

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use nkpay_store::StoreError;
use nkpay_store::entity::platform_key;
use nkpay_store::kinds::KeyStatus;
use nkpay_store::{merchants, platform_keys};
use serde_json::json;

use crate::admin_identity::{Actor, Permission, audit, require};
use crate::engine::service;
use crate::error::EngineError;
use crate::platform_keys::generate;

/// The retirement date a rotation announces for the replaced key unless told otherwise:
/// this many days after the rotation.
pub const DEFAULT_RETIRE_AFTER_DAYS: u32 = 30;
/// The farthest retirement date a rotation may announce, in days.
pub const MAX_RETIRE_AFTER_DAYS: u32 = 3650;

/// A platform key as anyone may see it: never its private half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    /// The key id, sent as `X-Nkp-Key-Id` with what it signs.
    pub key_id: String,
    /// The public key, PEM (`-----BEGIN PUBLIC KEY-----`, SPKI).
    pub public_key: String,
    /// `active` (the newest, given to new callers), `retiring` (still signs for its callers
    /// until `retire_at`) or `retired` (signs nothing), as of the moment it was read.
    pub status: KeyStatus,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
    /// A retiring key's announced retirement date, or when a retired key stopped signing
    /// (UTC); `None` for the active key.
    pub retire_at: Option<DateTime<Utc>>,
}

impl PublishedKey {
    fn of(row: platform_key::Model, now: DateTime<Utc>) -> PublishedKey {
        let status = match (row.status, row.retired_at) {
            (KeyStatus::Retiring, Some(at)) if at <= now => KeyStatus::Retired,
            (status, _) => status,
        };
        PublishedKey {
            key_id: row.key_id,
            public_key: row.public_key,
            status,
            created_at: row.created_at,
            retire_at: row.retired_at,
        }
    }
}

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The new active key.
    pub key: PublishedKey,
    /// The key it replaced, now retiring on its announced date; `None` if there was none.
    pub replaced: Option<PublishedKey>,
}

/// One caller's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAssignment {
    /// The caller: a service provider's `sys_id`, or a merchant's `mer_id` calling for itself.
    pub sys_id: String,
    /// The key that signs its replies and notifications.
    pub key_id: String,
    /// When it got that key (UTC).
    pub assigned_at: DateTime<Utc>,
}

service!(
    /// The platform's signing keys: rotation, switching a caller, the listings.
    SigningKeys
);

impl SigningKeys {
    /// Every key, newest first, public halves only: what `GET /v2/platform/keys` publishes,
    /// to anyone.
    pub async fn published(&self) -> Result<Vec<PublishedKey>, EngineError> {
        let now = Utc::now();
        Ok(platform_keys::list_keys(self.db.conn())
            .await?
            .into_iter()
            .map(|k| PublishedKey::of(k, now))
            .collect())
    }

    /// Every key, newest first, for the console: every role that reads the platform's
    /// settings ([`Permission::ReadChannelAccounts`]); [`EngineError::Forbidden`] otherwise.
    pub async fn list(&self, by: &Actor) -> Result<Vec<PublishedKey>, EngineError> {
        require(by, Permission::ReadChannelAccounts)?;
        self.published().await
    }

    /// Every caller's key, by `sys_id` ([`Permission::ReadChannelAccounts`]).
    pub async fn assignments(&self, by: &Actor) -> Result<Vec<KeyAssignment>, EngineError> {
        require(by, Permission::ReadChannelAccounts)?;
        Ok(platform_keys::list_assignments(self.db.conn())
            .await?
            .into_iter()
            .map(|a| KeyAssignment {
                sys_id: a.sys_id,
                key_id: a.key_id,
                assigned_at: a.assigned_at,
            })
            .collect())
    }

    /// Creates a new RSA-2048 key and makes it the active one; the replaced key becomes
    /// `retiring` with its retirement date `retire_after_days` (1 to
    /// [`MAX_RETIRE_AFTER_DAYS`]) days from now, keeps signing for its callers until then, and
    /// every caller moves to the newest key once the date passes. Audited
    /// (`platform_key.rotate`). Every node sees the new key within its refresh interval; this
    /// one at once. [`EngineError::Forbidden`] unless `by` is a platform admin;
    /// [`EngineError::Invalid`] naming `retire_after_days`, or `rotate` when another rotation
    /// committed at the same moment.
    pub async fn rotate(
        &self,
        by: &Actor,
        retire_after_days: u32,
    ) -> Result<Rotation, EngineError> {
        require(by, Permission::ManagePlatformKeys)?;
        if !(1..=MAX_RETIRE_AFTER_DAYS).contains(&retire_after_days) {
            return Err(EngineError::invalid(
                "retire_after_days",
                format!("must be a whole number of days from 1 to {MAX_RETIRE_AFTER_DAYS}"),
            ));
        }
        let (new, _) = generate().await?;
        let now = Utc::now();
        let retire_at = now + ChronoDuration::days(i64::from(retire_after_days));
        let tx = self.db.begin_write().await?;
        let before = platform_keys::active_key(&tx).await?;
        let created = match platform_keys::rotate_to(&tx, &self.sealer, &new, retire_at, now).await
        {
            Err(StoreError::Duplicate { .. }) => {
                return Err(EngineError::invalid(
                    "rotate",
                    "another rotation made a key active at the same moment; list the keys and rotate again if still wanted",
                ));
            }
            other => other?,
        };
        audit(
            &tx,
            by,
            "platform_key.rotate",
            &format!("platform_key:{}", created.key_id),
            json!({
                "before": { "active": before.as_ref().map(|k| k.key_id.as_str()) },
                "after": {
                    "active": created.key_id,
                    "retiring": before.as_ref().map(|k| json!({
                        "key_id": k.key_id,
                        "retire_at": retire_at.to_rfc3339(),
                    })),
                },
            }),
            now,
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        tracing::info!(key_id = %created.key_id, retire_at = %retire_at, "platform key rotated");
        self.signer.reload_now().await?;
        let replaced = match before {
            Some(old) => platform_keys::find_key(self.db.conn(), &old.key_id)
                .await?
                .map(|k| PublishedKey::of(k, now)),
            None => None,
        };
        Ok(Rotation {
            key: PublishedKey::of(created, now),
            replaced,
        })
    }

    /// Switches the caller `sys_id` to the key `key_id`, which must be usable (the active key,
    /// or a retiring one before its date): its replies and notifications are signed with it
    /// from then on (on every node within its refresh interval). Audited
    /// (`platform_key.assign`, before → after key). [`EngineError::Forbidden`] unless `by` is a
    /// platform admin; [`EngineError::Invalid`] naming `sys_id` (no such caller) or `key_id`.
    pub async fn assign(
        &self,
        by: &Actor,
        sys_id: &str,
        key_id: &str,
    ) -> Result<KeyAssignment, EngineError> {
        require(by, Permission::ManagePlatformKeys)?;
        let now = Utc::now();
        if merchants::find_caller(self.db.conn(), sys_id)
            .await?
            .is_none()
        {
            return Err(EngineError::invalid(
                "sys_id",
                "must be a caller: a service provider, or a merchant with a key of its own",
            ));
        }
        let usable = platform_keys::find_key(self.db.conn(), key_id)
            .await?
            .map(|k| PublishedKey::of(k, now))
            .is_some_and(|k| matches!(k.status, KeyStatus::Active | KeyStatus::Retiring));
        if !usable {
            return Err(EngineError::invalid(
                "key_id",
                "must be the active key or a retiring key before its retirement date (GET /admin/api/platform-keys)",
            ));
        }
        let tx = self.db.begin_write().await?;
        let before = platform_keys::assign(&tx, sys_id, key_id, now).await?;
        audit(
            &tx,
            by,
            "platform_key.assign",
            &format!("caller:{sys_id}"),
            json!({ "before": { "key_id": before }, "after": { "key_id": key_id } }),
            now,
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.signer.reload_now().await?;
        Ok(KeyAssignment {
            sys_id: sys_id.to_owned(),
            key_id: key_id.to_owned(),
            assigned_at: now,
        })
    }
}
