//! How a stored refund reads to a merchant: the reply `data` of refund and refundquery, and the
//! `resp_data` of its final-state notification. Amounts are yuan strings, times Shanghai
//! `yyyyMMddHHmmss`, states `trans_stat`.

use chrono::{DateTime, Utc};
use nkpay_core::resp_code::RespCode;
use nkpay_core::state::RefundStatus;
use nkpay_crypto::canonical_json::canonical_top_sorted;
use nkpay_store::entity::{refund, trade};
use nkpay_store::kinds::NotificationKind;
use nkpay_store::notifications::NewNotification;
use nkpay_store::refunds::RefundSettlement;
use serde_json::Value;

use crate::error::EngineError;
use crate::payments::trade_view::{Data, yuan};
use crate::shanghai_time;

pub fn status_of(r: &refund::Model) -> Result<RefundStatus, EngineError> {
    RefundStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == r.status)
        .ok_or_else(|| {
            EngineError::Internal(format!("refund {} has status {:?}", r.nkp_seq_id, r.status))
        })
}

/// The `resp_code` of the refund reply for a refund in this state: processing `00000100`;
/// refused by the channel `98888888`; otherwise `00000000` (read `trans_stat`).
pub fn refund_code(r: &refund::Model) -> Result<RespCode, EngineError> {
    Ok(match status_of(r)? {
        RefundStatus::Processing => RespCode::Processing,
        RefundStatus::Failed if r.bank_code.is_some() => RespCode::ChannelError,
        _ => RespCode::Success,
    })
}

pub fn default_desc(r: &refund::Model) -> Result<&'static str, EngineError> {
    Ok(match status_of(r)? {
        RefundStatus::Processing => "退款处理中",
        RefundStatus::Succeeded => "退款成功",
        RefundStatus::Failed => "退款失败",
    })
}

/// The refund's own fields and the refunded trade's ids, shared by both replies.
fn common(d: &mut Data, r: &refund::Model, t: &trade::Model) -> Result<(), EngineError> {
    d.set("mer_id", &r.mer_id)
        .set("ord_amt", yuan(r.ord_amt))
        .set("trans_stat", status_of(r)?.as_str())
        .set("trade_type", &t.trade_type)
        .set_opt("party_order_id", t.party_order_id.clone())
        .set_opt("end_time", r.end_time.map(shanghai_time::format_date_time))
        .set_opt("bank_code", r.bank_code.clone())
        .set_opt("bank_message", r.bank_message.clone())
        .set_opt("remark", r.remark.clone());
    Ok(())
}

/// The refund reply `data`: the refund's ids, and the trade's as `org_*`.
pub fn refund_data(
    r: &refund::Model,
    t: &trade::Model,
    code: RespCode,
    desc: &str,
) -> Result<Data, EngineError> {
    let mut d = Data::with_code(code, desc);
    d.set("req_date", &r.req_date)
        .set("req_seq_id", &r.req_seq_id)
        .set("nkp_seq_id", &r.nkp_seq_id)
        .set("org_req_date", &t.req_date)
        .set("org_req_seq_id", &t.req_seq_id)
        .set("org_nkp_seq_id", &t.nkp_seq_id);
    common(&mut d, r, t)?;
    Ok(d)
}

/// The refundquery reply `data`: `org_*` are the refund's own request ids (what the query
/// named), the refunded trade's are `trade_*`.
pub fn query_data(r: &refund::Model, t: &trade::Model) -> Result<Data, EngineError> {
    let mut d = Data::with_code(RespCode::Success, "查询成功");
    d.set("org_req_date", &r.req_date)
        .set("org_req_seq_id", &r.req_seq_id)
        .set("org_nkp_seq_id", &r.nkp_seq_id)
        .set("trade_req_date", &t.req_date)
        .set("trade_req_seq_id", &t.req_seq_id)
        .set("trade_nkp_seq_id", &t.nkp_seq_id)
        .set("trans_amt", yuan(t.trans_amt))
        .set("refunded_amt", yuan(t.refunded_amt));
    common(&mut d, r, t)?;
    Ok(d)
}

/// The `resp_data` string of the refund's final-state notification: compact, top-level keys
/// sorted, raw UTF-8 — the exact text that is signed and sent.
pub fn notice_resp_data(
    r: &refund::Model,
    t: &trade::Model,
    settlement: &RefundSettlement,
) -> Result<String, EngineError> {
    let mut d = Data::default();
    d.set("notify_type", NotificationKind::Refund.as_str())
        .set("mer_id", &r.mer_id)
        .set("req_date", &r.req_date)
        .set("req_seq_id", &r.req_seq_id)
        .set("nkp_seq_id", &r.nkp_seq_id)
        .set("org_req_date", &t.req_date)
        .set("org_req_seq_id", &t.req_seq_id)
        .set("org_nkp_seq_id", &t.nkp_seq_id)
        .set("trade_type", &t.trade_type)
        .set("ord_amt", yuan(r.ord_amt))
        .set("trans_stat", settlement.status.as_str())
        .set_opt("party_order_id", t.party_order_id.clone())
        .set_opt(
            "end_time",
            settlement.end_time.map(shanghai_time::format_date_time),
        )
        .set_opt("bank_code", settlement.bank_code.clone())
        .set_opt("bank_message", settlement.bank_message.clone())
        .set_opt("remark", r.remark.clone());
    let text = Value::Object(d.into_map()).to_string();
    Ok(canonical_top_sorted(&text)?)
}

/// The notification a refund's final state enqueues, when the refund asked for one (its own
/// `notify_url`; the trade's is for the payment).
pub fn notice(
    r: &refund::Model,
    t: &trade::Model,
    settlement: &RefundSettlement,
    now: DateTime<Utc>,
) -> Result<Option<NewNotification>, EngineError> {
    let Some(url) = r.notify_url.clone().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    Ok(Some(NewNotification {
        mer_id: r.mer_id.clone(),
        kind: NotificationKind::Refund,
        subject_nkp_seq_id: r.nkp_seq_id.clone(),
        notify_url: url,
        resp_data: notice_resp_data(r, t, settlement)?,
        first_attempt_at: now,
    }))
}
