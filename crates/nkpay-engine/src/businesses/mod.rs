//! A merchant's businesses (issue 11, `/v2/merchant/busi/open`, `/v2/merchant/busi/config`):
//! each business — WeChat Pay, Alipay — has its own state `P`/`S`/`F`.
//!
//! - busi/open ([`Businesses::open`]) records what the service provider asks (pay scenes, fee
//!   rate in percent ≥ its floor for the method, `busi_async_return_url`); new businesses are
//!   `P`.
//! - WeChat becomes `S` when the operator or the merchant's service provider records the
//!   `sub_mch_id` WeChat issued ([`Businesses::record_sub_mch_id`], admin API).
//! - Alipay becomes `S` through the ISV authorization: [`Businesses::alipay_auth_link`] hands
//!   out the app-to-app authorization page with a random single-use `state`, and
//!   [`Businesses::alipay_authorized`] (the callback) trades the `app_auth_code` for the
//!   merchant's `app_auth_token`. [`Businesses::refresh_due`] renews tokens about to expire.
//! - busi/config ([`Businesses::configure`]) becomes one WeChat `addsubdevconfig` call per
//!   JSAPI directory and per `sub_appid`, in order, each a binding with its own state; a
//!   binding whose outcome is unknown stays `P` and the job asks again
//!   ([`Businesses::retry_pending`]); a refused one is `F` with WeChat's code until retried.
//!
//! Every business or binding result goes to the business's `busi_async_return_url` as a signed
//! `BUSINESS` notification through the merchant notification outbox, enqueued in the
//! transaction of the change.

mod alipay;
mod connectors;
pub mod jobs;
mod open;
mod wechat;

use chrono::{DateTime, Utc};
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::entity::{merchant, merchant_binding, merchant_channel};
use nkpay_store::kinds::AdminRole;
use nkpay_store::merchant_bindings::{self, BusinessState};
use nkpay_store::{merchant_channels, merchants};
use serde::{Deserialize, Serialize};

use crate::admin_identity::Actor;
use crate::engine::service;
use crate::error::EngineError;

pub use alipay::{ALIPAY_APP_AUTH_CALLBACK, AUTH_LINK_TTL_SECS, RefreshReport};
pub use open::{ConfEntry, OpenBusinesses, OpenedBusinesses};
pub use wechat::{ConfigAnswer, ConfigQuery, ConfigureBindings, RecordSubMchId, UpstreamConfig};

service!(
    /// A merchant's businesses on WeChat Pay and Alipay and its WeChat bindings.
    Businesses
);

/// One business as the merchant API and the console show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessView {
    /// `wechat` or `alipay`.
    pub channel: String,
    /// `P`, `S` or `F`.
    pub state: String,
    /// Fee rate in percent with 2 decimals (`"0.38"`).
    pub fee_rate: String,
    /// The pay scenes asked for at busi/open, as sent.
    pub pay_scenes: Vec<String>,
    /// WeChat's sub-merchant number, once recorded.
    pub sub_mch_id: Option<String>,
    /// The merchant's Alipay app that granted the authorization.
    pub auth_app_id: Option<String>,
    /// The merchant's Alipay user id (seller id).
    pub seller_id: Option<String>,
    /// When the Alipay `app_auth_token` expires (UTC).
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Why the business is `F` (or the last problem while `P`).
    pub reason: Option<String>,
}

/// One binding (`busi/config` item) as the merchant API and the console show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingView {
    /// Its id (the admin retry call's `{id}`).
    pub id: i64,
    /// `jsapi_path`, `mp_appid` (`wx_woa_app_id`) or `miniapp_appid` (`wx_applet_app_id`).
    pub kind: String,
    /// The directory URL or the appid.
    pub value: String,
    /// `P`, `S` or `F`.
    pub state: String,
    /// WeChat's `err_code` when refused.
    pub err_code: Option<String>,
    /// WeChat's message when refused, or the last unknown outcome's reason.
    pub err_msg: Option<String>,
    /// Upstream calls made for it.
    pub attempts: i32,
    /// The busi/config request that last asked for it (`yyyyMMdd`), none when seeded.
    pub req_date: Option<String>,
    /// That request's `req_seq_id`.
    pub req_seq_id: Option<String>,
}

/// A merchant's businesses and bindings with their states: what `basicdata/query` and
/// `status/query` show ([`merchant_businesses`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantBusinesses {
    /// Each business opened (WeChat, Alipay), in opening order.
    pub businesses: Vec<BusinessView>,
    /// Each WeChat binding, oldest first.
    pub bindings: Vec<BindingView>,
}

/// Whether `text` is an absolute `http://` or `https://` URL with a host (and, with
/// `no_query`, without a query or fragment, as WeChat's JSAPI directories are).
pub fn is_http_url(text: &str, no_query: bool) -> bool {
    match url::Url::parse(text) {
        Ok(u) => {
            matches!(u.scheme(), "http" | "https")
                && u.host().is_some()
                && (!no_query || (u.query().is_none() && u.fragment().is_none()))
        }
        Err(_) => false,
    }
}

