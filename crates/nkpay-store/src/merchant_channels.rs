//! A merchant's business on a channel (`/v2/merchant/busi/open`): upstream sub-merchant ids,
//! the Alipay grant (sealed), the fee rate, and the bound appids that routing checks.

use chrono::{DateTime, Utc};
use nkpay_core::secret::Secret;
use nkpay_core::trade_type::ChannelKind;
use nkpay_crypto::sealed::SecretSealer;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::db::Db;
use crate::entity::{channel_account, merchant_appid, merchant_channel};
use crate::error::StoreError;
use crate::kinds::{AppidKind, RecordStatus};
use crate::merchant_bindings::{self, AskedBinding, BindingKind, BusinessState};
use crate::sealing;
use sea_orm::sea_query::Expr;

const APP_AUTH_TOKEN: &str = "Alipay app_auth_token";
const APP_REFRESH_TOKEN: &str = "Alipay app_refresh_token";

/// An appid to bind, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundAppid {
    /// The appid.
    pub appid: String,
    /// Official account or mini-program.
    pub kind: AppidKind,
}

/// The whole business on one channel as the merchant opens (or re-opens) it.
#[derive(Debug, Clone)]
pub struct MerchantChannelSetup {
    /// The sub-merchant's `mer_id` (16 digits).
    pub mer_id: String,
    /// The channel it runs on; stored as "wechat" or "alipay".
    pub channel: ChannelKind,
    /// `None`: the channel's default platform account.
    pub channel_account_id: Option<i64>,
    /// WeChat `sub_mch_id` of the merchant.
    pub sub_mch_id: Option<String>,
    /// Appids to bind (WeChat); replaces the bound set.
    pub appids: Vec<BoundAppid>,
    /// JSAPI pay directory URLs (WeChat).
    pub jsapi_pay_dirs: Vec<String>,
    /// Alipay `app_auth_token`; sealed before it is stored.
    pub ali_app_auth_token: Option<Secret<String>>,
    /// The merchant's app that granted `app_auth_token`.
    pub ali_auth_app_id: Option<String>,
    /// Alipay seller `user_id` (PID).
    pub ali_seller_id: Option<String>,
    /// Alipay secondary-merchant id (`smid`).
    pub ali_smid: Option<String>,
    /// Basis points (38 = 0.38%).
    pub fee_rate_bp: i32,
}

