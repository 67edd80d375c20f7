//! `notification_attempts`: one delivery attempt of a notification.

use sea_orm::entity::prelude::*;

/// One row of `notification_attempts`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_attempts")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The notification attempted.
    pub notification_id: i64,
    /// When the attempt began (UTC).
    pub started_at: DateTimeUtc,
    /// How long the call took, in milliseconds.
    pub duration_ms: i64,
    /// The receiver's HTTP status, if it answered.
    pub http_status: Option<i32>,
    /// Why no usable answer came (time-out, refused, redirect …).
    pub error: Option<String>,
    /// At most the first 2 KiB of the answer.
    pub response_body: Option<String>,
    /// Whether the receiver took it (an HTTP 2xx answer).
    pub delivered: bool,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
