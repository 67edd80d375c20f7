//! `scanpay/close`: close an unpaid trade, upstream and here. A close the channel does not allow
//! yet (WeChat: within 5 minutes of the order) is accepted with `trans_stat` `P` and carried out
//! by the job once it may be; a payment that lands first wins, the close then fails, and the
//! merchant is notified of the payment. A close request is recorded under its own request id
//! before anything is done, and its first answer kept: the same request again gets that answer
//! (`replay.rs`), other content under the id is refused (`20000000`).

use chrono::{DateTime, Utc};
use nkpay_channels::CloseResult;
use nkpay_core::state::TradeStatus;
use nkpay_store::StoreError;
use nkpay_store::entity::trade;
use nkpay_store::trade_close_requests::{self as close_requests, NewCloseRequest};
use nkpay_store::trades;

use super::Payments;
use super::command::CloseTrade;
use super::finalize::{Applied, closing};
use super::view::{CloseOutcome, Closed};
use crate::callers::Scope;
use crate::config::delta;
use crate::error::EngineError;

impl Payments {
    /// `scanpay/close`: closes the trade named (`23000001` when none) at the channel and
    /// here, or defers the close until the channel allows it; or answers a replay of the same
    /// request as the first time. Refusals: `10000000` (`req_date` not current), `20000000`
    /// (same id, other content).
    pub async fn close(&self, scope: &Scope, cmd: &CloseTrade) -> Result<Closed, EngineError> {
        let now = Utc::now();
        let mer_id = scope.mer_id();
        let id = &cmd.request.id;
        let req_date = id.date_text();
        let hash = cmd.request.content_hash.as_str();
        // The request id first: a replay is answered as the first time, even on a later day.
        if let Some(first) =
            close_requests::find_by_req(self.db.conn(), mer_id, &req_date, &id.req_seq_id).await?
        {
            return self.replay_close(first, hash).await;
        }
        id.check_current("req_date", now, self.config.req_date_tolerance_days)?;
        let t = self.find_original_trade(&cmd.trade, mer_id).await?;
        let new = NewCloseRequest {
            mer_id: mer_id.to_owned(),
            req_date: req_date.clone(),
            req_seq_id: id.req_seq_id.clone(),
            org_nkp_seq_id: t.nkp_seq_id.clone(),
            request_hash: hash.to_owned(),
        };
        let record = match close_requests::insert(self.db.conn(), &new, now).await {
            Ok(r) => r,
            Err(StoreError::Duplicate { .. }) => {
                // A concurrent duplicate won the insert: answer what it answers.
                let winner =
                    close_requests::find_by_req(self.db.conn(), mer_id, &req_date, &id.req_seq_id)
                        .await?
                        .ok_or_else(|| {
                            EngineError::Internal(
                                "duplicate close request key but no close request found".into(),
                            )
                        })?;
                return self.replay_close(winner, hash).await;
            }
            Err(e) => return Err(e.into()),
        };
        let outcome = match ended(t.status) {
            Some(outcome) => outcome,
            None => {
                trades::request_close(
                    self.db.conn(),
                    &t.nkp_seq_id,
                    &req_date,
                    &id.req_seq_id,
                    now,
                )
                .await?;
                self.carry_out_close(&t, now).await?
            }
        };
        let current = self.trade_of_id(&t.nkp_seq_id).await?;
        let closed = Closed {
            trade: (&current).into(),
            outcome,
        };
        let text = serde_json::to_string(&closed)
            .map_err(|e| EngineError::Internal(format!("first answer not serializable: {e}")))?;
        close_requests::record_first_response(self.db.conn(), record.id, &text, Utc::now()).await?;
        Ok(closed)
    }

    /// Closes processing trade `t` at the channel and here, or defers it to the job.
    pub(crate) async fn carry_out_close(
        &self,
        t: &trade::Model,
        now: DateTime<Utc>,
    ) -> Result<CloseOutcome, EngineError> {
        let (channel, tref) = self.trade_ref(t).await?;
        // The channel's own rule (WeChat: not within 5 minutes of the order).
        let allowed_at = channel.earliest_close(t.created_at);
        if now < allowed_at {
            self.due_by(&t.nkp_seq_id, allowed_at, now).await?;
            return Ok(CloseOutcome::Deferred);
        }
        let recorded = match channel.close(&tref).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(nkp_seq_id = %t.nkp_seq_id, error = %e, "close refused before sending");
                return Ok(CloseOutcome::Refused {
                    code: "NKP_REFUSED".to_owned(),
                    message: e.merchant_text_or_generic(),
                });
            }
        };
        let (outcome, label) = match &recorded.value {
            CloseResult::Closed | CloseResult::NotOpened => {
                let applied = self
                    .finalize(t, closing(TradeStatus::Closed, None, now), now)
                    .await?;
                let outcome = match applied {
                    Applied::AlreadyFinal(TradeStatus::Succeeded) => CloseOutcome::Paid,
                    _ => CloseOutcome::Closed,
                };
                (outcome, format!("closed; {}", applied.describe()))
            }
            CloseResult::AlreadyPaid => (CloseOutcome::Deferred, "already paid".to_owned()),
            CloseResult::TooEarly => {
                let retry = now + delta(self.config.query_delay(0));
                self.due_by(&t.nkp_seq_id, retry, now).await?;
                (CloseOutcome::Deferred, "too early; deferred".to_owned())
            }
            CloseResult::Unknown { reason } => {
                let retry = now + delta(self.config.query_delay(0));
                self.due_by(&t.nkp_seq_id, retry, now).await?;
                (
                    CloseOutcome::Deferred,
                    format!("unknown: {reason}; deferred"),
                )
            }
            CloseResult::Failed { code, message } => (
                CloseOutcome::Refused {
                    code: code.clone(),
                    message: message.clone(),
                },
                format!("refused {code}: {message}"),
            ),
        };
        self.log_exchanges(
            Some(&t.nkp_seq_id),
            channel.kind(),
            &recorded.exchanges,
            &label,
        )
        .await;
        if recorded.value == CloseResult::AlreadyPaid {
            // The payment won: learn its details and finalize it (which enqueues the merchant
            // notification).
            let (fresh, _) = self.refresh(t, now).await?;
            if fresh.status == TradeStatus::Succeeded {
                return Ok(CloseOutcome::Paid);
            }
            self.due_by(&t.nkp_seq_id, now + delta(self.config.query_delay(0)), now)
                .await?;
        }
        Ok(outcome)
    }
}

/// What a close of a trade in final state `status` is: paid first (`Paid`), or ended unpaid
/// (`Closed`); `None` while it is processing.
pub(crate) fn ended(status: TradeStatus) -> Option<CloseOutcome> {
    match status {
        TradeStatus::Succeeded => Some(CloseOutcome::Paid),
        TradeStatus::Closed | TradeStatus::Failed => Some(CloseOutcome::Closed),
        TradeStatus::Processing => None,
    }
}
