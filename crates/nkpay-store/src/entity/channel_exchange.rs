//! `channel_exchanges`: one call to a channel and its reply, secrets masked by the caller.

use nkpay_core::trade_type::ChannelKind;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel_exchanges")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The trade or refund the call was about.
    pub nkp_seq_id: Option<String>,
    pub channel: ChannelKind,
    /// e.g. "unifiedorder", "alipay.trade.query".
    pub call_name: String,
    pub request_body: String,
    pub reply_body: Option<String>,
    pub duration_ms: i64,
    pub outcome: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
