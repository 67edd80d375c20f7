//! `scanpay/refund`: validate, find the paid trade in the caller's scope, reserve the amount
//! and insert the refund under the merchant's request id (one transaction), send it to the
//! channel, apply the answer, reply — and keep that reply for replays.

use chrono::{DateTime, Utc};
use nkpay_core::resp_code::RespCode;
use nkpay_core::state::TradeStatus;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::entity::{refund, trade};
use nkpay_store::refunds::{self, NewRefund, Reservation};
use serde_json::{Map, Value};

use super::request::{self, RefundRequest};
use super::view;
use crate::callers::Caller;
use crate::config::delta;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::payments::fields::Fields;
use crate::payments::idempotency::request_hash;
use crate::payments::trade_view::{status_of, yuan};
use crate::payments::validation;

impl Engine {
    /// `POST /v2/trade/payment/scanpay/refund`: the reply `data` (unsigned), or a refusal.
    pub async fn refund(
        &self,
        caller: &Caller,
        data: &Map<String, Value>,
    ) -> Result<Map<String, Value>, EngineError> {
        let now = Utc::now();
        let f = Fields::new(data);
        let mer_id = validation::mer_id(&f)?;
        self.authorize(caller, mer_id).await?;

        // The request id first: a replay is answered as the first time, even on a later day.
        let req_date = f.required("req_date")?;
        validation::check_date_format("req_date", req_date)?;
        let req_seq_id = f.required("req_seq_id")?;
        validation::check_req_seq_id("req_seq_id", req_seq_id)?;
        let hash = request_hash(data)?;
        if let Some(existing) =
            refunds::find_by_req(self.db.conn(), mer_id, req_date, req_seq_id).await?
        {
            return self.replay_refund(existing, &hash).await;
        }

        let req = request::parse(&f, now, &self.config).await?;
        let t = self.find_refunded_trade(&f, mer_id).await?;
        let r = match self.reserve(caller, mer_id, &t, &req, &hash, now).await {
            Ok(r) => r,
            Err(refusal) => {
                // A concurrent copy of this very request may have taken the key or the amount
                // first: then this one is a replay and answers what it answers.
                return match refunds::find_by_req(self.db.conn(), mer_id, req_date, req_seq_id)
                    .await?
                {
                    Some(first) => self.replay_refund(first, &hash).await,
                    None => Err(refusal),
                };
            }
        };
        let reply = self.refund_upstream_and_reply(&r, &t).await?;
        let text = Value::Object(reply.clone()).to_string();
        refunds::record_first_response(self.db.conn(), &r.nkp_seq_id, &text, Utc::now()).await?;
        Ok(reply)
    }

    /// Reserves the amount on `t` and inserts the refund, in one transaction; refused when
    /// the trade is not paid (`23000002`) or too little is left (`23000003`).
    async fn reserve(
        &self,
        caller: &Caller,
        mer_id: &str,
        t: &trade::Model,
        req: &RefundRequest,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<refund::Model, EngineError> {
        refundable(t, req)?;
        let new = self.new_refund(caller, mer_id, t, req, hash.to_owned(), now)?;
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
        caller: &Caller,
        mer_id: &str,
        t: &trade::Model,
        req: &RefundRequest,
        request_hash: String,
        now: DateTime<Utc>,
    ) -> Result<NewRefund, EngineError> {
        let channel: ChannelKind = t.channel;
        Ok(NewRefund {
            nkp_seq_id: self.seq.next_id(),
            sys_id: caller.sys_id.clone(),
            mer_id: mer_id.to_owned(),
            req_date: req.req_date.clone(),
            req_seq_id: req.req_seq_id.clone(),
            org_nkp_seq_id: t.nkp_seq_id.clone(),
            channel,
            ord_amt: req.ord_amt,
            notify_url: req.notify_url.clone(),
            remark: req.remark.clone(),
            // If this node dies before the channel answers, the job finds the refund here and
            // sends it again under the same number.
            next_query_at: Some(now + delta(self.config.query_delay(0))),
            request_hash,
        })
    }

    /// Sends the reserved refund and builds the reply from where it stands afterwards.
    async fn refund_upstream_and_reply(
        &self,
        r: &refund::Model,
        t: &trade::Model,
    ) -> Result<Map<String, Value>, EngineError> {
        let upstream = self.send_refund(r, t, Utc::now()).await?;
        let current = self.reload_refund(&r.nkp_seq_id).await?;
        let code = view::refund_code(&current)?;
        let desc = match &upstream.unknown {
            Some(_) if code == RespCode::Processing => {
                "退款已受理，通道结果未知，请稍后查询: the channel did not confirm the refund; it is retried under the same number, query it later"
            }
            _ => view::default_desc(&current)?,
        };
        let mut data = view::refund_data(&current, t, code, desc)?;
        if let Some(reason) = upstream.unknown
            && code == RespCode::Processing
        {
            data.set("bank_message", reason);
        }
        Ok(data.into_map())
    }

    async fn trade_of_id(&self, nkp_seq_id: &str) -> Result<trade::Model, EngineError> {
        nkpay_store::trades::find_by_nkp_seq_id(self.db.conn(), nkp_seq_id)
            .await?
            .ok_or_else(|| EngineError::Internal(format!("trade {nkp_seq_id} vanished")))
    }
}

/// Only a paid trade can be refunded (`23000002`), and only up to what is left of it
/// (`23000003`). The reservation enforces both again atomically; this only answers early.
fn refundable(t: &trade::Model, req: &RefundRequest) -> Result<(), EngineError> {
    let status = status_of(t)?;
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

fn over_refundable(t: &trade::Model, req: &RefundRequest) -> EngineError {
    let left = (t.trans_amt - t.refunded_amt - t.refund_in_flight_amt).max(0);
    EngineError::refused(
        RespCode::RefundExceedsRefundable,
        format!(
            "退款金额超过可退金额: ord_amt {} is more than the {} left of trade {} (paid {}, refunded {}, in progress {})",
            req.ord_amt,
            yuan(left),
            t.nkp_seq_id,
            yuan(t.trans_amt),
            yuan(t.refunded_amt),
            yuan(t.refund_in_flight_amt)
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
