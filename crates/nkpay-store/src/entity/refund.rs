//! `refunds`: one refund order against a paid trade. Change its state only through
//! [`crate::refunds`].

use nkpay_core::state::RefundStatus;
use nkpay_core::trade_type::ChannelKind;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refunds")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub nkp_seq_id: String,
    pub sys_id: String,
    pub mer_id: String,
    pub req_date: String,
    pub req_seq_id: String,
    /// The refunded trade.
    pub org_nkp_seq_id: String,
    pub channel: ChannelKind,
    /// Fen.
    pub ord_amt: i64,
    /// "P", "S" or "F" (see `nkpay_core::state::RefundStatus`).
    pub status: RefundStatus,
    pub party_refund_id: Option<String>,
    pub notify_url: Option<String>,
    pub remark: Option<String>,
    pub bank_code: Option<String>,
    pub bank_message: Option<String>,
    pub end_time: Option<DateTimeUtc>,
    pub next_query_at: Option<DateTimeUtc>,
    pub query_attempts: i32,
    pub query_lease_owner: Option<String>,
    pub query_lease_until: Option<DateTimeUtc>,
    pub request_hash: String,
    pub first_response: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
