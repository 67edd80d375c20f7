//! What the console and the merchant API read about merchants and their applications —
//! personal values always masked — and the rule a payment checks: only an approved merchant
//! that is not frozen may take payments.

use chrono::{DateTime, Utc};
use nkpay_core::resp_code::RespCode;
use nkpay_store::entity::{
    merchant, merchant_appid, merchant_application, merchant_binding, merchant_channel,
};
use nkpay_store::kinds::{AdminRole, ApplyStatus, MerchantKind};
use nkpay_store::merchant_applications::{self, ApplicationFilter};
use nkpay_store::merchants::{self, MerchantFilter};
use nkpay_store::{merchant_bindings, merchant_channels};
use serde_json::{Map, Value};

use super::Merchants;
use super::review::{MerchantAction, may, sees};
use crate::admin_identity::Actor;
use crate::callers::Scope;
use crate::error::EngineError;

/// The most rows one listing returns.
pub const MAX_PAGE: u64 = 500;

/// An application as it may be shown: its fields with personal values masked, never the
/// sealed ones.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationView {
    /// The application's number.
    pub apply_no: String,
    /// The merchant it created (16 digits).
    pub mer_id: String,
    /// The applying service provider.
    pub sys_id: String,
    /// Enterprise or individual.
    pub kind: MerchantKind,
    /// P, Y, N or F.
    pub status: ApplyStatus,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// The request's `req_date` (`yyyyMMdd`) and `req_seq_id`.
    pub req_date: String,
    /// The request's `req_seq_id`.
    pub req_seq_id: String,
    /// Where the review result is notified.
    pub async_return_url: Option<String>,
    /// The application's fields, personal values masked.
    pub details: Map<String, Value>,
    /// Who reviewed it (audit name) and when (UTC).
    pub reviewed_by: Option<String>,
    /// When it was reviewed (UTC).
    pub reviewed_at: Option<DateTime<Utc>>,
    /// When it arrived (UTC).
    pub created_at: DateTime<Utc>,
}

impl ApplicationView {
    /// The view of a stored application (its `details` are stored masked already).
    pub fn of(row: merchant_application::Model) -> ApplicationView {
        let details = match serde_json::from_str::<Value>(&row.details) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        ApplicationView {
            apply_no: row.apply_no,
            mer_id: row.mer_id,
            sys_id: row.sys_id,
            kind: row.kind,
            status: row.status,
            reason: row.reason,
            req_date: row.req_date,
            req_seq_id: row.req_seq_id,
            async_return_url: row.async_return_url,
            details,
            reviewed_by: row.reviewed_by,
            reviewed_at: row.reviewed_at,
            created_at: row.created_at,
        }
    }
}

/// A merchant with its latest application and what exists of its businesses and bound appids.
#[derive(Debug, Clone)]
pub struct MerchantDetail {
    /// The merchant.
    pub merchant: merchant::Model,
    /// Its latest application; `None` for a merchant made without one (seeded).
    pub application: Option<ApplicationView>,
    /// Its businesses (one per channel).
    pub businesses: Vec<merchant_channel::Model>,
    /// Its bound appids.
    pub appids: Vec<merchant_appid::Model>,
    /// Its WeChat bindings (JSAPI directories, appids) with their states, in request order.
    pub bindings: Vec<merchant_binding::Model>,
}

impl MerchantDetail {
    /// The businesses as the replies show them: `[{"channel", "state" (P/S/F), "state_reason",
    /// "sub_mch_id", "fee_rate_bp" (basis points), "status"}]`.
    pub fn businesses_json(&self) -> Vec<Value> {
        self.businesses
            .iter()
            .map(|b| {
                serde_json::json!({
                    "channel": b.channel.as_str(),
                    "state": b.state.as_str(),
                    "state_reason": b.state_reason,
                    "sub_mch_id": b.sub_mch_id,
                    "fee_rate_bp": b.fee_rate_bp,
                    "status": b.status.as_str(),
                })
            })
            .collect()
    }

    /// The WeChat bindings as the replies show them: `[{"kind", "value", "state" (P/S/F),
    /// "err_code", "err_msg"}]`.
    pub fn bindings_json(&self) -> Vec<Value> {
        self.bindings
            .iter()
            .map(|b| {
                serde_json::json!({
                    "kind": b.kind.as_str(),
                    "value": b.value,
                    "state": b.state.as_str(),
                    "err_code": b.err_code,
                    "err_msg": b.err_msg,
                })
            })
            .collect()
    }

    /// The bound appids as the replies show them: `[{"appid", "kind"}]` (`mp` or `miniapp`).
    pub fn appids_json(&self) -> Vec<Value> {
        self.appids
            .iter()
            .map(|a| serde_json::json!({"appid": a.appid, "kind": a.kind.as_str()}))
            .collect()
    }
}

fn read(by: &Actor) -> Result<(), EngineError> {
    if may(by, MerchantAction::Read) {
        Ok(())
    } else {
        Err(EngineError::Forbidden(format!(
            "role {} may not read merchants",
            by.role
        )))
    }
}

impl Merchants {
    /// Merchants matching `filter`, oldest first, at most `limit` (capped at [`MAX_PAGE`]); an
    /// agent admin's listing is limited to its own service provider's.
    pub async fn list(
        &self,
        by: &Actor,
        filter: MerchantFilter,
        limit: u64,
    ) -> Result<Vec<merchant::Model>, EngineError> {
        Ok(self.page(by, filter, 0, limit).await?.0)
    }

