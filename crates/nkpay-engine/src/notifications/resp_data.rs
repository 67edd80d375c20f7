//! The `resp_data` of a merchant notification (API.md "Asynchronous notifications to
//! merchants"): the trade's or refund's final state as compact JSON with top-level keys sorted
//! and raw UTF-8 — the exact text that is signed and sent, built in the same transaction that
//! makes the state final. Amounts are yuan strings, times `yyyyMMddHHmmss` Asia/Shanghai.

use std::convert::Infallible;

use chrono::{DateTime, Utc};
use nkpay_core::money::Money;
use nkpay_crypto::envelope::canonical_data;
use nkpay_store::entity::{refund, trade};
use nkpay_store::kinds::NotificationKind;
use nkpay_store::notifications::NewNotification;
use nkpay_store::refunds::RefundFinalState;
use nkpay_store::trades::FinalState;
use serde_json::{Map, Value};

use crate::error::EngineError;
use crate::shanghai_time;

/// `resp_data` under construction; absent and empty values are left out.
#[derive(Default)]
struct Data(Map<String, Value>);

impl Data {
    fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Data {
        self.0.insert(key.to_owned(), Value::String(value.into()));
        self
    }

    fn set_opt(&mut self, key: &str, value: Option<impl Into<String>>) -> &mut Data {
        if let Some(v) = value {
            let v = v.into();
            if !v.is_empty() {
                self.0.insert(key.to_owned(), Value::String(v));
            }
        }
        self
    }

    /// The fields every notification starts with: what it reports and the request it answers.
    fn header(kind: NotificationKind, mer_id: &str, req: [&str; 3]) -> Data {
        let [req_date, req_seq_id, nkp_seq_id] = req;
        let mut d = Data::default();
        d.set("notify_type", kind.as_str())
            .set("mer_id", mer_id)
            .set("req_date", req_date)
            .set("req_seq_id", req_seq_id)
            .set("nkp_seq_id", nkp_seq_id);
        d
    }

    fn text(self) -> String {
        canonical_data(&self.0)
    }
}

/// The `resp_data` string of the trade's final-state notification: compact, top-level keys
/// sorted, raw UTF-8 — the exact text that is signed and sent.
pub(crate) fn trade_resp_data(
    t: &trade::Model,
    final_state: &FinalState,
) -> Result<String, EngineError> {
    let ids = [t.req_date.as_str(), &t.req_seq_id, &t.nkp_seq_id];
    let mut d = Data::header(NotificationKind::Trade, &t.mer_id, ids);
    d.set("trade_type", t.trade_type.as_str())
        .set("trans_amt", Money::yuan_of_fen(t.trans_amt))
        .set("trans_stat", final_state.status.trans_stat().as_str())
        .set_opt(
            "party_order_id",
            final_state
                .party_order_id
                .clone()
                .or_else(|| t.party_order_id.clone()),
        )
        .set_opt(
            "end_time",
            final_state.end_time.map(shanghai_time::format_date_time),
        )
        .set(
            "fee_amt",
            Money::yuan_of_fen(final_state.fee_amt.map(Money::fen).unwrap_or(t.fee_amt)),
        )
        .set_opt("remark", t.remark.clone());
    Ok(d.text())
}

/// The notification row a final state enqueues, when the trade asked for one.
pub(crate) fn trade_notice(
    t: &trade::Model,
    final_state: &FinalState,
    now: DateTime<Utc>,
) -> Result<Option<NewNotification>, EngineError> {
    let subject = (
        NotificationKind::Trade,
        t.mer_id.as_str(),
        t.nkp_seq_id.as_str(),
    );
    notice(t.notify_url.as_deref(), subject, now, || {
        trade_resp_data(t, final_state)
    })
}

