//! What the console reads about trades, refunds, the dashboard and the audit log: filtered
//! listings with a page and a total, keyset pages for CSV exports, and SQL aggregates (counts,
//! integer fen sums) for the dashboard. Read-only; every write stays in its own module.
//!
//! An agent admin's reads are narrowed with [`TradeFilter::sys_id`] / [`RefundFilter::sys_id`]:
//! only rows whose merchant (`merchants.sys_id`) belongs to that service provider.

use chrono::{DateTime, Utc};
use nkpay_core::state::{RefundStatus, TradeStatus};
use nkpay_core::trade_type::{ChannelKind, TradeType};
use sea_orm::sea_query::{Alias, Expr, Func, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::entity::{admin_api_token, audit_log, incident, merchant, notification, refund, trade};
use crate::error::StoreError;
use crate::kinds::NotificationStatus;

/// One page of a listing: rows `offset..offset + limit` in the listing's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Rows skipped.
    pub offset: u64,
    /// Rows returned at most.
    pub limit: u64,
}

/// Rows of `E` matching `condition`, newest first by `id`, in `window`.
async fn newest_first<E>(
    conn: &impl ConnectionTrait,
    condition: Condition,
    id: E::Column,
    window: Window,
) -> Result<Vec<E::Model>, StoreError>
where
    E: EntityTrait,
    E::Model: Sync,
{
    Ok(E::find()
        .filter(condition)
        .order_by_desc(id)
        .offset(window.offset)
        .limit(window.limit)
        .all(conn)
        .await?)
}

/// How many rows of `E` match `condition`.
async fn count_matching<E>(
    conn: &impl ConnectionTrait,
    condition: Condition,
) -> Result<u64, StoreError>
where
    E: EntityTrait,
    E::Model: Sync,
{
    Ok(E::find().filter(condition).count(conn).await?)
}

/// `mer_id IN (SELECT mer_id FROM merchants WHERE sys_id = ?)`: the merchants of one service
/// provider.
fn merchants_of(mer_id_column: impl ColumnTrait, sys_id: &str) -> SimpleExpr {
    mer_id_column.in_subquery(
        Query::select()
            .column(merchant::Column::MerId)
            .from(merchant::Entity)
            .and_where(merchant::Column::SysId.eq(sys_id))
            .to_owned(),
    )
}

/// The narrowing every console listing shares: created in `[from, to)`, of one merchant,
/// of one service provider's merchants, ids below a keyset bound.
fn narrowed<C: ColumnTrait + Copy>(
    c: Condition,
    (created, mer, id): (C, C, C),
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    mer_id: Option<&str>,
    sys_id: Option<&str>,
    before_id: Option<i64>,
) -> Condition {
    let mut c = c;
    if let Some(t) = from {
        c = c.add(created.gte(t));
    }
    if let Some(t) = to {
        c = c.add(created.lt(t));
    }
    if let Some(v) = mer_id {
        c = c.add(mer.eq(v));
    }
    if let Some(v) = sys_id {
        c = c.add(merchants_of(mer, v));
    }
    if let Some(v) = before_id {
        c = c.add(id.lt(v));
    }
    c
}

/// Which trades a console listing returns; every field narrows it.
#[derive(Debug, Clone, Default)]
pub struct TradeFilter {
    /// Created at or after (UTC).
    pub created_from: Option<DateTime<Utc>>,
    /// Created before (UTC).
    pub created_to: Option<DateTime<Utc>>,
    /// Only this merchant.
    pub mer_id: Option<String>,
    /// Only merchants of this service provider (an agent admin's scope).
    pub sys_id: Option<String>,
    /// Only this state.
    pub status: Option<TradeStatus>,
    /// Only this payment method.
    pub trade_type: Option<TradeType>,
    /// Only this channel.
    pub channel: Option<ChannelKind>,
    /// The merchant's request number.
    pub req_seq_id: Option<String>,
    /// The platform's order number (also the channel's `out_trade_no`).
    pub nkp_seq_id: Option<String>,
    /// The channel's order number (WeChat `transaction_id`, Alipay `trade_no`).
    pub party_order_id: Option<String>,
    /// Only ids below this one: the next keyset page of an export.
    pub before_id: Option<i64>,
}