    /// One page of the merchants matching `filter`, oldest first: skipping `offset` rows, at
    /// most `limit` (capped at [`MAX_PAGE`]), with how many match in all; an agent admin's
    /// listing is limited to its own service provider's.
    pub async fn page(
        &self,
        by: &Actor,
        mut filter: MerchantFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<merchant::Model>, u64), EngineError> {
        read(by)?;
        if let Some(own) = agent_scope(by, filter.sys_id.as_deref()) {
            match own {
                Some(sys_id) => filter.sys_id = Some(sys_id),
                None => return Ok((Vec::new(), 0)),
            }
        }
        Ok(
            merchants::page_merchants(self.db.conn(), &filter, offset, limit.clamp(1, MAX_PAGE))
                .await?,
        )
    }

    /// Applications matching `filter`, oldest first (the review queue), at most `limit`
    /// (capped at [`MAX_PAGE`]); an agent admin sees only its own service provider's.
    pub async fn applications(
        &self,
        by: &Actor,
        filter: ApplicationFilter,
        limit: u64,
    ) -> Result<Vec<ApplicationView>, EngineError> {
        Ok(self.applications_page(by, filter, 0, limit).await?.0)
    }

    /// One page of the applications matching `filter`, oldest first (the review queue):
    /// skipping `offset` rows, at most `limit` (capped at [`MAX_PAGE`]), with how many match
    /// in all; an agent admin sees only its own service provider's.
    pub async fn applications_page(
        &self,
        by: &Actor,
        mut filter: ApplicationFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<ApplicationView>, u64), EngineError> {
        read(by)?;
        if let Some(own) = agent_scope(by, filter.sys_id.as_deref()) {
            match own {
                Some(sys_id) => filter.sys_id = Some(sys_id),
                None => return Ok((Vec::new(), 0)),
            }
        }
        let (rows, total) =
            merchant_applications::page(self.db.conn(), &filter, offset, limit.clamp(1, MAX_PAGE))
                .await?;
        Ok((rows.into_iter().map(ApplicationView::of).collect(), total))
    }

    /// Merchant `mer_id` with its latest application, businesses and appids; `None` when
    /// there is none or `by` is an agent admin of another service provider.
    pub async fn get(
        &self,
        by: &Actor,
        mer_id: &str,
    ) -> Result<Option<MerchantDetail>, EngineError> {
        read(by)?;
        let Some(m) = merchants::find_merchant(self.db.conn(), mer_id).await? else {
            return Ok(None);
        };
        if !sees(by, &m.sys_id) {
            return Ok(None);
        }
        Ok(Some(self.detail_of(m).await?))
    }

    /// The scope's merchant in detail (`/v2/merchant/basicdata/query`): the caller was
    /// authorized for it (a service provider only its own merchants, a merchant itself).
    pub async fn detail(&self, scope: &Scope) -> Result<MerchantDetail, EngineError> {
        self.detail_of(scope.merchant.clone()).await
    }

    async fn detail_of(&self, m: merchant::Model) -> Result<MerchantDetail, EngineError> {
        let conn = self.db.conn();
        let application = merchant_applications::latest_of(conn, &m.mer_id)
            .await?
            .map(ApplicationView::of);
        let businesses = merchant_channels::list_businesses(conn, &m.mer_id).await?;
        let appids = merchant_channels::list_bound_appids(conn, &m.mer_id).await?;
        let bindings = merchant_bindings::list_for_merchant(conn, &m.mer_id).await?;
        Ok(MerchantDetail {
            merchant: m,
            application,
            businesses,
            appids,
            bindings,
        })
    }

    /// The scope's merchant's application `apply_no` (`/v2/merchant/basicdata/status/query`),
    /// or its latest when `apply_no` is `None`. Refused `22000000` when there is no such
    /// application of this merchant (another's is answered the same as an unknown one).
    pub async fn application_of(
        &self,
        scope: &Scope,
        apply_no: Option<&str>,
    ) -> Result<ApplicationView, EngineError> {
        let mer_id = &scope.merchant.mer_id;
        let row = match apply_no {
            Some(no) => merchant_applications::find(self.db.conn(), no)
                .await?
                .filter(|a| &a.mer_id == mer_id),
            None => merchant_applications::latest_of(self.db.conn(), mer_id).await?,
        };
        row.map(ApplicationView::of).ok_or_else(|| {
            EngineError::refused(
                RespCode::MerchantNotAllowed,
                format!(
                    "apply_no {} 不存在或无权查询: no such application of huifu_id {mer_id}",
                    apply_no.unwrap_or("")
                ),
            )
        })
    }
}

/// For an agent admin: `Some(Some(own))` to narrow a listing to its own provider, or
/// `Some(None)` when it asked for another's (an empty answer); `None` for other roles.
fn agent_scope(by: &Actor, asked: Option<&str>) -> Option<Option<String>> {
    if by.role != AdminRole::AgentAdmin {
        return None;
    }
    let own = by.sys_id.clone().unwrap_or_default();
    match asked {
        Some(other) if other != own => Some(None),
        _ => Some(Some(own)),
    }
}

/// Refuses a payment for a merchant that is not approved (`apply_status` P, N or F) or is
/// frozen: `22000000`, the description saying which (issue 11 "Review").
pub(crate) fn check_may_trade(m: &merchant::Model) -> Result<(), EngineError> {
    if m.apply_status != ApplyStatus::Approved {
        return Err(EngineError::refused(
            RespCode::MerchantNotAllowed,
            format!(
                "商户 {} 进件未审核通过，不能交易: the merchant's application is {} (only an approved merchant, Y, may take payments)",
                m.mer_id,
                m.apply_status.as_str()
            ),
        ));
    }
    if m.frozen_at.is_some() {
        return Err(EngineError::refused(
            RespCode::MerchantNotAllowed,
            format!(
                "商户 {} 已冻结，不能交易: the merchant is frozen (refunds, queries and closes still work)",
                m.mer_id
            ),
        ));
    }
    Ok(())
}
