//! The platform's signing keys and which one signs for each caller (issue 14, "Platform
//! signing keys without breaking anyone").
//!
//! A key is `active` (the newest; new callers get it; a unique partial index allows one at
//! most, so two nodes creating the first key at once cannot both succeed), `retiring` (replaced
//! by a rotation, still signing for the callers assigned to it until `retired_at`, its
//! announced retirement date) or `retired` (signs nothing; listed so older messages can still
//! be verified). `platform_key_assignments` holds each caller's (`sys_id`'s) key: merchants'
//! SDKs verify with one configured platform public key, so a caller keeps its key until it is
//! switched or the key's retirement date passes.

use chrono::{DateTime, Utc};
use nkpay_core::secret::Secret;
use nkpay_crypto::sealed::SecretSealer;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::entity::{platform_key, platform_key_assignment};
use crate::error::StoreError;
use crate::kinds::KeyStatus;
use crate::sealing;

const PRIVATE_KEY: &str = "platform signing key";

/// A key pair to store.
#[derive(Debug, Clone)]
pub struct NewPlatformKey {
    /// Key id, sent with signatures; unique.
    pub key_id: String,
    /// PKCS#8 PEM (or whatever `RsaPrivateKey::from_pem_or_base64` reads).
    pub private_key: Secret<String>,
    /// The public key (PEM) merchants verify with.
    pub public_key: String,
}

/// Stores `new` as the first active key. `Duplicate` when a key is active already (another
/// node created it first: read [`active_key`]) or the key id exists.
pub async fn create_first(
    conn: &impl ConnectionTrait,
    sealer: &SecretSealer,
    new: &NewPlatformKey,
    now: DateTime<Utc>,
) -> Result<platform_key::Model, StoreError> {
    insert_active(conn, sealer, new, now).await
}

