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
    Ok(r.status)
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
        .set("trade_type", t.trade_type.as_str())
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
        .set("trade_type", t.trade_type.as_str())
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use nkpay_core::state::TradeStatus;
    use nkpay_core::trade_type::{ChannelKind, TradeType};

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 10, h, m, s).unwrap()
    }

    fn trade() -> trade::Model {
        trade::Model {
            id: 1,
            nkp_seq_id: "T0001".into(),
            sys_id: "sp1".into(),
            mer_id: "6666000100000001".into(),
            req_date: "20250310".into(),
            req_seq_id: "pay1".into(),
            trade_type: TradeType::ANative,
            channel: ChannelKind::Alipay,
            channel_account_id: 1,
            trans_amt: 1050,
            status: TradeStatus::Succeeded,
            goods_desc: "咖啡".into(),
            notify_url: Some("https://m.example/pay".into()),
            remark: Some("trade remark".into()),
            sub_mch_id: None,
            appid: None,
            sub_appid: None,
            openid: None,
            sub_openid: None,
            buyer_id: None,
            party_order_id: Some("2025031022001400000000000001".into()),
            pay_info: None,
            qr_code: None,
            bank_code: None,
            bank_message: None,
            fee_amt: 4,
            refunded_amt: 0,
            refund_in_flight_amt: 300,
            time_expire: at(6, 0, 0),
            end_time: Some(at(4, 1, 0)),
            close_requested_at: None,
            close_req_date: None,
            close_req_seq_id: None,
            next_query_at: None,
            query_attempts: 0,
            query_lease_owner: None,
            query_lease_until: None,
            request_hash: String::new(),
            first_response: None,
            created_at: at(4, 0, 0),
            updated_at: at(4, 1, 0),
            version: 1,
        }
    }

    fn refund() -> refund::Model {
        refund::Model {
            id: 1,
            nkp_seq_id: "R0001".into(),
            sys_id: "sp1".into(),
            mer_id: "6666000100000001".into(),
            req_date: "20250310".into(),
            req_seq_id: "rf1".into(),
            org_nkp_seq_id: "T0001".into(),
            channel: ChannelKind::Alipay,
            ord_amt: 300,
            status: RefundStatus::Processing,
            party_refund_id: None,
            notify_url: Some("https://m.example/refund".into()),
            remark: Some("退 3 元".into()),
            bank_code: None,
            bank_message: None,
            end_time: None,
            next_query_at: None,
            query_attempts: 0,
            query_lease_owner: None,
            query_lease_until: None,
            request_hash: String::new(),
            first_response: None,
            created_at: at(5, 0, 0),
            updated_at: at(5, 0, 0),
            version: 0,
        }
    }

    fn settled(status: RefundStatus, bank: Option<(&str, &str)>) -> RefundSettlement {
        RefundSettlement {
            status,
            party_refund_id: None,
            end_time: Some(at(5, 0, 2)),
            bank_code: bank.map(|b| b.0.to_owned()),
            bank_message: bank.map(|b| b.1.to_owned()),
        }
    }

    #[test]
    fn refund_notification_resp_data_is_compact_sorted_raw_utf8() {
        let text =
            notice_resp_data(&refund(), &trade(), &settled(RefundStatus::Succeeded, None)).unwrap();
        assert_eq!(
            text,
            "{\"end_time\":\"20250310130002\",\"mer_id\":\"6666000100000001\",\"nkp_seq_id\":\"R0001\",\
             \"notify_type\":\"REFUND\",\"ord_amt\":\"3.00\",\"org_nkp_seq_id\":\"T0001\",\
             \"org_req_date\":\"20250310\",\"org_req_seq_id\":\"pay1\",\
             \"party_order_id\":\"2025031022001400000000000001\",\"remark\":\"退 3 元\",\
             \"req_date\":\"20250310\",\"req_seq_id\":\"rf1\",\"trade_type\":\"A_NATIVE\",\
             \"trans_stat\":\"S\"}"
        );
    }

    #[test]
    fn a_failed_refund_notice_carries_the_channel_code_and_goes_to_the_refund_url() {
        let n = notice(
            &refund(),
            &trade(),
            &settled(RefundStatus::Failed, Some(("REFUNDCLOSE", "closed"))),
            at(5, 0, 3),
        )
        .unwrap()
        .unwrap();
        assert_eq!(n.notify_url, "https://m.example/refund");
        assert_eq!(n.kind, NotificationKind::Refund);
        assert_eq!(n.subject_nkp_seq_id, "R0001");
        let v: Value = serde_json::from_str(&n.resp_data).unwrap();
        assert_eq!(v["trans_stat"], "F");
        assert_eq!(v["bank_code"], "REFUNDCLOSE");
    }

    #[test]
    fn no_notification_without_the_refund_s_own_notify_url() {
        let mut r = refund();
        r.notify_url = None;
        let s = settled(RefundStatus::Succeeded, None);
        // The trade's notify_url is for the payment, not its refunds.
        assert!(notice(&r, &trade(), &s, at(5, 0, 3)).unwrap().is_none());
    }

    #[test]
    fn reply_code_follows_the_refund_state() {
        let mut r = refund();
        assert_eq!(refund_code(&r).unwrap(), RespCode::Processing);
        r.status = RefundStatus::Succeeded;
        assert_eq!(refund_code(&r).unwrap(), RespCode::Success);
        r.status = RefundStatus::Failed;
        r.bank_code = Some("NKP_REFUSED".into());
        assert_eq!(refund_code(&r).unwrap(), RespCode::ChannelError);
    }

    #[test]
    fn query_reply_names_the_refund_as_org_and_the_trade_as_trade() {
        let d = query_data(&refund(), &trade()).unwrap().into_map();
        assert_eq!(d["org_nkp_seq_id"], "R0001");
        assert_eq!(d["org_req_seq_id"], "rf1");
        assert_eq!(d["trade_nkp_seq_id"], "T0001");
        assert_eq!(d["trans_amt"], "10.50");
        assert_eq!(d["ord_amt"], "3.00");
        assert_eq!(d["trans_stat"], "P");
        assert!(d.get("end_time").is_none());
    }
}
