//! Merchant applications (进件, issue 11): the row a `/v2/merchant/basicdata/ent` or `/indv`
//! request writes together with its merchant (`apply_status` P), found again by the caller's
//! request id for replays, listed for review, and moved from P to Y or N exactly once.
//!
//! The personal data arrives here already sealed (`personal_sealed`) and masked (`details`):
//! this module never sees a plaintext ID, card or mobile number.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set,
};

use crate::entity::{merchant, merchant_application};
use crate::error::StoreError;
use crate::kinds::{ApplyStatus, MerchantKind};
use crate::merchants::{self, NewMerchant};

/// An application to insert with the merchant it creates.
#[derive(Debug, Clone)]
pub struct NewApplication {
    /// The application's number (`apply_no`, at most 32 characters).
    pub apply_no: String,
    /// The merchant's new `mer_id` (16 digits).
    pub mer_id: String,
    /// The applying service provider (`sys_id`).
    pub sys_id: String,
    /// Enterprise or individual.
    pub kind: MerchantKind,
    /// The merchant's registered name (`reg_name`).
    pub name: String,
    /// Its short name (`short_name`), shown to payers.
    pub short_name: Option<String>,
    /// The request's `req_date`, `yyyyMMdd`.
    pub req_date: String,
    /// The request's `req_seq_id`.
    pub req_seq_id: String,
    /// Hex SHA-256 of the request's canonical `data`.
    pub request_hash: String,
    /// Where the review result is notified.
    pub async_return_url: Option<String>,
    /// The application's fields as JSON text, personal data masked.
    pub details: String,
    /// The personal data as sealed JSON text.
    pub personal_sealed: String,
}

/// Inserts the merchant (active, `apply_status` P) and its application, on `conn` — pass a
/// transaction: the two rows belong together. `Duplicate` with `what` "merchant" when the
/// `mer_id` is taken (allocate another), "merchant application" when the request id
/// (`sys_id`, `req_date`, `req_seq_id`) or the `apply_no` is taken (a replay); on PostgreSQL the
/// transaction is then unusable and must be dropped.
pub async fn insert(
    conn: &impl ConnectionTrait,
    new: &NewApplication,
    now: DateTime<Utc>,
) -> Result<merchant_application::Model, StoreError> {
    let merchant = NewMerchant {
        mer_id: new.mer_id.clone(),
        sys_id: new.sys_id.clone(),
        name: new.name.clone(),
        short_name: new.short_name.clone(),
        kind: new.kind,
        rsa_public_key: None,
        notify_schedule: None,
    };
    merchants::insert_merchant_in_review(conn, &merchant, ApplyStatus::Pending, now).await?;
    merchant_application::ActiveModel {
        apply_no: Set(new.apply_no.clone()),
        mer_id: Set(new.mer_id.clone()),
        sys_id: Set(new.sys_id.clone()),
        kind: Set(new.kind),
        req_date: Set(new.req_date.clone()),
        req_seq_id: Set(new.req_seq_id.clone()),
        request_hash: Set(new.request_hash.clone()),
        status: Set(ApplyStatus::Pending),
        reason: Set(None),
        async_return_url: Set(new.async_return_url.clone()),
        details: Set(new.details.clone()),
        personal_sealed: Set(new.personal_sealed.clone()),
        reviewed_by: Set(None),
        reviewed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_write("merchant application", e))
}

/// The application a caller made under request id (`sys_id`, `req_date`, `req_seq_id`).
pub async fn find_by_request(
    conn: &impl ConnectionTrait,
    sys_id: &str,
    req_date: &str,
    req_seq_id: &str,
) -> Result<Option<merchant_application::Model>, StoreError> {
    Ok(merchant_application::Entity::find()
        .filter(merchant_application::Column::SysId.eq(sys_id))
        .filter(merchant_application::Column::ReqDate.eq(req_date))
        .filter(merchant_application::Column::ReqSeqId.eq(req_seq_id))
        .one(conn)
        .await?)
}

