//! Talking to the channel about a refund: send it (the first time, or again under the same
//! number when its fate is unknown) and ask about it. Both apply the answer at once; each
//! exchange goes into the refund's history.

use chrono::{DateTime, Utc};
use nkpay_channels::{RefundOrder, RefundRef, RefundResult};
use nkpay_core::money::Money;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::entity::{refund, trade};

use super::Refunds;
use super::finalize::{RefundApplied, describe_refund_result, failing};
use crate::error::EngineError;

/// What one call to the channel did to a refund.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    /// What the channel's answer did to the refund.
    pub(crate) applied: RefundApplied,
    /// Why the outcome is unknown, when it is (the refund stays processing).
    pub(crate) unknown: Option<String>,
    /// The channel has no refund under this number (a query's answer).
    pub(crate) not_found: bool,
}

fn money(fen: i64, what: &str, id: &str) -> Result<Money, EngineError> {
    Money::from_fen(fen).map_err(|e| EngineError::Internal(format!("{what} of {id}: {e}")))
}

impl Refunds {
    /// Sends refund `r` of trade `t` to the channel and applies the answer. Safe to repeat:
    /// the channel refunds one number once.
    pub(crate) async fn send_refund(
        &self,
        r: &refund::Model,
        t: &trade::Model,
        now: DateTime<Utc>,
    ) -> Result<Upstream, EngineError> {
        let (channel, trade_ref) = self.trade_ref(t).await?;
        let order = RefundOrder {
            trade: trade_ref,
            refund_nkp_seq_id: r.nkp_seq_id.clone(),
            trade_amount: money(t.trans_amt, "trans_amt", &t.nkp_seq_id)?,
            amount: money(r.ord_amt, "ord_amt", &r.nkp_seq_id)?,
            reason: None,
        };
        let recorded = match channel.refund(&order).await {
            Ok(recorded) => recorded,
            Err(e) => {
                // Nothing was sent: the refund cannot be made as asked, so it fails here. The
                // merchant sees the broken rule, never our configuration (logged instead).
                tracing::warn!(nkp_seq_id = %r.nkp_seq_id, error = %e, "refund refused before sending");
                let final_state =
                    failing("NKP_REFUSED".to_owned(), e.merchant_text_or_generic(), now);
                let applied = self.finalize_refund(r, t, final_state, now).await?;
                return Ok(Upstream {
                    applied,
                    unknown: None,
                    not_found: false,
                });
            }
        };
        self.finish_call(r, t, channel.kind(), recorded, now).await
    }

    /// Asks the channel about refund `r` of trade `t` and applies the answer.
    pub(crate) async fn query_refund_upstream(
        &self,
        r: &refund::Model,
        t: &trade::Model,
        now: DateTime<Utc>,
    ) -> Result<Upstream, EngineError> {
        let (channel, trade_ref) = self.trade_ref(t).await?;
        let refund_ref = RefundRef {
            trade: trade_ref,
            refund_nkp_seq_id: r.nkp_seq_id.clone(),
        };
        let recorded = channel.refund_query(&refund_ref).await?;
        self.finish_call(r, t, channel.kind(), recorded, now).await
    }

    async fn finish_call(
        &self,
        r: &refund::Model,
        t: &trade::Model,
        kind: ChannelKind,
        recorded: nkpay_channels::Recorded<RefundResult>,
        now: DateTime<Utc>,
    ) -> Result<Upstream, EngineError> {
        let applied = self.apply_refund_result(r, t, &recorded.value, now).await?;
        let outcome = format!(
            "{}; {}",
            describe_refund_result(&recorded.value),
            applied.describe()
        );
        self.log_exchanges(Some(&r.nkp_seq_id), kind, &recorded.exchanges, &outcome)
            .await;
        let unknown = match &recorded.value {
            RefundResult::Unknown { reason } => Some(reason.clone()),
            _ => None,
        };
        Ok(Upstream {
            applied,
            unknown,
            not_found: recorded.value == RefundResult::NotFound,
        })
    }
}