/// The `resp_data` string of the refund's final-state notification: compact, top-level keys
/// sorted, raw UTF-8 — the exact text that is signed and sent. `fee_amt` (yuan) is `fee`, the
/// share of the trade's fee this refund returns (0.00 for a failed refund).
pub(crate) fn refund_resp_data(
    r: &refund::Model,
    t: &trade::Model,
    final_state: &RefundFinalState,
    fee: Money,
) -> String {
    let ids = [r.req_date.as_str(), &r.req_seq_id, &r.nkp_seq_id];
    let mut d = Data::header(NotificationKind::Refund, &r.mer_id, ids);
    d.set("org_req_date", &t.req_date)
        .set("org_req_seq_id", &t.req_seq_id)
        .set("org_nkp_seq_id", &t.nkp_seq_id)
        .set("trade_type", t.trade_type.as_str())
        .set("ord_amt", Money::yuan_of_fen(r.ord_amt))
        .set("fee_amt", fee.to_yuan())
        .set("trans_stat", final_state.status.as_str())
        .set_opt("party_order_id", t.party_order_id.clone())
        .set_opt(
            "end_time",
            final_state.end_time.map(shanghai_time::format_date_time),
        )
        .set_opt("bank_code", final_state.bank_code.clone())
        .set_opt("bank_message", final_state.bank_message.clone())
        .set_opt("remark", r.remark.clone());
    d.text()
}

/// The notification a refund's final state enqueues, when the refund asked for one (its own
/// `notify_url`; the trade's is for the payment); `fee` as in [`refund_resp_data`].
pub(crate) fn refund_notice(
    r: &refund::Model,
    t: &trade::Model,
    final_state: &RefundFinalState,
    fee: Money,
    now: DateTime<Utc>,
) -> Option<NewNotification> {
    let subject = (
        NotificationKind::Refund,
        r.mer_id.as_str(),
        r.nkp_seq_id.as_str(),
    );
    let Ok(n) = notice::<Infallible>(r.notify_url.as_deref(), subject, now, || {
        Ok(refund_resp_data(r, t, final_state, fee))
    });
    n
}

/// The notification row of an onboarding result (issue 11): an application's review
/// ([`NotificationKind::MerchantAudit`], `subject_id` its `apply_no`) or a business opening
/// ([`NotificationKind::Business`], `subject_id` the business's own id, at most 32
/// characters). `resp_data` holds `notify_type`, `huifu_id` (= `mer_id`, the merchant's 16
/// digits) and `fields` as given (e.g. `audit_status` Y/N/F, `audit_desc`, `apply_no`,
/// `req_seq_id`, `req_date` `yyyyMMdd`); empty values are left out, keys sorted as for every
/// notification. `Ok(None)` when there is no `notify_url` (the request gave no
/// `async_return_url`). Personal data must not be among `fields`: the text is stored and sent
/// as is.
pub(crate) fn onboarding_notice(
    kind: NotificationKind,
    mer_id: &str,
    subject_id: &str,
    notify_url: Option<&str>,
    fields: &[(&str, &str)],
    now: DateTime<Utc>,
) -> Result<Option<NewNotification>, EngineError> {
    notice(notify_url, (kind, mer_id, subject_id), now, || {
        let mut d = Data::default();
        d.set("notify_type", kind.as_str()).set("huifu_id", mer_id);
        for (key, value) in fields {
            d.set_opt(key, Some(*value));
        }
        Ok(d.text())
    })
}

