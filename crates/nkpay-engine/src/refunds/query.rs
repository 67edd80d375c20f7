//! `scanpay/refundquery`: a refund named by its own request id (`org_req_date` +
//! `org_req_seq_id`) or its `org_nkp_seq_id`, among the merchant's refunds; a refund still
//! processing is refreshed from the channel before answering.

use chrono::Utc;
use nkpay_core::resp_code::RespCode;
use nkpay_core::state::RefundStatus;
use nkpay_store::entity::refund;
use nkpay_store::refunds;
use serde_json::{Map, Value};

use super::view::{self, status_of};
use crate::callers::Caller;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::payments::fields::Fields;
use crate::payments::org_trade::OrgId;
use crate::payments::validation;

impl Engine {
    /// `POST /v2/trade/payment/scanpay/refundquery`.
    pub async fn query_refund(
        &self,
        caller: &Caller,
        data: &Map<String, Value>,
    ) -> Result<Map<String, Value>, EngineError> {
        let f = Fields::new(data);
        let mer_id = validation::mer_id(&f)?;
        self.authorize(caller, mer_id).await?;
        let mut r = self.find_refund(&f, mer_id).await?;
        let t = self.trade_of(&r).await?;
        if status_of(&r)? == RefundStatus::Processing {
            match self.query_refund_upstream(&r, &t, Utc::now()).await {
                Ok(_) => r = self.reload_refund(&r.nkp_seq_id).await?,
                // The stored state is still a true answer; the job keeps asking.
                Err(e) => {
                    tracing::warn!(refund = %r.nkp_seq_id, error = %e, "refresh before refund query failed")
                }
            }
        }
        let t = self.trade_of(&r).await?;
        Ok(view::query_data(&r, &t)?.into_map())
    }

    async fn find_refund(
        &self,
        f: &Fields<'_>,
        mer_id: &str,
    ) -> Result<refund::Model, EngineError> {
        let found = match OrgId::parse(f)? {
            OrgId::Nkp { id, date } => refunds::find_by_nkp_seq_id(self.db.conn(), id)
                .await?
                .filter(|r| date.is_none_or(|d| d == r.req_date)),
            OrgId::Req { date, seq } => {
                refunds::find_by_req(self.db.conn(), mer_id, date, seq).await?
            }
        };
        found.filter(|r| r.mer_id == mer_id).ok_or_else(|| {
            EngineError::refused(
                RespCode::OriginalTradeNotFound,
                format!("原退款交易不存在: no such refund of mer_id {mer_id}"),
            )
        })
    }
}
