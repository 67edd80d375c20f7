//! `refunds`: one refund order against a paid trade. Change its state only through
//! [`crate::refunds`].

use nkpay_core::state::RefundStatus;
use nkpay_core::trade_type::ChannelKind;
use sea_orm::entity::prelude::*;

/// One row of `refunds`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refunds")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The platform's order number (`nkp_seq_id`), unique.
    #[sea_orm(unique)]
    pub nkp_seq_id: String,
    /// The caller's `sys_id`: a service provider, or a merchant acting for itself.
    pub sys_id: String,
    /// The sub-merchant's `mer_id` (16 digits).
    pub mer_id: String,
    /// The merchant's request date, `yyyyMMdd`.
    pub req_date: String,
    /// The merchant's request number, unique per `mer_id` and `req_date`.
    pub req_seq_id: String,
    /// The refunded trade.
    pub org_nkp_seq_id: String,
    /// The channel it runs on; stored as "wechat" or "alipay".
    pub channel: ChannelKind,
    /// Fen.
    pub ord_amt: i64,
    /// Fen: the share of the trade's fee this refund returns, set when it succeeds
    /// (`nkpay_core::fee::refund_fee`: cumulative pro rata, remainders on the refund that
    /// completes the amount); 0 until then and for a failed refund.
    pub fee_amt: i64,
    /// "P", "S" or "F" (see `nkpay_core::state::RefundStatus`).
    pub status: RefundStatus,
    /// The channel's refund id.
    pub party_refund_id: Option<String>,
    /// Where the merchant wants its asynchronous notification.
    pub notify_url: Option<String>,
    /// The merchant's free text, returned as given.
    pub remark: Option<String>,
    /// The channel's error or result code, if it gave one.
    pub bank_code: Option<String>,
    /// The channel's message with `bank_code`.
    pub bank_message: Option<String>,
    /// When the channel finished the refund (UTC).
    pub end_time: Option<DateTimeUtc>,
    /// When the query job next asks the channel (UTC); `None`: no job pending.
    pub next_query_at: Option<DateTimeUtc>,
    /// How many times the query job has asked the channel.
    pub query_attempts: i32,
    /// The node whose query job holds the row, if any.
    pub query_lease_owner: Option<String>,
    /// When the query job's claim on the row runs out (UTC).
    pub query_lease_until: Option<DateTimeUtc>,
    /// Hash of the canonical request, to tell a replay from a different request.
    pub request_hash: String,
    /// The first answer given to the merchant, replayed for a repeated request.
    pub first_response: Option<String>,
    /// When the row was inserted (UTC).
    pub created_at: DateTimeUtc,
    /// When the row last changed (UTC).
    pub updated_at: DateTimeUtc,
    /// Incremented by every UPDATE.
    pub version: i32,
}

/// No declared relations: queries join by key themselves.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
