//! `channel_inbound_messages`: a notify from a channel, stored as received.

use nkpay_core::trade_type::ChannelKind;
use sea_orm::entity::prelude::*;

/// One row of `channel_inbound_messages`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel_inbound_messages")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The channel it runs on; stored as "wechat" or "alipay".
    pub channel: ChannelKind,
    /// e.g. "pay", "refund".
    pub kind: String,
    /// The body as received.
    pub body: String,
    /// JSON object of the request headers.
    pub headers: Option<String>,
    /// The sender's address as seen by the platform.
    pub remote_addr: Option<String>,
    /// Whether its signature verified.
    pub verified: bool,
    /// What the platform did with it; `None` until handled.
    pub outcome: Option<String>,
    /// The trade or refund it concerned, once known.
    pub nkp_seq_id: Option<String>,
    /// When it arrived (UTC).
    pub received_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
