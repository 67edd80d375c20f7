//! What `/v2/merchant/busi/config` binds to a merchant's WeChat `sub_mch_id` — JSAPI pay
//! directories and `sub_appid`s, one row per item with its own state so a partial failure is
//! visible and retryable —, the states of businesses and bindings, and the first answers of
//! busi/open and busi/config requests under (`sys_id`, `req_date`, `req_seq_id`).
//!
//! A bound appid (state "S") is also a `merchant_appids` row, written in the same transaction:
//! routing reads that table, so a `sub_appid` can pay only once its binding succeeded.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::entity::{business_request, merchant_appid, merchant_binding};
use crate::error::StoreError;
use crate::kinds::AppidKind;

/// The state of a business or a binding, as the merchant API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sea_orm::DeriveValueType)]
#[sea_orm(value_type = "String")]
pub enum BusinessState {
    /// Stored "P": waiting (for WeChat's `sub_mch_id`, the merchant's Alipay authorization,
    /// or WeChat's answer to a binding).
    Processing,
    /// Stored "S": open / bound.
    Succeeded,
    /// Stored "F": failed / refused.
    Failed,
}

/// What a binding binds to the `sub_mch_id` (WeChat `addsubdevconfig`, one item per call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sea_orm::DeriveValueType)]
#[sea_orm(value_type = "String")]
pub enum BindingKind {
    /// Stored "jsapi_path": a JSAPI pay directory (`wx_woa_path`; `jsapi_path` upstream).
    JsapiPath,
    /// Stored "mp_appid": an official account (`wx_woa_app_id`; `sub_appid` upstream), paid
    /// in by `T_JSAPI`.
    MpAppid,
    /// Stored "miniapp_appid": a mini-program (`wx_applet_app_id`; `sub_appid` upstream),
    /// paid in by `T_MINIAPP`.
    MiniappAppid,
}

macro_rules! words {
    ($name:ident, $what:literal { $($variant:ident => $word:literal),+ }) => {
        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored word.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
        }

        impl FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    StoreError::Invalid { field: $what, rule: format!("{s:?} is not one of the stored words") }
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words!(BusinessState, "business state" { Processing => "P", Succeeded => "S", Failed => "F" });
words!(BindingKind, "binding kind" {
    JsapiPath => "jsapi_path",
    MpAppid => "mp_appid",
    MiniappAppid => "miniapp_appid"
});

impl BusinessState {
    /// Whether the state can no longer change by itself ("S" or "F").
    pub fn is_final(self) -> bool {
        self != BusinessState::Processing
    }
}

impl BindingKind {
    /// The appid kind routing checks, for an appid binding.
    pub fn appid_kind(self) -> Option<AppidKind> {
        match self {
            BindingKind::JsapiPath => None,
            BindingKind::MpAppid => Some(AppidKind::Mp),
            BindingKind::MiniappAppid => Some(AppidKind::Miniapp),
        }
    }

    /// The binding kind of an appid kind.
    pub fn of_appid(kind: AppidKind) -> BindingKind {
        match kind {
            AppidKind::Mp => BindingKind::MpAppid,
            AppidKind::Miniapp => BindingKind::MiniappAppid,
        }
    }
}

/// One item a busi/config request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskedBinding {
    /// The merchant's WeChat business (`merchant_channels.id`).
    pub merchant_channel_id: i64,
    /// The merchant.
    pub mer_id: String,
    /// Directory or appid.
    pub kind: BindingKind,
    /// The directory URL or the appid.
    pub value: String,
    /// The request's `req_date` (`yyyyMMdd`); `None` when seeded.
    pub req_date: Option<String>,
    /// The request's `req_seq_id`.
    pub req_seq_id: Option<String>,
    /// Its place in the request's ordered calls.
    pub position: i32,
}