impl TradeFilter {
    fn condition(&self) -> Condition {
        use trade::Column as C;
        let mut c = narrowed(
            Condition::all(),
            (C::CreatedAt, C::MerId, C::Id),
            self.created_from,
            self.created_to,
            self.mer_id.as_deref(),
            self.sys_id.as_deref(),
            self.before_id,
        );
        if let Some(v) = self.status {
            c = c.add(C::Status.eq(v.as_str()));
        }
        if let Some(v) = self.trade_type {
            c = c.add(C::TradeType.eq(v.as_str()));
        }
        if let Some(v) = self.channel {
            c = c.add(C::Channel.eq(v.as_str()));
        }
        if let Some(v) = &self.req_seq_id {
            c = c.add(C::ReqSeqId.eq(v.as_str()));
        }
        if let Some(v) = &self.nkp_seq_id {
            c = c.add(C::NkpSeqId.eq(v.as_str()));
        }
        if let Some(v) = &self.party_order_id {
            c = c.add(C::PartyOrderId.eq(v.as_str()));
        }
        c
    }
}

/// Trades matching `filter`, newest first (by id, which follows creation), in `window`.
pub async fn list_trades(
    conn: &impl ConnectionTrait,
    filter: &TradeFilter,
    window: Window,
) -> Result<Vec<trade::Model>, StoreError> {
    newest_first::<trade::Entity>(conn, filter.condition(), trade::Column::Id, window).await
}

/// How many trades match `filter`.
pub async fn count_trades(
    conn: &impl ConnectionTrait,
    filter: &TradeFilter,
) -> Result<u64, StoreError> {
    count_matching::<trade::Entity>(conn, filter.condition()).await
}

/// Which refunds a console listing returns; every field narrows it.
#[derive(Debug, Clone, Default)]
pub struct RefundFilter {
    /// Created at or after (UTC).
    pub created_from: Option<DateTime<Utc>>,
    /// Created before (UTC).
    pub created_to: Option<DateTime<Utc>>,
    /// Only this merchant.
    pub mer_id: Option<String>,
    /// Only merchants of this service provider (an agent admin's scope).
    pub sys_id: Option<String>,
    /// Only this state.
    pub status: Option<RefundStatus>,
    /// Only this channel.
    pub channel: Option<ChannelKind>,
    /// The merchant's request number of the refund.
    pub req_seq_id: Option<String>,
    /// The refund's own number.
    pub nkp_seq_id: Option<String>,
    /// The refunded trade's number.
    pub org_nkp_seq_id: Option<String>,
    /// Only ids below this one: the next keyset page of an export.
    pub before_id: Option<i64>,
}

impl RefundFilter {
    fn condition(&self) -> Condition {
        use refund::Column as C;
        let mut c = narrowed(
            Condition::all(),
            (C::CreatedAt, C::MerId, C::Id),
            self.created_from,
            self.created_to,
            self.mer_id.as_deref(),
            self.sys_id.as_deref(),
            self.before_id,
        );
        if let Some(v) = self.status {
            c = c.add(C::Status.eq(v.as_str()));
        }
        if let Some(v) = self.channel {
            c = c.add(C::Channel.eq(v.as_str()));
        }
        if let Some(v) = &self.req_seq_id {
            c = c.add(C::ReqSeqId.eq(v.as_str()));
        }
        if let Some(v) = &self.nkp_seq_id {
            c = c.add(C::NkpSeqId.eq(v.as_str()));
        }
        if let Some(v) = &self.org_nkp_seq_id {
            c = c.add(C::OrgNkpSeqId.eq(v.as_str()));
        }
        c
    }
}

/// Refunds matching `filter`, newest first (by id), in `window`.
pub async fn list_refunds(
    conn: &impl ConnectionTrait,
    filter: &RefundFilter,
    window: Window,
) -> Result<Vec<refund::Model>, StoreError> {
    newest_first::<refund::Entity>(conn, filter.condition(), refund::Column::Id, window).await
}

/// How many refunds match `filter`.
pub async fn count_refunds(
    conn: &impl ConnectionTrait,
    filter: &RefundFilter,
) -> Result<u64, StoreError> {
    count_matching::<refund::Entity>(conn, filter.condition()).await
}