impl From<&merchant_channel::Model> for BusinessView {
    fn from(b: &merchant_channel::Model) -> Self {
        let pay_scenes = b
            .conf_list
            .as_ref()
            .and_then(|v| v.as_array())
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|e| e.get("pay_scene").and_then(|s| s.as_str()))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        BusinessView {
            channel: b.channel.as_str().to_owned(),
            state: b.state.as_str().to_owned(),
            fee_rate: nkpay_core::fee_rate::percent_text(b.fee_rate_bp),
            pay_scenes,
            sub_mch_id: b.sub_mch_id.clone(),
            auth_app_id: b.ali_auth_app_id.clone(),
            seller_id: b.ali_seller_id.clone(),
            token_expires_at: b.ali_token_expires_at,
            reason: b.state_reason.clone(),
        }
    }
}

impl From<&merchant_binding::Model> for BindingView {
    fn from(b: &merchant_binding::Model) -> Self {
        BindingView {
            id: b.id,
            kind: b.kind.as_str().to_owned(),
            value: b.value.clone(),
            state: b.state.as_str().to_owned(),
            err_code: b.err_code.clone(),
            err_msg: b.err_msg.clone(),
            attempts: b.attempts,
            req_date: b.req_date.clone(),
            req_seq_id: b.req_seq_id.clone(),
        }
    }
}

/// The businesses and bindings of `mer_id` with their states (empty lists when it opened
/// none); for `basicdata/query`, `status/query` and the console. No scope check: the caller
/// has already authorized the reader for this merchant.
pub async fn merchant_businesses(
    db: &nkpay_store::Db,
    mer_id: &str,
) -> Result<MerchantBusinesses, EngineError> {
    let businesses = merchant_channels::list_businesses(db.conn(), mer_id).await?;
    let bindings = merchant_bindings::list_for_merchant(db.conn(), mer_id).await?;
    Ok(MerchantBusinesses {
        businesses: businesses.iter().map(BusinessView::from).collect(),
        bindings: bindings.iter().map(BindingView::from).collect(),
    })
}

impl Businesses {
    /// [`merchant_businesses`] through the service.
    pub async fn of_merchant(&self, mer_id: &str) -> Result<MerchantBusinesses, EngineError> {
        merchant_businesses(&self.db, mer_id).await
    }

    /// The merchant an admin actor may manage the businesses of: platform admins and operators
    /// any; an agent admin only its own service provider's (another's reads as `None`, as if
    /// it did not exist). [`EngineError::Forbidden`] for finance and read-only.
    pub(crate) async fn managed_merchant(
        &self,
        by: &Actor,
        mer_id: &str,
    ) -> Result<Option<merchant::Model>, EngineError> {
        match by.role {
            AdminRole::PlatformAdmin | AdminRole::Operator | AdminRole::AgentAdmin => {}
            role => {
                return Err(EngineError::Forbidden(format!(
                    "role {role} may not manage merchant businesses"
                )));
            }
        }
        let found = merchants::find_merchant(self.db.conn(), mer_id).await?;
        Ok(found.filter(|m| {
            by.role != AdminRole::AgentAdmin || by.sys_id.as_deref() == Some(m.sys_id.as_str())
        }))
    }

    /// The businesses and bindings of `mer_id` for the console: every admin role reads; an
    /// agent admin only its own service provider's merchants (`None` otherwise, as for an
    /// unknown merchant).
    pub async fn view(
        &self,
        by: &Actor,
        mer_id: &str,
    ) -> Result<Option<MerchantBusinesses>, EngineError> {
        let Some(m) = merchants::find_merchant(self.db.conn(), mer_id).await? else {
            return Ok(None);
        };
        if by.role == AdminRole::AgentAdmin && by.sys_id.as_deref() != Some(m.sys_id.as_str()) {
            return Ok(None);
        }
        Ok(Some(self.of_merchant(mer_id).await?))
    }

    /// The merchant's business on `channel`, or [`EngineError::Invalid`] naming `channel`.
    pub(crate) async fn business_of(
        &self,
        mer_id: &str,
        channel: ChannelKind,
    ) -> Result<merchant_channel::Model, EngineError> {
        merchant_channels::find_business(self.db.conn(), mer_id, channel)
            .await?
            .ok_or_else(|| {
                EngineError::invalid(
                    "channel",
                    format!(
                        "mer_id {mer_id} has not asked to open {} (POST /v2/merchant/busi/open)",
                        channel.as_str()
                    ),
                )
            })
    }
}

/// Whether a business is open (`S`).
pub(crate) fn is_open(b: &merchant_channel::Model) -> bool {
    b.state == BusinessState::Succeeded
}
