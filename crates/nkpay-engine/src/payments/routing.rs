//! Where a trade goes: the merchant's business on the trade type's channel, the platform
//! account it runs under, and for WeChat who pays under which appid (API.md "jspay": routing):
//!
//! - `openid` given (T_JSAPI only) → hosted payment under the platform's own appid;
//! - else `sub_appid` + `sub_openid`, the appid bound to the merchant as an official account
//!   (T_JSAPI) or a mini-program (T_MINIAPP); T_MINIAPP always takes this path;
//! - A_NATIVE → the merchant's Alipay grant.
//!
//! A refusal here happens before anything is stored or sent upstream.

use std::sync::Arc;

use nkpay_channels::{Channel, MerchantRoute, TradeRef, WechatPayer};
use nkpay_core::resp_code::RespCode;
use nkpay_core::trade_type::{ChannelKind, TradeType};
use nkpay_store::accounts;
use nkpay_store::entity::{channel_account, merchant_channel, trade};
use nkpay_store::kinds::{AppidKind, RecordStatus};
use nkpay_store::merchant_bindings::BusinessState;
use nkpay_store::merchant_channels::{self, RouteRows};

use super::command::WxData;
use crate::context::Context;
use crate::error::EngineError;

/// The most (`mer_id`, channel, `sub_appid`) keys a node's [`RouteCache`] holds; past it, it
/// starts again.
pub(crate) const ROUTE_CACHE_MAX: usize = 10_000;

/// Each node's reuse of the rows that gave a route, by (`mer_id`, channel, `sub_appid` or
/// empty), for [`crate::EngineConfig::merchant_refresh`]; emptied by
/// [`Context::merchant_setup_changed`].
pub(crate) type RouteCache =
    crate::ttl_cache::TtlCache<(String, ChannelKind, String), Arc<RouteRows>>;

/// A resolved route, ready to place the order.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// The platform channel account the order is placed under.
    pub(crate) channel_account_id: i64,
    /// The merchant at the channel (WeChat `sub_mch_id`, Alipay `app_auth_token`).
    pub(crate) merchant: MerchantRoute,
    /// WeChat only.
    pub(crate) payer: Option<WechatPayer>,
    /// The appid the order is placed under (the platform's or the `sub_appid`), WeChat only.
    pub(crate) appid: Option<String>,
    /// The merchant's WeChat sub-merchant number, WeChat only.
    pub(crate) sub_mch_id: Option<String>,
    /// The fee rate in force for the business, in basis points (`merchant_channels.fee_rate_bp`,
    /// set by busi/open): recorded on the trade so that it is charged at this rate when it
    /// succeeds, whatever the rate is by then (issue 12 "Fees").
    pub(crate) fee_rate_bp: i32,
}

fn not_opened(desc: String) -> EngineError {
    EngineError::refused(RespCode::PaymentMethodNotOpened, desc)
}

fn channel_name(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Wechat => "微信支付 (WeChat Pay)",
        ChannelKind::Alipay => "支付宝 (Alipay)",
    }
}

/// Who pays, from the request's `wx_data`, before anything is looked up (API.md "jspay":
/// routing); `10000000` naming the missing field.
fn wechat_payer(trade_type: TradeType, wx: &WxData) -> Result<WechatPayer, EngineError> {
    if trade_type == TradeType::TJsapi
        && let Some(openid) = &wx.openid
    {
        return Ok(WechatPayer::Platform {
            openid: openid.clone(),
        });
    }
    let needs = match trade_type {
        TradeType::TMiniapp => "T_MINIAPP needs wx_data.sub_appid and wx_data.sub_openid",
        _ => "T_JSAPI needs wx_data.openid, or wx_data.sub_appid with wx_data.sub_openid",
    };
    let sub_appid = wx.sub_appid.clone().ok_or_else(|| {
        EngineError::refused(
            RespCode::ParamError,
            format!("wx_data.sub_appid不能为空: {needs}"),
        )
    })?;
    let sub_openid = wx.sub_openid.clone().ok_or_else(|| {
        EngineError::refused(
            RespCode::ParamError,
            format!("wx_data.sub_openid不能为空: {needs}"),
        )
    })?;
    Ok(WechatPayer::Sub {
        sub_appid,
        sub_openid,
    })
}

/// The merchant's active, open (`S`) business on `kind`, as read (`22000001` when there is
/// none, or busi/open's business still waits for its `sub_mch_id` or authorization).
fn open_business(
    business: Option<merchant_channel::Model>,
    mer_id: &str,
    kind: ChannelKind,
) -> Result<merchant_channel::Model, EngineError> {
    match business {
        Some(b) if b.status == RecordStatus::Active && b.state == BusinessState::Succeeded => Ok(b),
        _ => Err(not_opened(format!(
            "商户未开通{}: mer_id {mer_id} has no active {} business",
            channel_name(kind),
            kind.as_str()
        ))),
    }
}

