//! The admin API's tokens for machines. The token itself is made and hashed by the caller
//! (nkpay-engine's `admin_identity`); this module stores and finds only its SHA-256 hash.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::entity::admin_api_token;
use crate::error::StoreError;
use crate::kinds::{AdminRole, RecordStatus};

/// A token to store: its name, the hex SHA-256 of the token, its role and (agent admin only)
/// its service provider, and who made it.
#[derive(Debug, Clone)]
pub struct NewApiToken<'a> {
    /// Unique name.
    pub name: &'a str,
    /// Lower-case hex SHA-256 of the token (64 characters).
    pub token_hash: &'a str,
    /// What the token may do.
    pub role: AdminRole,
    /// The bound service provider of an agent-admin token.
    pub sys_id: Option<&'a str>,
    /// The actor creating it.
    pub created_by: &'a str,
}

/// Inserts an active token. `Duplicate` when the name (or hash) is taken.
pub async fn insert(
    conn: &impl ConnectionTrait,
    new: &NewApiToken<'_>,
    now: DateTime<Utc>,
) -> Result<admin_api_token::Model, StoreError> {
    admin_api_token::ActiveModel {
        name: Set(new.name.to_owned()),
        token_hash: Set(new.token_hash.to_owned()),
        role: Set(new.role),
        sys_id: Set(new.sys_id.map(str::to_owned)),
        status: Set(RecordStatus::Active),
        created_by: Set(new.created_by.to_owned()),
        created_at: Set(now),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_write("admin API token", e))
}

/// The token whose hash is `token_hash`, active or not.
pub async fn find_by_hash(
    conn: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<admin_api_token::Model>, StoreError> {
    Ok(admin_api_token::Entity::find()
        .filter(admin_api_token::Column::TokenHash.eq(token_hash))
        .one(conn)
        .await?)
}

/// The token named `name`, active or not.
pub async fn find_by_name(
    conn: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<admin_api_token::Model>, StoreError> {
    Ok(admin_api_token::Entity::find()
        .filter(admin_api_token::Column::Name.eq(name))
        .one(conn)
        .await?)
}

/// Every token, oldest first.
pub async fn list(conn: &impl ConnectionTrait) -> Result<Vec<admin_api_token::Model>, StoreError> {
    Ok(admin_api_token::Entity::find()
        .order_by_asc(admin_api_token::Column::Id)
        .all(conn)
        .await?)
}

/// Revokes the active token named `name` (a conditional UPDATE). Returns whether it was active.
pub async fn revoke(
    conn: &impl ConnectionTrait,
    name: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = admin_api_token::Entity::update_many()
        .col_expr(
            admin_api_token::Column::Status,
            Expr::value(RecordStatus::Disabled.as_str()),
        )
        .col_expr(admin_api_token::Column::RevokedAt, Expr::value(now))
        .filter(admin_api_token::Column::Name.eq(name))
        .filter(admin_api_token::Column::Status.eq(RecordStatus::Active.as_str()))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}
