//! `notification_attempts`: one delivery attempt of a notification.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub notification_id: i64,
    pub started_at: DateTimeUtc,
    pub duration_ms: i64,
    pub http_status: Option<i32>,
    /// Why no usable answer came (time-out, refused, redirect …).
    pub error: Option<String>,
    /// At most the first 2 KiB of the answer.
    pub response_body: Option<String>,
    pub delivered: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
