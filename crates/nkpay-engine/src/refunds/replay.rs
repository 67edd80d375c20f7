//! A refund request whose `mer_id` + `req_date` + `req_seq_id` is taken: the same content gets
//! the first answer again, other content is refused (`20000000`). The refund row is inserted
//! under that unique key with its reservation before the channel is called, so of two
//! concurrent duplicates one reserves and refunds, and the other waits for its answer.

use nkpay_store::entity::refund;
use serde_json::{Map, Value};

use super::view;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::payments::idempotency::{FirstAnswer, same_content};

impl Engine {
    pub(crate) async fn replay_refund(
        &self,
        existing: refund::Model,
        hash: &str,
    ) -> Result<Map<String, Value>, EngineError> {
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
            FirstAnswer::Stored(map) => return Ok(map),
            FirstAnswer::Pending(current) => current,
        };
        let t = self.trade_of(&current).await?;
        let code = view::refund_code(&current)?;
        let desc = view::default_desc(&current)?;
        Ok(view::refund_data(&current, &t, code, desc)?.into_map())
    }
}
