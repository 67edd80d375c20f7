//! `scanpay/refund`: check the rules that depend on the clock, find the paid trade in the
//! caller's scope, reserve the amount and insert the refund under the merchant's request id (one
//! transaction), send it to the channel, apply the answer — and keep that answer for replays.

use chrono::{DateTime, Utc};
use nkpay_core::money::Money;
use nkpay_core::resp_code::RespCode;
use nkpay_core::state::TradeStatus;
use nkpay_store::entity::{refund, trade};
use nkpay_store::refunds::{self, NewRefund, Reservation};

use super::Refunds;
use super::command::CreateRefund;
use super::view::RefundAnswer;
use crate::callers::Scope;
use crate::config::delta;
use crate::error::EngineError;
use crate::notifications::url_guard;
use crate::payments::amount_limit;

impl Refunds {
    /// `scanpay/refund`: reserves and sends the refund, or answers a replay of the same request
    /// as the first time. Refusals: `10000000` (`req_date` not current, `notify_url` not
    /// deliverable), `20000000` (same id, other content), `23000001` (no such trade),
    /// `23000002` (trade not paid), `23000003` (more than is left to refund).
    pub async fn create(
        &self,
        scope: &Scope,
        cmd: CreateRefund,
    ) -> Result<RefundAnswer, EngineError> {
        let now = Utc::now();
        let mer_id = scope.mer_id();
        let req_date = cmd.request.id.date_text();
        let req_seq_id = cmd.request.id.req_seq_id.as_str();
        let hash = cmd.request.content_hash.as_str();
        // A new request id is the common case, so the rules are checked and the reservation
        // made first, and the refund's unique key finds a replay: a new refund costs no
        // lookup. A refusal on the way gives way to the first answer when the id is taken (a
        // replay, even on a later day, or a concurrent copy of this very request that took the
        // key or the amount first), which answers what it answers.
        let reserved = async {
            cmd.request
                .id
                .check_current("req_date", now, self.config.req_date_tolerance_days)?;
            if let Some(url) = &cmd.notify_url {
                url_guard::check_notify_url(url, &self.config.notify_url_policy)
                    .await
                    .map_err(|refusal| {
                        EngineError::refused(RespCode::ParamError, refusal.to_string())
                    })?;
            }
            let t = self.find_refunded_trade(&cmd.trade, mer_id).await?;
            amount_limit::check("ord_amt", cmd.ord_amt, t.trade_type.channel(), None)?;
            let r = self.reserve(scope, &t, &cmd, now).await?;
            Ok::<_, EngineError>((r, t))
        }
        .await;
        let (r, t) = match reserved {
            Ok(reserved) => reserved,
            Err(refusal) => {
                return match refunds::find_by_req(self.db.reader(), mer_id, &req_date, req_seq_id)
                    .await?
                {
                    Some(first) => self.replay_refund(first, hash).await,
                    None => Err(refusal),
                };
            }
        };
        let answer = self.send_and_answer(&r, &t).await?;
        let text = serde_json::to_string(&answer)
            .map_err(|e| EngineError::Internal(format!("first answer not serializable: {e}")))?;
        refunds::record_first_response(self.db.conn(), &r.nkp_seq_id, &text, Utc::now()).await?;
        Ok(answer)
    }

    /// Reserves the amount on `t` and inserts the refund, in one transaction; refused when
    /// the trade is not paid (`23000002`) or too little is left (`23000003`).
    async fn reserve(
        &self,
        scope: &Scope,
        t: &trade::Model,
        req: &CreateRefund,
        now: DateTime<Utc>,
    ) -> Result<refund::Model, EngineError> {
        refundable(t, req)?;
        let new = self.new_refund(scope, t, req, now);
        match refunds::create_reserved(&self.db, &new, now).await? {
            Reservation::Reserved(r) => Ok(*r),
            Reservation::Refused => {
                // Another refund got in first: say which rule the trade now breaks.
                let current = self.trade_of_id(&t.nkp_seq_id).await?;
                refundable(&current, req)?;
                Err(over_refundable(&current, req))
            }
        }
    }

    fn new_refund(
        &self,
        scope: &Scope,
        t: &trade::Model,
        req: &CreateRefund,
        now: DateTime<Utc>,
    ) -> NewRefund {
        NewRefund {
            nkp_seq_id: self.seq.next_id(),
            sys_id: scope.caller.sys_id.clone(),
            mer_id: scope.mer_id().to_owned(),
            req_date: req.request.id.date_text(),
            req_seq_id: req.request.id.req_seq_id.clone(),
            org_nkp_seq_id: t.nkp_seq_id.clone(),
            channel: t.channel,
            ord_amt: req.ord_amt,
            notify_url: req.notify_url.clone(),
            remark: req.remark.clone(),
            // If this node dies before the channel answers, the job finds the refund here and
            // sends it again under the same number.
            next_query_at: Some(now + delta(self.config.query_delay(0))),
            request_hash: req.request.content_hash.clone(),
        }
    }

    /// Sends the reserved refund; the refund as it stands afterwards.
    async fn send_and_answer(
        &self,
        r: &refund::Model,
        t: &trade::Model,
    ) -> Result<RefundAnswer, EngineError> {
        let upstream = self.send_refund(r, t, Utc::now()).await?;
        let current = self.reload_refund(&r.nkp_seq_id).await?;
        Ok(RefundAnswer {
            refund: (&current).into(),
            trade: t.into(),
            unknown_reason: upstream.unknown,
        })
    }
}

/// Only a paid trade can be refunded (`23000002`), and only up to what is left of it
/// (`23000003`). The reservation enforces both again atomically; this only answers early.
fn refundable(t: &trade::Model, req: &CreateRefund) -> Result<(), EngineError> {
    let status = t.status;
    if status != TradeStatus::Succeeded {
        return Err(EngineError::refused(
            RespCode::TradeStateNotAllowed,
            format!(
                "原交易未支付成功，不能退款: trade {} is {} (trans_stat {}); only a paid trade can be refunded",
                t.nkp_seq_id,
                status_word(status),
                status.trans_stat().as_str()
            ),
        ));
    }
    let left = t.trans_amt - t.refunded_amt - t.refund_in_flight_amt;
    if req.ord_amt.fen() > left {
        return Err(over_refundable(t, req));
    }
    Ok(())
}

fn over_refundable(t: &trade::Model, req: &CreateRefund) -> EngineError {
    let left = (t.trans_amt - t.refunded_amt - t.refund_in_flight_amt).max(0);
    EngineError::refused(
        RespCode::RefundExceedsRefundable,
        format!(
            "退款金额超过可退金额: ord_amt {} is more than the {} left of trade {} (paid {}, refunded {}, in progress {})",
            req.ord_amt,
            Money::yuan_of_fen(left),
            t.nkp_seq_id,
            Money::yuan_of_fen(t.trans_amt),
            Money::yuan_of_fen(t.refunded_amt),
            Money::yuan_of_fen(t.refund_in_flight_amt)
        ),
    )
}

fn status_word(s: TradeStatus) -> &'static str {
    match s {
        TradeStatus::Processing => "not paid yet",
        TradeStatus::Succeeded => "paid",
        TradeStatus::Failed => "failed",
        TradeStatus::Closed => "closed",
    }
}
