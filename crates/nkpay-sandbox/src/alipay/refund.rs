//! alipay.trade.refund and alipay.trade.fastpay.refund.query. A refund is keyed by
//! out_request_no: the first call moves money (`fund_change=Y`), a retry with the same
//! out_request_no and amount answers again without moving any (`fund_change=N`). A full refund
//! closes the trade.

use serde_json::{Map, Value};

use super::gateway::{AliError, AliResult, Call};
use super::notifies;
use super::store::{AliRefund, Precreate, TradeStatus};
use super::trade::{buyer_logon_id, not_exist, require_trade_ref};
use crate::clock;
use crate::state::{SandboxState, lock};
use crate::yuan::{from_fen, parse_alipay_amount};

pub(crate) fn refund(state: &SandboxState, call: &Call) -> AliResult {
    let amount_text = call.require("refund_amount")?;
    let amount = parse_alipay_amount(&amount_text).ok_or_else(|| {
        AliError::bad_param(format!(
            "refund_amount must be yuan with at most 2 decimals, 0.01 to 100000000, got {amount_text:?}"
        ))
    })?;
    let (trade_no, out_trade_no) = require_trade_ref(call)?;
    let out_request_no = call.biz("out_request_no");
    if out_request_no
        .as_ref()
        .is_some_and(|n| n.chars().count() > 64)
    {
        return Err(AliError::bad_param(
            "out_request_no must be at most 64 characters",
        ));
    }

    let now = clock::now();
    let mut guard = lock(&state.alipay);
    let store = &mut *guard;
    store.refund_requests += 1;
    let p = store
        .find_mut(
            &call.grant()?.auth_app_id,
            trade_no.as_deref(),
            out_trade_no.as_deref(),
        )
        .ok_or_else(not_exist)?;
    p.expire(now);
    // Without out_request_no the refund is keyed by the trade itself (one full refund).
    let out_request_no = out_request_no.unwrap_or_else(|| p.out_trade_no.clone());
    let fund_change = apply(p, &out_request_no, amount, now)?;
    let p = &*p;
    let t = p.trade.as_ref().ok_or_else(not_exist)?;
    let r = t
        .refunds
        .iter()
        .find(|r| r.out_request_no == out_request_no)
        .ok_or_else(not_exist)?;
    let mut m = Map::new();
    m.insert("trade_no".into(), t.trade_no.clone().into());
    m.insert("out_trade_no".into(), p.out_trade_no.clone().into());
    m.insert("buyer_logon_id".into(), buyer_logon_id(&t.buyer_id).into());
    m.insert("buyer_user_id".into(), t.buyer_id.clone().into());
    m.insert(
        "fund_change".into(),
        if fund_change { "Y" } else { "N" }.into(),
    );
    m.insert("refund_fee".into(), from_fen(t.refunded()).into());
    m.insert("send_back_fee".into(), from_fen(r.amount).into());
    m.insert(
        "gmt_refund_pay".into(),
        clock::shanghai_seconds(r.gmt_refund).into(),
    );
    let outgoing = if fund_change {
        notifies::trade(state, p, Some(r), now)
    } else {
        None
    };
    if fund_change {
        store.refunds_made += 1;
    }
    drop(guard);
    if let Some(outgoing) = outgoing {
        state
            .notifier
            .send(state.ids.notify_seq(), outgoing, state.faults.for_notify());
    }
    Ok(m)
}

/// Makes the refund, or recognises its retry. True when money moved.
fn apply(
    p: &mut Precreate,
    out_request_no: &str,
    amount: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, AliError> {
    let total = p.total;
    let t = p.trade.as_mut().ok_or_else(not_exist)?;
    if t.gmt_payment.is_none() {
        return Err(match t.status {
            TradeStatus::Closed => AliError::business(
                "ACQ.TRADE_HAS_CLOSE",
                "交易已经关闭: the trade was closed unpaid",
            ),
            _ => AliError::business(
                "ACQ.TRADE_STATUS_ERROR",
                format!(
                    "交易状态不合法: the trade is {} and cannot be refunded",
                    t.status.as_str()
                ),
            ),
        });
    }
    if let Some(existing) = t
        .refunds
        .iter_mut()
        .find(|r| r.out_request_no == out_request_no)
    {
        if existing.amount != amount {
            return Err(AliError::business(
                "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                format!(
                    "退款金额与原请求不一致: out_request_no {out_request_no} was for {}, not {}",
                    from_fen(existing.amount),
                    from_fen(amount)
                ),
            ));
        }
        existing.requests += 1;
        return Ok(false);
    }
    let left = total - t.refunded();
    if amount > left {
        return Err(AliError::business(
            "ACQ.REASON_TRADE_REFUND_FEE_ERR",
            format!(
                "退款金额超限: refund_amount {} is more than the {} left to refund",
                from_fen(amount),
                from_fen(left)
            ),
        ));
    }
    t.refunds.push(AliRefund {
        out_request_no: out_request_no.to_owned(),
        amount,
        gmt_refund: now,
        requests: 1,
    });
    if t.refunded() == total {
        t.status = TradeStatus::Closed;
        t.gmt_close = Some(now);
    }
    Ok(true)
}

pub(crate) fn query(state: &SandboxState, call: &Call) -> AliResult {
    let out_request_no = call.require("out_request_no")?;
    let (trade_no, out_trade_no) = require_trade_ref(call)?;
    let mut store = lock(&state.alipay);
    let p = store
        .find_mut(
            &call.grant()?.auth_app_id,
            trade_no.as_deref(),
            out_trade_no.as_deref(),
        )
        .ok_or_else(not_exist)?;
    let t = p.trade.as_ref().ok_or_else(not_exist)?;
    let mut m = Map::new();
    m.insert("trade_no".into(), t.trade_no.clone().into());
    m.insert("out_trade_no".into(), p.out_trade_no.clone().into());
    m.insert("out_request_no".into(), out_request_no.clone().into());
    // An unknown out_request_no is not an error: the reply simply carries no refund.
    if let Some(r) = t
        .refunds
        .iter()
        .find(|r| r.out_request_no == out_request_no)
    {
        m.insert("total_amount".into(), from_fen(p.total).into());
        m.insert("refund_amount".into(), from_fen(r.amount).into());
        m.insert("refund_status".into(), Value::from("REFUND_SUCCESS"));
        m.insert(
            "gmt_refund_pay".into(),
            clock::shanghai_seconds(r.gmt_refund).into(),
        );
    }
    Ok(m)
}