/// Opens or replaces the merchant's business on `setup.channel`, in one transaction, in state
/// "S" (the demo's seeding: the business is already open upstream): the row is updated in
/// place when it exists, the bound appids become exactly `setup.appids`, and the business's
/// bindings exactly those appids and `setup.jsapi_pay_dirs`, all "S". `Duplicate` when an
/// appid or directory is listed twice.
pub async fn open_business(
    db: &Db,
    sealer: &SecretSealer,
    setup: &MerchantChannelSetup,
    now: DateTime<Utc>,
) -> Result<merchant_channel::Model, StoreError> {
    let token = sealing::seal_opt(sealer, APP_AUTH_TOKEN, setup.ali_app_auth_token.as_ref())?;
    let dirs = serde_json::Value::from(setup.jsapi_pay_dirs.clone());
    let txn = db.begin_write().await?;
    let existing = find_business(&txn, &setup.mer_id, setup.channel).await?;
    let mut row = match &existing {
        Some(m) => merchant_channel::ActiveModel::from(m.clone()),
        None => merchant_channel::ActiveModel {
            mer_id: Set(setup.mer_id.clone()),
            channel: Set(setup.channel),
            created_at: Set(now),
            ..Default::default()
        },
    };
    row.channel_account_id = Set(setup.channel_account_id);
    row.sub_mch_id = Set(setup.sub_mch_id.clone());
    row.jsapi_pay_dirs = Set(Some(dirs));
    row.ali_app_auth_token_sealed = Set(token);
    row.ali_auth_app_id = Set(setup.ali_auth_app_id.clone());
    row.ali_seller_id = Set(setup.ali_seller_id.clone());
    row.ali_smid = Set(setup.ali_smid.clone());
    row.fee_rate_bp = Set(setup.fee_rate_bp);
    row.status = Set(RecordStatus::Active);
    row.state = Set(BusinessState::Succeeded);
    row.updated_at = Set(now);
    let saved = match existing {
        Some(_) => row.update(&txn).await,
        None => row.insert(&txn).await,
    }
    .map_err(|e| StoreError::from_write("merchant channel business", e))?;

    merchant_appid::Entity::delete_many()
        .filter(merchant_appid::Column::MerchantChannelId.eq(saved.id))
        .exec(&txn)
        .await?;
    for bound in &setup.appids {
        merchant_appid::ActiveModel {
            merchant_channel_id: Set(saved.id),
            mer_id: Set(setup.mer_id.clone()),
            appid: Set(bound.appid.clone()),
            kind: Set(bound.kind),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| StoreError::from_write("bound appid", e))?;
    }
    merchant_bindings::delete_for_business(&txn, saved.id).await?;
    let items = setup
        .appids
        .iter()
        .map(|b| (BindingKind::of_appid(b.kind), &b.appid))
        .chain(
            setup
                .jsapi_pay_dirs
                .iter()
                .map(|d| (BindingKind::JsapiPath, d)),
        );
    for (position, (kind, value)) in (0i32..).zip(items) {
        let asked = AskedBinding {
            merchant_channel_id: saved.id,
            mer_id: setup.mer_id.clone(),
            kind,
            value: value.clone(),
            req_date: None,
            req_seq_id: None,
            position,
        };
        merchant_bindings::insert_bound(&txn, &asked, now).await?;
    }
    txn.commit().await?;
    Ok(saved)
}

/// The merchant's business on `channel`, if opened.
pub async fn find_business(
    conn: &impl ConnectionTrait,
    mer_id: &str,
    channel: ChannelKind,
) -> Result<Option<merchant_channel::Model>, StoreError> {
    Ok(crate::unique_row(
        merchant_channel::Entity::find()
            .filter(merchant_channel::Column::MerId.eq(mer_id))
            .filter(merchant_channel::Column::Channel.eq(channel.as_str()))
            .all(conn)
            .await?,
    ))
}

/// What routing a new trade reads, from one statement: [`find_route_rows`].
#[derive(Debug, Clone, Default)]
pub struct RouteRows {
    /// The merchant's business on the channel, as [`find_business`] finds it.
    pub business: Option<merchant_channel::Model>,
    /// The platform account the business runs under: its own (`channel_account_id`, of any
    /// channel and state: the caller checks), else the channel's default accounts in id order
    /// (pick with [`crate::accounts::pick_default`]). Empty when there is no business, or the
    /// account it names or a default does not exist.
    pub accounts: Vec<channel_account::Model>,
    /// The binding of the `sub_appid` asked about to the merchant, as [`find_bound_appid`]
    /// finds it; `None` when none was asked about.
    pub bound_appid: Option<merchant_appid::Model>,
}

