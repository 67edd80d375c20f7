//! Writing the engine's typed answers as reply `data` (API.md): amounts as yuan strings with two
//! decimals, times as `yyyyMMddHHmmss` Asia/Shanghai, states as `trans_stat`. Absent and empty
//! values are left out (the envelope drops them before signing anyway).

use chrono::{DateTime, Utc};
use nkpay_core::money::Money;
use nkpay_core::resp_code::RespCode;
use nkpay_engine::payments::TradeView;
use nkpay_engine::shanghai_time;
use serde_json::{Map, Value};

/// Reply `data` under construction.
#[derive(Default)]
pub struct Reply(Map<String, Value>);

impl Reply {
    /// `resp_code` and `resp_desc` first.
    pub fn with_code(code: RespCode, desc: impl Into<String>) -> Reply {
        let mut d = Reply::default();
        d.set("resp_code", code.code())
            .set("resp_desc", desc.into());
        d
    }

    /// Sets a string field.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Reply {
        self.0.insert(key.to_owned(), Value::String(value.into()));
        self
    }

    /// Sets a string field when there is a non-empty value.
    pub fn set_opt(&mut self, key: &str, value: Option<impl Into<String>>) -> &mut Reply {
        if let Some(v) = value {
            let v = v.into();
            if !v.is_empty() {
                self.0.insert(key.to_owned(), Value::String(v));
            }
        }
        self
    }

    /// An amount in fen, written in yuan.
    pub fn amount(&mut self, key: &str, fen: i64) -> &mut Reply {
        self.set(key, Money::yuan_of_fen(fen))
    }

    /// A UTC time, written `yyyyMMddHHmmss` in Asia/Shanghai.
    pub fn time(&mut self, key: &str, at: Option<DateTime<Utc>>) -> &mut Reply {
        self.set_opt(key, at.map(shanghai_time::format_date_time))
    }

    /// The finished `data`.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

/// The trade's own ids, type, amount and state, with the channel's refusal and the remark —
/// what jspay answers besides `pay_info` / `qr_code`.
pub fn trade_reply(d: &mut Reply, t: &TradeView) {
    d.set("req_date", &t.req_date)
        .set("req_seq_id", &t.req_seq_id)
        .set("mer_id", &t.mer_id)
        .set("nkp_seq_id", &t.nkp_seq_id)
        .set("trade_type", t.trade_type.as_str())
        .amount("trans_amt", t.trans_amt)
        .set("trans_stat", t.status.trans_stat().as_str())
        .set_opt("party_order_id", t.party_order_id.as_deref())
        .set_opt("bank_code", t.bank_code.as_deref())
        .set_opt("bank_message", t.bank_message.as_deref())
        .set_opt("remark", t.remark.as_deref());
}

/// The trade as an earlier trade a request named (`org_*` ids): what query answers.
pub fn org_trade_reply(d: &mut Reply, t: &TradeView) {
    d.set("mer_id", &t.mer_id)
        .set("org_req_date", &t.req_date)
        .set("org_req_seq_id", &t.req_seq_id)
        .set("org_nkp_seq_id", &t.nkp_seq_id)
        .set("trade_type", t.trade_type.as_str())
        .amount("trans_amt", t.trans_amt)
        .set("trans_stat", t.status.trans_stat().as_str())
        .amount("fee_amt", t.fee_amt)
        .amount("refunded_amt", t.refunded_amt)
        .set_opt("party_order_id", t.party_order_id.as_deref())
        .time("end_time", t.end_time)
        .set_opt("buyer_id", t.buyer_id.as_deref())
        .set_opt("bank_code", t.bank_code.as_deref())
        .set_opt("bank_message", t.bank_message.as_deref())
        .set_opt("remark", t.remark.as_deref());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_left_out() {
        let mut d = Reply::with_code(RespCode::Success, "ok");
        d.set_opt("a", Some(""))
            .set_opt("b", None::<&str>)
            .time("c", None);
        let m = d.into_map();
        assert_eq!(m.len(), 2, "{m:?}");
    }
}