/// The notification row about `subject` (kind, `mer_id`, `nkp_seq_id`), when the request gave
/// a `notify_url`; none otherwise.
fn notice<E>(
    url: Option<&str>,
    (kind, mer_id, nkp_seq_id): (NotificationKind, &str, &str),
    now: DateTime<Utc>,
    resp_data: impl FnOnce() -> Result<String, E>,
) -> Result<Option<NewNotification>, E> {
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    Ok(Some(NewNotification {
        mer_id: mer_id.to_owned(),
        kind,
        subject_nkp_seq_id: nkp_seq_id.to_owned(),
        notify_url: url.to_owned(),
        resp_data: resp_data()?,
        first_attempt_at: now,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use nkpay_core::state::{RefundStatus, TradeStatus};
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
            fee_rate_bp: 38,
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
            create_unknown_at: None,
            create_repeats: 0,
            client_ip: None,
            attach: None,
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
            fee_amt: 0,
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

    fn refund_final(status: RefundStatus, bank: Option<(&str, &str)>) -> RefundFinalState {
        RefundFinalState {
            status,
            party_refund_id: None,
            end_time: Some(at(5, 0, 2)),
            bank_code: bank.map(|b| b.0.to_owned()),
            bank_message: bank.map(|b| b.1.to_owned()),
        }
    }

    #[test]
    fn notification_resp_data_is_compact_sorted_raw_utf8() {
        let final_state = FinalState {
            status: TradeStatus::Succeeded,
            party_order_id: Some("4200000001".into()),
            buyer_id: None,
            end_time: Some(Utc.with_ymd_and_hms(2025, 3, 10, 4, 1, 2).unwrap()),
            fee_amt: Some(Money::from_fen(4).unwrap()),
            bank_code: None,
            bank_message: None,
        };
        let mut t = trade();
        t.nkp_seq_id = "2025031012000000000001000000".into();
        t.req_seq_id = "r1".into();
        t.trade_type = TradeType::TJsapi;
        t.remark = Some("桌号 7".into());
        let text = trade_resp_data(&t, &final_state).unwrap();
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
        let final_state = FinalState {
            status: TradeStatus::Closed,
            party_order_id: None,
            buyer_id: None,
            end_time: None,
            fee_amt: None,
            bank_code: None,
            bank_message: None,
        };
        assert!(
            trade_notice(&t, &final_state, Utc::now())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn refund_notification_resp_data_is_compact_sorted_raw_utf8() {
        let text = refund_resp_data(
            &refund(),
            &trade(),
            &refund_final(RefundStatus::Succeeded, None),
            Money::from_fen(1).unwrap(),
        );
        assert_eq!(
            text,
            "{\"end_time\":\"20250310130002\",\"fee_amt\":\"0.01\",\"mer_id\":\"6666000100000001\",\
             \"nkp_seq_id\":\"R0001\",\"notify_type\":\"REFUND\",\"ord_amt\":\"3.00\",\"org_nkp_seq_id\":\"T0001\",\
             \"org_req_date\":\"20250310\",\"org_req_seq_id\":\"pay1\",\
             \"party_order_id\":\"2025031022001400000000000001\",\"remark\":\"退 3 元\",\
             \"req_date\":\"20250310\",\"req_seq_id\":\"rf1\",\"trade_type\":\"A_NATIVE\",\
             \"trans_stat\":\"S\"}"
        );
    }

    #[test]
    fn a_failed_refund_notice_carries_the_channel_code_and_goes_to_the_refund_url() {
        let n = refund_notice(
            &refund(),
            &trade(),
            &refund_final(RefundStatus::Failed, Some(("REFUNDCLOSE", "closed"))),
            Money::ZERO,
            at(5, 0, 3),
        )
        .unwrap();
        assert_eq!(n.notify_url, "https://m.example/refund");
        assert_eq!(n.kind, NotificationKind::Refund);
        assert_eq!(n.subject_nkp_seq_id, "R0001");
        let v: Value = serde_json::from_str(&n.resp_data).unwrap();
        assert_eq!(v["trans_stat"], "F");
        assert_eq!(v["bank_code"], "REFUNDCLOSE");
        assert_eq!(v["fee_amt"], "0.00");
    }

    #[test]
    fn an_onboarding_notice_carries_the_fields_sorted_and_skips_empty_ones() {
        let n = onboarding_notice(
            NotificationKind::MerchantAudit,
            "6666000100000001",
            "AP20261129000001",
            Some("https://m.example/audit"),
            &[
                ("audit_status", "Y"),
                ("audit_desc", ""),
                ("apply_no", "AP20261129000001"),
            ],
            at(5, 0, 3),
        )
        .unwrap()
        .unwrap();
        assert_eq!(n.kind, NotificationKind::MerchantAudit);
        assert_eq!(n.subject_nkp_seq_id, "AP20261129000001");
        assert_eq!(
            n.resp_data,
            "{\"apply_no\":\"AP20261129000001\",\"audit_status\":\"Y\",\
             \"huifu_id\":\"6666000100000001\",\"notify_type\":\"MERCHANT_AUDIT\"}"
        );
        let none = onboarding_notice(
            NotificationKind::Business,
            "6666000100000001",
            "B1",
            None,
            &[],
            at(5, 0, 3),
        )
        .unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn no_notification_without_the_refund_s_own_notify_url() {
        let mut r = refund();
        r.notify_url = None;
        let s = refund_final(RefundStatus::Succeeded, None);
        // The trade's notify_url is for the payment, not its refunds.
        assert!(refund_notice(&r, &trade(), &s, Money::ZERO, at(5, 0, 3)).is_none());
    }
}