/// The merchant's business on `channel`, the account it runs under (or the channel's
/// defaults) and the binding of `sub_appid`, in ONE statement: the business LEFT JOIN its
/// account(s) LEFT JOIN the binding, a row per account (issue 16: three statements were one
/// round trip each on PostgreSQL and two hops to a connection's worker thread each on
/// SQLite, on every create). Each part reads as its own lookup would
/// ([`find_business`], [`crate::accounts::find_channel_account`] /
/// [`crate::accounts::find_default_account`], [`find_bound_appid`]).
pub async fn find_route_rows(
    conn: &impl ConnectionTrait,
    mer_id: &str,
    channel: ChannelKind,
    sub_appid: Option<&str>,
) -> Result<RouteRows, StoreError> {
    use sea_orm::sea_query::{Alias, Condition, ExprTrait, JoinType, Query};
    use sea_orm::{FromQueryResult, IdenStatic, Iterable};

    let (b, a, m) = (Alias::new("b"), Alias::new("a"), Alias::new("m"));
    let mut q = Query::select();
    q.from_as(merchant_channel::Entity, b.clone());
    for c in merchant_channel::Column::iter() {
        q.expr_as(
            Expr::col((b.clone(), c)),
            Alias::new(format!("b_{}", c.as_str())),
        );
    }
    for c in channel_account::Column::iter() {
        q.expr_as(
            Expr::col((a.clone(), c)),
            Alias::new(format!("a_{}", c.as_str())),
        );
    }
    let own_or_default = Condition::any()
        .add(
            Expr::col((a.clone(), channel_account::Column::Id))
                .equals((b.clone(), merchant_channel::Column::ChannelAccountId)),
        )
        .add(
            Condition::all()
                .add(Expr::col((b.clone(), merchant_channel::Column::ChannelAccountId)).is_null())
                .add(
                    Expr::col((a.clone(), channel_account::Column::Channel))
                        .equals((b.clone(), merchant_channel::Column::Channel)),
                )
                .add(Expr::col((a.clone(), channel_account::Column::IsDefault)).eq(true)),
        );
    q.join_as(
        JoinType::LeftJoin,
        channel_account::Entity,
        a.clone(),
        own_or_default,
    );
    if let Some(appid) = sub_appid {
        for c in merchant_appid::Column::iter() {
            q.expr_as(
                Expr::col((m.clone(), c)),
                Alias::new(format!("m_{}", c.as_str())),
            );
        }
        q.join_as(
            JoinType::LeftJoin,
            merchant_appid::Entity,
            m.clone(),
            Condition::all()
                .add(
                    Expr::col((m.clone(), merchant_appid::Column::MerId))
                        .equals((b.clone(), merchant_channel::Column::MerId)),
                )
                .add(Expr::col((m, merchant_appid::Column::Appid)).eq(appid)),
        );
    }
    q.and_where(Expr::col((b.clone(), merchant_channel::Column::MerId)).eq(mer_id))
        .and_where(Expr::col((b, merchant_channel::Column::Channel)).eq(channel.as_str()))
        .order_by((a, channel_account::Column::Id), sea_orm::Order::Asc);
    let rows = conn
        .query_all_raw(conn.get_database_backend().build(&q))
        .await?;
    let mut out = RouteRows::default();
    for (i, row) in rows.iter().enumerate() {
        if i == 0 {
            out.business = Some(merchant_channel::Model::from_query_result(row, "b_")?);
            if sub_appid.is_some() && row.try_get::<Option<i64>>("", "m_id")?.is_some() {
                out.bound_appid = Some(merchant_appid::Model::from_query_result(row, "m_")?);
            }
        }
        if row.try_get::<Option<i64>>("", "a_id")?.is_some() {
            out.accounts
                .push(channel_account::Model::from_query_result(row, "a_")?);
        }
    }
    Ok(out)
}

/// Every business the merchant opened.
pub async fn list_businesses(
    conn: &impl ConnectionTrait,
    mer_id: &str,
) -> Result<Vec<merchant_channel::Model>, StoreError> {
    Ok(merchant_channel::Entity::find()
        .filter(merchant_channel::Column::MerId.eq(mer_id))
        .order_by_asc(merchant_channel::Column::Id)
        .all(conn)
        .await?)
}

/// The binding of `appid` to the merchant, if any; routing then checks its kind.
pub async fn find_bound_appid(
    conn: &impl ConnectionTrait,
    mer_id: &str,
    appid: &str,
) -> Result<Option<merchant_appid::Model>, StoreError> {
    Ok(crate::unique_row(
        merchant_appid::Entity::find()
            .filter(merchant_appid::Column::MerId.eq(mer_id))
            .filter(merchant_appid::Column::Appid.eq(appid))
            .all(conn)
            .await?,
    ))
}

