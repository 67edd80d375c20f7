//! `service_providers`: a caller (`sys_id`) that onboards and acts for merchants.

use crate::kinds::RecordStatus;
use sea_orm::entity::prelude::*;

/// One row of `service_providers`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "service_providers")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The caller's `sys_id`: a service provider, or a merchant acting for itself.
    #[sea_orm(unique)]
    pub sys_id: String,
    /// The product the caller signs up for (`product_id`).
    pub product_id: String,
    /// The service provider's name.
    pub name: String,
    /// The caller's current RSA public key (PEM or base64 SPKI) that verifies its requests.
    pub rsa_public_key: String,
    /// The key `rsa_public_key` replaced, still verifying the provider's requests until
    /// `previous_key_valid_until` (the overlap window of a key replacement); `None` when there
    /// is no overlap.
    pub previous_rsa_public_key: Option<String>,
    /// When the previous key stops verifying (UTC, exclusive); set with
    /// `previous_rsa_public_key`.
    pub previous_key_valid_until: Option<DateTimeUtc>,
    /// "active" or "disabled".
    pub status: RecordStatus,
    /// When the row was inserted (UTC).
    pub created_at: DateTimeUtc,
    /// When the row last changed (UTC).
    pub updated_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
