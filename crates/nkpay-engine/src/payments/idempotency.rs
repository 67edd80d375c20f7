//! `mer_id` + `req_date` + `req_seq_id` names one request. The same content again gets the
//! first answer again; other content under the same id is refused (`20000000`). The trade row
//! is inserted under that unique key *before* the channel is called, so of two concurrent
//! duplicates one inserts and places the order, and the other waits for its answer.

use std::future::Future;
use std::time::Duration;

use nkpay_core::resp_code::RespCode;
use nkpay_crypto::canonical_json::canonical_top_sorted;
use nkpay_store::entity::trade;
use nkpay_store::trades;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::trade_view;
use crate::engine::Engine;
use crate::error::EngineError;

const POLL: Duration = Duration::from_millis(100);

/// A fingerprint of the request content: SHA-256 of its canonical `data`.
pub fn request_hash(data: &Map<String, Value>) -> Result<String, EngineError> {
    let text = Value::Object(data.clone()).to_string();
    let canonical = canonical_top_sorted(&text)?;
    Ok(hex::encode(Sha256::digest(canonical.as_bytes())))
}

/// Refuses other content under a request id already taken (`20000000`).
pub(crate) fn same_content(
    stored_hash: &str,
    hash: &str,
    req_date: &str,
    req_seq_id: &str,
) -> Result<(), EngineError> {
    if stored_hash == hash {
        return Ok(());
    }
    Err(EngineError::refused(
        RespCode::DuplicateRequest,
        format!(
            "重复请求: req_seq_id {req_seq_id} of req_date {req_date} was already used with different content"
        ),
    ))
}

/// What waiting for the first request's answer found.
pub(crate) enum FirstAnswer<T> {
    /// The answer the first request gave, to give again.
    Stored(Map<String, Value>),
    /// The first request is still talking to the channel; the row as last read.
    Pending(T),
}

impl Engine {
    /// Waits up to `replay_wait` for the answer of the first request under a taken id: reads
    /// it from `row` with `first_response`, re-reading the row with `reload` meanwhile.
    pub(crate) async fn await_first_answer<T, F, Fut>(
        &self,
        mut row: T,
        first_response: fn(&T) -> Option<&str>,
        mut reload: F,
    ) -> Result<FirstAnswer<T>, EngineError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, EngineError>>,
    {
        let deadline = tokio::time::Instant::now() + self.config.replay_wait;
        loop {
            if let Some(first) = first_response(&row)
                && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(first)
            {
                return Ok(FirstAnswer::Stored(map));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(FirstAnswer::Pending(row));
            }
            tokio::time::sleep(POLL).await;
            row = reload().await?;
        }
    }

    /// The answer to a request whose id is already taken by `existing`.
    pub(crate) async fn replay(
        &self,
        existing: trade::Model,
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
        let reload = move || async move {
            trades::find_by_nkp_seq_id(self.db.conn(), nkp_seq_id)
                .await?
                .ok_or_else(|| EngineError::Internal("trade vanished during replay".into()))
        };
        let current = match self
            .await_first_answer(existing, |t| t.first_response.as_deref(), reload)
            .await?
        {
            FirstAnswer::Stored(map) => return Ok(map),
            FirstAnswer::Pending(current) => current,
        };
        let code = trade_view::jspay_code(&current)?;
        Ok(trade_view::jspay_data(&current, code, code.default_desc())?.into_map())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_ignores_key_order_and_empty_fields_but_not_values() {
        let a = json!({"b": "1", "a": "2", "c": ""});
        let b = json!({"a": "2", "b": "1"});
        let c = json!({"a": "2", "b": "3"});
        let h = |v: &Value| request_hash(v.as_object().unwrap()).unwrap();
        assert_eq!(h(&a), h(&b));
        assert_ne!(h(&a), h(&c));
        assert_eq!(h(&a).len(), 64);
    }
}
