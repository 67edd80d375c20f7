//! `trades`: one payment order. Change its state only through [`crate::trades`], whose
//! UPDATEs are conditional on the current state.

use nkpay_core::state::TradeStatus;
use nkpay_core::trade_type::{ChannelKind, TradeType};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trades")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub nkp_seq_id: String,
    /// The caller that created it (a service provider, or the merchant itself).
    pub sys_id: String,
    pub mer_id: String,
    pub req_date: String,
    pub req_seq_id: String,
    pub trade_type: TradeType,
    pub channel: ChannelKind,
    pub channel_account_id: i64,
    /// Fen.
    pub trans_amt: i64,
    /// "P", "S", "F" or "C" (see `nkpay_core::state::TradeStatus`).
    pub status: TradeStatus,
    pub goods_desc: String,
    pub notify_url: Option<String>,
    pub remark: Option<String>,
    pub sub_mch_id: Option<String>,
    /// The appid the order was placed under (platform appid or `sub_appid`).
    pub appid: Option<String>,
    pub sub_appid: Option<String>,
    pub openid: Option<String>,
    pub sub_openid: Option<String>,
    pub buyer_id: Option<String>,
    pub party_order_id: Option<String>,
    pub pay_info: Option<String>,
    pub qr_code: Option<String>,
    pub bank_code: Option<String>,
    pub bank_message: Option<String>,
    /// Fen.
    pub fee_amt: i64,
    /// Fen, refunds that succeeded.
    pub refunded_amt: i64,
    /// Fen, refunds reserved and not yet final.
    pub refund_in_flight_amt: i64,
    pub time_expire: DateTimeUtc,
    pub end_time: Option<DateTimeUtc>,
    pub close_requested_at: Option<DateTimeUtc>,
    pub close_req_date: Option<String>,
    pub close_req_seq_id: Option<String>,
    pub next_query_at: Option<DateTimeUtc>,
    pub query_attempts: i32,
    pub query_lease_owner: Option<String>,
    pub query_lease_until: Option<DateTimeUtc>,
    pub request_hash: String,
    pub first_response: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Incremented by every UPDATE.
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
