//! The one place a channel's word about a payment changes a trade: a notify, a query by the
//! job or the API, and a close all end here. The move P → S / F / C is a conditional UPDATE
//! that exactly one caller wins, with the merchant notification enqueued in the same
//! transaction. A paid result is believed only when its amount and sub-merchant match the
//! trade; otherwise an incident is recorded and the trade stays where it is.

use chrono::{DateTime, Utc};
use nkpay_channels::PayResult;
use nkpay_core::fee;
use nkpay_core::money::Money;
use nkpay_core::state::TradeStatus;
use nkpay_store::entity::trade;
use nkpay_store::trade_schedule;
use nkpay_store::trades::{self, FinalState};

use super::Payments;
use crate::error::EngineError;
use crate::notifications::resp_data;

/// Incident: the channel says another amount was paid than the trade's (WeChat Pay v2: never
/// trust a notify's amount without checking it against the order).
const AMOUNT_MISMATCH: &str = "amount_mismatch";
/// Incident: a payment notify names another sub-merchant than the trade's.
const MERCHANT_MISMATCH: &str = "merchant_mismatch";
/// Incident: paid at the channel after the trade was closed or failed here (an Alipay QR code
/// stays payable after `alipay.trade.close` before a scan): the payer must be refunded.
const PAID_AFTER_CLOSE: &str = "paid_after_close";

/// What applying a channel result did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Applied {
    /// This call moved the trade to its final state.
    Finalized(TradeStatus),
    /// The trade was already final (a duplicate or late message); nothing changed.
    AlreadyFinal(TradeStatus),
    /// The channel says it is still open, or it does not know.
    StillProcessing,
    /// The result contradicts the trade (amount, sub-merchant, or a payment after a close);
    /// an incident holds the details.
    Incident(&'static str),
}

impl Applied {
    /// A short label for the trade's channel history.
    pub(crate) fn describe(&self) -> String {
        match self {
            Applied::Finalized(s) => format!("finalized {}", s.as_str()),
            Applied::AlreadyFinal(s) => format!("already final {}", s.as_str()),
            Applied::StillProcessing => "still processing".to_owned(),
            Applied::Incident(kind) => format!("incident {kind}"),
        }
    }
}

/// A short label of a channel result, for histories.
pub(crate) fn describe_pay_result(r: &PayResult) -> String {
    match r {
        PayResult::Paid {
            party_order_id,
            amount,
            ..
        } => format!("paid {amount} ({party_order_id})"),
        PayResult::NotPaid => "not paid".to_owned(),
        PayResult::Closed => "closed".to_owned(),
        PayResult::Failed { code, message } => format!("failed {code}: {message}"),
        PayResult::NotFound => "no such order".to_owned(),
        PayResult::Unknown { reason } => format!("unknown: {reason}"),
    }
}

impl Payments {
    /// Applies what the channel said about `t`'s payment. `merchant_mismatch` says why a
    /// notify's sub-merchant is not the trade's (the connector's
    /// `Channel::check_notify_merchant` decided): such a result is not believed.
    pub(crate) async fn apply_pay_result(
        &self,
        t: &trade::Model,
        result: &PayResult,
        merchant_mismatch: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        if let Some(why) = merchant_mismatch {
            let detail = format!(
                "channel notify for trade {} ({}): {why}; not applied",
                t.nkp_seq_id,
                describe_pay_result(result)
            );
            return self.incident(t, MERCHANT_MISMATCH, &detail, now).await;
        }
        match result {
            PayResult::Paid {
                party_order_id,
                amount,
                buyer_id,
                paid_at,
            } => {
                if amount.fen() != t.trans_amt {
                    let detail = format!(
                        "channel says {amount} was paid for trade {} of {}; not finalized",
                        t.nkp_seq_id,
                        Money::yuan_of_fen(t.trans_amt)
                    );
                    return self.incident(t, AMOUNT_MISMATCH, &detail, now).await;
                }
                let fee = fee_of(t)?;
                let final_state = FinalState {
                    status: TradeStatus::Succeeded,
                    party_order_id: Some(party_order_id.clone()),
                    buyer_id: buyer_id.clone(),
                    end_time: Some(paid_at.unwrap_or(now)),
                    fee_amt: Some(fee),
                    bank_code: None,
                    bank_message: None,
                };
                self.finalize(t, final_state, now).await
            }
            PayResult::Closed => {
                let final_state = closing(TradeStatus::Closed, None, now);
                self.finalize(t, final_state, now).await
            }
            PayResult::Failed { code, message } => {
                let final_state = closing(
                    TradeStatus::Failed,
                    Some((code.clone(), message.clone())),
                    now,
                );
                self.finalize(t, final_state, now).await
            }
            PayResult::NotPaid | PayResult::NotFound | PayResult::Unknown { .. } => {
                Ok(Applied::StillProcessing)
            }
        }
    }

