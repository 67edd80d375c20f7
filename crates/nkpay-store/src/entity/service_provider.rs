//! `service_providers`: a caller (`sys_id`) that onboards and acts for merchants.

use crate::kinds::RecordStatus;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "service_providers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub sys_id: String,
    pub product_id: String,
    pub name: String,
    /// The caller's RSA public key (PEM or base64 SPKI) that verifies its requests.
    pub rsa_public_key: String,
    /// "active" or "disabled".
    pub status: RecordStatus,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
