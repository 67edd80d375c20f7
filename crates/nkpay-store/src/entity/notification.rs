//! `notifications`: the merchant-notification outbox.

use crate::kinds::{NotificationKind, NotificationStatus};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub mer_id: String,
    /// "TRADE" or "REFUND".
    pub kind: NotificationKind,
    pub subject_nkp_seq_id: String,
    /// 0 for the notification the final state wrote; each console re-send opens the next.
    pub chain_no: i32,
    pub notify_url: String,
    /// The exact `resp_data` string that is signed and sent.
    pub resp_data: String,
    /// "pending", "delivered" or "dead".
    pub status: NotificationStatus,
    pub attempt_count: i32,
    pub next_attempt_at: DateTimeUtc,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
