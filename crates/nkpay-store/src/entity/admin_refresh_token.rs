//! `admin_refresh_tokens`: the console's rotating refresh tokens, stored only as a hash.

use sea_orm::entity::prelude::*;

/// One row of `admin_refresh_tokens`: one refresh token of a sign-in's family.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_refresh_tokens")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Lower-case hex SHA-256 of the token (64 characters); never the token.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// The sign-in this token descends from (32 hex characters): every rotation keeps it, a
    /// logout or a replayed token revokes all of it.
    pub family_id: String,
    /// The admin user it signs in.
    pub username: String,
    /// When it was handed out (UTC).
    pub issued_at: DateTimeUtc,
    /// When it stops being accepted (UTC).
    pub expires_at: DateTimeUtc,
    /// When it was exchanged for its successor (UTC); presenting it again is a replay.
    pub spent_at: Option<DateTimeUtc>,
    /// When its family was revoked (UTC): logout, or a replay detected.
    pub revoked_at: Option<DateTimeUtc>,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