/// The refund of trade `org_nkp_seq_id` made under request number `req_seq_id`, whatever its
/// request date: how a console refund repeated on a later day finds the first one.
pub async fn find_refund_of_trade_by_req_seq_id(
    conn: &impl ConnectionTrait,
    org_nkp_seq_id: &str,
    req_seq_id: &str,
) -> Result<Option<refund::Model>, StoreError> {
    Ok(refund::Entity::find()
        .filter(refund::Column::OrgNkpSeqId.eq(org_nkp_seq_id))
        .filter(refund::Column::ReqSeqId.eq(req_seq_id))
        .one(conn)
        .await?)
}

/// Counts and sums of trades for one dashboard bucket. Amounts in fen, summed by the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TradeTotals {
    /// Trades created in the period.
    pub count: i64,
    /// Of which succeeded (`S`).
    pub succeeded: i64,
    /// Fen: the sum of `trans_amt` of the succeeded ones.
    pub succeeded_amt: i64,
}

/// `CAST(COALESCE(SUM(expr), 0) AS BIGINT)`: PostgreSQL's SUM of a BIGINT is NUMERIC, which
/// does not read as `i64`; the cast makes both databases answer an integer.
fn int_sum(expr: SimpleExpr) -> SimpleExpr {
    Func::cast_as(
        Func::coalesce([SimpleExpr::from(Func::sum(expr)), Expr::val(0i64)]),
        Alias::new("BIGINT"),
    )
    .into()
}

/// `CASE WHEN status = 'S' THEN then ELSE 0 END`.
fn when_succeeded(then: SimpleExpr) -> SimpleExpr {
    Expr::case(
        trade::Column::Status.eq(TradeStatus::Succeeded.as_str()),
        then,
    )
    .finally(Expr::val(0i64))
    .into()
}

/// The trade-side aggregates of the dashboard, grouped by trade type or channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeGrouping {
    /// By `trade_type`.
    TradeType,
    /// By `channel`.
    Channel,
}

/// Trades created in `[from, to)` (narrowed to `sys_id`'s merchants when given), grouped by
/// `by`: each group's key as stored (`T_JSAPI`, `wechat`…) and its [`TradeTotals`].
pub async fn trade_totals_by(
    conn: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    sys_id: Option<&str>,
    by: TradeGrouping,
) -> Result<Vec<(String, TradeTotals)>, StoreError> {
    let column = match by {
        TradeGrouping::TradeType => trade::Column::TradeType,
        TradeGrouping::Channel => trade::Column::Channel,
    };
    let rows: Vec<(String, i64, i64, i64)> = totals_query(from, to, sys_id, Some(column))
        .group_by(column)
        .order_by_asc(column)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(key, count, succeeded, succeeded_amt)| {
            (
                key,
                TradeTotals {
                    count,
                    succeeded,
                    succeeded_amt,
                },
            )
        })
        .collect())
}

/// Trades created in `[from, to)` (narrowed to `sys_id`'s merchants when given), all together.
pub async fn trade_totals(
    conn: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    sys_id: Option<&str>,
) -> Result<TradeTotals, StoreError> {
    let row: Option<(i64, i64, i64)> = totals_query(from, to, sys_id, None)
        .into_tuple()
        .one(conn)
        .await?;
    let (count, succeeded, succeeded_amt) = row.unwrap_or_default();
    Ok(TradeTotals {
        count,
        succeeded,
        succeeded_amt,
    })
}

/// `SELECT [group,] count, succeeded, succeeded amount FROM trades` created in `[from, to)`,
/// narrowed to `sys_id`'s merchants when given (the caller groups by `group`).
fn totals_query(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    sys_id: Option<&str>,
    group: Option<trade::Column>,
) -> sea_orm::Select<trade::Entity> {
    let mut q = trade::Entity::find().select_only();
    if let Some(column) = group {
        q = q.column(column);
    }
    let mut q = q
        .expr_as(
            Func::cast_as(
                Func::count(Expr::col(trade::Column::Id)),
                Alias::new("BIGINT"),
            ),
            "n",
        )
        .expr_as(int_sum(when_succeeded(Expr::val(1i64))), "ok")
        .expr_as(
            int_sum(when_succeeded(Expr::col(trade::Column::TransAmt))),
            "amt",
        )
        .filter(trade::Column::CreatedAt.gte(from))
        .filter(trade::Column::CreatedAt.lt(to));
    if let Some(sys_id) = sys_id {
        q = q.filter(merchants_of(trade::Column::MerId, sys_id));
    }
    q
}

