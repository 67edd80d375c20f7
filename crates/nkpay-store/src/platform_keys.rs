//! The platform's signing keys: one active key signs responses and notifications (its id goes
//! in `X-Nkp-Key-Id`); retired keys stay listed so merchants can still verify older messages.

use chrono::{DateTime, Utc};
use nkpay_core::secret::Secret;
use nkpay_crypto::sealed::SecretSealer;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::db::Db;
use crate::entity::platform_key;
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

/// Makes `new` the active key and retires every other active key, in one transaction.
/// `Duplicate` when the key id exists.
pub async fn rotate_to(
    db: &Db,
    sealer: &SecretSealer,
    new: &NewPlatformKey,
    now: DateTime<Utc>,
) -> Result<platform_key::Model, StoreError> {
    let sealed = sealing::seal(sealer, PRIVATE_KEY, &new.private_key)?;
    let txn = db.begin_write().await?;
    platform_key::Entity::update_many()
        .col_expr(
            platform_key::Column::Status,
            Expr::value(KeyStatus::Retired.as_str()),
        )
        .col_expr(platform_key::Column::RetiredAt, Expr::value(now))
        .filter(platform_key::Column::Status.eq(KeyStatus::Active.as_str()))
        .exec(&txn)
        .await?;
    let saved = platform_key::ActiveModel {
        key_id: Set(new.key_id.clone()),
        private_key_sealed: Set(sealed),
        public_key: Set(new.public_key.clone()),
        status: Set(KeyStatus::Active),
        created_at: Set(now),
        retired_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| StoreError::from_write("platform key", e))?;
    txn.commit().await?;
    Ok(saved)
}

/// The key that signs now: the newest active one.
pub async fn active_key(
    conn: &impl ConnectionTrait,
) -> Result<Option<platform_key::Model>, StoreError> {
    Ok(platform_key::Entity::find()
        .filter(platform_key::Column::Status.eq(KeyStatus::Active.as_str()))
        .order_by_desc(platform_key::Column::Id)
        .one(conn)
        .await?)
}

/// The key with `key_id`, active or retired.
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
