//! Admin users (people). The password hash is made and checked by the caller (nkpay-engine's
//! `admin_identity`, argon2id); this module only stores it.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set,
};

use crate::entity::admin_user;
use crate::error::StoreError;
use crate::kinds::{AdminRole, RecordStatus};

/// Inserts an active user with `role` (and, for an agent admin, its service provider
/// `sys_id`). `Duplicate` when the username is taken.
pub async fn insert_admin_user(
    conn: &impl ConnectionTrait,
    username: &str,
    password_hash: &str,
    role: AdminRole,
    sys_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<admin_user::Model, StoreError> {
    admin_user::ActiveModel {
        username: Set(username.to_owned()),
        password_hash: Set(password_hash.to_owned()),
        role: Set(role),
        sys_id: Set(sys_id.map(str::to_owned)),
        status: Set(RecordStatus::Active),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_write("admin user", e))
}

/// The console user named `username`.
pub async fn find_admin_user(
    conn: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<admin_user::Model>, StoreError> {
    Ok(admin_user::Entity::find()
        .filter(admin_user::Column::Username.eq(username))
        .one(conn)
        .await?)
}

/// Every console user.
pub async fn list_admin_users(
    conn: &impl ConnectionTrait,
) -> Result<Vec<admin_user::Model>, StoreError> {
    Ok(admin_user::Entity::find()
        .order_by_asc(admin_user::Column::Id)
        .all(conn)
        .await?)
}

/// Replaces the user's password hash. Returns whether the user exists.
pub async fn set_password_hash(
    conn: &impl ConnectionTrait,
    username: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = admin_user::Entity::update_many()
        .col_expr(admin_user::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(admin_user::Column::UpdatedAt, Expr::value(now))
        .filter(admin_user::Column::Username.eq(username))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Enables or disables the user. Returns whether the user exists.
pub async fn set_admin_user_status(
    conn: &impl ConnectionTrait,
    username: &str,
    status: RecordStatus,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = admin_user::Entity::update_many()
        .col_expr(admin_user::Column::Status, Expr::value(status.as_str()))
        .col_expr(admin_user::Column::UpdatedAt, Expr::value(now))
        .filter(admin_user::Column::Username.eq(username))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Keeps a sealed TOTP secret for `username` awaiting confirmation (enrolment), unless TOTP is
/// already enabled. Returns whether it was stored (`false`: no such user, or TOTP enabled).
pub async fn set_pending_totp(
    conn: &impl ConnectionTrait,
    username: &str,
    secret_sealed: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = admin_user::Entity::update_many()
        .col_expr(
            admin_user::Column::TotpSecretSealed,
            Expr::value(secret_sealed),
        )
        .col_expr(admin_user::Column::UpdatedAt, Expr::value(now))
        .filter(admin_user::Column::Username.eq(username))
        .filter(admin_user::Column::TotpEnabledAt.is_null())
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Turns TOTP on for `username` (its pending secret confirmed by the code of time step
/// `step`). Returns whether it changed (`false`: no pending secret, or already enabled).
pub async fn enable_totp(
    conn: &impl ConnectionTrait,
    username: &str,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = admin_user::Entity::update_many()
        .col_expr(admin_user::Column::TotpEnabledAt, Expr::value(now))
        .col_expr(admin_user::Column::TotpLastStep, Expr::value(step))
        .col_expr(admin_user::Column::UpdatedAt, Expr::value(now))
        .filter(admin_user::Column::Username.eq(username))
        .filter(admin_user::Column::TotpSecretSealed.is_not_null())
        .filter(admin_user::Column::TotpEnabledAt.is_null())
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Records that the code of time step `step` was used by `username`, if no code of that or a
/// later step was (a conditional UPDATE). Returns whether it was recorded: `false` means the
/// code was already used and must be refused.
pub async fn use_totp_step(
    conn: &impl ConnectionTrait,
    username: &str,
    step: i64,
) -> Result<bool, StoreError> {
    let res = admin_user::Entity::update_many()
        .col_expr(admin_user::Column::TotpLastStep, Expr::value(step))
        .filter(admin_user::Column::Username.eq(username))
        .filter(
            Condition::any()
                .add(admin_user::Column::TotpLastStep.is_null())
                .add(admin_user::Column::TotpLastStep.lt(step)),
        )
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}