/// The platform account a business runs under, from the accounts read with it
/// ([`merchant_channels::RouteRows::accounts`]): its own, else the channel's default; active
/// and of the business's channel, else `22000001`.
fn account_of(
    business: &merchant_channel::Model,
    kind: ChannelKind,
    accounts: Vec<channel_account::Model>,
) -> Result<channel_account::Model, EngineError> {
    let found = match business.channel_account_id {
        Some(id) => accounts.into_iter().find(|a| a.id == id),
        None => accounts::pick_default(accounts),
    };
    match found {
        Some(a) if a.status == RecordStatus::Active && a.channel == kind => Ok(a),
        Some(a) if a.channel == kind => Err(not_opened(format!(
            "{}通道账户已停用: channel account {} ({}) is disabled, mer_id {}",
            channel_name(kind),
            a.id,
            a.name,
            business.mer_id
        ))),
        _ => Err(not_opened(format!(
            "{}通道不可用: the platform has no active {} account for mer_id {}",
            channel_name(kind),
            kind.as_str(),
            business.mer_id
        ))),
    }
}

impl Context {
    /// Resolves the route of a new trade, or refuses it (`10000000` / `22000001`). The
    /// business, its account (or the channel's defaults) and the binding of a `sub_appid` are
    /// read in one statement ([`merchant_channels::find_route_rows`], issue 16). The refusals
    /// come in the order of the checks: payer fields, business, sub_mch_id or grant, account,
    /// binding.
    ///
    /// The rows a route was resolved from are kept for [`crate::EngineConfig::merchant_refresh`]
    /// per (`mer_id`, channel, `sub_appid`) and reused by the next trades (issue 16); only rows
    /// that gave a route are kept, so a refusal is always read afresh and a business opened,
    /// authorized or bound is used at once on every node. A change that takes a route away or
    /// alters it (a business refused or re-opened at another fee rate, a new `sub_mch_id` or
    /// Alipay grant, a binding's outcome, a channel account disabled or its credentials
    /// replaced) empties this node's copy when it commits ([`Context::merchant_setup_changed`])
    /// and reaches the other nodes within the refresh.
    pub(crate) async fn resolve_route(
        &self,
        mer_id: &str,
        trade_type: TradeType,
        wx: &WxData,
    ) -> Result<Route, EngineError> {
        let kind = trade_type.channel();
        let payer = match kind {
            ChannelKind::Wechat => Some(wechat_payer(trade_type, wx)?),
            ChannelKind::Alipay => None,
        };
        let sub_appid = match &payer {
            Some(WechatPayer::Sub { sub_appid, .. }) => Some(sub_appid.as_str()),
            _ => None,
        };
        let key = (
            mer_id.to_owned(),
            kind,
            sub_appid.unwrap_or_default().to_owned(),
        );
        if let Some(rows) = self.route_cache.get(&key) {
            return self.route_of(mer_id, trade_type, payer, RouteRows::clone(&rows));
        }
        let ticket = self.route_cache.ticket();
        let rows =
            merchant_channels::find_route_rows(self.db.reader(), mer_id, kind, sub_appid).await?;
        let kept = rows.clone();
        let route = self.route_of(mer_id, trade_type, payer, rows)?;
        self.route_cache.put(ticket, key, Arc::new(kept));
        Ok(route)
    }

    /// The route of a new trade from the rows read for it ([`merchant_channels::find_route_rows`])
    /// and its payer (`Some` for WeChat), or the refusal.
    fn route_of(
        &self,
        mer_id: &str,
        trade_type: TradeType,
        payer: Option<WechatPayer>,
        rows: RouteRows,
    ) -> Result<Route, EngineError> {
        let kind = trade_type.channel();
        match kind {
            ChannelKind::Wechat => {
                let payer = payer.ok_or_else(|| {
                    EngineError::Internal("a WeChat route was asked without its payer".into())
                })?;
                let business = open_business(rows.business, mer_id, kind)?;
                let sub_mch_id = business
                    .sub_mch_id
                    .clone()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        not_opened(format!(
                            "商户未开通{}: mer_id {mer_id} has no sub_mch_id",
                            channel_name(kind)
                        ))
                    })?;
                let account = account_of(&business, kind, rows.accounts)?;
                let appid = match &payer {
                    WechatPayer::Platform { .. } => account.wx_appid.clone().ok_or_else(|| {
                        EngineError::Internal(format!("WeChat account {} has no appid", account.id))
                    })?,
                    WechatPayer::Sub { sub_appid, .. } => {
                        check_bound(mer_id, trade_type, sub_appid, rows.bound_appid)?;
                        sub_appid.clone()
                    }
                };
                Ok(Route {
                    channel_account_id: account.id,
                    merchant: MerchantRoute::Wechat {
                        sub_mch_id: sub_mch_id.clone(),
                    },
                    payer: Some(payer),
                    appid: Some(appid),
                    sub_mch_id: Some(sub_mch_id),
                    fee_rate_bp: business.fee_rate_bp,
                })
            }
            ChannelKind::Alipay => {
                let business = open_business(rows.business, mer_id, kind)?;
                let token = merchant_channels::open_app_auth_token(&self.sealer, &business)?
                    .filter(|t| !t.expose().is_empty())
                    .ok_or_else(|| {
                        not_opened(format!(
                            "商户未开通{}: mer_id {mer_id} has no app_auth_token grant",
                            channel_name(kind)
                        ))
                    })?;
                let account = account_of(&business, kind, rows.accounts)?;
                Ok(Route {
                    channel_account_id: account.id,
                    merchant: MerchantRoute::Alipay {
                        app_auth_token: token,
                        seller_id: business.ali_seller_id.clone(),
                    },
                    payer: None,
                    appid: None,
                    sub_mch_id: None,
                    fee_rate_bp: business.fee_rate_bp,
                })
            }
        }
    }

    /// The connector and channel reference of an existing trade, for query and close.
    pub(crate) async fn trade_ref(
        &self,
        t: &trade::Model,
    ) -> Result<(Arc<dyn Channel>, TradeRef), EngineError> {
        let kind: ChannelKind = t.channel;
        let merchant = match kind {
            ChannelKind::Wechat => MerchantRoute::Wechat {
                sub_mch_id: t.sub_mch_id.clone().unwrap_or_default(),
            },
            ChannelKind::Alipay => {
                // The grant is read at each call: a merchant that re-authorised has a new token.
                let business = merchant_channels::find_business(self.db.reader(), &t.mer_id, kind)
                    .await?
                    .ok_or_else(|| {
                        EngineError::Internal(format!(
                            "trade {}: merchant {} has no Alipay business any more",
                            t.nkp_seq_id, t.mer_id
                        ))
                    })?;
                let token = merchant_channels::open_app_auth_token(&self.sealer, &business)?
                    .ok_or_else(|| {
                        EngineError::Internal(format!(
                            "trade {}: merchant {} has no app_auth_token",
                            t.nkp_seq_id, t.mer_id
                        ))
                    })?;
                MerchantRoute::Alipay {
                    app_auth_token: token,
                    seller_id: business.ali_seller_id,
                }
            }
        };
        let channel = self.channels.get(t.channel_account_id).await?;
        Ok((
            channel,
            TradeRef {
                nkp_seq_id: t.nkp_seq_id.clone(),
                merchant,
            },
        ))
    }
}

