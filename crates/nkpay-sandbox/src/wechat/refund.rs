//! WeChat Pay refunds: secapi/pay/refund (idempotent per out_refund_no, at most 50 per order,
//! never more than was paid), their settling PROCESSING → SUCCESS / CHANGE / REFUNDCLOSE with a
//! refund notify, and pay/refundquery.

use actix_web::web;

use super::gate::Ctx;
use super::notifies;
use super::order::{fen, merchant_no, notify_url};
use super::reply::{WxError, WxResult};
use super::store::{Order, OrderKey, Refund, RefundStatus, TradeState};
use crate::clock;
use crate::faults::RefundOutcome;
use crate::state::{SandboxState, lock};

const MAX_REFUNDS_PER_ORDER: usize = 50;

fn refund_reply(order: &Order, refund: &Refund) -> Vec<(String, String)> {
    vec![
        (
            "transaction_id".into(),
            order.transaction_id.clone().unwrap_or_default(),
        ),
        ("out_trade_no".into(), order.out_trade_no.clone()),
        ("out_refund_no".into(), refund.out_refund_no.clone()),
        ("refund_id".into(), refund.refund_id.clone()),
        ("refund_fee".into(), refund.refund_fee.to_string()),
        (
            "settlement_refund_fee".into(),
            refund.refund_fee.to_string(),
        ),
        ("total_fee".into(), order.total_fee.to_string()),
        ("settlement_total_fee".into(), order.total_fee.to_string()),
        ("fee_type".into(), "CNY".into()),
        ("cash_fee".into(), order.total_fee.to_string()),
        ("cash_refund_fee".into(), refund.refund_fee.to_string()),
    ]
}

pub(crate) fn refund(state: &web::Data<SandboxState>, ctx: &Ctx) -> WxResult {
    let sub = ctx.sub()?.to_owned();
    let out_refund_no = merchant_no(ctx, "out_refund_no", 64).map_err(as_param_error)?;
    let total_fee = fen(ctx, "total_fee", "PARAM_ERROR")?;
    let refund_fee = fen(ctx, "refund_fee", "PARAM_ERROR")?;
    let transaction_id = ctx.get("transaction_id");
    let out_trade_no = ctx.get("out_trade_no");
    if transaction_id.is_none() && out_trade_no.is_none() {
        return Err(WxError::lack("transaction_id or out_trade_no"));
    }
    let refund_notify = match ctx.get("notify_url") {
        Some(_) => Some(notify_url(ctx, "notify_url", "PARAM_ERROR")?),
        None => None,
    };
    if let Some(fee_type) = ctx.get("refund_fee_type")
        && fee_type != "CNY"
    {
        return Err(WxError::new("PARAM_ERROR", "refund_fee_type must be CNY"));
    }

    let now = clock::now();
    let mut guard = lock(&state.wechat);
    let store = &mut *guard;
    store.refund_requests += 1;
    let order = store
        .find_mut(&ctx.sp.mch_id, &sub, transaction_id, out_trade_no)
        .ok_or_else(|| {
            WxError::new(
                "ORDERNOTEXIST",
                "订单不存在: no such order for this sub-merchant",
            )
        })?;
    if !order.state.is_paid() {
        return Err(WxError::new(
            "ERROR",
            format!(
                "订单未支付: only a paid order can be refunded (trade_state {})",
                order.state.as_str()
            ),
        ));
    }
    if total_fee != order.total_fee {
        return Err(WxError::new(
            "INVALID_REQUEST",
            format!(
                "订单金额与之前请求不一致: total_fee {total_fee} is not the order's {}",
                order.total_fee
            ),
        ));
    }
    if let Some(pos) = order
        .refunds
        .iter()
        .position(|r| r.out_refund_no == out_refund_no)
    {
        let existing = &mut order.refunds[pos];
        if existing.refund_fee != refund_fee {
            return Err(WxError::new(
                "INVALID_REQUEST",
                format!(
                    "退款金额与之前请求不一致: out_refund_no {out_refund_no} was asked for refund_fee {}, not {refund_fee}",
                    existing.refund_fee
                ),
            ));
        }
        // The same out_refund_no again is the same refund: made once, answered again.
        existing.requests += 1;
        return Ok(refund_reply(order, &order.refunds[pos]));
    }
    if order.refunds.len() >= MAX_REFUNDS_PER_ORDER {
        return Err(WxError::new(
            "ERROR",
            format!("an order takes at most {MAX_REFUNDS_PER_ORDER} partial refunds"),
        ));
    }
    let left = order.refundable();
    if refund_fee > left {
        return Err(WxError::new(
            "ERROR",
            format!(
                "申请退款金额超过订单可退金额: refund_fee {refund_fee} is more than the {left} fen left to refund"
            ),
        ));
    }
    let refund = Refund {
        out_refund_no: out_refund_no.clone(),
        refund_id: state.ids.refund_id(now),
        refund_fee,
        status: RefundStatus::Processing,
        created_at: now,
        success_time: None,
        notify_url: refund_notify,
        requests: 1,
    };
    let reply = refund_reply(order, &refund);
    order.refunds.push(refund);
    order.state = TradeState::Refund;
    let key: OrderKey = (
        order.mch_id.clone(),
        order.sub_mch_id.clone(),
        order.out_trade_no.clone(),
    );
    store.refunds_made += 1;
    drop(guard);
    schedule_settle(state, key, out_refund_no);
    Ok(reply)
}