/// Records that `asked` is wanted: a new row in "P"; an existing "P" or "F" row goes (back) to
/// "P" under this request (its refusal cleared); an existing "S" row stays bound and only
/// names this request. Call inside a write transaction.
pub async fn ask(
    conn: &impl ConnectionTrait,
    asked: &AskedBinding,
    now: DateTime<Utc>,
) -> Result<merchant_binding::Model, StoreError> {
    let existing = merchant_binding::Entity::find()
        .filter(merchant_binding::Column::MerId.eq(&asked.mer_id))
        .filter(merchant_binding::Column::Kind.eq(asked.kind))
        .filter(merchant_binding::Column::Value.eq(&asked.value))
        .one(conn)
        .await?;
    let row = match existing {
        Some(row) => {
            let bound = row.state == BusinessState::Succeeded;
            let mut active: merchant_binding::ActiveModel = row.into();
            active.req_date = Set(asked.req_date.clone());
            active.req_seq_id = Set(asked.req_seq_id.clone());
            active.position = Set(asked.position);
            if !bound {
                active.state = Set(BusinessState::Processing);
                active.err_code = Set(None);
                active.err_msg = Set(None);
            }
            active.updated_at = Set(now);
            active.update(conn).await?
        }
        None => insert(conn, asked, BusinessState::Processing, now).await?,
    };
    Ok(row)
}

async fn insert(
    conn: &impl ConnectionTrait,
    asked: &AskedBinding,
    state: BusinessState,
    now: DateTime<Utc>,
) -> Result<merchant_binding::Model, StoreError> {
    merchant_binding::ActiveModel {
        merchant_channel_id: Set(asked.merchant_channel_id),
        mer_id: Set(asked.mer_id.clone()),
        kind: Set(asked.kind),
        value: Set(asked.value.clone()),
        state: Set(state),
        attempts: Set(0),
        req_date: Set(asked.req_date.clone()),
        req_seq_id: Set(asked.req_seq_id.clone()),
        position: Set(asked.position),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_write("merchant binding", e))
}

/// Inserts a binding already bound (the demo's seeding; its `merchant_appids` row is the
/// caller's). Call inside a write transaction.
pub async fn insert_bound(
    conn: &impl ConnectionTrait,
    asked: &AskedBinding,
    now: DateTime<Utc>,
) -> Result<merchant_binding::Model, StoreError> {
    insert(conn, asked, BusinessState::Succeeded, now).await
}

/// What one upstream call said about a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingOutcome {
    /// WeChat bound it: the row goes to "S" (and an appid into `merchant_appids`).
    Bound,
    /// WeChat refused it: "F" with its code and message.
    Refused {
        /// WeChat's `err_code`.
        code: String,
        /// WeChat's message.
        message: String,
    },
    /// No answer (time-out, connection): stays "P", the reason kept, retried by the job.
    Unknown(String),
}

/// Records one upstream call's outcome on binding `id` (attempts + 1), only while it is "P"
/// (a retry racing the job cannot undo a final state). `None` when it was not "P". An appid
/// bound here becomes a `merchant_appids` row in the same transaction.
pub async fn record_outcome(
    db: &crate::Db,
    id: i64,
    outcome: &BindingOutcome,
    now: DateTime<Utc>,
) -> Result<Option<merchant_binding::Model>, StoreError> {
    let txn = db.begin_write().await?;
    let (state, code, msg) = match outcome {
        BindingOutcome::Bound => (BusinessState::Succeeded, None, None),
        BindingOutcome::Refused { code, message } => (
            BusinessState::Failed,
            Some(code.clone()),
            Some(message.clone()),
        ),
        BindingOutcome::Unknown(reason) => (BusinessState::Processing, None, Some(reason.clone())),
    };
    let res = merchant_binding::Entity::update_many()
        .col_expr(merchant_binding::Column::State, Expr::value(state.as_str()))
        .col_expr(merchant_binding::Column::ErrCode, Expr::value(code))
        .col_expr(merchant_binding::Column::ErrMsg, Expr::value(msg))
        .col_expr(
            merchant_binding::Column::Attempts,
            Expr::col(merchant_binding::Column::Attempts).add(1),
        )
        .col_expr(merchant_binding::Column::UpdatedAt, Expr::value(now))
        .filter(merchant_binding::Column::Id.eq(id))
        .filter(merchant_binding::Column::State.eq(BusinessState::Processing))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    let row = merchant_binding::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "merchant binding",
            key: id.to_string(),
        })?;
    if state == BusinessState::Succeeded
        && let Some(kind) = row.kind.appid_kind()
    {
        bind_appid(&txn, &row, kind, now).await?;
    }
    txn.commit().await?;
    Ok(Some(row))
}

