//! `channel_exchanges`: one call to a channel and its reply, secrets masked by the caller.

use nkpay_core::trade_type::ChannelKind;
use sea_orm::entity::prelude::*;

/// One row of `channel_exchanges`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel_exchanges")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The trade or refund the call was about.
    pub nkp_seq_id: Option<String>,
    /// The channel it runs on; stored as "wechat" or "alipay".
    pub channel: ChannelKind,
    /// e.g. "unifiedorder", "alipay.trade.query".
    pub call_name: String,
    /// The request as sent, secrets masked.
    pub request_body: String,
    /// The reply as received; `None` when none came.
    pub reply_body: Option<String>,
    /// How long the call took, in milliseconds.
    pub duration_ms: i64,
    /// How the call ended (ok, business error, transport error …).
    pub outcome: String,
    /// When the row was inserted (UTC).
    pub created_at: DateTimeUtc,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
