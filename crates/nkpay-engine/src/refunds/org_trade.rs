//! Which trade a refund refunds: by `org_nkp_seq_id`, by `org_req_date` + `org_req_seq_id`
//! (both as query and close find it), or by the channel's own order number
//! `org_party_order_id` — always among the merchant's own trades.

use nkpay_core::resp_code::RespCode;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::entity::trade;
use nkpay_store::trades;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::payments::fields::Fields;
use crate::payments::validation;

/// WeChat `transaction_id` is 32 digits, Alipay `trade_no` 28–64 characters.
const PARTY_ORDER_ID_MAX: usize = 64;

impl Engine {
    pub(crate) async fn find_refunded_trade(
        &self,
        f: &Fields<'_>,
        mer_id: &str,
    ) -> Result<trade::Model, EngineError> {
        let by_ours =
            f.optional("org_nkp_seq_id")?.is_some() || f.optional("org_req_seq_id")?.is_some();
        let Some(party) = f.optional("org_party_order_id")?.filter(|_| !by_ours) else {
            return self.find_org_trade(f, mer_id).await;
        };
        let ok = party.len() <= PARTY_ORDER_ID_MAX
            && party
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(EngineError::invalid(
                "org_party_order_id",
                format!("must be at most {PARTY_ORDER_ID_MAX} characters of 0-9 A-Z a-z _ -"),
            ));
        }
        let org_req_date = f.optional("org_req_date")?;
        if let Some(d) = org_req_date {
            validation::check_date_format("org_req_date", d)?;
        }
        for kind in [ChannelKind::Wechat, ChannelKind::Alipay] {
            if let Some(t) = trades::find_by_party_order_id(self.db.conn(), kind, party).await?
                && t.mer_id == mer_id
                && org_req_date.is_none_or(|d| d == t.req_date)
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