/// `sub_appid` must be bound to the merchant as the kind of app the trade type pays in: a
/// `merchant_appids` row (`bound`, as read), written only once its busi/config binding is `S`
/// (or seeded).
fn check_bound(
    mer_id: &str,
    trade_type: TradeType,
    sub_appid: &str,
    bound: Option<nkpay_store::entity::merchant_appid::Model>,
) -> Result<(), EngineError> {
    let (wanted, wanted_name) = match trade_type {
        TradeType::TMiniapp => (AppidKind::Miniapp, "a mini-program"),
        _ => (AppidKind::Mp, "an official account"),
    };
    match bound {
        None => Err(not_opened(format!(
            "wx_data.sub_appid未绑定: {sub_appid} is not bound to mer_id {mer_id}"
        ))),
        Some(b) if b.kind != wanted => Err(not_opened(format!(
            "wx_data.sub_appid类型不符: {sub_appid} is bound as {}, {} needs {wanted_name} appid",
            if b.kind == AppidKind::Miniapp {
                "a mini-program"
            } else {
                "an official account"
            },
            trade_type.as_str()
        ))),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wx(openid: Option<&str>, sub_appid: Option<&str>, sub_openid: Option<&str>) -> WxData {
        WxData {
            openid: openid.map(str::to_owned),
            sub_appid: sub_appid.map(str::to_owned),
            sub_openid: sub_openid.map(str::to_owned),
            ..WxData::default()
        }
    }

    #[test]
    fn jsapi_with_openid_pays_under_the_platform_appid() {
        let p = wechat_payer(TradeType::TJsapi, &wx(Some("o1"), Some("wxA"), Some("s1"))).unwrap();
        assert_eq!(
            p,
            WechatPayer::Platform {
                openid: "o1".into()
            }
        );
    }

    #[test]
    fn jsapi_without_openid_needs_both_sub_fields() {
        let p = wechat_payer(TradeType::TJsapi, &wx(None, Some("wxA"), Some("s1"))).unwrap();
        assert_eq!(
            p,
            WechatPayer::Sub {
                sub_appid: "wxA".into(),
                sub_openid: "s1".into()
            }
        );
        let err = wechat_payer(TradeType::TJsapi, &wx(None, Some("wxA"), None)).unwrap_err();
        assert!(
            err.to_string().starts_with("wx_data.sub_openid不能为空"),
            "{err}"
        );
        let err = wechat_payer(TradeType::TJsapi, &wx(None, None, None)).unwrap_err();
        assert!(
            err.to_string().starts_with("wx_data.sub_appid不能为空"),
            "{err}"
        );
    }

    #[test]
    fn miniapp_never_pays_by_platform_openid() {
        let err = wechat_payer(TradeType::TMiniapp, &wx(Some("o1"), None, None)).unwrap_err();
        assert!(err.to_string().contains("T_MINIAPP needs"), "{err}");
        let p = wechat_payer(
            TradeType::TMiniapp,
            &wx(Some("o1"), Some("wxM"), Some("s1")),
        )
        .unwrap();
        assert!(matches!(p, WechatPayer::Sub { .. }));
    }
}
