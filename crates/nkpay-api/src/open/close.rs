//! `POST /v2/trade/payment/scanpay/close` (API.md "query, close"): `org_trans_stat` is the
//! trade's state after the close, `trans_stat` the close's own: `S` closed, `P` accepted and
//! carried out as soon as the channel allows, `F` refused (paid first, or by the channel).

use nkpay_core::resp_code::RespCode;
use nkpay_core::state::TransStat;
use nkpay_engine::payments::{CloseOutcome, CloseTrade};
use serde_json::{Map, Value};

use super::fields::Fields;
use super::reply::Refusal;
use super::reply::Reply;
use super::{OpenCall, Scoped};

/// The close endpoint.
pub struct Close;

impl OpenCall for Close {
    type Request = CloseTrade;

    fn read(f: &Fields<'_>) -> Result<CloseTrade, Refusal> {
        Ok(CloseTrade {
            request: f.write_request()?,
            trade: f.original_key()?,
        })
    }

    async fn run(s: Scoped<'_>, request: CloseTrade) -> Result<Map<String, Value>, Refusal> {
        let closed = s.engine.payments().close(&s.scope, &request).await?;
        let (code, desc, stat) = match &closed.outcome {
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
        let t = &closed.trade;
        let mut d = Reply::with_code(code, desc);
        d.set("mer_id", &t.mer_id)
            .set("req_date", request.request.id.date_text())
            .set("req_seq_id", &request.request.id.req_seq_id)
            .set("org_req_date", &t.req_date)
            .set("org_req_seq_id", &t.req_seq_id)
            .set("org_nkp_seq_id", &t.nkp_seq_id)
            .set("org_trans_stat", t.status.trans_stat().as_str())
            .set("trans_stat", stat.as_str());
        if let CloseOutcome::Refused { code, message } = &closed.outcome {
            d.set("bank_code", code).set("bank_message", message);
        }
        Ok(d.into_map())
    }
}
