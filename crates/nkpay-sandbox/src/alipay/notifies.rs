//! Alipay's asynchronous notify: a form POST `trade_status_sync`, signed by the gateway key over
//! the sorted parameters without `sign` and `sign_type`. Refunds add out_biz_no, refund_fee and
//! gmt_refund.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use nkpay_crypto::alipay_sign::notify_string_to_sign;

use super::store::{AliRefund, Precreate};
use super::trade::buyer_logon_id;
use crate::clock;
use crate::notify::{ALIPAY_SCHEDULE, Ack, Outgoing};
use crate::state::SandboxState;
use crate::yuan::from_fen;

fn form(params: &BTreeMap<String, String>) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// The notify for the trade's current status (and for `refund` when given); None when the
/// precreate had no notify_url or the trade was never scanned.
pub(crate) fn trade(
    state: &SandboxState,
    p: &Precreate,
    refund: Option<&AliRefund>,
    now: DateTime<Utc>,
) -> Option<Outgoing> {
    let url = p.notify_url.clone()?;
    let t = p.trade.as_ref()?;
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        params.insert(k.to_owned(), v);
    };
    put("notify_type", "trade_status_sync".into());
    put("notify_id", state.ids.alipay_notify_id(now));
    put("notify_time", clock::shanghai_seconds(now));
    put("charset", "utf-8".into());
    put("version", "1.0".into());
    put("app_id", p.app_id.clone());
    put("auth_app_id", p.auth_app_id.clone());
    put("trade_no", t.trade_no.clone());
    put("out_trade_no", p.out_trade_no.clone());
    put("trade_status", t.status.as_str().into());
    put("subject", p.subject.clone());
    put("buyer_id", t.buyer_id.clone());
    put("buyer_logon_id", buyer_logon_id(&t.buyer_id));
    put("seller_id", p.seller_id.clone());
    put("total_amount", from_fen(p.total));
    put("gmt_create", clock::shanghai_seconds(t.gmt_create));
    if let Some(paid) = t.gmt_payment {
        let amount = from_fen(p.total);
        put("receipt_amount", amount.clone());
        put("invoice_amount", amount.clone());
        put("buyer_pay_amount", amount.clone());
        put("point_amount", "0.00".into());
        put("gmt_payment", clock::shanghai_seconds(paid));
        put(
            "fund_bill_list",
            format!("[{{\"amount\":\"{amount}\",\"fundChannel\":\"ALIPAYACCOUNT\"}}]"),
        );
    }
    if let Some(closed) = t.gmt_close {
        put("gmt_close", clock::shanghai_seconds(closed));
    }
    if let Some(r) = refund {
        put("out_biz_no", r.out_request_no.clone());
        put("refund_fee", from_fen(t.refunded()));
        put("gmt_refund", clock::shanghai_millis(r.gmt_refund));
    }
    let text = notify_string_to_sign(&params);
    let key = &state.dir.gateway_key;
    let sign = key.sign_sha256_base64(text.as_bytes()).ok()?;
    // A signature over other bytes: well-formed, and wrong.
    let forged = key
        .sign_sha256_base64(format!("{text}&forged=1").as_bytes())
        .ok()?;
    params.insert("sign_type".into(), "RSA2".into());
    let mut forged_params = params.clone();
    params.insert("sign".into(), sign);
    forged_params.insert("sign".into(), forged);
    Some(Outgoing {
        channel: "alipay",
        kind: if refund.is_some() {
            "refund"
        } else {
            "payment"
        },
        out_trade_no: p.out_trade_no.clone(),
        out_refund_no: refund.map(|r| r.out_request_no.clone()),
        url,
        content_type: "application/x-www-form-urlencoded; charset=utf-8",
        body: form(&params),
        forged_body: form(&forged_params),
        ack: Ack::AlipayText,
        schedule: ALIPAY_SCHEDULE,
    })
}