/// Every appid bound to the merchant.
pub async fn list_bound_appids(
    conn: &impl ConnectionTrait,
    mer_id: &str,
) -> Result<Vec<merchant_appid::Model>, StoreError> {
    Ok(merchant_appid::Entity::find()
        .filter(merchant_appid::Column::MerId.eq(mer_id))
        .order_by_asc(merchant_appid::Column::Id)
        .all(conn)
        .await?)
}

/// The JSAPI pay directories stored on a business.
pub fn jsapi_pay_dirs(business: &merchant_channel::Model) -> Result<Vec<String>, StoreError> {
    match &business.jsapi_pay_dirs {
        None => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| StoreError::Corrupt {
            what: "jsapi_pay_dirs",
            reason: e.to_string(),
        }),
    }
}

/// The Alipay `app_auth_token` of a business, opened.
pub fn open_app_auth_token(
    sealer: &SecretSealer,
    business: &merchant_channel::Model,
) -> Result<Option<Secret<String>>, StoreError> {
    sealing::open_opt(
        sealer,
        APP_AUTH_TOKEN,
        business.ali_app_auth_token_sealed.as_deref(),
    )
}

/// A business as `/v2/merchant/busi/open` asks for it.
#[derive(Debug, Clone)]
pub struct RequestedBusiness {
    /// The merchant (16 digits).
    pub mer_id: String,
    /// WeChat or Alipay.
    pub channel: ChannelKind,
    /// Basis points (38 = 0.38%).
    pub fee_rate_bp: i32,
    /// The conf list entries as JSON.
    pub conf_list: serde_json::Value,
    /// `busi_async_return_url`.
    pub notify_url: Option<String>,
    /// The request's `req_date` (`yyyyMMdd`).
    pub req_date: String,
    /// The request's `req_seq_id`.
    pub req_seq_id: String,
}

/// Records a busi/open request for one business: a new business starts "P" (waiting for the
/// `sub_mch_id` or the authorization); an existing one takes the new fee rate, conf list,
/// notify URL and request ids, and goes back to "P" unless it is "S" (an open business stays
/// open). Call inside a write transaction.
pub async fn request_business(
    conn: &impl ConnectionTrait,
    asked: &RequestedBusiness,
    now: DateTime<Utc>,
) -> Result<merchant_channel::Model, StoreError> {
    let existing = find_business(conn, &asked.mer_id, asked.channel).await?;
    let mut row = match &existing {
        Some(m) => merchant_channel::ActiveModel::from(m.clone()),
        None => merchant_channel::ActiveModel {
            mer_id: Set(asked.mer_id.clone()),
            channel: Set(asked.channel),
            channel_account_id: Set(None),
            status: Set(RecordStatus::Active),
            state: Set(BusinessState::Processing),
            created_at: Set(now),
            ..Default::default()
        },
    };
    if let Some(m) = &existing
        && m.state != BusinessState::Succeeded
    {
        row.state = Set(BusinessState::Processing);
        row.state_reason = Set(None);
    }
    row.fee_rate_bp = Set(asked.fee_rate_bp);
    row.conf_list = Set(Some(asked.conf_list.clone()));
    row.busi_notify_url = Set(asked.notify_url.clone());
    row.open_req_date = Set(Some(asked.req_date.clone()));
    row.open_req_seq_id = Set(Some(asked.req_seq_id.clone()));
    row.updated_at = Set(now);
    match existing {
        Some(_) => row.update(conn).await,
        None => row.insert(conn).await,
    }
    .map_err(|e| StoreError::from_write("merchant channel business", e))
}

