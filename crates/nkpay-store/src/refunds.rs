//! Refund orders. Creating one reserves its amount on the trade in the same transaction, so
//! concurrent refunds can never sum over the paid amount; settling one moves it to its final
//! state once, turns the reservation into a refund or gives it back, records the share of the
//! trade's fee a successful refund returns (`nkpay_core::fee::refund_fee`), and enqueues the
//! merchant notification — all in one transaction.

use chrono::{DateTime, Utc};
use nkpay_core::money::Money;
use nkpay_core::state::RefundStatus;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    UpdateMany,
};

use crate::db::Db;
use crate::entity::refund::{self, Column};
use crate::error::StoreError;
use crate::notifications::{self, NewNotification};
use crate::trades;
use crate::write_batch::WriteConn;

const PROCESSING: RefundStatus = RefundStatus::Processing;

/// A refund to create; it starts as processing (`P`).
#[derive(Debug, Clone)]
pub struct NewRefund {
    /// The refund's own `nkp_seq_id` (sent upstream as `out_refund_no`).
    pub nkp_seq_id: String,
    /// The caller's `sys_id`: a service provider, or a merchant acting for itself.
    pub sys_id: String,
    /// The sub-merchant's `mer_id` (16 digits).
    pub mer_id: String,
    /// The merchant's request date, `yyyyMMdd`.
    pub req_date: String,
    /// The merchant's request number, unique per `mer_id` and `req_date`.
    pub req_seq_id: String,
    /// The trade being refunded.
    pub org_nkp_seq_id: String,
    /// The channel of the refunded trade.
    pub channel: nkpay_core::trade_type::ChannelKind,
    /// The amount to refund.
    pub ord_amt: Money,
    /// Where the merchant wants its asynchronous notification.
    pub notify_url: Option<String>,
    /// The merchant's free text, returned as given.
    pub remark: Option<String>,
    /// When the query job should first ask the channel (UTC).
    pub next_query_at: Option<DateTime<Utc>>,
    /// Hash of the canonical request, to tell a replay from a different request.
    pub request_hash: String,
}

/// What [`create_reserved`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The amount is reserved on the trade and the refund row exists.
    Reserved(Box<refund::Model>),
    /// Nothing was written: the trade is not succeeded, or the amount exceeds what is left
    /// (paid − refunded − in flight). Re-read the trade to tell which.
    Refused,
}

/// A refund's final state and what came with it. `None` fields leave the column as it is.
#[derive(Debug, Clone)]
pub struct RefundFinalState {
    /// Succeeded or Failed; Processing is refused.
    pub status: RefundStatus,
    /// The channel's refund id, when it gave one.
    pub party_refund_id: Option<String>,
    /// When the channel finished the refund (UTC).
    pub end_time: Option<DateTime<Utc>>,
    /// The channel's error or result code, if it gave one.
    pub bank_code: Option<String>,
    /// The channel's message with `bank_code`.
    pub bank_message: Option<String>,
}

/// Reserves `new.ord_amt` on the original trade and inserts the refund, in one transaction.
/// `Duplicate` (and nothing reserved) when `(mer_id, req_date, req_seq_id)` or `nkp_seq_id`
/// exists.
/// The transaction runs through [`Db::write`] (see `trades::finalize` for why).
pub async fn create_reserved(
    db: &Db,
    new: &NewRefund,
    now: DateTime<Utc>,
) -> Result<Reservation, StoreError> {
    let new = new.clone();
    db.write(move |w| async move {
        let txn = w.begin_write().await?;
        if !trades::reserve_refund(&*txn, &new.org_nkp_seq_id, new.ord_amt, now).await? {
            txn.rollback().await?;
            return Ok(Reservation::Refused);
        }
        // On failure the transaction is dropped, which rolls the reservation back.
        let saved = insert_processing(&*txn, &new, now).await?;
        txn.commit().await?;
        Ok(Reservation::Reserved(Box::new(saved)))
    })
    .await
}

