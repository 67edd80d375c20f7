//! How a stored trade reads to a merchant: the reply `data` of jspay, query and close, and the
//! `resp_data` of its asynchronous notification. Amounts are yuan strings, times Shanghai
//! `yyyyMMddHHmmss`, states `trans_stat`.

use chrono::{DateTime, Utc};
use nkpay_core::money::Money;
use nkpay_core::resp_code::RespCode;
use nkpay_core::state::{TradeStatus, TransStat};
use nkpay_crypto::canonical_json::canonical_top_sorted;
use nkpay_store::entity::trade;
use nkpay_store::kinds::NotificationKind;
use nkpay_store::notifications::NewNotification;
use nkpay_store::trades::Settlement;
use serde_json::{Map, Value};

use crate::error::EngineError;
use crate::shanghai_time;

/// Reply or notification `data` under construction; `None` values are left out.
#[derive(Default)]
pub struct Data(Map<String, Value>);

impl Data {
    pub fn with_code(code: RespCode, desc: impl Into<String>) -> Data {
        let mut d = Data::default();
        d.set("resp_code", code.code());
        d.set("resp_desc", desc.into());
        d
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Data {
        self.0.insert(key.to_owned(), Value::String(value.into()));
        self
    }

    pub fn set_opt(&mut self, key: &str, value: Option<impl Into<String>>) -> &mut Data {
        if let Some(v) = value {
            let v = v.into();
            if !v.is_empty() {
                self.0.insert(key.to_owned(), Value::String(v));
            }
        }
        self
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

/// Fen as yuan; stored amounts are always in range, the fallback only avoids a panic.
pub fn yuan(fen: i64) -> String {
    Money::from_fen(fen)
        .map(Money::to_yuan)
        .unwrap_or_else(|_| format!("{}.{:02}", fen / 100, (fen % 100).abs()))
}

pub fn status_of(t: &trade::Model) -> Result<TradeStatus, EngineError> {
    Ok(t.status)
}

pub fn trans_stat(t: &trade::Model) -> Result<TransStat, EngineError> {
    Ok(status_of(t)?.trans_stat())
}

/// jspay's reply `data` for the trade as it stands.
pub fn jspay_data(t: &trade::Model, code: RespCode, desc: &str) -> Result<Data, EngineError> {
    let mut d = Data::with_code(code, desc);
    d.set("req_date", &t.req_date)
        .set("req_seq_id", &t.req_seq_id)
        .set("mer_id", &t.mer_id)
        .set("nkp_seq_id", &t.nkp_seq_id)
        .set("trade_type", t.trade_type.as_str())
        .set("trans_amt", yuan(t.trans_amt))
        .set("trans_stat", trans_stat(t)?.as_str())
        .set_opt("pay_info", t.pay_info.clone())
        .set_opt("qr_code", t.qr_code.clone())
        .set_opt("party_order_id", t.party_order_id.clone())
        .set_opt("bank_code", t.bank_code.clone())
        .set_opt("bank_message", t.bank_message.clone())
        .set_opt("remark", t.remark.clone());
    Ok(d)
}

/// The `resp_code` jspay answers for a trade in this state: placed and waiting → `00000100`;
/// refused by the channel → `98888888`; otherwise `00000000` (read `trans_stat`).
pub fn jspay_code(t: &trade::Model) -> Result<RespCode, EngineError> {
    Ok(match status_of(t)? {
        TradeStatus::Processing if t.pay_info.is_some() || t.qr_code.is_some() => {
            RespCode::Processing
        }
        TradeStatus::Processing => RespCode::ChannelError,
        TradeStatus::Failed | TradeStatus::Closed if t.bank_code.is_some() => {
            RespCode::ChannelError
        }
        _ => RespCode::Success,
    })
}

/// The query reply `data`.
pub fn query_data(t: &trade::Model) -> Result<Data, EngineError> {
    let mut d = Data::with_code(RespCode::Success, "查询成功");
    d.set("mer_id", &t.mer_id)
        .set("org_req_date", &t.req_date)
        .set("org_req_seq_id", &t.req_seq_id)
        .set("org_nkp_seq_id", &t.nkp_seq_id)
        .set("trade_type", t.trade_type.as_str())
        .set("trans_amt", yuan(t.trans_amt))
        .set("trans_stat", trans_stat(t)?.as_str())
        .set("fee_amt", yuan(t.fee_amt))
        .set("refunded_amt", yuan(t.refunded_amt))
        .set_opt("party_order_id", t.party_order_id.clone())
        .set_opt("end_time", t.end_time.map(shanghai_time::format_date_time))
        .set_opt("buyer_id", t.buyer_id.clone())
        .set_opt("bank_code", t.bank_code.clone())
        .set_opt("bank_message", t.bank_message.clone())
        .set_opt("remark", t.remark.clone());
    Ok(d)
}

/// The `resp_data` string of the trade's final-state notification: compact, top-level keys
/// sorted, raw UTF-8 — the exact text that is signed and sent.
pub fn notice_resp_data(t: &trade::Model, settlement: &Settlement) -> Result<String, EngineError> {
    let mut d = Data::default();
    d.set("notify_type", NotificationKind::Trade.as_str())
        .set("mer_id", &t.mer_id)
        .set("req_date", &t.req_date)
        .set("req_seq_id", &t.req_seq_id)
        .set("nkp_seq_id", &t.nkp_seq_id)
        .set("trade_type", t.trade_type.as_str())
        .set("trans_amt", yuan(t.trans_amt))
        .set("trans_stat", settlement.status.trans_stat().as_str())
        .set_opt(
            "party_order_id",
            settlement
                .party_order_id
                .clone()
                .or_else(|| t.party_order_id.clone()),
        )
        .set_opt(
            "end_time",
            settlement.end_time.map(shanghai_time::format_date_time),
        )
        .set(
            "fee_amt",
            yuan(settlement.fee_amt.map(Money::fen).unwrap_or(t.fee_amt)),
        )
        .set_opt("remark", t.remark.clone());
    let text = Value::Object(d.into_map()).to_string();
    Ok(canonical_top_sorted(&text)?)
}

/// The notification row a final state enqueues, when the trade asked for one.
pub fn notice(
    t: &trade::Model,
    settlement: &Settlement,
    now: DateTime<Utc>,
) -> Result<Option<NewNotification>, EngineError> {
    let Some(url) = t.notify_url.clone().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    Ok(Some(NewNotification {
        mer_id: t.mer_id.clone(),
        kind: NotificationKind::Trade,
        subject_nkp_seq_id: t.nkp_seq_id.clone(),
        notify_url: url,
        resp_data: notice_resp_data(t, settlement)?,
        first_attempt_at: now,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use nkpay_core::trade_type::{ChannelKind, TradeType};

    fn trade() -> trade::Model {
        let at = Utc.with_ymd_and_hms(2025, 3, 10, 4, 0, 0).unwrap();
        trade::Model {
            id: 1,
            nkp_seq_id: "2025031012000000000001000000".into(),
            sys_id: "sp1".into(),
            mer_id: "6666000100000001".into(),
            req_date: "20250310".into(),
            req_seq_id: "r1".into(),
            trade_type: TradeType::TJsapi,
            channel: ChannelKind::Wechat,
            channel_account_id: 1,
            trans_amt: 1050,
            status: TradeStatus::Processing,
            goods_desc: "咖啡".into(),
            notify_url: Some("https://m.example/notify".into()),
            remark: Some("桌号 7".into()),
            sub_mch_id: Some("1900000201".into()),
            appid: None,
            sub_appid: None,
            openid: None,
            sub_openid: None,
            buyer_id: None,
            party_order_id: None,
            pay_info: None,
            qr_code: None,
            bank_code: None,
            bank_message: None,
            fee_amt: 0,
            refunded_amt: 0,
            refund_in_flight_amt: 0,
            time_expire: at,
            end_time: None,
            close_requested_at: None,
            close_req_date: None,
            close_req_seq_id: None,
            next_query_at: None,
            query_attempts: 0,
            query_lease_owner: None,
            query_lease_until: None,
            request_hash: String::new(),
            first_response: None,
            created_at: at,
            updated_at: at,
            version: 0,
        }
    }

    #[test]
    fn notification_resp_data_is_compact_sorted_raw_utf8() {
        let settlement = Settlement {
            status: TradeStatus::Succeeded,
            party_order_id: Some("4200000001".into()),
            buyer_id: None,
            end_time: Some(Utc.with_ymd_and_hms(2025, 3, 10, 4, 1, 2).unwrap()),
            fee_amt: Some(Money::from_fen(4).unwrap()),
            bank_code: None,
            bank_message: None,
        };
        let text = notice_resp_data(&trade(), &settlement).unwrap();
        assert_eq!(
            text,
            "{\"end_time\":\"20250310120102\",\"fee_amt\":\"0.04\",\"mer_id\":\"6666000100000001\",\
             \"nkp_seq_id\":\"2025031012000000000001000000\",\"notify_type\":\"TRADE\",\
             \"party_order_id\":\"4200000001\",\"remark\":\"桌号 7\",\"req_date\":\"20250310\",\
             \"req_seq_id\":\"r1\",\"trade_type\":\"T_JSAPI\",\"trans_amt\":\"10.50\",\"trans_stat\":\"S\"}"
        );
    }

    #[test]
    fn no_notification_without_a_notify_url() {
        let mut t = trade();
        t.notify_url = None;
        let settlement = Settlement {
            status: TradeStatus::Closed,
            party_order_id: None,
            buyer_id: None,
            end_time: None,
            fee_amt: None,
            bank_code: None,
            bank_message: None,
        };
        assert!(notice(&t, &settlement, Utc::now()).unwrap().is_none());
    }

    #[test]
    fn jspay_code_follows_the_trade_state() {
        let mut t = trade();
        assert_eq!(jspay_code(&t).unwrap(), RespCode::ChannelError);
        t.pay_info = Some("{}".into());
        assert_eq!(jspay_code(&t).unwrap(), RespCode::Processing);
        t.status = TradeStatus::Succeeded;
        assert_eq!(jspay_code(&t).unwrap(), RespCode::Success);
        t.status = TradeStatus::Failed;
        t.bank_code = Some("NOAUTH".into());
        assert_eq!(jspay_code(&t).unwrap(), RespCode::ChannelError);
    }
}
