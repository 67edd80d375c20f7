//! The rows of a statement, read with a database cursor (a stream, never all in memory) on
//! SQLite and PostgreSQL: every trade that succeeded and every refund that succeeded within a
//! time range (an Asia/Shanghai day or month, given as UTC bounds), for one merchant or for
//! every merchant of a service provider.
//!
//! A row belongs to the range of its success time (`end_time`: a trade's payment, a refund's
//! refund success), as the channels' bills do; unpaid, closed and failed trades are not rows.
//! A trade row's `refunded_amt` counts only refunds that succeeded before the range's end, so a
//! closed day reads the same on every rerun.
//!
//! Rows come in file order — merchant, success time, `nkp_seq_id` — from index range scans
//! (`idx_trades_mer_status_end`, `idx_refunds_mer_status_end`): no table scan, no sort, so the
//! cost is the day's rows, not the table's.

use chrono::{DateTime, Utc};
use std::pin::Pin;

use futures::{Stream, StreamExt, TryStreamExt};
use sea_orm::{DbBackend, DbErr, FromQueryResult, QueryResult, Statement, StreamTrait};

use crate::db::Db;
use crate::error::StoreError;

/// Whose rows: one merchant's, or every merchant's of a service provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOwner {
    /// A merchant (`mer_id`).
    Merchant(String),
    /// A service provider (`sys_id`): its merchants' rows.
    ServiceProvider(String),
}

impl RowOwner {
    fn column_and_id(&self) -> (&'static str, &str) {
        match self {
            RowOwner::Merchant(id) => ("m.mer_id", id),
            RowOwner::ServiceProvider(id) => ("m.sys_id", id),
        }
    }
}

/// One detail row: a trade (`kind` "PAY") or a refund ("REFUND").
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct BillRow {
    /// "PAY" or "REFUND".
    pub kind: String,
    /// The merchant.
    pub mer_id: String,
    /// The request's `req_date`.
    pub req_date: String,
    /// The request's `req_seq_id`.
    pub req_seq_id: String,
    /// The trade's or refund's `nkp_seq_id`.
    pub nkp_seq_id: String,
    /// The trade type (the refunded trade's, on a refund row).
    pub trade_type: String,
    /// "wechat" or "alipay".
    pub channel: String,
    /// The channel's order id (a refund: its refund id).
    pub party_order_id: Option<String>,
    /// Success time (UTC).
    pub success_at: DateTime<Utc>,
    /// Fen: the trade's `trans_amt` or the refund's `ord_amt` (positive).
    pub amount: i64,
    /// Fen: the trade's fee, or the fee the refund returned (positive).
    pub fee_amt: i64,
    /// Fen: refunds of the trade that succeeded before the range's end (0 on refund rows).
    pub refunded_amt: i64,
    /// The merchant's remark.
    pub remark: Option<String>,
    /// A refund's original trade: its `req_date`.
    pub org_req_date: Option<String>,
    /// A refund's original trade: its `req_seq_id`.
    pub org_req_seq_id: Option<String>,
    /// A refund's original trade: its `nkp_seq_id`.
    pub org_nkp_seq_id: Option<String>,
}

impl BillRow {
    /// Reads a row of [`TRADE_ROWS_SQL`] / [`REFUND_ROWS_SQL`] by column position (their
    /// select lists share one order): millions of rows skip the by-name look-up.
    fn from_positions(r: &QueryResult) -> Result<BillRow, DbErr> {
        Ok(BillRow {
            kind: r.try_get_by_index(0)?,
            mer_id: r.try_get_by_index(1)?,
            req_date: r.try_get_by_index(2)?,
            req_seq_id: r.try_get_by_index(3)?,
            nkp_seq_id: r.try_get_by_index(4)?,
            trade_type: r.try_get_by_index(5)?,
            channel: r.try_get_by_index(6)?,
            party_order_id: r.try_get_by_index(7)?,
            success_at: r.try_get_by_index(8)?,
            amount: r.try_get_by_index(9)?,
            fee_amt: r.try_get_by_index(10)?,
            refunded_amt: r.try_get_by_index(11)?,
            remark: r.try_get_by_index(12)?,
            org_req_date: r.try_get_by_index(13)?,
            org_req_seq_id: r.try_get_by_index(14)?,
            org_nkp_seq_id: r.try_get_by_index(15)?,
        })
    }
}

/// Totals per merchant over a range (the settlement file's rows).
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct MerchantTotals {
    /// The merchant.
    pub mer_id: String,
    /// Trades that succeeded.
    pub trade_count: i64,
    /// Fen, their amounts (gross).
    pub trade_amt: i64,
    /// Refunds that succeeded.
    pub refund_count: i64,
    /// Fen, their amounts.
    pub refund_amt: i64,
    /// Fen, fees of the trades.
    pub trade_fee_amt: i64,
    /// Fen, fees the refunds returned.
    pub refund_fee_amt: i64,
}

