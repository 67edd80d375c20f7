//! A refund request whose `mer_id` + `req_date` + `req_seq_id` is taken: the same content gets
//! the first answer again, other content is refused (`20000000`). The refund row is inserted
//! under that unique key with its reservation before the channel is called, so of two
//! concurrent duplicates one reserves and refunds, and the other waits for its answer.

use nkpay_store::entity::refund;

use super::Refunds;
use super::view::RefundAnswer;
use crate::error::EngineError;
use crate::payments::replay::{FirstAnswer, same_content};

impl Refunds {
    /// The answer to a refund request whose id is already taken by `existing`.
    pub(crate) async fn replay_refund(
        &self,
        existing: refund::Model,
        hash: &str,
    ) -> Result<RefundAnswer, EngineError> {
        same_content(
            &existing.request_hash,
            hash,
            &existing.req_date,
            &existing.req_seq_id,
        )?;
        let nkp_seq_id = existing.nkp_seq_id.clone();
        let nkp_seq_id = nkp_seq_id.as_str();
        let reload = move || async move { self.reload_refund(nkp_seq_id).await };
        let current = match self
            .await_first_answer(existing, |r| r.first_response.as_deref(), reload)
            .await?
        {
            FirstAnswer::Stored(answer) => return Ok(answer),
            FirstAnswer::Pending(current) => current,
        };
        let t = self.trade_of(&current).await?;
        Ok(RefundAnswer {
            refund: (&current).into(),
            trade: (&t).into(),
            unknown_reason: None,
        })
    }
}