/// Makes `new` the active key: the active one becomes `retiring` with `retire_at` as its
/// announced retirement date (UTC); keys already retiring keep their date, and those whose
/// date has passed by `now` become `retired`. Run it in one transaction (`Db::begin_write`).
/// `Duplicate` when the key id exists or another rotation made a key active at the same time.
pub async fn rotate_to(
    conn: &impl ConnectionTrait,
    sealer: &SecretSealer,
    new: &NewPlatformKey,
    retire_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<platform_key::Model, StoreError> {
    retire_due(conn, now).await?;
    platform_key::Entity::update_many()
        .col_expr(
            platform_key::Column::Status,
            Expr::value(KeyStatus::Retiring.as_str()),
        )
        .col_expr(platform_key::Column::RetiredAt, Expr::value(retire_at))
        .filter(platform_key::Column::Status.eq(KeyStatus::Active.as_str()))
        .exec(conn)
        .await?;
    insert_active(conn, sealer, new, now).await
}

async fn insert_active(
    conn: &impl ConnectionTrait,
    sealer: &SecretSealer,
    new: &NewPlatformKey,
    now: DateTime<Utc>,
) -> Result<platform_key::Model, StoreError> {
    let sealed = sealing::seal(sealer, PRIVATE_KEY, &new.private_key)?;
    platform_key::ActiveModel {
        key_id: Set(new.key_id.clone()),
        private_key_sealed: Set(sealed),
        public_key: Set(new.public_key.clone()),
        status: Set(KeyStatus::Active),
        created_at: Set(now),
        retired_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_write("platform key", e))
}

/// Marks `retiring` keys whose retirement date is not after `now` as `retired`; how many.
/// A conditional UPDATE: any node may run it any time.
pub async fn retire_due(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let res = platform_key::Entity::update_many()
        .col_expr(
            platform_key::Column::Status,
            Expr::value(KeyStatus::Retired.as_str()),
        )
        .filter(platform_key::Column::Status.eq(KeyStatus::Retiring.as_str()))
        .filter(platform_key::Column::RetiredAt.lte(now))
        .exec(conn)
        .await?;
    Ok(res.rows_affected)
}

/// The newest key: the one active key.
pub async fn active_key(
    conn: &impl ConnectionTrait,
) -> Result<Option<platform_key::Model>, StoreError> {
    Ok(platform_key::Entity::find()
        .filter(platform_key::Column::Status.eq(KeyStatus::Active.as_str()))
        .order_by_desc(platform_key::Column::Id)
        .one(conn)
        .await?)
}

/// The keys that may sign at `now`, newest first: the active one, and retiring ones before
/// their retirement date.
pub async fn usable_keys(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<Vec<platform_key::Model>, StoreError> {
    let keys = platform_key::Entity::find()
        .filter(
            platform_key::Column::Status
                .is_in([KeyStatus::Active.as_str(), KeyStatus::Retiring.as_str()]),
        )
        .order_by_desc(platform_key::Column::Id)
        .all(conn)
        .await?;
    Ok(keys
        .into_iter()
        .filter(|k| k.status == KeyStatus::Active || k.retired_at.is_some_and(|at| at > now))
        .collect())
}

/// The key with `key_id`, whatever its status.
pub async fn find_key(
    conn: &impl ConnectionTrait,
    key_id: &str,
) -> Result<Option<platform_key::Model>, StoreError> {
    Ok(platform_key::Entity::find()
        .filter(platform_key::Column::KeyId.eq(key_id))
        .one(conn)
        .await?)
}

/// Every key, newest first.
pub async fn list_keys(
    conn: &impl ConnectionTrait,
) -> Result<Vec<platform_key::Model>, StoreError> {
    Ok(platform_key::Entity::find()
        .order_by_desc(platform_key::Column::Id)
        .all(conn)
        .await?)
}

/// The key's private half, opened.
pub fn open_private_key(
    sealer: &SecretSealer,
    key: &platform_key::Model,
) -> Result<Secret<String>, StoreError> {
    sealing::open(sealer, PRIVATE_KEY, &key.private_key_sealed)
}

/// The key id assigned to the caller `sys_id`, if it has one.
pub async fn assignment(
    conn: &impl ConnectionTrait,
    sys_id: &str,
) -> Result<Option<platform_key_assignment::Model>, StoreError> {
    Ok(platform_key_assignment::Entity::find()
        .filter(platform_key_assignment::Column::SysId.eq(sys_id))
        .one(conn)
        .await?)
}

/// Assigns `key_id` to `sys_id` unless it has a key already; the caller's key afterwards
/// (the one given, or the one it had). Two nodes doing it at once agree on one.
pub async fn assign_if_absent(
    conn: &impl ConnectionTrait,
    sys_id: &str,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    platform_key_assignment::Entity::insert(assignment_row(sys_id, key_id, now))
        .on_conflict_do_nothing_on([platform_key_assignment::Column::SysId])
        .exec(conn)
        .await
        .map_err(|e| StoreError::from_write("platform key assignment", e))?;
    assignment(conn, sys_id)
        .await?
        .map(|a| a.key_id)
        .ok_or_else(|| StoreError::Corrupt {
            what: "platform key assignment",
            reason: format!("the assignment of sys_id {sys_id} vanished after its insert"),
        })
}

/// Switches `sys_id` to `key_id` (inserting the assignment when it has none); the key it had
/// before, if any.
pub async fn assign(
    conn: &impl ConnectionTrait,
    sys_id: &str,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let before = assignment(conn, sys_id).await?.map(|a| a.key_id);
    platform_key_assignment::Entity::insert(assignment_row(sys_id, key_id, now))
        .on_conflict(
            OnConflict::column(platform_key_assignment::Column::SysId)
                .update_columns([
                    platform_key_assignment::Column::KeyId,
                    platform_key_assignment::Column::AssignedAt,
                ])
                .to_owned(),
        )
        .exec(conn)
        .await
        .map_err(|e| StoreError::from_write("platform key assignment", e))?;
    Ok(before)
}

/// Moves `sys_id` from `from_key_id` to `to_key_id` (a conditional UPDATE: `false` when its
/// key is no longer `from_key_id`, because another node moved it or an operator switched it).
pub async fn move_assignment(
    conn: &impl ConnectionTrait,
    sys_id: &str,
    from_key_id: &str,
    to_key_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = platform_key_assignment::Entity::update_many()
        .col_expr(
            platform_key_assignment::Column::KeyId,
            Expr::value(to_key_id),
        )
        .col_expr(
            platform_key_assignment::Column::AssignedAt,
            Expr::value(now),
        )
        .filter(platform_key_assignment::Column::SysId.eq(sys_id))
        .filter(platform_key_assignment::Column::KeyId.eq(from_key_id))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Every assignment, by `sys_id`.
pub async fn list_assignments(
    conn: &impl ConnectionTrait,
) -> Result<Vec<platform_key_assignment::Model>, StoreError> {
    Ok(platform_key_assignment::Entity::find()
        .order_by_asc(platform_key_assignment::Column::SysId)
        .all(conn)
        .await?)
}

fn assignment_row(
    sys_id: &str,
    key_id: &str,
    now: DateTime<Utc>,
) -> platform_key_assignment::ActiveModel {
    platform_key_assignment::ActiveModel {
        sys_id: Set(sys_id.to_owned()),
        key_id: Set(key_id.to_owned()),
        assigned_at: Set(now),
        ..Default::default()
    }
}