async fn bind_appid(
    conn: &impl ConnectionTrait,
    row: &merchant_binding::Model,
    kind: AppidKind,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let existing = merchant_appid::Entity::find()
        .filter(merchant_appid::Column::MerId.eq(&row.mer_id))
        .filter(merchant_appid::Column::Appid.eq(&row.value))
        .one(conn)
        .await?;
    if existing.is_some() {
        return Ok(());
    }
    merchant_appid::ActiveModel {
        merchant_channel_id: Set(row.merchant_channel_id),
        mer_id: Set(row.mer_id.clone()),
        appid: Set(row.value.clone()),
        kind: Set(kind),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_write("bound appid", e))?;
    Ok(())
}

/// Puts a "F" binding back to "P" for a retry (its refusal kept until the next answer). `None`
/// when binding `id` does not exist or is not "F".
pub async fn reopen_failed(
    conn: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<merchant_binding::Model>, StoreError> {
    let res = merchant_binding::Entity::update_many()
        .col_expr(
            merchant_binding::Column::State,
            Expr::value(BusinessState::Processing.as_str()),
        )
        .col_expr(merchant_binding::Column::UpdatedAt, Expr::value(now))
        .filter(merchant_binding::Column::Id.eq(id))
        .filter(merchant_binding::Column::State.eq(BusinessState::Failed))
        .exec(conn)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    find(conn, id).await
}

/// Binding `id`.
pub async fn find(
    conn: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<merchant_binding::Model>, StoreError> {
    Ok(merchant_binding::Entity::find_by_id(id).one(conn).await?)
}

/// Every binding of the merchant, in request order (oldest request first).
pub async fn list_for_merchant(
    conn: &impl ConnectionTrait,
    mer_id: &str,
) -> Result<Vec<merchant_binding::Model>, StoreError> {
    Ok(merchant_binding::Entity::find()
        .filter(merchant_binding::Column::MerId.eq(mer_id))
        .order_by_asc(merchant_binding::Column::Id)
        .all(conn)
        .await?)
}

/// The bindings the busi/config request (`req_date`, `req_seq_id`) of `mer_id` last asked
/// for, in call order.
pub async fn list_for_request(
    conn: &impl ConnectionTrait,
    mer_id: &str,
    req_date: &str,
    req_seq_id: &str,
) -> Result<Vec<merchant_binding::Model>, StoreError> {
    Ok(merchant_binding::Entity::find()
        .filter(merchant_binding::Column::MerId.eq(mer_id))
        .filter(merchant_binding::Column::ReqDate.eq(req_date))
        .filter(merchant_binding::Column::ReqSeqId.eq(req_seq_id))
        .order_by_asc(merchant_binding::Column::Position)
        .order_by_asc(merchant_binding::Column::Id)
        .all(conn)
        .await?)
}

/// Bindings still "P" last touched before `before`, oldest first, at most `limit`: what the
/// retry job asks WeChat again.
pub async fn pending_before(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<merchant_binding::Model>, StoreError> {
    use sea_orm::QuerySelect;
    Ok(merchant_binding::Entity::find()
        .filter(merchant_binding::Column::State.eq(BusinessState::Processing))
        .filter(merchant_binding::Column::UpdatedAt.lt(before))
        .order_by_asc(merchant_binding::Column::UpdatedAt)
        .limit(limit)
        .all(conn)
        .await?)
}

/// Deletes every binding of business `merchant_channel_id` (the demo re-seeding a business).
pub async fn delete_for_business(
    conn: &impl ConnectionTrait,
    merchant_channel_id: i64,
) -> Result<(), StoreError> {
    merchant_binding::Entity::delete_many()
        .filter(merchant_binding::Column::MerchantChannelId.eq(merchant_channel_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// How a request id was found.
#[derive(Debug, Clone)]
pub enum RequestClaim {
    /// New: the caller runs the request and stores its answer on this row.
    New(business_request::Model),
    /// Taken by an earlier request: compare contents, answer its answer.
    Taken(business_request::Model),
}

/// A busi/open or busi/config request to claim.
#[derive(Debug, Clone)]
pub struct NewBusinessRequest<'a> {
    /// The caller's `sys_id`.
    pub sys_id: &'a str,
    /// `yyyyMMdd`.
    pub req_date: &'a str,
    /// The caller's serial number.
    pub req_seq_id: &'a str,
    /// "busi_open" or "busi_config".
    pub endpoint: &'a str,
    /// The merchant.
    pub mer_id: &'a str,
    /// Hex SHA-256 of the canonical `data`.
    pub content_hash: &'a str,
}

/// Inserts the request under its unique (`sys_id`, `req_date`, `req_seq_id`), or finds the one
/// that took the id first.
pub async fn claim_request(
    conn: &impl ConnectionTrait,
    new: &NewBusinessRequest<'_>,
    now: DateTime<Utc>,
) -> Result<RequestClaim, StoreError> {
    let inserted = business_request::ActiveModel {
        sys_id: Set(new.sys_id.to_owned()),
        req_date: Set(new.req_date.to_owned()),
        req_seq_id: Set(new.req_seq_id.to_owned()),
        endpoint: Set(new.endpoint.to_owned()),
        mer_id: Set(new.mer_id.to_owned()),
        content_hash: Set(new.content_hash.to_owned()),
        answer: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|e| StoreError::from_write("business request", e));
    match inserted {
        Ok(row) => Ok(RequestClaim::New(row)),
        Err(e) if e.is_duplicate() => {
            let taken = find_request(conn, new.sys_id, new.req_date, new.req_seq_id)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: "business request",
                    key: format!("{} {} {}", new.sys_id, new.req_date, new.req_seq_id),
                })?;
            Ok(RequestClaim::Taken(taken))
        }
        Err(e) => Err(e),
    }
}

/// The request under (`sys_id`, `req_date`, `req_seq_id`).
pub async fn find_request(
    conn: &impl ConnectionTrait,
    sys_id: &str,
    req_date: &str,
    req_seq_id: &str,
) -> Result<Option<business_request::Model>, StoreError> {
    Ok(business_request::Entity::find()
        .filter(business_request::Column::SysId.eq(sys_id))
        .filter(business_request::Column::ReqDate.eq(req_date))
        .filter(business_request::Column::ReqSeqId.eq(req_seq_id))
        .one(conn)
        .await?)
}

/// Stores the first answer of request `id` (JSON).
pub async fn store_answer(
    conn: &impl ConnectionTrait,
    id: i64,
    answer: &str,
) -> Result<(), StoreError> {
    business_request::Entity::update_many()
        .col_expr(business_request::Column::Answer, Expr::value(answer))
        .filter(business_request::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Forgets request `id` (its run failed before any effect), so the same id may be sent again.
pub async fn forget_request(conn: &impl ConnectionTrait, id: i64) -> Result<(), StoreError> {
    business_request::Entity::delete_by_id(id)
        .exec(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_parse_back() {
        for s in BusinessState::ALL {
            assert_eq!(s.as_str().parse::<BusinessState>().unwrap(), *s);
        }
        for k in BindingKind::ALL {
            assert_eq!(k.as_str().parse::<BindingKind>().unwrap(), *k);
        }
        assert!("s".parse::<BusinessState>().is_err());
    }
}
