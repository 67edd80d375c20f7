//! The one place a channel's word about a refund changes it: the refund reply, a refund
//! notify and a refund query all end here. The move P → S / F is a conditional UPDATE that
//! exactly one caller wins; in the same transaction the reservation on the trade becomes a
//! refunded amount (S) or is given back (F), a success records the share of the trade's fee it
//! returns (`nkpay_core::fee::refund_fee`, computed by the store under the trade's row lock),
//! and the merchant notification, carrying that fee, is enqueued.

use chrono::{DateTime, Utc};
use nkpay_channels::RefundResult;
use nkpay_core::state::RefundStatus;
use nkpay_store::entity::{refund, trade};
use nkpay_store::refunds::{self, RefundFinalState};
use nkpay_store::trades;

use super::Refunds;
use crate::error::EngineError;
use crate::notifications::resp_data;
use nkpay_core::money::Money;

/// Incident: the channel says another amount was refunded than the refund's.
const REFUND_AMOUNT_MISMATCH: &str = "refund_amount_mismatch";
/// Incident: the channel refunded after the refund failed here and its reservation was given
/// back, so the trade no longer counts money that left.
const REFUNDED_AFTER_FAILURE: &str = "refunded_after_failure";

/// What applying a channel result to a refund did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefundApplied {
    /// This call moved the refund to its final state.
    Finalized(RefundStatus),
    /// The refund was already final (a duplicate or late message); nothing changed.
    AlreadyFinal(RefundStatus),
    /// The channel is still working on it, has no such refund, or does not know.
    StillProcessing,
    /// The result contradicts the refund; an incident holds the details and the refund stays
    /// where it is.
    Incident(&'static str),
}

impl RefundApplied {
    /// A short label for the refund's channel history.
    pub(crate) fn describe(&self) -> String {
        match self {
            RefundApplied::Finalized(s) => format!("finalized {}", s.as_str()),
            RefundApplied::AlreadyFinal(s) => format!("already final {}", s.as_str()),
            RefundApplied::StillProcessing => "still processing".to_owned(),
            RefundApplied::Incident(kind) => format!("incident {kind}"),
        }
    }

    /// Whether the refund is in its final state now (by this call or an earlier one).
    pub(crate) fn is_final(&self) -> bool {
        matches!(
            self,
            RefundApplied::Finalized(_) | RefundApplied::AlreadyFinal(_)
        )
    }
}

/// A short label of a channel refund result, for histories.
pub(crate) fn describe_refund_result(r: &RefundResult) -> String {
    match r {
        RefundResult::Succeeded { amount, .. } => match amount {
            Some(a) => format!("refunded {a}"),
            None => "refunded".to_owned(),
        },
        RefundResult::Processing { .. } => "processing".to_owned(),
        RefundResult::Failed { code, message } => format!("failed {code}: {message}"),
        RefundResult::NotFound => "no such refund".to_owned(),
        RefundResult::Unknown { reason } => format!("unknown: {reason}"),
    }
}

/// A final state that fails a refund with the channel's (or our) code and text.
pub(crate) fn failing(code: String, message: String, now: DateTime<Utc>) -> RefundFinalState {
    RefundFinalState {
        status: RefundStatus::Failed,
        party_refund_id: None,
        end_time: Some(now),
        bank_code: Some(code),
        bank_message: Some(message),
    }
}

impl Refunds {
    /// Applies what the channel said about refund `r` of trade `t`.
    pub(crate) async fn apply_refund_result(
        &self,
        r: &refund::Model,
        t: &trade::Model,
        result: &RefundResult,
        now: DateTime<Utc>,
    ) -> Result<RefundApplied, EngineError> {
        match result {
            RefundResult::Succeeded {
                party_refund_id,
                amount,
                refunded_at,
            } => {
                if let Some(a) = amount
                    && a.fen() != r.ord_amt
                {
                    let detail = format!(
                        "channel says {a} was refunded for refund {} of {}; not finalized",
                        r.nkp_seq_id,
                        Money::yuan_of_fen(r.ord_amt)
                    );
                    return self
                        .refund_incident(r, REFUND_AMOUNT_MISMATCH, &detail, now)
                        .await;
                }
                let final_state = RefundFinalState {
                    status: RefundStatus::Succeeded,
                    party_refund_id: party_refund_id.clone(),
                    end_time: Some(refunded_at.unwrap_or(now)),
                    bank_code: None,
                    bank_message: None,
                };
                self.finalize_refund(r, t, final_state, now).await
            }
            RefundResult::Failed { code, message } => {
                self.finalize_refund(r, t, failing(code.clone(), message.clone(), now), now)
                    .await
            }
            RefundResult::Processing { party_refund_id } => {
                if let Some(id) = party_refund_id
                    && r.party_refund_id.as_deref() != Some(id.as_str())
                {
                    refunds::record_party_refund_id(self.db.conn(), &r.nkp_seq_id, id, now).await?;
                }
                Ok(self.still_processing_or_final(r).await?)
            }
            RefundResult::NotFound | RefundResult::Unknown { .. } => {
                Ok(self.still_processing_or_final(r).await?)
            }
        }
    }

