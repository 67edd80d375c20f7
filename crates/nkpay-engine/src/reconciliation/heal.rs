//! Healing what is safe, each through the path the rest of the platform uses: a trade through
//! the payments' query and finalize (so the merchant notification is enqueued with the final
//! state), a refund through the refunds' send, query and finalize. Every step can be repeated:
//! a second run finds the trade final, or the recovery refund under its fixed request key.

use chrono::Utc;
use nkpay_core::money::Money;
use nkpay_core::state::{RefundStatus, TradeStatus};
use nkpay_store::entity::{reconciliation_difference, refund, trade};
use nkpay_store::reconciliation as store;
use nkpay_store::refunds::{self, NewRefund, Reservation};

use super::Reconciliation;
use super::compare::Heal;
use crate::config::delta;
use crate::error::EngineError;
use crate::payments::Payments;
use crate::payments::finalize::Applied;
use crate::refunds::Refunds;

/// Incident: succeeded here, absent from the channel's bill of the day.
const MISSING_AT_CHANNEL: &str = "reconciliation_missing_at_channel";
/// Incident: a refund failed here that the channel's bill shows refunded.
const REFUND_STATE: &str = "reconciliation_refund_state";
/// What `Payments::finalize` calls a payment that lands after a close.
const PAID_AFTER_CLOSE: &str = "paid_after_close";

/// The request number of the refund a run makes for a trade paid after its close: fixed per
/// trade, so the refund is made once however often runs repeat.
pub(crate) fn recovery_req_seq_id(trade_nkp_seq_id: &str) -> String {
    format!("RECON{trade_nkp_seq_id}")
}

impl Reconciliation {
    /// Applies `heal` for difference `d`; `true` when the difference is healed now.
    pub(super) async fn heal(
        &self,
        d: &reconciliation_difference::Model,
        heal: &Heal,
    ) -> Result<bool, EngineError> {
        let action = match heal {
            Heal::Nothing => return Ok(false),
            Heal::FinalizeTrade(id) => self.finalize_trade(id).await?,
            Heal::RefundPayment(id) => self.refund_payment(id).await?,
            Heal::FinalizeRefund(id) => self.finalize_refund(id).await?,
            Heal::Incident(id) => {
                let kind = if d.kind == store::DifferenceKind::StateDiffers {
                    REFUND_STATE
                } else {
                    MISSING_AT_CHANNEL
                };
                self.open_incident_once(id, kind, &d.detail, Utc::now())
                    .await?;
                Err(format!("incident {kind} opened for an operator"))
            }
        };
        let conn = self.db.conn();
        match action {
            Ok(done) => store::mark_healed(conn, d.id, &done, Utc::now()).await,
            Err(tried) => {
                store::note_heal_attempt(conn, d.id, &tried, Utc::now()).await?;
                Ok(false)
            }
        }
        .map_err(EngineError::from)
    }

    /// Queries the channel about processing trade `id` and finalizes it; `Ok(Ok(what))` when
    /// it is paid here now.
    async fn finalize_trade(&self, id: &str) -> Result<Result<String, String>, EngineError> {
        let payments = Payments::new(self.ctx.clone());
        let t = payments.trade_of_id(id).await?;
        let (fresh, applied) = payments.refresh(&t, Utc::now()).await?;
        Ok(if fresh.status == TradeStatus::Succeeded {
            Ok(format!(
                "queried the channel: {}; trade {id} is S, the merchant is notified",
                applied.describe()
            ))
        } else {
            Err(format!(
                "queried the channel: {}; trade {id} is still {}",
                applied.describe(),
                fresh.status.as_str()
            ))
        })
    }

