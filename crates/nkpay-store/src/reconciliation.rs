//! Reconciliation (对账) runs and the differences they find between a channel's bill and our
//! trades and refunds (issue 12), and the reads a run needs: the trades and refunds that
//! finished on a day under one channel account, and the one refund a run may create itself —
//! the whole amount of a trade paid at the channel after it was closed or failed here.
//!
//! A difference moves `open` → `healed` (the run fixed it) or `open` → `resolved` (an operator,
//! with a note), each by one conditional UPDATE, so two clicks or two nodes cannot both win.

use chrono::{DateTime, Utc};
use nkpay_core::state::{RefundStatus, TradeStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::db::Db;
use crate::entity::{reconciliation_difference as diff, reconciliation_run as run};
use crate::entity::{refund, trade};
use crate::error::StoreError;
pub use crate::kinds::{DifferenceKind, DifferenceRow, DifferenceState, RunStatus};
use crate::refunds::{NewRefund, Reservation};

/// A run's counts when it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Rows in the channel's bill(s).
    pub bill_rows: i64,
    /// Bill rows that matched ours exactly.
    pub matched_rows: i64,
    /// Bill rows whose order number is not ours.
    pub foreign_rows: i64,
    /// Differences recorded.
    pub differences: i64,
    /// Differences the run healed.
    pub healed: i64,
}

