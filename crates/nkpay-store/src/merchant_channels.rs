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
use crate::entity::{merchant_appid, merchant_channel};
use crate::error::StoreError;
use crate::kinds::{AppidKind, RecordStatus};
use crate::sealing;

const APP_AUTH_TOKEN: &str = "Alipay app_auth_token";

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

/// Opens or replaces the merchant's business on `setup.channel`, in one transaction: the row
/// is updated in place when it exists, and the bound appids become exactly `setup.appids`.
/// `Duplicate` when an appid is listed twice.
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
    txn.commit().await?;
    Ok(saved)
}

/// The merchant's business on `channel`, if opened.
pub async fn find_business(
    conn: &impl ConnectionTrait,
    mer_id: &str,
    channel: ChannelKind,
) -> Result<Option<merchant_channel::Model>, StoreError> {
    Ok(merchant_channel::Entity::find()
        .filter(merchant_channel::Column::MerId.eq(mer_id))
        .filter(merchant_channel::Column::Channel.eq(channel.as_str()))
        .one(conn)
        .await?)
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
    Ok(merchant_appid::Entity::find()
        .filter(merchant_appid::Column::MerId.eq(mer_id))
        .filter(merchant_appid::Column::Appid.eq(appid))
        .one(conn)
        .await?)
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
