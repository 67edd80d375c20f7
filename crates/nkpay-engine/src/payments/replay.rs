//! `mer_id` + `req_date` + `req_seq_id` names one request (a jspay here, a close in
//! `trade_close_requests`). The same content again gets the first answer again; other content
//! under the same id is refused (`20000000`). The trade row is inserted under that unique key
//! *before* the channel is called, so of two concurrent duplicates one inserts and places the
//! order, and the other waits for its answer. The first answer is kept as the JSON of the
//! engine's typed answer, so the api writes a replay exactly as it wrote the first one. A first
//! answer that left the create's outcome unknown is the one exception: the replay repeats the
//! create (`unknown_create.rs`) and answers the order once the channel has it.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use nkpay_core::resp_code::RespCode;
use nkpay_store::entity::{trade, trade_close_request};
use nkpay_store::trade_close_requests as close_requests;
use serde::de::DeserializeOwned;

use super::Payments;
use super::close::ended;
use super::view::{CloseOutcome, Closed, Created};
use crate::context::Context;
use crate::error::EngineError;

const POLL: Duration = Duration::from_millis(100);

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
pub(crate) enum FirstAnswer<A, T> {
    /// The answer the first request gave, to give again.
    Stored(A),
    /// The first request is still talking to the channel; the row as last read.
    Pending(T),
}

impl Context {
    /// Waits up to `replay_wait` for the answer of the first request under a taken id: reads
    /// it from `row` with `first_response`, re-reading the row with `reload` meanwhile. A stored
    /// answer that does not read as `A` (written by an older version) counts as none.
    pub(crate) async fn await_first_answer<A, T, F, Fut>(
        &self,
        mut row: T,
        first_response: fn(&T) -> Option<&str>,
        mut reload: F,
    ) -> Result<FirstAnswer<A, T>, EngineError>
    where
        A: DeserializeOwned,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, EngineError>>,
    {
        let deadline = tokio::time::Instant::now() + self.config.replay_wait;
        loop {
            if let Some(first) = first_response(&row) {
                match serde_json::from_str::<A>(first) {
                    Ok(answer) => return Ok(FirstAnswer::Stored(answer)),
                    Err(_) => return Ok(FirstAnswer::Pending(row)),
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(FirstAnswer::Pending(row));
            }
            tokio::time::sleep(POLL).await;
            row = reload().await?;
        }
    }
}

impl Payments {
    /// The answer to a jspay whose id is already taken by `existing`.
    pub(crate) async fn replay(
        &self,
        existing: trade::Model,
        hash: &str,
    ) -> Result<Created, EngineError> {
        same_content(
            &existing.request_hash,
            hash,
            &existing.req_date,
            &existing.req_seq_id,
        )?;
        let nkp_seq_id = existing.nkp_seq_id.clone();
        let nkp_seq_id = nkp_seq_id.as_str();
        let reload = move || async move { self.trade_of_id(nkp_seq_id).await };
        match self
            .await_first_answer::<Created, _, _, _>(
                existing,
                |t| t.first_response.as_deref(),
                reload,
            )
            .await?
        {
            FirstAnswer::Stored(created) if created.unknown_reason.is_some() => {
                // The first create's outcome was left unknown: repeat it, identically, and
                // answer the order if the channel has it; else the same answer again.
                let current = self.trade_of_id(nkp_seq_id).await?;
                Ok(self
                    .repeat_create(&current, Utc::now())
                    .await?
                    .unwrap_or(created))
            }
            FirstAnswer::Stored(created) => Ok(created),
            FirstAnswer::Pending(current) => Ok(Created {
                trade: (&current).into(),
                unknown_reason: None,
            }),
        }
    }

    /// The answer to a close request whose id is already taken by `first`: its first answer,
    /// or, when none came within `replay_wait` (the first is still at work, or failed), the
    /// trade as it stands.
    pub(crate) async fn replay_close(
        &self,
        first: trade_close_request::Model,
        hash: &str,
    ) -> Result<Closed, EngineError> {
        same_content(
            &first.request_hash,
            hash,
            &first.req_date,
            &first.req_seq_id,
        )?;
        let id = first.id;
        let reload = move || async move {
            close_requests::find(self.db.conn(), id)
                .await?
                .ok_or_else(|| EngineError::Internal(format!("close request {id} vanished")))
        };
        match self
            .await_first_answer(first, |r| r.first_response.as_deref(), reload)
            .await?
        {
            FirstAnswer::Stored(closed) => Ok(closed),
            FirstAnswer::Pending(current) => {
                let t = self.trade_of_id(&current.org_nkp_seq_id).await?;
                Ok(Closed {
                    outcome: ended(t.status).unwrap_or(CloseOutcome::Deferred),
                    trade: (&t).into(),
                })
            }
        }
    }
}
