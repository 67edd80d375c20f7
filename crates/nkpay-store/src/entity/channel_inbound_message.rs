//! `channel_inbound_messages`: a notify from a channel, stored as received.

use nkpay_core::trade_type::ChannelKind;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel_inbound_messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub channel: ChannelKind,
    /// e.g. "pay", "refund".
    pub kind: String,
    pub body: String,
    /// JSON object of the request headers.
    pub headers: Option<String>,
    pub remote_addr: Option<String>,
    pub verified: bool,
    pub outcome: Option<String>,
    pub nkp_seq_id: Option<String>,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
