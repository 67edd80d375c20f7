//! Merchant close requests (`scanpay/close`) under their own `mer_id` + `req_date` +
//! `req_seq_id`: inserted before the close is carried out, so of two concurrent duplicates one
//! inserts and closes and the other replays its answer; the first answer is kept for replays.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::entity::trade_close_request::{self, Column};
use crate::error::StoreError;

/// A close request to record.
#[derive(Debug, Clone)]
pub struct NewCloseRequest {
    /// The sub-merchant's `mer_id` (16 digits).
    pub mer_id: String,
    /// The close request's `req_date`, `yyyyMMdd`.
    pub req_date: String,
    /// The close request's `req_seq_id`.
    pub req_seq_id: String,
    /// The trade it closes (its `nkp_seq_id`).
    pub org_nkp_seq_id: String,
    /// Hex SHA-256 of the canonical request `data`.
    pub request_hash: String,
}

/// Inserts a close request without an answer yet. `Duplicate` when its `mer_id` + `req_date`
/// + `req_seq_id` is taken: look the first one up with [`find_by_req`] to replay or refuse.
pub async fn insert(
    conn: &impl ConnectionTrait,
    new: &NewCloseRequest,
    now: DateTime<Utc>,
) -> Result<trade_close_request::Model, StoreError> {
    trade_close_request::ActiveModel {
        mer_id: Set(new.mer_id.clone()),
        req_date: Set(new.req_date.clone()),
        req_seq_id: Set(new.req_seq_id.clone()),
        org_nkp_seq_id: Set(new.org_nkp_seq_id.clone()),
        request_hash: Set(new.request_hash.clone()),
        first_response: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_write("close request", e))
}

/// Finds a close request by the merchant's request id.
pub async fn find_by_req(
    conn: &impl ConnectionTrait,
    mer_id: &str,
    req_date: &str,
    req_seq_id: &str,
) -> Result<Option<trade_close_request::Model>, StoreError> {
    Ok(trade_close_request::Entity::find()
        .filter(Column::MerId.eq(mer_id))
        .filter(Column::ReqDate.eq(req_date))
        .filter(Column::ReqSeqId.eq(req_seq_id))
        .one(conn)
        .await?)
}

/// Finds a close request by its row id.
pub async fn find(
    conn: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<trade_close_request::Model>, StoreError> {
    Ok(trade_close_request::Entity::find_by_id(id)
        .one(conn)
        .await?)
}

/// Stores the first answer of close request `id`, for replays; never overwrites one. Returns
/// whether it was stored.
pub async fn record_first_response(
    conn: &impl ConnectionTrait,
    id: i64,
    body: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = trade_close_request::Entity::update_many()
        .col_expr(Column::FirstResponse, Expr::value(body))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::FirstResponse.is_null())
        .exec(conn)
        .await
        .map_err(|e| StoreError::from_write("close request", e))?;
    Ok(res.rows_affected == 1)
}
