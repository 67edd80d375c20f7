//! `POST /v2/trade/payment/scanpay/refund` and `…/scanpay/refundquery` (API.md "refund,
//! refundquery"): the request's fields, the engine's `Refunds`, the replies.

use nkpay_core::resp_code::RespCode;
use nkpay_core::state::RefundStatus;
use nkpay_engine::refunds::{CreateRefund, RefundAnswer, RefundedTrade};
use nkpay_engine::request::OriginalKey;
use serde_json::{Map, Value};

use super::fields::{Fields, REMARK_MAX_CHARS, check_id, date};
use super::reply::Refusal;
use super::reply::Reply;
use super::{OpenCall, Scoped};

/// WeChat `transaction_id` is 32 digits, Alipay `trade_no` 28–64 characters.
const PARTY_ORDER_ID_MAX: usize = 64;

/// The refund endpoint.
pub struct Refund;

impl OpenCall for Refund {
    type Request = CreateRefund;

    fn read(f: &Fields<'_>) -> Result<CreateRefund, Refusal> {
        let request = f.write_request()?;
        let ord_amt = f.amount("ord_amt")?;
        let remark = f.text("remark", REMARK_MAX_CHARS)?;
        let by_ours =
            f.optional("org_nkp_seq_id")?.is_some() || f.optional("org_req_seq_id")?.is_some();
        // Checked whenever given, even when the trade is named by our own ids.
        let party = f.optional("org_party_order_id")?;
        if let Some(party) = party {
            check_id("org_party_order_id", party, PARTY_ORDER_ID_MAX)?;
        }
        let trade = match party.filter(|_| !by_ours) {
            Some(party) => RefundedTrade::Party {
                party_order_id: party.to_owned(),
                req_date: f
                    .optional("org_req_date")?
                    .map(|d| date(d, "org_req_date"))
                    .transpose()?,
            },
            None => RefundedTrade::Org(f.original_key()?),
        };
        Ok(CreateRefund {
            request,
            trade,
            ord_amt,
            // Its length, syntax and where it may point: the engine's url_guard.
            notify_url: f.optional("notify_url")?.map(str::to_owned),
            remark: remark.map(str::to_owned),
        })
    }

    async fn run(s: Scoped<'_>, request: CreateRefund) -> Result<Map<String, Value>, Refusal> {
        let answer = s.engine.refunds().create(&s.scope, request).await?;
        Ok(refund_reply(&answer))
    }
}

/// The refund query endpoint.
pub struct RefundQuery;

impl OpenCall for RefundQuery {
    type Request = OriginalKey;

    fn read(f: &Fields<'_>) -> Result<OriginalKey, Refusal> {
        f.original_key()
    }

    async fn run(s: Scoped<'_>, key: OriginalKey) -> Result<Map<String, Value>, Refusal> {
        let a = s.engine.refunds().query(&s.scope, &key).await?;
        let (r, t) = (&a.refund, &a.trade);
        let mut d = Reply::with_code(RespCode::Success, "查询成功");
        d.set("org_req_date", &r.req_date)
            .set("org_req_seq_id", &r.req_seq_id)
            .set("org_nkp_seq_id", &r.nkp_seq_id)
            .set("trade_req_date", &t.req_date)
            .set("trade_req_seq_id", &t.req_seq_id)
            .set("trade_nkp_seq_id", &t.nkp_seq_id)
            .amount("trans_amt", t.trans_amt)
            .amount("refunded_amt", t.refunded_amt);
        common(&mut d, &a);
        Ok(d.into_map())
    }
}

/// The refund reply: processing `00000100`; refused by the channel `98888888`; otherwise
/// `00000000` (read `trans_stat`). The refund's ids, and the trade's as `org_*`.
pub fn refund_reply(a: &RefundAnswer) -> Map<String, Value> {
    let (r, t) = (&a.refund, &a.trade);
    let code = match r.status {
        RefundStatus::Processing => RespCode::Processing,
        RefundStatus::Failed if r.bank_code.is_some() => RespCode::ChannelError,
        _ => RespCode::Success,
    };
    let unknown = a
        .unknown_reason
        .as_deref()
        .filter(|_| code == RespCode::Processing);
    let desc = match (unknown, r.status) {
        (Some(_), _) => {
            "退款已受理，通道结果未知，请稍后查询: the channel did not confirm the refund; it is retried under the same number, query it later"
        }
        (None, RefundStatus::Processing) => "退款处理中",
        (None, RefundStatus::Succeeded) => "退款成功",
        (None, RefundStatus::Failed) => "退款失败",
    };
    let mut d = Reply::with_code(code, desc);
    d.set("req_date", &r.req_date)
        .set("req_seq_id", &r.req_seq_id)
        .set("nkp_seq_id", &r.nkp_seq_id)
        .set("org_req_date", &t.req_date)
        .set("org_req_seq_id", &t.req_seq_id)
        .set("org_nkp_seq_id", &t.nkp_seq_id);
    common(&mut d, a);
    d.into_map()
}

/// The refund's own fields and the refunded trade's type and channel order, in both replies.
/// `fee_amt` (yuan) is the share of the trade's fee this refund returns
/// (`nkpay_core::fee::refund_fee`): 0.00 until it succeeds and for a failed refund.
fn common(d: &mut Reply, a: &RefundAnswer) {
    let (r, t) = (&a.refund, &a.trade);
    d.set("mer_id", &r.mer_id)
        .amount("ord_amt", r.ord_amt)
        .amount("fee_amt", r.fee_amt)
        .set("trans_stat", r.status.trans_stat().as_str())
        .set("trade_type", t.trade_type.as_str())
        .set_opt("party_order_id", t.party_order_id.as_deref())
        .time("end_time", r.end_time)
        .set_opt("bank_code", r.bank_code.as_deref())
        .set_opt("bank_message", r.bank_message.as_deref())
        .set_opt("remark", r.remark.as_deref());
}