fn as_param_error(e: WxError) -> WxError {
    if e.code == "INVALID_REQUEST" {
        WxError::new("PARAM_ERROR", e.des)
    } else {
        e
    }
}

/// After the settle delay the refund reaches the configured outcome and its notify goes out.
fn schedule_settle(state: &web::Data<SandboxState>, key: OrderKey, out_refund_no: String) {
    let delay = state.scale.delay(state.timings.refund_settle_secs);
    let outcome = state.faults.refund_outcome();
    let notifier = state.notifier.clone();
    let state = state.clone();
    notifier.spawn(async move {
        tokio::time::sleep(delay).await;
        settle(&state, &key, &out_refund_no, outcome);
    });
}

fn settle(state: &SandboxState, key: &OrderKey, out_refund_no: &str, outcome: RefundOutcome) {
    let now = clock::now();
    let mut store = lock(&state.wechat);
    let Some(order) = store.orders.get_mut(key) else {
        return;
    };
    let Some(refund) = order
        .refunds
        .iter_mut()
        .find(|r| r.out_refund_no == out_refund_no)
    else {
        return;
    };
    refund.status = match outcome {
        RefundOutcome::Success => RefundStatus::Success,
        RefundOutcome::Change => RefundStatus::Change,
        RefundOutcome::Refundclose => RefundStatus::RefundClose,
    };
    if refund.status == RefundStatus::Success {
        refund.success_time = Some(now);
    }
    let order = &*order;
    let Some(refund) = order
        .refunds
        .iter()
        .find(|r| r.out_refund_no == out_refund_no)
    else {
        return;
    };
    let Some(sp) = state.dir.wechat_sp(&order.mch_id) else {
        return;
    };
    let outgoing = match notifies::refund(order, refund, &sp) {
        Ok(Some(o)) => o,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, out_refund_no, "refund notify could not be built");
            return;
        }
    };
    drop(store);
    state
        .notifier
        .send(state.ids.notify_seq(), outgoing, state.faults.for_notify());
}

pub(crate) fn refundquery(state: &SandboxState, ctx: &Ctx) -> WxResult {
    let sub = ctx.sub()?;
    let refund_id = ctx.get("refund_id");
    let out_refund_no = ctx.get("out_refund_no");
    let transaction_id = ctx.get("transaction_id");
    let out_trade_no = ctx.get("out_trade_no");
    if [refund_id, out_refund_no, transaction_id, out_trade_no]
        .iter()
        .all(Option::is_none)
    {
        return Err(WxError::lack(
            "refund_id, out_refund_no, transaction_id or out_trade_no",
        ));
    }
    let not_exist = || WxError::new("REFUNDNOTEXIST", "退款订单查询失败: no refund matches");
    let store = lock(&state.wechat);
    let mine = |o: &&Order| o.mch_id == ctx.sp.mch_id && o.sub_mch_id == sub;
    // Priority as documented: refund_id, out_refund_no, transaction_id, out_trade_no.
    let (order, refunds): (&Order, Vec<&Refund>) = if let Some(id) = refund_id.or(out_refund_no) {
        let by_id = refund_id.is_some();
        let hit = store.orders.values().filter(mine).find_map(|o| {
            o.refunds
                .iter()
                .find(|r| {
                    if by_id {
                        r.refund_id == id
                    } else {
                        r.out_refund_no == id
                    }
                })
                .map(|r| (o, vec![r]))
        });
        hit.ok_or_else(not_exist)?
    } else {
        let order = store
            .orders
            .values()
            .filter(mine)
            .find(|o| match transaction_id {
                Some(t) => o.transaction_id.as_deref() == Some(t),
                None => Some(o.out_trade_no.as_str()) == out_trade_no,
            })
            .ok_or_else(not_exist)?;
        (order, order.refunds.iter().collect())
    };
    if refunds.is_empty() {
        return Err(not_exist());
    }
    let mut data: Vec<(String, String)> = vec![
        (
            "transaction_id".into(),
            order.transaction_id.clone().unwrap_or_default(),
        ),
        ("out_trade_no".into(), order.out_trade_no.clone()),
        ("total_fee".into(), order.total_fee.to_string()),
        ("settlement_total_fee".into(), order.total_fee.to_string()),
        ("fee_type".into(), "CNY".into()),
        ("cash_fee".into(), order.total_fee.to_string()),
        ("refund_count".into(), refunds.len().to_string()),
    ];
    for (n, r) in refunds.iter().enumerate() {
        let mut push = |k: &str, v: String| data.push((format!("{k}_{n}"), v));
        push("out_refund_no", r.out_refund_no.clone());
        push("refund_id", r.refund_id.clone());
        push("refund_channel", "ORIGINAL".into());
        push("refund_fee", r.refund_fee.to_string());
        push("settlement_refund_fee", r.refund_fee.to_string());
        push("refund_status", r.status.as_str().into());
        push("refund_account", "REFUND_SOURCE_UNSETTLED_FUNDS".into());
        push("refund_recv_accout", "支付用户零钱".into());
        if let Some(t) = r.success_time {
            push("refund_success_time", clock::shanghai_seconds(t));
        }
    }
    Ok(data)
}
