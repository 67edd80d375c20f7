//! Finding the original trade a query, close or refund names: by `org_nkp_seq_id`, or by
//! `org_req_date` + `org_req_seq_id`, and only among the merchant's own trades.

use nkpay_core::resp_code::RespCode;
use nkpay_store::entity::trade;
use nkpay_store::trades;

use super::fields::Fields;
use super::validation;
use crate::engine::Engine;
use crate::error::EngineError;

impl Engine {
    pub(crate) async fn find_org_trade(
        &self,
        f: &Fields<'_>,
        mer_id: &str,
    ) -> Result<trade::Model, EngineError> {
        let org_req_date = f.optional("org_req_date")?;
        if let Some(d) = org_req_date {
            validation::check_date_format("org_req_date", d)?;
        }
        let by_nkp = f.optional("org_nkp_seq_id")?;
        let by_req = f.optional("org_req_seq_id")?;
        let found = match (by_nkp, by_req) {
            (Some(nkp), _) => {
                let ok = !nkp.is_empty()
                    && nkp.len() <= 32
                    && nkp.bytes().all(|b| b.is_ascii_alphanumeric());
                if !ok {
                    return Err(EngineError::invalid(
                        "org_nkp_seq_id",
                        "must be at most 32 letters or digits",
                    ));
                }
                trades::find_by_nkp_seq_id(self.db.conn(), nkp)
                    .await?
                    .filter(|t| org_req_date.is_none_or(|d| d == t.req_date))
            }
            (None, Some(seq)) => {
                validation::check_req_seq_id("org_req_seq_id", seq)?;
                let date = org_req_date.ok_or_else(|| {
                    EngineError::refused(
                        RespCode::ParamError,
                        "org_req_date不能为空: needed with org_req_seq_id",
                    )
                })?;
                trades::find_by_req(self.db.conn(), mer_id, date, seq).await?
            }
            (None, None) => {
                return Err(EngineError::refused(
                    RespCode::ParamError,
                    "org_req_seq_id不能为空: give org_req_date with org_req_seq_id, or org_nkp_seq_id",
                ));
            }
        };
        found.filter(|t| t.mer_id == mer_id).ok_or_else(|| {
            EngineError::refused(
                RespCode::OriginalTradeNotFound,
                format!("原交易不存在: no such trade of mer_id {mer_id}"),
            )
        })
    }
}
