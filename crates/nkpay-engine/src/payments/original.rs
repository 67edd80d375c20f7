//! Finding the original trade a query, close or refund names: by `org_nkp_seq_id`, or by
//! `org_req_date` + `org_req_seq_id`, and only among the merchant's own trades.

use nkpay_core::resp_code::RespCode;
use nkpay_store::entity::trade;
use nkpay_store::trades;

use crate::context::Context;
use crate::error::EngineError;
use crate::request::OriginalKey;

impl Context {
    /// The trade of `mer_id` that `key` names (`23000001` when there is none).
    pub(crate) async fn find_original_trade(
        &self,
        key: &OriginalKey,
        mer_id: &str,
    ) -> Result<trade::Model, EngineError> {
        let found = match key {
            OriginalKey::Nkp { nkp_seq_id, .. } => {
                trades::find_by_nkp_seq_id(self.db.reader(), nkp_seq_id).await?
            }
            OriginalKey::Req(id) => {
                trades::find_by_req(self.db.reader(), mer_id, &id.date_text(), &id.req_seq_id)
                    .await?
            }
        };
        found
            .filter(|t| t.mer_id == mer_id && key.date_matches(&t.req_date))
            .ok_or_else(|| {
                EngineError::refused(
                    RespCode::OriginalTradeNotFound,
                    format!("原交易不存在: no such trade of mer_id {mer_id}"),
                )
            })
    }

    /// The trade `nkp_seq_id` as last committed, which must exist (it was just read or
    /// written). Read on the readers' pool (`Db::reader`: every committed write is seen
    /// there), leaving SQLite's one writer connection to writes.
    pub(crate) async fn trade_of_id(&self, nkp_seq_id: &str) -> Result<trade::Model, EngineError> {
        trades::find_by_nkp_seq_id(self.db.reader(), nkp_seq_id)
            .await?
            .ok_or_else(|| EngineError::Internal(format!("trade {nkp_seq_id} vanished")))
    }
}
