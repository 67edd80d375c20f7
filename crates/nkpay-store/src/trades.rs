//! Payment trades: insert under the merchant's idempotency key, find, and change state only
//! with conditional UPDATEs (never read-modify-write), so two nodes or two notifies can never
//! finalize a trade twice or refund more than was paid.

use chrono::{DateTime, SubsecRound, Utc};
use nkpay_core::money::Money;
use nkpay_core::state::TradeStatus;
use nkpay_core::trade_type::{ChannelKind, TradeType};
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TryIntoModel, UpdateMany,
};

use crate::db::Db;
use crate::entity::trade::{self, Column};
use crate::error::StoreError;
use crate::notifications::{self, NewNotification};

const PROCESSING: TradeStatus = TradeStatus::Processing;
const SUCCEEDED: TradeStatus = TradeStatus::Succeeded;

/// A trade to insert; it starts as processing (`P`).
#[derive(Debug, Clone)]
pub struct NewTrade {
    /// The trade's `nkp_seq_id` (sent upstream as `out_trade_no`).
    pub nkp_seq_id: String,
    /// The caller's `sys_id`: a service provider, or a merchant acting for itself.
    pub sys_id: String,
    /// The sub-merchant's `mer_id` (16 digits).
    pub mer_id: String,
    /// The merchant's request date, `yyyyMMdd`.
    pub req_date: String,
    /// The merchant's request number, unique per `mer_id` and `req_date`.
    pub req_seq_id: String,
    /// The payment method; stored as "T_JSAPI", "T_MINIAPP" or "A_NATIVE".
    pub trade_type: TradeType,
    /// The platform channel account that places it.
    pub channel_account_id: i64,
    /// The amount to pay.
    pub trans_amt: Money,
    /// Basis points, 0 to 10000: the rate of the merchant's business in force now
    /// (`merchant_channels.fee_rate_bp`); the fee is charged at it when the trade succeeds,
    /// whatever the rate is by then.
    pub fee_rate_bp: i32,
    /// Goods description shown to the payer.
    pub goods_desc: String,
    /// Where the merchant wants its asynchronous notification.
    pub notify_url: Option<String>,
    /// The merchant's free text, returned as given.
    pub remark: Option<String>,
    /// WeChat `sub_mch_id` of the merchant.
    pub sub_mch_id: Option<String>,
    /// The appid the order is placed under (platform appid or `sub_appid`).
    pub appid: Option<String>,
    /// The merchant's own appid (`sub_appid`), when the order uses one.
    pub sub_appid: Option<String>,
    /// The payer's openid under the platform appid.
    pub openid: Option<String>,
    /// The payer's openid under `sub_appid`.
    pub sub_openid: Option<String>,
    /// When the order expires unpaid (UTC).
    pub time_expire: DateTime<Utc>,
    /// When the query job should first ask the channel, if nobody calls back.
    pub next_query_at: Option<DateTime<Utc>>,
    /// Hash of the canonical request, to tell a replay from a different request.
    pub request_hash: String,
    /// The payer's IP sent as WeChat's `spbill_create_ip`, when the merchant gave one.
    pub client_ip: Option<String>,
    /// WeChat's `attach`, when the merchant gave one.
    pub attach: Option<String>,
}

/// What the channel said once it placed the order.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    /// WeChat JSAPI/mini-program payment parameters (JSON) for the payer's client.
    pub pay_info: Option<String>,
    /// Alipay QR code URL for `A_NATIVE`.
    pub qr_code: Option<String>,
    /// The channel's order id, when placing gave one.
    pub party_order_id: Option<String>,
}