/// The application numbered `apply_no`.
pub async fn find(
    conn: &impl ConnectionTrait,
    apply_no: &str,
) -> Result<Option<merchant_application::Model>, StoreError> {
    Ok(merchant_application::Entity::find()
        .filter(merchant_application::Column::ApplyNo.eq(apply_no))
        .one(conn)
        .await?)
}

/// The merchant's latest application (the one that created it, unless it applied again).
pub async fn latest_of(
    conn: &impl ConnectionTrait,
    mer_id: &str,
) -> Result<Option<merchant_application::Model>, StoreError> {
    Ok(merchant_application::Entity::find()
        .filter(merchant_application::Column::MerId.eq(mer_id))
        .order_by_desc(merchant_application::Column::Id)
        .one(conn)
        .await?)
}

/// Which applications a listing returns; every field narrows it.
#[derive(Debug, Clone, Default)]
pub struct ApplicationFilter {
    /// Only this state.
    pub status: Option<ApplyStatus>,
    /// Only this service provider's.
    pub sys_id: Option<String>,
}

/// Applications matching `filter`, oldest first (the review queue's order), at most `limit`.
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: &ApplicationFilter,
    limit: u64,
) -> Result<Vec<merchant_application::Model>, StoreError> {
    Ok(page(conn, filter, 0, limit).await?.0)
}

/// One page of the applications matching `filter`, oldest first: skipping `offset` rows, at
/// most `limit`, with how many match in all (for the console's pager).
pub async fn page(
    conn: &impl ConnectionTrait,
    filter: &ApplicationFilter,
    offset: u64,
    limit: u64,
) -> Result<(Vec<merchant_application::Model>, u64), StoreError> {
    let mut c = Condition::all();
    if let Some(status) = filter.status {
        c = c.add(merchant_application::Column::Status.eq(status.as_str()));
    }
    if let Some(sys_id) = &filter.sys_id {
        c = c.add(merchant_application::Column::SysId.eq(sys_id.as_str()));
    }
    merchants::oldest_first_page::<merchant_application::Entity>(
        conn,
        c,
        merchant_application::Column::Id,
        offset,
        limit,
    )
    .await
}

/// A review's outcome to record.
#[derive(Debug, Clone)]
pub struct Review<'a> {
    /// Y or N (F for an application the platform gave up on).
    pub status: ApplyStatus,
    /// Why (`audit_desc`); required by the engine for N.
    pub reason: Option<&'a str>,
    /// The reviewer as the audit log names it.
    pub reviewed_by: &'a str,
}

/// Moves a pending application and its merchant to `review.status`, compare-and-set on P:
/// `false`, and nothing written, when the application is not (or no longer) pending. Pass the
/// transaction that also audits and enqueues the notification.
pub async fn review(
    conn: &impl ConnectionTrait,
    apply_no: &str,
    review: &Review<'_>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let Some(app) = find(conn, apply_no).await? else {
        return Ok(false);
    };
    let res = merchant_application::Entity::update_many()
        .col_expr(
            merchant_application::Column::Status,
            Expr::value(review.status.as_str()),
        )
        .col_expr(
            merchant_application::Column::Reason,
            Expr::value(review.reason.map(str::to_owned)),
        )
        .col_expr(
            merchant_application::Column::ReviewedBy,
            Expr::value(review.reviewed_by),
        )
        .col_expr(merchant_application::Column::ReviewedAt, Expr::value(now))
        .col_expr(merchant_application::Column::UpdatedAt, Expr::value(now))
        .filter(merchant_application::Column::ApplyNo.eq(apply_no))
        .filter(merchant_application::Column::Status.eq(ApplyStatus::Pending.as_str()))
        .exec(conn)
        .await?;
    if res.rows_affected != 1 {
        return Ok(false);
    }
    merchant::Entity::update_many()
        .col_expr(
            merchant::Column::ApplyStatus,
            Expr::value(review.status.as_str()),
        )
        .col_expr(merchant::Column::UpdatedAt, Expr::value(now))
        .filter(merchant::Column::MerId.eq(app.mer_id.as_str()))
        .exec(conn)
        .await?;
    Ok(true)
}
