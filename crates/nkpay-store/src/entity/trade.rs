//! `trades`: one payment order. Change its state only through [`crate::trades`], whose
//! UPDATEs are conditional on the current state.

use nkpay_core::state::TradeStatus;
use nkpay_core::trade_type::{ChannelKind, TradeType};
use sea_orm::entity::prelude::*;

/// One row of `trades`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trades")]
pub struct Model {
    /// Surrogate primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The platform's order number (`nkp_seq_id`), unique.
    #[sea_orm(unique)]
    pub nkp_seq_id: String,
    /// The caller that created it (a service provider, or the merchant itself).
    pub sys_id: String,
    /// The sub-merchant's `mer_id` (16 digits).
    pub mer_id: String,
    /// The merchant's request date, `yyyyMMdd`.
    pub req_date: String,
    /// The merchant's request number, unique per `mer_id` and `req_date`.
    pub req_seq_id: String,
    /// The payment method; stored as "T_JSAPI", "T_MINIAPP" or "A_NATIVE".
    pub trade_type: TradeType,
    /// The channel it runs on; stored as "wechat" or "alipay".
    pub channel: ChannelKind,
    /// The platform channel account the order went through.
    pub channel_account_id: i64,
    /// Fen.
    pub trans_amt: i64,
    /// "P", "S", "F" or "C" (see `nkpay_core::state::TradeStatus`).
    pub status: TradeStatus,
    /// Goods description shown to the payer.
    pub goods_desc: String,
    /// Where the merchant wants its asynchronous notification.
    pub notify_url: Option<String>,
    /// The merchant's free text, returned as given.
    pub remark: Option<String>,
    /// WeChat `sub_mch_id` of the merchant.
    pub sub_mch_id: Option<String>,
    /// The appid the order was placed under (platform appid or `sub_appid`).
    pub appid: Option<String>,
    /// The merchant's own appid (`sub_appid`), when the order uses one.
    pub sub_appid: Option<String>,
    /// The payer's openid under the platform appid.
    pub openid: Option<String>,
    /// The payer's openid under `sub_appid`.
    pub sub_openid: Option<String>,
    /// The payer: WeChat openid or Alipay buyer id.
    pub buyer_id: Option<String>,
    /// The channel's order id (WeChat `transaction_id`, Alipay `trade_no`).
    pub party_order_id: Option<String>,
    /// WeChat JSAPI/mini-program payment parameters (JSON) for the payer's client.
    pub pay_info: Option<String>,
    /// Alipay QR code URL for `A_NATIVE`.
    pub qr_code: Option<String>,
    /// The channel's error or result code, if it gave one.
    pub bank_code: Option<String>,
    /// The channel's message with `bank_code`.
    pub bank_message: Option<String>,
    /// Fen: the fee charged at `fee_rate_bp`, rounded half up, set when the trade succeeds
    /// (`nkpay_core::fee::trade_fee`); 0 until then and for a trade that did not succeed.
    pub fee_amt: i64,
    /// Basis points (0 to 10000): the rate of the merchant's business in force when the trade
    /// was created (`merchant_channels.fee_rate_bp`); `fee_amt` is charged at this rate.
    pub fee_rate_bp: i32,
    /// Fen, refunds that succeeded.
    pub refunded_amt: i64,
    /// Fen, refunds reserved and not yet final.
    pub refund_in_flight_amt: i64,
    /// When the order expires unpaid (UTC).
    pub time_expire: DateTimeUtc,
    /// When the payment was finished at the channel (UTC).
    pub end_time: Option<DateTimeUtc>,
    /// When the merchant asked to close it (UTC).
    pub close_requested_at: Option<DateTimeUtc>,
    /// The close request's `req_date`.
    pub close_req_date: Option<String>,
    /// The close request's `req_seq_id`.
    pub close_req_seq_id: Option<String>,
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
    /// The answer given to the merchant, replayed for a repeated request: the first one, or,
    /// when that left the create's outcome unknown, the one of the repeat that placed it.
    pub first_response: Option<String>,
    /// When the create's outcome was left unknown (UTC): the channel may have made the order
    /// though its reply was lost. `None` once a repeat placed it, and when the create was
    /// answered.
    pub create_unknown_at: Option<DateTimeUtc>,
    /// How many times the create was repeated since its outcome was left unknown (merchant
    /// replays and the trade job together).
    pub create_repeats: i32,
    /// The payer's IP sent as WeChat's `spbill_create_ip` (`wx_data.spbill_create_ip`); `None`:
    /// the account's server IP was sent.
    pub client_ip: Option<String>,
    /// `wx_data.attach`, sent to WeChat and echoed in its notify.
    pub attach: Option<String>,
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