/// Inserts `new` as a processing refund inside `conn` (the caller's transaction, which has
/// reserved its amount on the trade). `Duplicate` when `(mer_id, req_date, req_seq_id)` or
/// `nkp_seq_id` exists.
pub(crate) async fn insert_processing(
    conn: &impl ConnectionTrait,
    new: &NewRefund,
    now: DateTime<Utc>,
) -> Result<refund::Model, StoreError> {
    refund::ActiveModel {
        nkp_seq_id: Set(new.nkp_seq_id.clone()),
        sys_id: Set(new.sys_id.clone()),
        mer_id: Set(new.mer_id.clone()),
        req_date: Set(new.req_date.clone()),
        req_seq_id: Set(new.req_seq_id.clone()),
        org_nkp_seq_id: Set(new.org_nkp_seq_id.clone()),
        channel: Set(new.channel),
        ord_amt: Set(new.ord_amt.fen()),
        fee_amt: Set(0),
        status: Set(PROCESSING),
        party_refund_id: Set(None),
        notify_url: Set(new.notify_url.clone()),
        remark: Set(new.remark.clone()),
        bank_code: Set(None),
        bank_message: Set(None),
        end_time: Set(None),
        next_query_at: Set(new.next_query_at),
        query_attempts: Set(0),
        query_lease_owner: Set(None),
        query_lease_until: Set(None),
        request_hash: Set(new.request_hash.clone()),
        first_response: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(0),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_write("refund", e))
}

/// The refund with the merchant's request key `(mer_id, req_date, req_seq_id)`.
pub async fn find_by_req(
    conn: &impl ConnectionTrait,
    mer_id: &str,
    req_date: &str,
    req_seq_id: &str,
) -> Result<Option<refund::Model>, StoreError> {
    Ok(crate::unique_row(
        refund::Entity::find()
            .filter(Column::MerId.eq(mer_id))
            .filter(Column::ReqDate.eq(req_date))
            .filter(Column::ReqSeqId.eq(req_seq_id))
            .all(conn)
            .await?,
    ))
}

/// The refund with `nkp_seq_id`.
pub async fn find_by_nkp_seq_id(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
) -> Result<Option<refund::Model>, StoreError> {
    Ok(crate::unique_row(
        refund::Entity::find()
            .filter(Column::NkpSeqId.eq(nkp_seq_id))
            .all(conn)
            .await?,
    ))
}

/// Every refund of a trade, oldest first.
pub async fn list_for_trade(
    conn: &impl ConnectionTrait,
    org_nkp_seq_id: &str,
) -> Result<Vec<refund::Model>, StoreError> {
    Ok(refund::Entity::find()
        .filter(Column::OrgNkpSeqId.eq(org_nkp_seq_id))
        .order_by_asc(Column::Id)
        .all(conn)
        .await?)
}

fn update_one(nkp_seq_id: &str, now: DateTime<Utc>) -> UpdateMany<refund::Entity> {
    refund::Entity::update_many()
        .col_expr(Column::Version, Expr::col(Column::Version).add(1))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::NkpSeqId.eq(nkp_seq_id))
}