/// A trade's final state and what came with it. `None` fields leave the column as it is.
#[derive(Debug, Clone)]
pub struct FinalState {
    /// Succeeded, Failed or Closed; Processing is refused.
    pub status: TradeStatus,
    /// The channel's order id (WeChat `transaction_id`, Alipay `trade_no`).
    pub party_order_id: Option<String>,
    /// The payer: WeChat openid or Alipay buyer id.
    pub buyer_id: Option<String>,
    /// When the channel finished it (UTC).
    pub end_time: Option<DateTime<Utc>>,
    /// The fee charged: on success, `nkpay_core::fee::trade_fee` of the amount at the trade's
    /// `fee_rate_bp`; `None` leaves it at 0.
    pub fee_amt: Option<Money>,
    /// The channel's error or result code, if it gave one.
    pub bank_code: Option<String>,
    /// The channel's message with `bank_code`.
    pub bank_message: Option<String>,
}

/// Inserts a processing trade. `Duplicate` when `(mer_id, req_date, req_seq_id)` or
/// `nkp_seq_id` exists: look the first one up with [`find_by_req`] to replay or refuse.
/// `Invalid` naming `fee_rate_bp` when the rate is outside 0 to 10000 basis points.
pub async fn insert(
    conn: &impl ConnectionTrait,
    new: &NewTrade,
    now: DateTime<Utc>,
) -> Result<trade::Model, StoreError> {
    // PostgreSQL keeps microseconds: the model answered is the row as stored on both databases.
    let now = now.trunc_subsecs(6);
    if !(0..=nkpay_core::fee_rate::MAX_BASIS_POINTS).contains(&new.fee_rate_bp) {
        return Err(StoreError::Invalid {
            field: "fee_rate_bp",
            rule: format!("must be 0 to 10000 basis points, got {}", new.fee_rate_bp),
        });
    }
    let mut row = trade::ActiveModel {
        nkp_seq_id: Set(new.nkp_seq_id.clone()),
        sys_id: Set(new.sys_id.clone()),
        mer_id: Set(new.mer_id.clone()),
        req_date: Set(new.req_date.clone()),
        req_seq_id: Set(new.req_seq_id.clone()),
        trade_type: Set(new.trade_type),
        channel: Set(new.trade_type.channel()),
        channel_account_id: Set(new.channel_account_id),
        trans_amt: Set(new.trans_amt.fen()),
        status: Set(PROCESSING),
        goods_desc: Set(new.goods_desc.clone()),
        notify_url: Set(new.notify_url.clone()),
        remark: Set(new.remark.clone()),
        sub_mch_id: Set(new.sub_mch_id.clone()),
        appid: Set(new.appid.clone()),
        sub_appid: Set(new.sub_appid.clone()),
        openid: Set(new.openid.clone()),
        sub_openid: Set(new.sub_openid.clone()),
        buyer_id: Set(None),
        party_order_id: Set(None),
        pay_info: Set(None),
        qr_code: Set(None),
        bank_code: Set(None),
        bank_message: Set(None),
        fee_amt: Set(0),
        fee_rate_bp: Set(new.fee_rate_bp),
        refunded_amt: Set(0),
        refund_in_flight_amt: Set(0),
        time_expire: Set(new.time_expire.trunc_subsecs(6)),
        end_time: Set(None),
        close_requested_at: Set(None),
        close_req_date: Set(None),
        close_req_seq_id: Set(None),
        next_query_at: Set(new.next_query_at.map(|t| t.trunc_subsecs(6))),
        query_attempts: Set(0),
        query_lease_owner: Set(None),
        query_lease_until: Set(None),
        request_hash: Set(new.request_hash.clone()),
        first_response: Set(None),
        create_unknown_at: Set(None),
        create_repeats: Set(0),
        client_ip: Set(new.client_ip.clone()),
        attach: Set(new.attach.clone()),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(0),
        ..Default::default()
    };
    // The row is known whole but for its id: insert it and take the id alone (`RETURNING id`
    // on PostgreSQL, the rowid on SQLite), not every column back (issue 16).
    let inserted = trade::Entity::insert(row.clone())
        .exec(conn)
        .await
        .map_err(|e| StoreError::from_write("trade", e))?;
    row.id = Set(inserted.last_insert_id);
    Ok(row.try_into_model()?)
}

