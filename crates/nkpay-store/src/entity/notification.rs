//! `notifications`: the merchant-notification outbox.

use crate::kinds::{NotificationKind, NotificationStatus};
use sea_orm::entity::prelude::*;

/// One row of `notifications`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The sub-merchant's `mer_id` (16 digits).
    pub mer_id: String,
    /// "TRADE" or "REFUND".
    pub kind: NotificationKind,
    /// The trade's or refund's `nkp_seq_id`.
    pub subject_nkp_seq_id: String,
    /// 0 for the notification the final state wrote; each console re-send opens the next.
    pub chain_no: i32,
    /// Where the merchant wants its asynchronous notification.
    pub notify_url: String,
    /// The exact `resp_data` string that is signed and sent.
    pub resp_data: String,
    /// "pending", "delivered" or "dead".
    pub status: NotificationStatus,
    /// Delivery attempts so far.
    pub attempt_count: i32,
    /// When the next delivery attempt is due (UTC).
    pub next_attempt_at: DateTimeUtc,
    /// The dispatcher node delivering it now, if any.
    pub lease_owner: Option<String>,
    /// When the dispatcher's claim runs out (UTC).
    pub lease_until: Option<DateTimeUtc>,
    /// When it was enqueued (UTC).
    pub created_at: DateTimeUtc,
    /// When the row last changed (UTC).
    pub updated_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