    /// Moves `t` to `final_state.status` unless someone else already moved it; then reports
    /// what the trade is. A payment that finds the trade closed or failed is an incident: the
    /// money arrived and must be refunded, never lost.
    pub(crate) async fn finalize(
        &self,
        t: &trade::Model,
        final_state: FinalState,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        // A final state is never left, so a trade read as final needs no write: a repeated
        // notify (the channel's retries, a duplicate) costs this read only, not a turn of
        // SQLite's one writer connection (issue 16: the repeats of a burst of pay notifies
        // queued before every other write).
        let current = if t.status.is_final() {
            t.clone()
        } else {
            let notice = resp_data::trade_notice(t, &final_state, now)?;
            let moved =
                trades::finalize(&self.db, &t.nkp_seq_id, &final_state, notice.as_ref(), now)
                    .await?;
            if moved {
                tracing::info!(
                    nkp_seq_id = %t.nkp_seq_id,
                    status = final_state.status.as_str(),
                    "trade finalized"
                );
                return Ok(Applied::Finalized(final_state.status));
            }
            self.trade_of_id(&t.nkp_seq_id).await?
        };
        let status = current.status;
        if final_state.status == TradeStatus::Succeeded
            && matches!(status, TradeStatus::Closed | TradeStatus::Failed)
        {
            let detail = format!(
                "trade {} was paid at the channel ({}) after it ended here as {}: refund the payer",
                t.nkp_seq_id,
                final_state.party_order_id.as_deref().unwrap_or("?"),
                status.as_str()
            );
            return self
                .incident(&current, PAID_AFTER_CLOSE, &detail, now)
                .await;
        }
        Ok(Applied::AlreadyFinal(status))
    }

    /// Records an incident of `kind` for `t` once (repeats of the same notify do not pile up).
    async fn incident(
        &self,
        t: &trade::Model,
        kind: &'static str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        self.open_incident_once(&t.nkp_seq_id, kind, detail, now)
            .await?;
        Ok(Applied::Incident(kind))
    }

    /// Makes the job look at `t` no later than `at`.
    pub(crate) async fn due_by(
        &self,
        nkp_seq_id: &str,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        trade_schedule::due_no_later_than(self.db.conn(), nkp_seq_id, at, now).await?;
        Ok(())
    }
}

/// The fee `t` is charged when it succeeds: its amount at the rate recorded on it when it was
/// created (`nkpay_core::fee::trade_fee`, half up to the fen), not the business's rate of now.
fn fee_of(t: &trade::Model) -> Result<Money, EngineError> {
    Money::from_fen(t.trans_amt)
        .and_then(|amount| fee::trade_fee(amount, t.fee_rate_bp))
        .map_err(|e| EngineError::Internal(format!("fee of trade {}: {e}", t.nkp_seq_id)))
}

/// A final state that ends a trade without payment.
pub(crate) fn closing(
    status: TradeStatus,
    bank: Option<(String, String)>,
    now: DateTime<Utc>,
) -> FinalState {
    let (bank_code, bank_message) = match bank {
        Some((c, m)) => (Some(c), Some(m)),
        None => (None, None),
    };
    FinalState {
        status,
        party_order_id: None,
        buyer_id: None,
        end_time: Some(now),
        fee_amt: None,
        bank_code,
        bank_message,
    }
}