/// A merchant's successful trades in `[from, to)` in file order; `$1` mer_id, `$2` from, `$3`
/// to. The index `idx_trades_mer_status_end` (mer_id, status, end_time, nkp_seq_id) yields the
/// rows in this order, so the database neither scans the table nor sorts. `refunded_amt` is
/// the sum of the trade's refunds that succeeded before `to`; a trade whose running
/// `refunded_amt` is 0 has none, and skips the look-up.
const TRADE_ROWS_SQL: &str = "SELECT 'PAY' AS kind, t.mer_id AS mer_id, t.req_date AS req_date, \
       t.req_seq_id AS req_seq_id, t.nkp_seq_id AS nkp_seq_id, t.trade_type AS trade_type, \
       t.channel AS channel, t.party_order_id AS party_order_id, t.end_time AS success_at, \
       t.trans_amt AS amount, t.fee_amt AS fee_amt, \
       CASE WHEN t.refunded_amt = 0 THEN CAST(0 AS BIGINT) ELSE \
         CAST(COALESCE((SELECT SUM(r2.ord_amt) FROM refunds r2 \
           WHERE r2.org_nkp_seq_id = t.nkp_seq_id AND r2.status = 'S' \
           AND r2.end_time < $3), 0) AS BIGINT) END AS refunded_amt, \
       t.remark AS remark, CAST(NULL AS VARCHAR(8)) AS org_req_date, \
       CAST(NULL AS VARCHAR(64)) AS org_req_seq_id, CAST(NULL AS VARCHAR(32)) AS org_nkp_seq_id \
     FROM trades t \
     WHERE t.mer_id = $1 AND t.status = 'S' AND t.end_time >= $2 AND t.end_time < $3 \
     ORDER BY t.end_time, t.nkp_seq_id";

/// A merchant's successful refunds in `[from, to)` in file order, with their trades' ids;
/// `$1` mer_id, `$2` from, `$3` to; read through `idx_refunds_mer_status_end`. The fee is the
/// one the refund returned (`refunds.fee_amt`, written when it succeeds; issue 12 "Fees").
const REFUND_ROWS_SQL: &str = "SELECT 'REFUND' AS kind, r.mer_id AS mer_id, r.req_date AS req_date, \
       r.req_seq_id AS req_seq_id, r.nkp_seq_id AS nkp_seq_id, t.trade_type AS trade_type, \
       r.channel AS channel, r.party_refund_id AS party_order_id, r.end_time AS success_at, \
       r.ord_amt AS amount, r.fee_amt AS fee_amt, CAST(0 AS BIGINT) AS refunded_amt, \
       r.remark AS remark, t.req_date AS org_req_date, t.req_seq_id AS org_req_seq_id, \
       t.nkp_seq_id AS org_nkp_seq_id \
     FROM refunds r JOIN trades t ON t.nkp_seq_id = r.org_nkp_seq_id \
     WHERE r.mer_id = $1 AND r.status = 'S' AND r.end_time >= $2 AND r.end_time < $3 \
     ORDER BY r.end_time, r.nkp_seq_id";

fn range_statement(
    db: &Db,
    sql: &str,
    id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Statement {
    Statement::from_sql_and_values(db.backend(), sql, [id.into(), from.into(), to.into()])
}

/// A boxed stream of rows that lives as long as the pool it reads from.
pub type RowStream<'a> = Pin<Box<dyn Stream<Item = Result<BillRow, StoreError>> + Send + 'a>>;

/// The sort key of a row within one owner's file: merchant, success time, `nkp_seq_id`.
fn file_order(row: &BillRow) -> (&str, DateTime<Utc>, &str) {
    (&row.mer_id, row.success_at, &row.nkp_seq_id)
}

/// Streams the detail rows of `owner` whose success time lies in `[from, to)` in file order:
/// by `mer_id` (a service provider's file holds its merchants one after the other), then
/// success time, then `nkp_seq_id` — a total order, so reruns write the same bytes. Each
/// merchant's trades and refunds come from two index-ordered cursors merged here; no sort and
/// no row set is held in memory. The stream holds up to two pooled connections until dropped.
pub async fn stream_rows<'a>(
    db: &'a Db,
    owner: &RowOwner,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<RowStream<'a>, StoreError> {
    let merchants: Vec<String> = match owner {
        RowOwner::Merchant(mer_id) => vec![mer_id.clone()],
        RowOwner::ServiceProvider(sys_id) => owners_with_rows(db, from, to)
            .await?
            .into_iter()
            .filter(|(_, sys)| sys == sys_id)
            .map(|(mer, _)| mer)
            .collect(),
    };
    let per_merchant = futures::stream::iter(merchants)
        .then(move |mer_id| async move { merchant_rows(db, &mer_id, from, to).await })
        .try_flatten();
    Ok(Box::pin(per_merchant))
}