    /// Refunds in full a trade paid at the channel after it was closed or failed here, once the
    /// channel confirms the payment.
    async fn refund_payment(&self, id: &str) -> Result<Result<String, String>, EngineError> {
        let payments = Payments::new(self.ctx.clone());
        let t = payments.trade_of_id(id).await?;
        let req_seq_id = recovery_req_seq_id(&t.nkp_seq_id);
        let conn = self.db.conn();
        // An earlier run's refund first: once refunded in full, Alipay calls the trade closed,
        // so the payment can no longer be confirmed by a query.
        let r = match refunds::find_by_req(conn, &t.mer_id, &t.req_date, &req_seq_id).await? {
            Some(r) => r,
            None => match self.new_recovery_refund(&payments, &t, &req_seq_id).await? {
                Ok(r) => r,
                Err(why) => return Ok(Err(why)),
            },
        };
        let refunds_service = Refunds::new(self.ctx.clone());
        if r.status == RefundStatus::Processing {
            let fresh = payments.trade_of_id(id).await?;
            refunds_service.send_refund(&r, &fresh, Utc::now()).await?;
        }
        let r = refunds_service.reload_refund(&r.nkp_seq_id).await?;
        Ok(match r.status {
            RefundStatus::Succeeded => Ok(format!(
                "refunded {} fen in full under refund {} (req_seq_id {req_seq_id})",
                r.ord_amt, r.nkp_seq_id
            )),
            RefundStatus::Processing => Err(format!(
                "refund {} sent, outcome pending: the refund job follows it",
                r.nkp_seq_id
            )),
            RefundStatus::Failed => Err(format!(
                "refund {} failed at the channel ({}): an operator must refund the payer",
                r.nkp_seq_id,
                r.bank_message.as_deref().unwrap_or("no reason given")
            )),
        })
    }

    /// Confirms by a query that trade `t` was paid after its close here, then reserves and
    /// inserts its refund in full under `req_seq_id`; `Err` with why nothing was refunded.
    async fn new_recovery_refund(
        &self,
        payments: &Payments,
        t: &trade::Model,
        req_seq_id: &str,
    ) -> Result<Result<refund::Model, String>, EngineError> {
        let (fresh, applied) = payments.refresh(t, Utc::now()).await?;
        if applied != Applied::Incident(PAID_AFTER_CLOSE) {
            return Ok(Err(format!(
                "queried the channel: {}; the payment after the close is not confirmed, nothing refunded",
                applied.describe()
            )));
        }
        let now = Utc::now();
        let amount = Money::from_fen(fresh.trans_amt).map_err(|e| {
            EngineError::Internal(format!("trans_amt of {}: {e}", fresh.nkp_seq_id))
        })?;
        let new = NewRefund {
            nkp_seq_id: self.seq.next_id(),
            sys_id: fresh.sys_id.clone(),
            mer_id: fresh.mer_id.clone(),
            req_date: fresh.req_date.clone(),
            req_seq_id: req_seq_id.to_owned(),
            org_nkp_seq_id: fresh.nkp_seq_id.clone(),
            channel: fresh.channel,
            ord_amt: amount,
            notify_url: fresh.notify_url.clone(),
            remark: Some(
                "nkpay reconciliation: paid at the channel after the trade was closed; refunded in full"
                    .to_owned(),
            ),
            next_query_at: Some(now + delta(self.config.query_delay(0))),
            request_hash: "reconciliation".to_owned(),
        };
        Ok(match store::create_recovery_refund(&self.db, &new, now).await? {
            Reservation::Reserved(r) => Ok(*r),
            // A concurrent run got in first: its refund is the one.
            Reservation::Refused => {
                refunds::find_by_req(self.db.conn(), &fresh.mer_id, &fresh.req_date, req_seq_id)
                    .await?
                    .ok_or_else(|| {
                        format!(
                            "trade {}: the refund could not be reserved (already refunded, or no longer closed)",
                            fresh.nkp_seq_id
                        )
                    })
            }
        })
    }

    /// Queries the channel about processing refund `id` and finalizes it.
    async fn finalize_refund(&self, id: &str) -> Result<Result<String, String>, EngineError> {
        let refunds_service = Refunds::new(self.ctx.clone());
        let r = refunds_service.reload_refund(id).await?;
        let t = refunds_service.trade_of(&r).await?;
        let upstream = refunds_service
            .query_refund_upstream(&r, &t, Utc::now())
            .await?;
        let r = refunds_service.reload_refund(id).await?;
        Ok(if r.status == RefundStatus::Succeeded {
            Ok(format!(
                "queried the channel: {}; refund {id} is S, the merchant is notified",
                upstream.applied.describe()
            ))
        } else {
            Err(format!(
                "queried the channel: {}; refund {id} is still {}",
                upstream.applied.describe(),
                r.status.as_str()
            ))
        })
    }
}
