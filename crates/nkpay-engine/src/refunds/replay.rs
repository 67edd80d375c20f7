//! A refund request whose `mer_id` + `req_date` + `req_seq_id` is taken: the same content gets
//! the first answer again, other content is refused (`20000000`). The refund row is inserted
//! under that unique key with its reservation before the channel is called, so of two
//! concurrent duplicates one reserves and refunds, and the other waits for its answer.

use std::time::Duration;

use nkpay_core::resp_code::RespCode;
use nkpay_store::entity::refund;
use serde_json::{Map, Value};

use super::view;
use crate::engine::Engine;
use crate::error::EngineError;

const POLL: Duration = Duration::from_millis(100);

impl Engine {
    pub(crate) async fn replay_refund(
        &self,
        existing: refund::Model,
        hash: &str,
    ) -> Result<Map<String, Value>, EngineError> {
        if existing.request_hash != hash {
            return Err(EngineError::refused(
                RespCode::DuplicateRequest,
                format!(
                    "重复请求: req_seq_id {} of req_date {} was already used for a refund with different content",
                    existing.req_seq_id, existing.req_date
                ),
            ));
        }
        let mut current = existing;
        let deadline = tokio::time::Instant::now() + self.config.replay_wait;
        loop {
            if let Some(first) = &current.first_response
                && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(first)
            {
                return Ok(map);
            }
            // The first request is still talking to the channel.
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(POLL).await;
            current = self.reload_refund(&current.nkp_seq_id).await?;
        }
        let t = self.trade_of(&current).await?;
        let code = view::refund_code(&current)?;
        let desc = view::default_desc(&current)?;
        Ok(view::refund_data(&current, &t, code, desc)?.into_map())
    }
}