/// Finds a trade by the merchant's request id.
pub async fn find_by_req(
    conn: &impl ConnectionTrait,
    mer_id: &str,
    req_date: &str,
    req_seq_id: &str,
) -> Result<Option<trade::Model>, StoreError> {
    Ok(crate::unique_row(
        trade::Entity::find()
            .filter(Column::MerId.eq(mer_id))
            .filter(Column::ReqDate.eq(req_date))
            .filter(Column::ReqSeqId.eq(req_seq_id))
            .all(conn)
            .await?,
    ))
}

/// Finds a trade by the platform's id (also the upstream `out_trade_no`).
pub async fn find_by_nkp_seq_id(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
) -> Result<Option<trade::Model>, StoreError> {
    Ok(crate::unique_row(
        trade::Entity::find()
            .filter(Column::NkpSeqId.eq(nkp_seq_id))
            .all(conn)
            .await?,
    ))
}

/// Finds a trade by the channel's own order number.
pub async fn find_by_party_order_id(
    conn: &impl ConnectionTrait,
    channel: ChannelKind,
    party_order_id: &str,
) -> Result<Option<trade::Model>, StoreError> {
    Ok(crate::unique_row(
        trade::Entity::find()
            .filter(Column::Channel.eq(channel.as_str()))
            .filter(Column::PartyOrderId.eq(party_order_id))
            .all(conn)
            .await?,
    ))
}