/// Stores the channel's refund id while the refund is processing.
pub async fn record_party_refund_id(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
    party_refund_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = party_refund_id_update(nkp_seq_id, party_refund_id, now)
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The UPDATE of [`record_party_refund_id`].
pub(crate) fn party_refund_id_update(
    nkp_seq_id: &str,
    party_refund_id: &str,
    now: DateTime<Utc>,
) -> UpdateMany<refund::Entity> {
    update_one(nkp_seq_id, now)
        .col_expr(Column::PartyRefundId, Expr::value(party_refund_id))
        .filter(Column::Status.eq(PROCESSING))
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

/// Moves a processing refund to its final state, commits (succeeded) or releases (failed)
/// its reservation on the trade, and enqueues `notification`, in one transaction. `true` for
/// exactly one caller; the others get `false`. [`finalize_with`] when the notification must
/// carry the fee the refund returns.
pub async fn finalize(
    db: &Db,
    nkp_seq_id: &str,
    final_state: &RefundFinalState,
    notification: Option<&NewNotification>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let notification = notification.cloned();
    finalize_with(db, nkp_seq_id, final_state, move |_| notification, now).await
}

/// [`finalize`], with the notification built from the fee the refund returns (fen, 0 unless it
/// succeeded). On success that fee is `nkpay_core::fee::refund_fee` of the trade's `fee_amt`
/// with the trade's `refunded_amt` before this refund, read after this refund's amount was
/// committed on the trade and while this transaction holds the trade's row: two refunds of one
/// trade finishing at once each see the other's amount or neither, so the fees returned add up
/// to `floor(fee × refunded / trans_amt)` and never exceed the fee. It is stored in the refund's
/// `fee_amt`. `Corrupt` when the trade's stored amounts break that rule's bounds.
///
/// The transaction runs through [`Db::write`] (see `trades::finalize` for why), so
/// `notification` is moved there.
pub async fn finalize_with(
    db: &Db,
    nkp_seq_id: &str,
    final_state: &RefundFinalState,
    notification: impl FnOnce(Money) -> Option<NewNotification> + Send + 'static,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if !final_state.status.is_final() {
        return Err(StoreError::Invalid {
            field: "final_state.status",
            rule: "must be a final state (S or F)".to_owned(),
        });
    }
    let (id, state) = (nkp_seq_id.to_owned(), final_state.clone());
    db.write(move |w| async move { finalize_on(&w, &id, &state, notification, now).await })
        .await
}

/// The transaction of [`finalize_with`], on the connection it runs on.
async fn finalize_on(
    w: &WriteConn,
    nkp_seq_id: &str,
    final_state: &RefundFinalState,
    notification: impl FnOnce(Money) -> Option<NewNotification>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let txn = w.begin_write().await?;
    let Some(current) = find_by_nkp_seq_id(&*txn, nkp_seq_id).await? else {
        return Err(StoreError::NotFound {
            what: "refund",
            key: nkp_seq_id.to_owned(),
        });
    };
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
    if let Some(v) = &final_state.party_refund_id {
        update = update.col_expr(Column::PartyRefundId, Expr::value(v.clone()));
    }
    if let Some(v) = final_state.end_time {
        update = update.col_expr(Column::EndTime, Expr::value(v));
    }
    if let Some(v) = &final_state.bank_code {
        update = update.col_expr(Column::BankCode, Expr::value(v.clone()));
    }
    if let Some(v) = &final_state.bank_message {
        update = update.col_expr(Column::BankMessage, Expr::value(v.clone()));
    }
    if update.exec(&*txn).await?.rows_affected != 1 {
        return Ok(false);
    }
    let amount = Money::from_fen(current.ord_amt).map_err(|e| StoreError::Corrupt {
        what: "refund ord_amt",
        reason: e.to_string(),
    })?;
    let moved = match final_state.status {
        RefundStatus::Succeeded => {
            trades::commit_refund(&*txn, &current.org_nkp_seq_id, amount, now).await?
        }
        _ => trades::release_refund(&*txn, &current.org_nkp_seq_id, amount, now).await?,
    };
    if !moved {
        // The reservation is missing: storing the state anyway would break the trade's sums.
        return Err(StoreError::Corrupt {
            what: "refund reservation",
            reason: format!(
                "trade {} holds less in flight than refund {nkp_seq_id} ({} fen)",
                current.org_nkp_seq_id, current.ord_amt
            ),
        });
    }
    let fee = match final_state.status {
        RefundStatus::Succeeded => {
            let fee = returned_fee(&*txn, &current.org_nkp_seq_id, amount).await?;
            refund::Entity::update_many()
                .col_expr(Column::FeeAmt, Expr::value(fee.fen()))
                .filter(Column::NkpSeqId.eq(nkp_seq_id))
                .exec(&*txn)
                .await?;
            fee
        }
        _ => Money::ZERO,
    };
    if let Some(n) = notification(fee) {
        notifications::enqueue(&*txn, &n, now).await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// The fee a refund of `amount` returns, once `amount` is already committed on trade
/// `org_nkp_seq_id` inside `txn` (which holds the trade's row).
async fn returned_fee(
    txn: &impl ConnectionTrait,
    org_nkp_seq_id: &str,
    amount: Money,
) -> Result<Money, StoreError> {
    let t = trades::find_by_nkp_seq_id(txn, org_nkp_seq_id)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "trade",
            key: org_nkp_seq_id.to_owned(),
        })?;
    let corrupt = |e: nkpay_core::CoreError| StoreError::Corrupt {
        what: "trade fee",
        reason: format!("trade {org_nkp_seq_id}: {e}"),
    };
    let fen = |v: i64| Money::from_fen(v).map_err(corrupt);
    let before = t
        .refunded_amt
        .checked_sub(amount.fen())
        .ok_or_else(|| StoreError::Corrupt {
            what: "trade fee",
            reason: format!("trade {org_nkp_seq_id}: refunded_amt below the refund just committed"),
        })?;
    nkpay_core::fee::refund_fee(fen(t.fee_amt)?, fen(t.trans_amt)?, fen(before)?, amount)
        .map_err(corrupt)
}