/// Starts a run of `channel_account_id`'s bill of `bill_date` (`yyyyMMdd`, Asia/Shanghai).
pub async fn start_run(
    conn: &impl ConnectionTrait,
    channel_account_id: i64,
    channel: &str,
    bill_date: &str,
    started_by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<run::Model, StoreError> {
    Ok(run::ActiveModel {
        channel_account_id: Set(channel_account_id),
        channel: Set(channel.to_owned()),
        bill_date: Set(bill_date.to_owned()),
        status: Set(RunStatus::Running),
        bill_rows: Set(0),
        matched_rows: Set(0),
        foreign_rows: Set(0),
        differences: Set(0),
        healed: Set(0),
        error: Set(None),
        started_by: Set(started_by.map(str::to_owned)),
        started_at: Set(now),
        finished_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

/// Ends run `id` as `status` with its counts and, for a failed run, why.
pub async fn finish_run(
    conn: &impl ConnectionTrait,
    id: i64,
    status: RunStatus,
    counts: RunCounts,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    run::Entity::update_many()
        .col_expr(run::Column::Status, Expr::value(status.as_str()))
        .col_expr(run::Column::BillRows, Expr::value(counts.bill_rows))
        .col_expr(run::Column::MatchedRows, Expr::value(counts.matched_rows))
        .col_expr(run::Column::ForeignRows, Expr::value(counts.foreign_rows))
        .col_expr(run::Column::Differences, Expr::value(counts.differences))
        .col_expr(run::Column::Healed, Expr::value(counts.healed))
        .col_expr(run::Column::Error, Expr::value(error.map(str::to_owned)))
        .col_expr(run::Column::FinishedAt, Expr::value(Some(now)))
        .filter(run::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Run `id`.
pub async fn find_run(
    conn: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<run::Model>, StoreError> {
    Ok(run::Entity::find_by_id(id).one(conn).await?)
}

/// Runs with `id < before_id`, newest first, optionally of one account and/or one day.
pub async fn list_runs(
    conn: &impl ConnectionTrait,
    channel_account_id: Option<i64>,
    bill_date: Option<&str>,
    before_id: i64,
    limit: u64,
) -> Result<Vec<run::Model>, StoreError> {
    let mut q = run::Entity::find().filter(run::Column::Id.lt(before_id));
    if let Some(a) = channel_account_id {
        q = q.filter(run::Column::ChannelAccountId.eq(a));
    }
    if let Some(d) = bill_date {
        q = q.filter(run::Column::BillDate.eq(d));
    }
    Ok(q.order_by_desc(run::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// A difference to record (see [`diff::Model`] for the fields).
#[derive(Debug, Clone, Default)]
pub struct NewDifference {
    /// The run that found it.
    pub run_id: i64,
    /// The run's channel account.
    pub channel_account_id: i64,
    /// The run's day, `yyyyMMdd`.
    pub bill_date: String,
    /// What kind of difference.
    pub kind: Option<DifferenceKind>,
    /// Payment or refund.
    pub row_kind: Option<DifferenceRow>,
    /// The trade's `nkp_seq_id` (`out_trade_no`).
    pub order_no: String,
    /// The refund's `nkp_seq_id` (`out_refund_no`), on refund rows.
    pub refund_no: Option<String>,
    /// The merchant, when the trade is ours.
    pub mer_id: Option<String>,
    /// The channel's trade id.
    pub party_order_id: Option<String>,
    /// Our amount, fen.
    pub our_amount: Option<i64>,
    /// The channel's amount, fen.
    pub channel_amount: Option<i64>,
    /// Our fee, fen.
    pub our_fee: Option<i64>,
    /// The channel's fee, fen.
    pub channel_fee: Option<i64>,
    /// Our state word (`P`, `S`, `F`, `C`).
    pub our_state: Option<String>,
    /// What was found, in words.
    pub detail: String,
}

/// Records `new` as an open difference. `Invalid` naming `kind` when it is not set.
pub async fn insert_difference(
    conn: &impl ConnectionTrait,
    new: &NewDifference,
    now: DateTime<Utc>,
) -> Result<diff::Model, StoreError> {
    let kind = new.kind.ok_or(StoreError::Invalid {
        field: "kind",
        rule: "a difference needs its kind".to_owned(),
    })?;
    let row_kind = new.row_kind.ok_or(StoreError::Invalid {
        field: "row_kind",
        rule: "a difference is about a payment or a refund".to_owned(),
    })?;
    Ok(diff::ActiveModel {
        run_id: Set(new.run_id),
        channel_account_id: Set(new.channel_account_id),
        bill_date: Set(new.bill_date.clone()),
        kind: Set(kind),
        row_kind: Set(row_kind),
        order_no: Set(new.order_no.chars().take(64).collect()),
        refund_no: Set(new.refund_no.as_ref().map(|s| s.chars().take(64).collect())),
        mer_id: Set(new.mer_id.clone()),
        party_order_id: Set(new
            .party_order_id
            .as_ref()
            .map(|s| s.chars().take(64).collect())),
        our_amount: Set(new.our_amount),
        channel_amount: Set(new.channel_amount),
        our_fee: Set(new.our_fee),
        channel_fee: Set(new.channel_fee),
        our_state: Set(new.our_state.clone()),
        detail: Set(new.detail.clone()),
        state: Set(DifferenceState::Open),
        heal_action: Set(None),
        note: Set(None),
        resolved_by: Set(None),
        resolved_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

/// Marks open difference `id` healed with what healing did; `false` when it is not open.
pub async fn mark_healed(
    conn: &impl ConnectionTrait,
    id: i64,
    action: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    close_difference(
        conn,
        id,
        DifferenceState::Healed,
        Some(action),
        None,
        None,
        now,
    )
    .await
}

/// Records what healing tried on open difference `id` while leaving it open (the fix is not
/// final yet, or needs an operator).
pub async fn note_heal_attempt(
    conn: &impl ConnectionTrait,
    id: i64,
    action: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diff::Entity::update_many()
        .col_expr(diff::Column::HealAction, Expr::value(action.to_owned()))
        .col_expr(diff::Column::UpdatedAt, Expr::value(now))
        .filter(diff::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Marks open difference `id` resolved by `by` with `note`; `false` when it is unknown or not
/// open any more.
pub async fn resolve_difference(
    conn: &impl ConnectionTrait,
    id: i64,
    note: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    close_difference(
        conn,
        id,
        DifferenceState::Resolved,
        None,
        Some(note),
        Some(by),
        now,
    )
    .await
}

async fn close_difference(
    conn: &impl ConnectionTrait,
    id: i64,
    state: DifferenceState,
    action: Option<&str>,
    note: Option<&str>,
    by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut update = diff::Entity::update_many()
        .col_expr(diff::Column::State, Expr::value(state.as_str()))
        .col_expr(diff::Column::ResolvedAt, Expr::value(Some(now)))
        .col_expr(diff::Column::UpdatedAt, Expr::value(now))
        .filter(diff::Column::Id.eq(id))
        .filter(diff::Column::State.eq(DifferenceState::Open.as_str()));
    if let Some(a) = action {
        update = update.col_expr(diff::Column::HealAction, Expr::value(a.to_owned()));
    }
    if let Some(n) = note {
        update = update.col_expr(diff::Column::Note, Expr::value(n.to_owned()));
    }
    if let Some(b) = by {
        update = update.col_expr(diff::Column::ResolvedBy, Expr::value(b.to_owned()));
    }
    Ok(update.exec(conn).await?.rows_affected == 1)
}

/// Difference `id`.
pub async fn find_difference(
    conn: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<diff::Model>, StoreError> {
    Ok(diff::Entity::find_by_id(id).one(conn).await?)
}

/// Which differences to list.
#[derive(Debug, Clone, Default)]
pub struct DifferenceFilter {
    /// Only this run's.
    pub run_id: Option<i64>,
    /// Only in this state.
    pub state: Option<DifferenceState>,
    /// Only of this kind.
    pub kind: Option<DifferenceKind>,
    /// Only of this bill day (`yyyyMMdd`).
    pub bill_date: Option<String>,
}

/// Differences matching `filter` with `id > after_id`, oldest first (pass 0 for the first
/// page): the CSV export pages through every one this way without holding them all.
pub async fn list_differences(
    conn: &impl ConnectionTrait,
    filter: &DifferenceFilter,
    after_id: i64,
    limit: u64,
) -> Result<Vec<diff::Model>, StoreError> {
    let mut q = diff::Entity::find().filter(diff::Column::Id.gt(after_id));
    if let Some(r) = filter.run_id {
        q = q.filter(diff::Column::RunId.eq(r));
    }
    if let Some(s) = filter.state {
        q = q.filter(diff::Column::State.eq(s.as_str()));
    }
    if let Some(k) = filter.kind {
        q = q.filter(diff::Column::Kind.eq(k.as_str()));
    }
    if let Some(d) = &filter.bill_date {
        q = q.filter(diff::Column::BillDate.eq(d.clone()));
    }
    Ok(q.order_by_asc(diff::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// Trades of `channel_account_id` that succeeded in [`from`, `to`) (UTC instants of an
/// Asia/Shanghai day), by `end_time`.
pub async fn trades_succeeded_between(
    conn: &impl ConnectionTrait,
    channel_account_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<trade::Model>, StoreError> {
    Ok(trade::Entity::find()
        .filter(trade::Column::ChannelAccountId.eq(channel_account_id))
        .filter(trade::Column::Status.eq(TradeStatus::Succeeded.as_str()))
        .filter(trade::Column::EndTime.gte(from))
        .filter(trade::Column::EndTime.lt(to))
        .order_by_asc(trade::Column::Id)
        .all(conn)
        .await?)
}

/// Refunds on trades of `channel_account_id` that succeeded in [`from`, `to`), by `end_time`,
/// each with its trade.
pub async fn refunds_succeeded_between(
    conn: &impl ConnectionTrait,
    channel_account_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(refund::Model, trade::Model)>, StoreError> {
    let refunds = refund::Entity::find()
        .filter(refund::Column::Status.eq(RefundStatus::Succeeded.as_str()))
        .filter(refund::Column::EndTime.gte(from))
        .filter(refund::Column::EndTime.lt(to))
        .order_by_asc(refund::Column::Id)
        .all(conn)
        .await?;
    let mut ids: Vec<String> = refunds.iter().map(|r| r.org_nkp_seq_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let trades: std::collections::HashMap<String, trade::Model> = find_trades(conn, &ids)
        .await?
        .into_iter()
        .filter(|t| t.channel_account_id == channel_account_id)
        .map(|t| (t.nkp_seq_id.clone(), t))
        .collect();
    Ok(refunds
        .into_iter()
        .filter_map(|r| {
            let t = trades.get(&r.org_nkp_seq_id)?.clone();
            Some((r, t))
        })
        .collect())
}

/// Inserts the refund of a trade that was paid at the channel after it was closed or failed
/// here, reserving its amount on the trade in the same transaction (as
/// [`crate::refunds::create_reserved`] does for a paid trade): `Refused` when the trade is not
/// closed or failed, or the amount no longer fits (`refunded + in flight + amount <=
/// trans_amt`) — so a second run cannot refund the same payment twice. `Duplicate` when the
/// refund's request key exists.
pub async fn create_recovery_refund(
    db: &Db,
    new: &NewRefund,
    now: DateTime<Utc>,
) -> Result<Reservation, StoreError> {
    let txn = db.begin_write().await?;
    let amt = new.ord_amt.fen();
    let reserved = trade::Entity::update_many()
        .col_expr(
            trade::Column::RefundInFlightAmt,
            Expr::col(trade::Column::RefundInFlightAmt).add(amt),
        )
        .col_expr(
            trade::Column::Version,
            Expr::col(trade::Column::Version).add(1),
        )
        .col_expr(trade::Column::UpdatedAt, Expr::value(now))
        .filter(trade::Column::NkpSeqId.eq(new.org_nkp_seq_id.clone()))
        .filter(
            trade::Column::Status
                .is_in([TradeStatus::Closed.as_str(), TradeStatus::Failed.as_str()]),
        )
        .filter(
            Expr::col(trade::Column::RefundedAmt)
                .add(Expr::col(trade::Column::RefundInFlightAmt))
                .add(amt)
                .lte(Expr::col(trade::Column::TransAmt)),
        )
        .exec(&txn)
        .await?;
    if reserved.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(Reservation::Refused);
    }
    let saved = crate::refunds::insert_processing(&txn, new, now).await?;
    txn.commit().await?;
    Ok(Reservation::Reserved(Box::new(saved)))
}

/// The trades among `nkp_seq_ids` (bill order numbers; unknown ones are simply absent).
pub async fn find_trades(
    conn: &impl ConnectionTrait,
    nkp_seq_ids: &[String],
) -> Result<Vec<trade::Model>, StoreError> {
    find_in::<trade::Entity>(conn, trade::Column::NkpSeqId, nkp_seq_ids).await
}

/// The refunds among `nkp_seq_ids` (bill refund numbers; unknown ones are simply absent).
pub async fn find_refunds(
    conn: &impl ConnectionTrait,
    nkp_seq_ids: &[String],
) -> Result<Vec<refund::Model>, StoreError> {
    find_in::<refund::Entity>(conn, refund::Column::NkpSeqId, nkp_seq_ids).await
}

/// The rows of `E` whose `column` is one of `ids`, 500 ids per query.
async fn find_in<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    column: E::Column,
    ids: &[String],
) -> Result<Vec<E::Model>, StoreError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(
            E::find()
                .filter(column.is_in(chunk.iter().cloned()))
                .all(conn)
                .await?,
        );
    }
    Ok(out)
}

/// Every Alipay business holding a grant (`app_auth_token`), oldest first: Alipay keeps one
/// trade bill per authorized merchant, so a run fetches one per grant.
pub async fn alipay_grants(
    conn: &impl ConnectionTrait,
) -> Result<Vec<crate::entity::merchant_channel::Model>, StoreError> {
    use crate::entity::merchant_channel;
    Ok(merchant_channel::Entity::find()
        .filter(
            merchant_channel::Column::Channel
                .eq(nkpay_core::trade_type::ChannelKind::Alipay.as_str()),
        )
        .filter(merchant_channel::Column::AliAppAuthTokenSealed.is_not_null())
        .order_by_asc(merchant_channel::Column::Id)
        .all(conn)
        .await?)
}