/// Records the `sub_mch_id` WeChat issued for the merchant's WeChat business and opens it
/// ("S"), under `channel_account_id` (`None`: the default WeChat account). Returns the row
/// before and after; `None` when the merchant has no WeChat business. Call inside a write
/// transaction.
pub async fn record_sub_mch_id(
    conn: &impl ConnectionTrait,
    mer_id: &str,
    sub_mch_id: &str,
    channel_account_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Option<(merchant_channel::Model, merchant_channel::Model)>, StoreError> {
    let Some(before) = find_business(conn, mer_id, ChannelKind::Wechat).await? else {
        return Ok(None);
    };
    let mut row = merchant_channel::ActiveModel::from(before.clone());
    row.sub_mch_id = Set(Some(sub_mch_id.to_owned()));
    row.channel_account_id = Set(channel_account_id);
    row.state = Set(BusinessState::Succeeded);
    row.state_reason = Set(None);
    row.updated_at = Set(now);
    let after = row.update(conn).await?;
    Ok(Some((before, after)))
}

/// Records that the channel refused to open the merchant's `channel` business (WeChat did not
/// issue a `sub_mch_id`, Alipay's authorization was declined): state `F` with `reason`, and
/// the business's `(before, after)`. Only a business not yet open (`P` or `F`) is refused; an
/// open one (`S`) is left as it is and returned unchanged as both values, so the caller can
/// tell (a merchant already paid through a business is never closed by this). `None` when the
/// merchant has not asked for that business.
pub async fn record_refusal(
    conn: &impl ConnectionTrait,
    mer_id: &str,
    channel: ChannelKind,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<(merchant_channel::Model, merchant_channel::Model)>, StoreError> {
    let Some(before) = find_business(conn, mer_id, channel).await? else {
        return Ok(None);
    };
    let done = merchant_channel::Entity::update_many()
        .col_expr(
            merchant_channel::Column::State,
            Expr::value(BusinessState::Failed),
        )
        .col_expr(merchant_channel::Column::StateReason, Expr::value(reason))
        .col_expr(merchant_channel::Column::UpdatedAt, Expr::value(now))
        .filter(merchant_channel::Column::Id.eq(before.id))
        .filter(merchant_channel::Column::State.ne(BusinessState::Succeeded))
        .exec(conn)
        .await?;
    if done.rows_affected == 0 {
        return Ok(Some((before.clone(), before)));
    }
    let after = find_business(conn, mer_id, channel)
        .await?
        .ok_or_else(|| StoreError::Corrupt {
            what: "merchant_channel",
            reason: format!(
                "the {} business of {mer_id} vanished while refused",
                channel.as_str()
            ),
        })?;
    Ok(Some((before, after)))
}

/// Stores the hashed `state` of a new authorization link on business `id`, valid until
/// `expires_at` (UTC), replacing an unused one: only the newest link works.
pub async fn set_auth_state(
    conn: &impl ConnectionTrait,
    id: i64,
    state_hash: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    merchant_channel::Entity::update_many()
        .col_expr(
            merchant_channel::Column::AliAuthStateHash,
            Expr::value(state_hash),
        )
        .col_expr(
            merchant_channel::Column::AliAuthStateExpiresAt,
            Expr::value(expires_at),
        )
        .col_expr(merchant_channel::Column::UpdatedAt, Expr::value(now))
        .filter(merchant_channel::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Uses up the authorization `state` whose hash is `state_hash`: clears it with a conditional
/// UPDATE (of two callbacks with the same state only one gets the business) and returns the
/// business; `None` when no business holds it (wrong, already used) or it expired before `now`
/// (an expired state is cleared too).
pub async fn take_auth_state(
    conn: &impl ConnectionTrait,
    state_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<merchant_channel::Model>, StoreError> {
    let Some(found) = merchant_channel::Entity::find()
        .filter(merchant_channel::Column::AliAuthStateHash.eq(state_hash))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let res = merchant_channel::Entity::update_many()
        .col_expr(
            merchant_channel::Column::AliAuthStateHash,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            merchant_channel::Column::AliAuthStateExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(merchant_channel::Column::UpdatedAt, Expr::value(now))
        .filter(merchant_channel::Column::Id.eq(found.id))
        .filter(merchant_channel::Column::AliAuthStateHash.eq(state_hash))
        .exec(conn)
        .await?;
    let fresh = found.ali_auth_state_expires_at.is_some_and(|at| at > now);
    Ok((res.rows_affected == 1 && fresh).then_some(found))
}

/// Notes why business `id` is not open yet (a refused or unanswered authorization), leaving
/// its state as it is.
pub async fn set_state_reason(
    conn: &impl ConnectionTrait,
    id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    merchant_channel::Entity::update_many()
        .col_expr(merchant_channel::Column::StateReason, Expr::value(reason))
        .col_expr(merchant_channel::Column::UpdatedAt, Expr::value(now))
        .filter(merchant_channel::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// An Alipay grant (`alipay.open.auth.token.app`) to store on a business.
#[derive(Debug, Clone)]
pub struct AlipayGrant {
    /// `app_auth_token`; sealed before it is stored.
    pub app_auth_token: Secret<String>,
    /// `app_refresh_token`; sealed before it is stored.
    pub app_refresh_token: Secret<String>,
    /// The merchant's app that granted it (`auth_app_id`).
    pub auth_app_id: String,
    /// The seller's Alipay `user_id` (PID).
    pub seller_id: String,
    /// When `app_auth_token` expires (UTC).
    pub expires_at: DateTime<Utc>,
    /// When `app_refresh_token` expires (UTC).
    pub refresh_expires_at: DateTime<Utc>,
}

/// Stores `grant` on business `id` (tokens sealed) and opens it ("S"). Returns the row after.
pub async fn store_alipay_grant(
    conn: &impl ConnectionTrait,
    sealer: &SecretSealer,
    id: i64,
    grant: &AlipayGrant,
    now: DateTime<Utc>,
) -> Result<Option<merchant_channel::Model>, StoreError> {
    let token = sealing::seal(sealer, APP_AUTH_TOKEN, &grant.app_auth_token)?;
    let refresh = sealing::seal(sealer, APP_REFRESH_TOKEN, &grant.app_refresh_token)?;
    let Some(found) = merchant_channel::Entity::find_by_id(id).one(conn).await? else {
        return Ok(None);
    };
    let mut row = merchant_channel::ActiveModel::from(found);
    row.ali_app_auth_token_sealed = Set(Some(token));
    row.ali_app_refresh_token_sealed = Set(Some(refresh));
    row.ali_auth_app_id = Set(Some(grant.auth_app_id.clone()));
    row.ali_seller_id = Set(Some(grant.seller_id.clone()));
    row.ali_token_expires_at = Set(Some(grant.expires_at));
    row.ali_refresh_expires_at = Set(Some(grant.refresh_expires_at));
    row.state = Set(BusinessState::Succeeded);
    row.state_reason = Set(None);
    row.updated_at = Set(now);
    Ok(Some(row.update(conn).await?))
}

/// Open Alipay businesses with a refresh token whose `app_auth_token` expires before
/// `before` (or has no known expiry), oldest expiry first: what the refresh job renews.
pub async fn alipay_grants_expiring(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<Vec<merchant_channel::Model>, StoreError> {
    Ok(merchant_channel::Entity::find()
        .filter(merchant_channel::Column::Channel.eq(ChannelKind::Alipay.as_str()))
        .filter(merchant_channel::Column::State.eq(BusinessState::Succeeded))
        .filter(merchant_channel::Column::AliAppRefreshTokenSealed.is_not_null())
        .filter(merchant_channel::Column::AliTokenExpiresAt.lt(before))
        .order_by_asc(merchant_channel::Column::AliTokenExpiresAt)
        .all(conn)
        .await?)
}

/// The Alipay `app_refresh_token` of a business, opened.
pub fn open_app_refresh_token(
    sealer: &SecretSealer,
    business: &merchant_channel::Model,
) -> Result<Option<Secret<String>>, StoreError> {
    sealing::open_opt(
        sealer,
        APP_REFRESH_TOKEN,
        business.ali_app_refresh_token_sealed.as_deref(),
    )
}

/// The business `id`.
pub async fn find_business_by_id(
    conn: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<merchant_channel::Model>, StoreError> {
    Ok(merchant_channel::Entity::find_by_id(id).one(conn).await?)
}
