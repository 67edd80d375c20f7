//! `scanpay/refundquery`: a refund named by its own request id (`org_req_date` +
//! `org_req_seq_id`) or its `org_nkp_seq_id`, among the merchant's refunds; a refund still
//! processing is refreshed from the channel before answering. Never a stored answer.

use chrono::Utc;
use nkpay_core::resp_code::RespCode;
use nkpay_core::state::RefundStatus;
use nkpay_store::entity::refund;
use nkpay_store::refunds;

use super::Refunds;
use super::view::RefundAnswer;
use crate::callers::Scope;
use crate::error::EngineError;
use crate::request::OriginalKey;

impl Refunds {
    /// `scanpay/refundquery`: the refund `key` names among the merchant's (`23000001` when
    /// none), with the trade it refunds.
    pub async fn query(
        &self,
        scope: &Scope,
        key: &OriginalKey,
    ) -> Result<RefundAnswer, EngineError> {
        let mut r = self.find_refund(key, scope.mer_id()).await?;
        let t = self.trade_of(&r).await?;
        if r.status == RefundStatus::Processing {
            match self.query_refund_upstream(&r, &t, Utc::now()).await {
                Ok(_) => r = self.reload_refund(&r.nkp_seq_id).await?,
                // The stored state is still a true answer; the job keeps asking.
                Err(e) => {
                    tracing::warn!(refund = %r.nkp_seq_id, error = %e, "refresh before refund query failed")
                }
            }
        }
        let t = self.trade_of(&r).await?;
        Ok(RefundAnswer {
            refund: (&r).into(),
            trade: (&t).into(),
            unknown_reason: None,
        })
    }

    async fn find_refund(
        &self,
        key: &OriginalKey,
        mer_id: &str,
    ) -> Result<refund::Model, EngineError> {
        let found = match key {
            OriginalKey::Nkp { nkp_seq_id, .. } => {
                refunds::find_by_nkp_seq_id(self.db.conn(), nkp_seq_id).await?
            }
            OriginalKey::Req(id) => {
                refunds::find_by_req(self.db.conn(), mer_id, &id.date_text(), &id.req_seq_id)
                    .await?
            }
        };
        found
            .filter(|r| r.mer_id == mer_id && key.date_matches(&r.req_date))
            .ok_or_else(|| {
                EngineError::refused(
                    RespCode::OriginalTradeNotFound,
                    format!("原退款交易不存在: no such refund of mer_id {mer_id}"),
                )
            })
    }
}