/// A merchant's trades created in `[from, to)`, newest first, at most `limit`.
pub async fn list_by_merchant(
    conn: &impl ConnectionTrait,
    mer_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<trade::Model>, StoreError> {
    Ok(trade::Entity::find()
        .filter(Column::MerId.eq(mer_id))
        .filter(Column::CreatedAt.gte(from))
        .filter(Column::CreatedAt.lt(to))
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// One page of trades created in `[from, to)` with `id > after_id`, by id: statements and
/// reconciliation walk a day with this without holding it all in memory.
pub async fn page_created_between(
    conn: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    after_id: i64,
    limit: u64,
) -> Result<Vec<trade::Model>, StoreError> {
    Ok(trade::Entity::find()
        .filter(Column::CreatedAt.gte(from))
        .filter(Column::CreatedAt.lt(to))
        .filter(Column::Id.gt(after_id))
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// An UPDATE of one trade that bumps `version` and `updated_at`.
fn update_one(nkp_seq_id: &str, now: DateTime<Utc>) -> UpdateMany<trade::Entity> {
    trade::Entity::update_many()
        .col_expr(Column::Version, Expr::col(Column::Version).add(1))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::NkpSeqId.eq(nkp_seq_id))
}

/// Stores what the channel answered when the order was placed; only while the trade is
/// processing. Returns whether it was stored.
pub async fn record_placement(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    placement: &Placement,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = placement_update(nkp_seq_id, placement, now)
        .exec(conn)
        .await
        .map_err(|e| StoreError::from_write("trade", e))?;
    Ok(res.rows_affected == 1)
}

/// The UPDATE storing `placement` on a processing trade.
pub(crate) fn placement_update(
    nkp_seq_id: &str,
    placement: &Placement,
    now: DateTime<Utc>,
) -> UpdateMany<trade::Entity> {
    let mut update = update_one(nkp_seq_id, now).filter(Column::Status.eq(PROCESSING));
    if let Some(v) = &placement.pay_info {
        update = update.col_expr(Column::PayInfo, Expr::value(v.clone()));
    }
    if let Some(v) = &placement.qr_code {
        update = update.col_expr(Column::QrCode, Expr::value(v.clone()));
    }
    if let Some(v) = &placement.party_order_id {
        update = update.col_expr(Column::PartyOrderId, Expr::value(v.clone()));
    }
    update
}

/// Stores the first answer given to the merchant, for replays; never overwrites one.
pub async fn record_first_response(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = update_one(nkp_seq_id, now)
        .col_expr(Column::FirstResponse, Expr::value(body))
        .filter(Column::FirstResponse.is_null())
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Stores what the channel answered when the order was placed together with the first answer
/// given to the merchant (for replays), in one UPDATE: only while the trade is processing and
/// has no first answer yet. Returns whether it was stored; when not, neither was.
pub async fn record_placement_and_answer(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    placement: &Placement,
    body: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = placement_update(nkp_seq_id, placement, now)
        .col_expr(Column::FirstResponse, Expr::value(body))
        .filter(Column::FirstResponse.is_null())
        .exec(conn)
        .await
        .map_err(|e| StoreError::from_write("trade", e))?;
    Ok(res.rows_affected == 1)
}

/// Records that the create of a processing trade was left without an outcome (the channel may
/// have made the order): only when nothing was placed yet. Returns whether it was recorded.
pub async fn record_create_unknown(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = update_one(nkp_seq_id, now)
        .col_expr(Column::CreateUnknownAt, Expr::value(now))
        .filter(Column::Status.eq(PROCESSING))
        .filter(Column::CreateUnknownAt.is_null())
        .filter(Column::PayInfo.is_null())
        .filter(Column::QrCode.is_null())
        .exec(conn)
        .await
        .map_err(|e| StoreError::from_write("trade", e))?;
    Ok(res.rows_affected == 1)
}

/// Takes one repeat of a create whose outcome is unknown, while fewer than `limit` were taken:
/// counting before sending bounds the repeats however many callers race. `false` when the
/// trade is final, its create is no longer unknown, or the repeats are used up.
pub async fn take_create_repeat(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    limit: i32,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = update_one(nkp_seq_id, now)
        .col_expr(
            Column::CreateRepeats,
            Expr::col(Column::CreateRepeats).add(1),
        )
        .filter(Column::Status.eq(PROCESSING))
        .filter(Column::CreateUnknownAt.is_not_null())
        .filter(Column::CreateRepeats.lt(limit))
        .exec(conn)
        .await
        .map_err(|e| StoreError::from_write("trade", e))?;
    Ok(res.rows_affected == 1)
}

/// A repeated create placed the order: stores what the payer needs and `answer` as the answer
/// replayed from now on, and ends the unknown outcome, in one conditional UPDATE. `false` when
/// another repeat got there first or the trade is final.
pub async fn record_repeated_placement(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    placement: &Placement,
    answer: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let update = placement_update(nkp_seq_id, placement, now)
        .col_expr(Column::FirstResponse, Expr::value(answer))
        .col_expr(
            Column::CreateUnknownAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(Column::CreateUnknownAt.is_not_null());
    let res = update
        .exec(conn)
        .await
        .map_err(|e| StoreError::from_write("trade", e))?;
    Ok(res.rows_affected == 1)
}

/// Moves a processing trade to its final state and enqueues `notification`, in one
/// transaction. Returns `true` for exactly one caller however many race: the others (and
/// every later call) get `false` and must re-read the trade. Also ends its query job.
///
/// The transaction runs through [`Db::write`] (on a SQLite file a savepoint in the write
/// queue's batch): its four statements once held the one writer connection on a channel
/// notify's request task (on a busy HTTP worker) or the jobs' lower-priority thread, polled
/// late between them while every other write waited (issue 16: a burst of pay notifies
/// stalled the refunds behind it).
pub async fn finalize(
    db: &Db,
    nkp_seq_id: &str,
    final_state: &FinalState,
    notification: Option<&NewNotification>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let (id, state, notification) = (
        nkp_seq_id.to_owned(),
        final_state.clone(),
        notification.cloned(),
    );
    db.write(move |w| async move {
        let txn = w.begin_write().await?;
        let changed = finalize_in(&*txn, &id, &state, notification.as_ref(), now).await?;
        txn.commit().await?;
        Ok(changed)
    })
    .await
}

/// [`finalize`] inside a transaction the caller owns (to add its own writes, e.g. an incident).
/// Start it with [`Db::begin_write`].
pub async fn finalize_in(
    txn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    final_state: &FinalState,
    notification: Option<&NewNotification>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if !final_state.status.is_final() {
        return Err(StoreError::Invalid {
            field: "final_state.status",
            rule: "must be a final state (S, F or C)".to_owned(),
        });
    }
    let mut update = update_one(nkp_seq_id, now)
        .col_expr(Column::Status, Expr::value(final_state.status.as_str()))
        .col_expr(
            Column::NextQueryAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::QueryLeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(
            Column::QueryLeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(Column::Status.eq(PROCESSING));
    let optional: [(Column, Option<SimpleExpr>); 6] = [
        (
            Column::PartyOrderId,
            final_state.party_order_id.clone().map(Expr::value),
        ),
        (
            Column::BuyerId,
            final_state.buyer_id.clone().map(Expr::value),
        ),
        (Column::EndTime, final_state.end_time.map(Expr::value)),
        (
            Column::FeeAmt,
            final_state.fee_amt.map(|m| Expr::value(m.fen())),
        ),
        (
            Column::BankCode,
            final_state.bank_code.clone().map(Expr::value),
        ),
        (
            Column::BankMessage,
            final_state.bank_message.clone().map(Expr::value),
        ),
    ];
    for (col, value) in optional {
        if let Some(v) = value {
            update = update.col_expr(col, v);
        }
    }
    let res = update
        .exec(txn)
        .await
        .map_err(|e| StoreError::from_write("trade", e))?;
    if res.rows_affected != 1 {
        return Ok(false);
    }
    if let Some(n) = notification {
        notifications::enqueue(txn, n, now).await?;
    }
    Ok(true)
}

/// Records a merchant's close request on a processing trade that has none yet; the close
/// itself happens when the channel allows it. Returns whether it was recorded.
pub async fn request_close(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    close_req_date: &str,
    close_req_seq_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = update_one(nkp_seq_id, now)
        .col_expr(Column::CloseRequestedAt, Expr::value(now))
        .col_expr(Column::CloseReqDate, Expr::value(close_req_date))
        .col_expr(Column::CloseReqSeqId, Expr::value(close_req_seq_id))
        .filter(Column::Status.eq(PROCESSING))
        .filter(Column::CloseRequestedAt.is_null())
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Reserves `amount` for a refund in one conditional UPDATE: only on a succeeded trade and
/// only while `refunded + in_flight + amount <= trans_amt`. `false` when either fails;
/// concurrent reservations can never sum over the paid amount.
pub async fn reserve_refund(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    amount: Money,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let amt = amount.fen();
    let res = update_one(nkp_seq_id, now)
        .col_expr(
            Column::RefundInFlightAmt,
            Expr::col(Column::RefundInFlightAmt).add(amt),
        )
        .filter(Column::Status.eq(SUCCEEDED))
        .filter(
            Expr::col(Column::RefundedAmt)
                .add(Expr::col(Column::RefundInFlightAmt))
                .add(amt)
                .lte(Expr::col(Column::TransAmt)),
        )
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Gives back a reservation whose refund failed.
pub async fn release_refund(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    amount: Money,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    end_reservation(conn, nkp_seq_id, amount, false, now).await
}

/// Turns a reservation into a refunded amount once the refund succeeded.
pub async fn commit_refund(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    amount: Money,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    end_reservation(conn, nkp_seq_id, amount, true, now).await
}

/// Takes `amount` out of flight, into `refunded_amt` when `refunded`; `false` when less than
/// `amount` is in flight (the reservation does not exist).
async fn end_reservation(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    amount: Money,
    refunded: bool,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let amt = amount.fen();
    let mut update = update_one(nkp_seq_id, now)
        .col_expr(
            Column::RefundInFlightAmt,
            Expr::col(Column::RefundInFlightAmt).sub(amt),
        )
        .filter(Column::RefundInFlightAmt.gte(amt));
    if refunded {
        update = update.col_expr(Column::RefundedAmt, Expr::col(Column::RefundedAmt).add(amt));
    }
    Ok(update.exec(conn).await?.rows_affected == 1)
}
