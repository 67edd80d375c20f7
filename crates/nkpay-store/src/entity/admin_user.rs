//! `admin_users`: console users.

use crate::kinds::{AdminRole, RecordStatus};
use sea_orm::entity::prelude::*;

/// One row of `admin_users`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_users")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Login name, unique.
    #[sea_orm(unique)]
    pub username: String,
    /// Password hash in PHC form (argon2id; never the password).
    pub password_hash: String,
    /// What the user may do.
    pub role: AdminRole,
    /// The service provider an agent admin is bound to; `None` for every other role.
    pub sys_id: Option<String>,
    /// "active" or "disabled".
    pub status: RecordStatus,
    /// The TOTP (RFC 6238) secret, base32, sealed (`SecretSealer` output); set at enrolment,
    /// in force once `totp_enabled_at` is set.
    pub totp_secret_sealed: Option<String>,
    /// When the user confirmed TOTP with a code (UTC); from then on signing in needs a code.
    pub totp_enabled_at: Option<DateTimeUtc>,
    /// The last 30-second time step whose code was accepted (Unix seconds / 30), so a code is
    /// accepted once only (RFC 6238 §5.2).
    pub totp_last_step: Option<i64>,
    /// When the row was inserted (UTC).
    pub created_at: DateTimeUtc,
    /// When the row last changed (UTC).
    pub updated_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
