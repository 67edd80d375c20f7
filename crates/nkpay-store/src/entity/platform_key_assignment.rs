//! `platform_key_assignments`: which platform key signs a caller's replies and notifications.

use sea_orm::entity::prelude::*;

/// One row of `platform_key_assignments`: the key of one caller (`sys_id`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "platform_key_assignments")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The caller: a service provider's `sys_id`, or a merchant's `mer_id` when it calls for
    /// itself; unique.
    #[sea_orm(unique)]
    pub sys_id: String,
    /// The `platform_keys.key_id` that signs for it.
    pub key_id: String,
    /// When the caller got this key (UTC): first seen, switched, or moved off a retired key.
    pub assigned_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
