//! Console sessions: refresh tokens (stored only as their SHA-256, made and hashed by
//! nkpay-engine's `admin_identity`) and the failed sign-ins login throttling counts.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use crate::entity::{admin_login_failure, admin_refresh_token};
use crate::error::StoreError;

/// A refresh token to store.
#[derive(Debug, Clone)]
pub struct NewRefreshToken<'a> {
    /// Lower-case hex SHA-256 of the token (64 characters).
    pub token_hash: &'a str,
    /// The sign-in's family (32 hex characters).
    pub family_id: &'a str,
    /// The user it signs in.
    pub username: &'a str,
    /// When it stops being accepted (UTC).
    pub expires_at: DateTime<Utc>,
}

/// Inserts an unspent refresh token issued at `now`. `Duplicate` when the hash exists.
pub async fn insert_refresh_token(
    conn: &impl ConnectionTrait,
    new: &NewRefreshToken<'_>,
    now: DateTime<Utc>,
) -> Result<admin_refresh_token::Model, StoreError> {
    admin_refresh_token::ActiveModel {
        token_hash: Set(new.token_hash.to_owned()),
        family_id: Set(new.family_id.to_owned()),
        username: Set(new.username.to_owned()),
        issued_at: Set(now),
        expires_at: Set(new.expires_at),
        spent_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_write("admin refresh token", e))
}

/// The refresh token whose hash is `token_hash`, spent, revoked or not.
pub async fn find_refresh_token(
    conn: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<admin_refresh_token::Model>, StoreError> {
    Ok(admin_refresh_token::Entity::find()
        .filter(admin_refresh_token::Column::TokenHash.eq(token_hash))
        .one(conn)
        .await?)
}

/// Marks the token `id` spent at `now` if it is neither spent nor revoked (a conditional
/// UPDATE: of two concurrent exchanges one wins). Returns whether this call spent it.
pub async fn spend_refresh_token(
    conn: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = admin_refresh_token::Entity::update_many()
        .col_expr(admin_refresh_token::Column::SpentAt, Expr::value(now))
        .filter(admin_refresh_token::Column::Id.eq(id))
        .filter(admin_refresh_token::Column::SpentAt.is_null())
        .filter(admin_refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Revokes every not yet revoked token of `family_id` at `now`. Returns how many it revoked.
pub async fn revoke_refresh_family(
    conn: &impl ConnectionTrait,
    family_id: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let res = admin_refresh_token::Entity::update_many()
        .col_expr(admin_refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(admin_refresh_token::Column::FamilyId.eq(family_id))
        .filter(admin_refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(res.rows_affected)
}

/// Every token of `family_id`, oldest first.
pub async fn refresh_family(
    conn: &impl ConnectionTrait,
    family_id: &str,
) -> Result<Vec<admin_refresh_token::Model>, StoreError> {
    Ok(admin_refresh_token::Entity::find()
        .filter(admin_refresh_token::Column::FamilyId.eq(family_id))
        .order_by_asc(admin_refresh_token::Column::Id)
        .all(conn)
        .await?)
}

/// Records a failed sign-in against `key_kind` / `key_value` at `now`, and forgets that key's
/// failures older than `forget_before` (the throttling window has passed them).
pub async fn record_login_failure(
    conn: &impl ConnectionTrait,
    key_kind: &str,
    key_value: &str,
    now: DateTime<Utc>,
    forget_before: DateTime<Utc>,
) -> Result<(), StoreError> {
    admin_login_failure::Entity::delete_many()
        .filter(admin_login_failure::Column::KeyKind.eq(key_kind))
        .filter(admin_login_failure::Column::KeyValue.eq(key_value))
        .filter(admin_login_failure::Column::At.lt(forget_before))
        .exec(conn)
        .await?;
    admin_login_failure::ActiveModel {
        key_kind: Set(key_kind.to_owned()),
        key_value: Set(key_value.to_owned()),
        at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// How many failed sign-ins `key_kind` / `key_value` has at or after `since`, and when the
/// oldest of them was (`None` when there are none).
pub async fn login_failures_since(
    conn: &impl ConnectionTrait,
    key_kind: &str,
    key_value: &str,
    since: DateTime<Utc>,
) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
    let query = admin_login_failure::Entity::find()
        .filter(admin_login_failure::Column::KeyKind.eq(key_kind))
        .filter(admin_login_failure::Column::KeyValue.eq(key_value))
        .filter(admin_login_failure::Column::At.gte(since));
    let count = query.clone().count(conn).await?;
    let oldest = query
        .order_by_asc(admin_login_failure::Column::At)
        .one(conn)
        .await?
        .map(|f| f.at);
    Ok((count, oldest))
}

/// Forgets every failed sign-in of `key_kind` / `key_value` (an account that signed in).
pub async fn clear_login_failures(
    conn: &impl ConnectionTrait,
    key_kind: &str,
    key_value: &str,
) -> Result<(), StoreError> {
    admin_login_failure::Entity::delete_many()
        .filter(admin_login_failure::Column::KeyKind.eq(key_kind))
        .filter(admin_login_failure::Column::KeyValue.eq(key_value))
        .exec(conn)
        .await?;
    Ok(())
}