/// The merchant-notification backlog: what waits, what keeps failing, what was given up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotificationBacklog {
    /// Pending and not tried yet.
    pub pending: u64,
    /// Pending after at least one failed attempt.
    pub failing: u64,
    /// Given up after the last attempt (`dead`).
    pub exhausted: u64,
}

/// The notification backlog, narrowed to `sys_id`'s merchants when given.
pub async fn notification_backlog(
    conn: &impl ConnectionTrait,
    sys_id: Option<&str>,
) -> Result<NotificationBacklog, StoreError> {
    use notification::Column as C;
    let scoped = || {
        let mut q = notification::Entity::find();
        if let Some(sys_id) = sys_id {
            q = q.filter(merchants_of(C::MerId, sys_id));
        }
        q
    };
    let pending = NotificationStatus::Pending.as_str();
    Ok(NotificationBacklog {
        pending: scoped()
            .filter(C::Status.eq(pending))
            .filter(C::AttemptCount.eq(0))
            .count(conn)
            .await?,
        failing: scoped()
            .filter(C::Status.eq(pending))
            .filter(C::AttemptCount.gt(0))
            .count(conn)
            .await?,
        exhausted: scoped()
            .filter(C::Status.eq(NotificationStatus::Dead.as_str()))
            .count(conn)
            .await?,
    })
}

/// Incidents not resolved yet; for `sys_id`, only those about a trade or refund of its
/// merchants.
pub async fn count_open_incidents(
    conn: &impl ConnectionTrait,
    sys_id: Option<&str>,
) -> Result<u64, StoreError> {
    let mut q = incident::Entity::find().filter(incident::Column::ResolvedAt.is_null());
    if let Some(sys_id) = sys_id {
        let trades = Query::select()
            .column(trade::Column::NkpSeqId)
            .from(trade::Entity)
            .and_where(merchants_of(trade::Column::MerId, sys_id))
            .to_owned();
        let refunds = Query::select()
            .column(refund::Column::NkpSeqId)
            .from(refund::Entity)
            .and_where(merchants_of(refund::Column::MerId, sys_id))
            .to_owned();
        q = q.filter(
            Condition::any()
                .add(incident::Column::NkpSeqId.in_subquery(trades))
                .add(incident::Column::NkpSeqId.in_subquery(refunds)),
        );
    }
    Ok(q.count(conn).await?)
}

/// Which audit entries a listing returns; every field narrows it.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The actor as recorded (`user:alice`, `token:ci`, `local:cli`).
    pub actor: Option<String>,
    /// The action (`admin_user.create`, `trade.refund`…).
    pub action: Option<String>,
    /// At or after (UTC).
    pub from: Option<DateTime<Utc>>,
    /// Before (UTC).
    pub to: Option<DateTime<Utc>>,
    /// Only ids below this one: the next keyset page of an export.
    pub before_id: Option<i64>,
}

impl AuditFilter {
    fn condition(&self) -> Condition {
        use audit_log::Column as C;
        let mut c = Condition::all();
        if let Some(v) = &self.actor {
            c = c.add(C::Actor.eq(v.as_str()));
        }
        if let Some(v) = &self.action {
            c = c.add(C::Action.eq(v.as_str()));
        }
        if let Some(t) = self.from {
            c = c.add(C::At.gte(t));
        }
        if let Some(t) = self.to {
            c = c.add(C::At.lt(t));
        }
        if let Some(v) = self.before_id {
            c = c.add(C::Id.lt(v));
        }
        c
    }
}

/// Audit entries matching `filter`, newest first, in `window`.
pub async fn list_audit(
    conn: &impl ConnectionTrait,
    filter: &AuditFilter,
    window: Window,
) -> Result<Vec<audit_log::Model>, StoreError> {
    newest_first::<audit_log::Entity>(conn, filter.condition(), audit_log::Column::Id, window).await
}

/// How many audit entries match `filter`.
pub async fn count_audit(
    conn: &impl ConnectionTrait,
    filter: &AuditFilter,
) -> Result<u64, StoreError> {
    count_matching::<audit_log::Entity>(conn, filter.condition()).await
}

/// The API token with id `id`, active or not.
pub async fn find_api_token(
    conn: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<admin_api_token::Model>, StoreError> {
    Ok(admin_api_token::Entity::find_by_id(id).one(conn).await?)
}
