//! `platform_keys`: the platform's signing keys, by key id.

use crate::kinds::KeyStatus;
use sea_orm::entity::prelude::*;

/// One row of `platform_keys`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "platform_keys")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Key id, sent with signatures so receivers pick the right key; unique.
    #[sea_orm(unique)]
    pub key_id: String,
    /// RSA private key (PKCS#8 PEM), sealed.
    pub private_key_sealed: String,
    /// RSA public key (PEM) that verifies its signatures.
    pub public_key: String,
    /// "active" or "retired".
    pub status: KeyStatus,
    /// When the row was inserted (UTC).
    pub created_at: DateTimeUtc,
    /// When it stopped signing (UTC).
    pub retired_at: Option<DateTimeUtc>,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
