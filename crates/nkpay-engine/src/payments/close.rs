//! `scanpay/close`: close an unpaid trade, upstream and here. A close the channel does not allow
//! yet (WeChat: within 5 minutes of the order) is accepted with `trans_stat` `P` and carried out
//! by the job once it may be; a payment that lands first wins, the close then fails, and the
//! merchant is notified of the payment.

use chrono::{DateTime, Utc};
use nkpay_channels::CloseResult;
use nkpay_core::resp_code::RespCode;
use nkpay_core::state::{TradeStatus, TransStat};
use nkpay_store::entity::trade;
use nkpay_store::trades;
use serde_json::{Map, Value};

use super::fields::Fields;
use super::settle::{Applied, closing};
use super::trade_view::{self, Data, status_of};
use super::validation;
use crate::callers::Caller;
use crate::config::delta;
use crate::engine::Engine;
use crate::error::EngineError;

/// Where a close got to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseOutcome {
    /// The trade is closed (now, or it already was).
    Closed,
    /// The trade was paid first; the close failed.
    Paid,
    /// Not possible yet, or the channel's answer was unclear: the job carries it out.
    Deferred,
    /// The channel refused the close.
    Refused { code: String, message: String },
}

impl Engine {
    /// `POST /v2/trade/payment/scanpay/close`.
    pub async fn close_trade(
        &self,
        caller: &Caller,
        data: &Map<String, Value>,
    ) -> Result<Map<String, Value>, EngineError> {
        let now = Utc::now();
        let f = Fields::new(data);
        let mer_id = self.merchant_of(caller, &f).await?;
        let (req_date, req_seq_id) = validation::request_id(&f)?;
        validation::check_req_date_is_current(
            "req_date",
            req_date,
            now,
            self.config.req_date_tolerance_days,
        )?;
        let t = self.find_org_trade(&f, mer_id).await?;

        let outcome = match status_of(&t)? {
            TradeStatus::Succeeded => CloseOutcome::Paid,
            TradeStatus::Closed | TradeStatus::Failed => CloseOutcome::Closed,
            TradeStatus::Processing => {
                trades::request_close(self.db.conn(), &t.nkp_seq_id, req_date, req_seq_id, now)
                    .await?;
                self.carry_out_close(&t, now).await?
            }
        };
        let current = trades::find_by_nkp_seq_id(self.db.conn(), &t.nkp_seq_id)
            .await?
            .ok_or_else(|| EngineError::Internal(format!("trade {} vanished", t.nkp_seq_id)))?;
        let (code, desc, stat) = match &outcome {
            CloseOutcome::Closed => (RespCode::Success, "关单成功".to_owned(), TransStat::S),
            CloseOutcome::Paid => (
                RespCode::TradeStateNotAllowed,
                "原交易已支付，关单失败: the trade is paid and cannot be closed".to_owned(),
                TransStat::F,
            ),
            CloseOutcome::Deferred => (
                RespCode::Success,
                "关单已受理，处理中: the close will be carried out as soon as the channel allows"
                    .to_owned(),
                TransStat::P,
            ),
            CloseOutcome::Refused { code, message } => (
                RespCode::ChannelError,
                format!("通道拒绝关单: {code}: {message}"),
                TransStat::F,
            ),
        };
        let mut d = Data::with_code(code, desc);
        d.set("mer_id", &current.mer_id)
            .set("req_date", req_date)
            .set("req_seq_id", req_seq_id)
            .set("org_req_date", &current.req_date)
            .set("org_req_seq_id", &current.req_seq_id)
            .set("org_nkp_seq_id", &current.nkp_seq_id)
            .set("org_trans_stat", trade_view::trans_stat(&current)?.as_str())
            .set("trans_stat", stat.as_str());
        if let CloseOutcome::Refused { code, message } = outcome {
            d.set("bank_code", code).set("bank_message", message);
        }
        Ok(d.into_map())
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
                return Ok(CloseOutcome::Refused {
                    code: "NKP_REFUSED".to_owned(),
                    message: e.to_string(),
                });
            }
        };
        let (outcome, label) = match &recorded.value {
            CloseResult::Closed | CloseResult::NotOpened => {
                let applied = self
                    .settle(t, closing(TradeStatus::Closed, None, now), now)
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
            // The payment won: learn its details and settle it (which notifies the merchant).
            let (fresh, _) = self.refresh(t, now).await?;
            if status_of(&fresh)? == TradeStatus::Succeeded {
                return Ok(CloseOutcome::Paid);
            }
            self.due_by(&t.nkp_seq_id, now + delta(self.config.query_delay(0)), now)
                .await?;
        }
        Ok(outcome)
    }
}
