//! Which trade a refund refunds: by `org_nkp_seq_id`, by `org_req_date` + `org_req_seq_id`
//! (both as query and close find it), or by the channel's own order number
//! `org_party_order_id` — always among the merchant's own trades.

use nkpay_core::resp_code::RespCode;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::entity::trade;
use nkpay_store::trades;

use super::Refunds;
use super::command::RefundedTrade;
use crate::error::EngineError;

impl Refunds {
    /// The merchant's trade a refund names (`23000001` when there is none).
    pub(crate) async fn find_refunded_trade(
        &self,
        named: &RefundedTrade,
        mer_id: &str,
    ) -> Result<trade::Model, EngineError> {
        let (party, req_date) = match named {
            RefundedTrade::Org(key) => return self.find_original_trade(key, mer_id).await,
            RefundedTrade::Party {
                party_order_id,
                req_date,
            } => (party_order_id, req_date),
        };
        let date_text = req_date.map(|d| d.format(crate::shanghai_time::DATE).to_string());
        // A channel's order number is unique within its channel; look in each.
        for kind in ChannelKind::ALL {
            if let Some(t) = trades::find_by_party_order_id(self.db.conn(), kind, party).await?
                && t.mer_id == mer_id
                && date_text.as_ref().is_none_or(|d| *d == t.req_date)
            {
                return Ok(t);
            }
        }
        Err(EngineError::refused(
            RespCode::OriginalTradeNotFound,
            format!("原交易不存在: no trade of mer_id {mer_id} has party_order_id {party}"),
        ))
    }
}