/// One merchant's rows: its trade cursor and refund cursor merged by [`file_order`].
async fn merchant_rows<'a>(
    db: &'a Db,
    mer_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<RowStream<'a>, StoreError> {
    let cursor = |sql: &'static str| {
        let stmt = range_statement(db, sql, mer_id, from, to);
        async move {
            let rows = db.reader().stream_raw(stmt).await?;
            let decoded = rows.map(|r| {
                r.and_then(|row| BillRow::from_positions(&row))
                    .map_err(StoreError::from)
            });
            Ok::<RowStream<'a>, StoreError>(Box::pin(decoded))
        }
    };
    let trades = cursor(TRADE_ROWS_SQL).await?;
    let refunds = cursor(REFUND_ROWS_SQL).await?;
    Ok(merge_ordered(trades, refunds))
}

/// Merges two streams, each already in [`file_order`], into one in that order (an error from
/// either ends the merged stream after it is yielded).
fn merge_ordered<'a>(a: RowStream<'a>, b: RowStream<'a>) -> RowStream<'a> {
    let state = (a.peekable(), b.peekable(), false);
    Box::pin(futures::stream::unfold(
        state,
        |(mut a, mut b, failed)| async move {
            if failed {
                return None;
            }
            let take_a = match (Pin::new(&mut a).peek().await, Pin::new(&mut b).peek().await) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(Err(_)), _) => true,
                (_, Some(Err(_))) => false,
                (Some(Ok(x)), Some(Ok(y))) => file_order(x) <= file_order(y),
            };
            let next = if take_a {
                a.next().await
            } else {
                b.next().await
            }?;
            let failed = next.is_err();
            Some((next, (a, b, failed)))
        },
    ))
}

/// Totals per merchant of `owner` in `[from, to)`, by `mer_id`; merchants without rows are
/// absent. Two aggregates over the same indexes as the rows, joined by merchant.
pub async fn merchant_totals(
    db: &Db,
    owner: &RowOwner,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<MerchantTotals>, StoreError> {
    let (column, id) = owner.column_and_id();
    let sql = format!(
        "SELECT mer_id, \
           CAST(SUM(trade_count) AS BIGINT) AS trade_count, \
           CAST(SUM(trade_amt) AS BIGINT) AS trade_amt, \
           CAST(SUM(refund_count) AS BIGINT) AS refund_count, \
           CAST(SUM(refund_amt) AS BIGINT) AS refund_amt, \
           CAST(SUM(trade_fee_amt) AS BIGINT) AS trade_fee_amt, \
           CAST(SUM(refund_fee_amt) AS BIGINT) AS refund_fee_amt \
         FROM ( \
           SELECT t.mer_id AS mer_id, COUNT(*) AS trade_count, SUM(t.trans_amt) AS trade_amt, \
             0 AS refund_count, 0 AS refund_amt, SUM(t.fee_amt) AS trade_fee_amt, \
             0 AS refund_fee_amt \
           FROM merchants m JOIN trades t ON t.mer_id = m.mer_id \
           WHERE {column} = $1 AND t.status = 'S' AND t.end_time >= $2 AND t.end_time < $3 \
           GROUP BY t.mer_id \
           UNION ALL \
           SELECT r.mer_id AS mer_id, 0, 0, COUNT(*), SUM(r.ord_amt), 0, SUM(r.fee_amt) \
           FROM merchants m JOIN refunds r ON r.mer_id = m.mer_id \
           WHERE {column} = $1 AND r.status = 'S' AND r.end_time >= $2 AND r.end_time < $3 \
           GROUP BY r.mer_id \
         ) u GROUP BY mer_id ORDER BY mer_id"
    );
    Ok(
        MerchantTotals::find_by_statement(range_statement(db, &sql, id, from, to))
            .all(db.reader())
            .await?,
    )
}

/// The merchants (with their service provider's `sys_id`) that have at least one row in
/// `[from, to)`, by `mer_id`: whose files a run makes.
pub async fn owners_with_rows(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(String, String)>, StoreError> {
    #[derive(FromQueryResult)]
    struct Owner {
        mer_id: String,
        sys_id: String,
    }
    let sql = "SELECT m.mer_id AS mer_id, m.sys_id AS sys_id FROM merchants m \
               WHERE EXISTS (SELECT 1 FROM trades t WHERE t.mer_id = m.mer_id AND t.status = 'S' \
                 AND t.end_time >= $1 AND t.end_time < $2) \
               OR EXISTS (SELECT 1 FROM refunds r WHERE r.mer_id = m.mer_id AND r.status = 'S' \
                 AND r.end_time >= $1 AND r.end_time < $2) \
               ORDER BY m.mer_id";
    let stmt = Statement::from_sql_and_values(db.backend(), sql, [from.into(), to.into()]);
    let rows = Owner::find_by_statement(stmt).all(db.reader()).await?;
    Ok(rows.into_iter().map(|o| (o.mer_id, o.sys_id)).collect())
}

/// Whether this database is PostgreSQL (the statement job's lock differs).
pub fn is_postgres(db: &Db) -> bool {
    db.backend() == DbBackend::Postgres
}
