//! The rows of a statement, read with a database cursor (a stream, never all in memory) on
//! SQLite and PostgreSQL: every trade that succeeded and every refund that succeeded within a
//! time range (an Asia/Shanghai day or month, given as UTC bounds), for one merchant or for
//! every merchant of a service provider.
//!
//! A row belongs to the range of its success time (`end_time`: a trade's payment, a refund's
//! refund success), as the channels' bills do; unpaid, closed and failed trades are not rows.
//! A trade row's `refunded_amt` counts only refunds that succeeded before the range's end, so a
//! closed day reads the same on every rerun.

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use sea_orm::{DbBackend, FromQueryResult, Statement};

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

/// The union of trade and refund rows of `owner` in `[from, to)`; `$1` owner id, `$2` from,
/// `$3` to. Identifiers are constants of this file, never input.
fn rows_sql(owner_column: &str) -> String {
    format!(
        "SELECT 'PAY' AS kind, t.mer_id AS mer_id, t.req_date AS req_date, \
           t.req_seq_id AS req_seq_id, t.nkp_seq_id AS nkp_seq_id, t.trade_type AS trade_type, \
           t.channel AS channel, t.party_order_id AS party_order_id, t.end_time AS success_at, \
           t.trans_amt AS amount, t.fee_amt AS fee_amt, \
           CAST(COALESCE((SELECT SUM(r2.ord_amt) FROM refunds r2 \
              WHERE r2.org_nkp_seq_id = t.nkp_seq_id AND r2.status = 'S' \
              AND r2.end_time < $3), 0) AS BIGINT) AS refunded_amt, \
           t.remark AS remark, CAST(NULL AS VARCHAR(8)) AS org_req_date, \
           CAST(NULL AS VARCHAR(64)) AS org_req_seq_id, CAST(NULL AS VARCHAR(32)) AS org_nkp_seq_id \
         FROM trades t JOIN merchants m ON m.mer_id = t.mer_id \
         WHERE {owner_column} = $1 AND t.status = 'S' AND t.end_time >= $2 AND t.end_time < $3 \
         UNION ALL \
         SELECT 'REFUND' AS kind, r.mer_id AS mer_id, r.req_date AS req_date, \
           r.req_seq_id AS req_seq_id, r.nkp_seq_id AS nkp_seq_id, t.trade_type AS trade_type, \
           r.channel AS channel, r.party_refund_id AS party_order_id, r.end_time AS success_at, \
           r.ord_amt AS amount, {refund_fee} AS fee_amt, CAST(0 AS BIGINT) AS refunded_amt, \
           r.remark AS remark, t.req_date AS org_req_date, t.req_seq_id AS org_req_seq_id, \
           t.nkp_seq_id AS org_nkp_seq_id \
         FROM refunds r JOIN trades t ON t.nkp_seq_id = r.org_nkp_seq_id \
           JOIN merchants m ON m.mer_id = r.mer_id \
         WHERE {owner_column} = $1 AND r.status = 'S' AND r.end_time >= $2 AND r.end_time < $3",
        refund_fee = REFUND_FEE_EXPR,
    )
}

/// The fee a refund returned (`refunds.fee_amt`, written when it succeeds; issue 12 "Fees").
const REFUND_FEE_EXPR: &str = "r.fee_amt";

fn statement(
    db: &Db,
    sql: String,
    owner: &RowOwner,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Statement {
    let (_, id) = owner.column_and_id();
    Statement::from_sql_and_values(db.backend(), sql, [id.into(), from.into(), to.into()])
}

/// Streams the detail rows of `owner` whose success time lies in `[from, to)`, ordered by
/// success time then `nkp_seq_id` (a stable order: reruns write the same bytes). The stream
/// holds one pooled connection until dropped.
pub async fn stream_rows<'a>(
    db: &'a Db,
    owner: &RowOwner,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<impl Stream<Item = Result<BillRow, StoreError>> + Send + 'a, StoreError> {
    let (column, _) = owner.column_and_id();
    let sql = format!(
        "SELECT * FROM ({}) u ORDER BY success_at, nkp_seq_id",
        rows_sql(column)
    );
    let stream = BillRow::find_by_statement(statement(db, sql, owner, from, to))
        .stream(db.conn())
        .await?;
    Ok(stream.map(|r| r.map_err(StoreError::from)))
}

/// Totals per merchant of `owner` in `[from, to)`, by `mer_id`; merchants without rows are
/// absent.
pub async fn merchant_totals(
    db: &Db,
    owner: &RowOwner,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<MerchantTotals>, StoreError> {
    let (column, _) = owner.column_and_id();
    let sql = format!(
        "SELECT mer_id, \
           CAST(SUM(CASE WHEN kind = 'PAY' THEN 1 ELSE 0 END) AS BIGINT) AS trade_count, \
           CAST(SUM(CASE WHEN kind = 'PAY' THEN amount ELSE 0 END) AS BIGINT) AS trade_amt, \
           CAST(SUM(CASE WHEN kind = 'REFUND' THEN 1 ELSE 0 END) AS BIGINT) AS refund_count, \
           CAST(SUM(CASE WHEN kind = 'REFUND' THEN amount ELSE 0 END) AS BIGINT) AS refund_amt, \
           CAST(SUM(CASE WHEN kind = 'PAY' THEN fee_amt ELSE 0 END) AS BIGINT) AS trade_fee_amt, \
           CAST(SUM(CASE WHEN kind = 'REFUND' THEN fee_amt ELSE 0 END) AS BIGINT) AS refund_fee_amt \
         FROM ({}) u GROUP BY mer_id ORDER BY mer_id",
        rows_sql(column)
    );
    Ok(
        MerchantTotals::find_by_statement(statement(db, sql, owner, from, to))
            .all(db.conn())
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
    let rows = Owner::find_by_statement(stmt).all(db.conn()).await?;
    Ok(rows.into_iter().map(|o| (o.mer_id, o.sys_id)).collect())
}

/// Whether this database is PostgreSQL (the statement job's lock differs).
pub fn is_postgres(db: &Db) -> bool {
    db.backend() == DbBackend::Postgres
}