    /// Moves `r` to `final_state.status` unless someone else already moved it. A success that
    /// finds the refund failed is an incident: money left that the trade no longer counts.
    pub(crate) async fn finalize_refund(
        &self,
        r: &refund::Model,
        t: &trade::Model,
        final_state: RefundFinalState,
        now: DateTime<Utc>,
    ) -> Result<RefundApplied, EngineError> {
        // A final state is never left: a refund read as final needs no write (a repeated
        // notify costs this read only).
        let current = if r.status.is_final() {
            r.clone()
        } else {
            // The notification carries the fee the refund returns, known only inside the
            // store's transaction (it depends on the trade's refunded amount at that moment).
            let (refund, trade, state) = (r.clone(), t.clone(), final_state.clone());
            let notice = move |fee| resp_data::refund_notice(&refund, &trade, &state, fee, now);
            let moved =
                refunds::finalize_with(&self.db, &r.nkp_seq_id, &final_state, notice, now).await?;
            if moved {
                tracing::info!(
                    refund = %r.nkp_seq_id,
                    trade = %r.org_nkp_seq_id,
                    status = final_state.status.as_str(),
                    "refund finalized"
                );
                return Ok(RefundApplied::Finalized(final_state.status));
            }
            self.reload_refund(&r.nkp_seq_id).await?
        };
        let status = current.status;
        if final_state.status == RefundStatus::Succeeded && status == RefundStatus::Failed {
            let detail = format!(
                "refund {} of trade {} succeeded at the channel after it failed here; its {} is no longer counted as refunded",
                r.nkp_seq_id,
                r.org_nkp_seq_id,
                Money::yuan_of_fen(r.ord_amt)
            );
            return self
                .refund_incident(&current, REFUNDED_AFTER_FAILURE, &detail, now)
                .await;
        }
        Ok(RefundApplied::AlreadyFinal(status))
    }

    async fn still_processing_or_final(
        &self,
        r: &refund::Model,
    ) -> Result<RefundApplied, EngineError> {
        let current = self.reload_refund(&r.nkp_seq_id).await?;
        Ok(match current.status {
            RefundStatus::Processing => RefundApplied::StillProcessing,
            s => RefundApplied::AlreadyFinal(s),
        })
    }

    /// The refund as last committed, read on the readers' pool (`Db::reader`: every
    /// committed write is seen there, and SQLite's one writer connection is left to writes).
    pub(crate) async fn reload_refund(
        &self,
        nkp_seq_id: &str,
    ) -> Result<refund::Model, EngineError> {
        refunds::find_by_nkp_seq_id(self.db.reader(), nkp_seq_id)
            .await?
            .ok_or_else(|| EngineError::Internal(format!("refund {nkp_seq_id} vanished")))
    }

    /// The trade `r` refunds, as last committed (read like [`Refunds::reload_refund`]).
    pub(crate) async fn trade_of(&self, r: &refund::Model) -> Result<trade::Model, EngineError> {
        trades::find_by_nkp_seq_id(self.db.reader(), &r.org_nkp_seq_id)
            .await?
            .ok_or_else(|| {
                EngineError::Internal(format!(
                    "refund {} names trade {}, which does not exist",
                    r.nkp_seq_id, r.org_nkp_seq_id
                ))
            })
    }

    /// Records an incident of `kind` for `r` once (repeats of the same message do not pile up).
    async fn refund_incident(
        &self,
        r: &refund::Model,
        kind: &'static str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<RefundApplied, EngineError> {
        self.open_incident_once(&r.nkp_seq_id, kind, detail, now)
            .await?;
        Ok(RefundApplied::Incident(kind))
    }
}
