//! WeChat Pay orders: unifiedorder (with its idempotency rule), orderquery, closeorder, and the
//! payer settling a prepay — NOTPAY → SUCCESS / PAYERROR, NOTPAY → CLOSED.

use std::net::IpAddr;
use std::time::Instant;

use actix_web::http::StatusCode;
use chrono::Duration as ChronoDuration;

use super::gate::Ctx;
use super::notifies;
use super::reply::{WxError, WxResult};
use super::store::{Order, TradeState};
use crate::clock::{self, parse_shanghai};
use crate::payer::PayerError;
use crate::state::{SandboxState, lock};

/// A prepay_id can be used this long.
const PREPAY_VALIDITY_HOURS: i64 = 2;

fn invalid(des: impl Into<String>) -> WxError {
    WxError::new("INVALID_REQUEST", des)
}

fn max_chars(ctx: &Ctx, field: &str, max: usize) -> Result<(), WxError> {
    match ctx.get(field) {
        Some(v) if v.chars().count() > max => {
            Err(invalid(format!("{field} must be at most {max} characters")))
        }
        _ => Ok(()),
    }
}

/// Merchant order/refund numbers: letters, digits and `_-|*@`.
pub(crate) fn merchant_no(ctx: &Ctx, field: &str, max: usize) -> Result<String, WxError> {
    let v = ctx.require(field)?;
    let ok_chars = v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b));
    if v.len() > max || !ok_chars {
        return Err(invalid(format!(
            "{field} must be at most {max} characters of letters, digits and _-|*@"
        )));
    }
    Ok(v.to_owned())
}

/// An amount in fen: an integer, 1 to 10^10.
pub(crate) fn fen(ctx: &Ctx, field: &str, code: &'static str) -> Result<i64, WxError> {
    let v = ctx.require(field)?;
    let parsed = (v.len() <= 11 && v.bytes().all(|b| b.is_ascii_digit()))
        .then(|| v.parse::<i64>().ok())
        .flatten()
        .filter(|f| (1..=10_000_000_000).contains(f));
    parsed.ok_or_else(|| {
        WxError::new(
            code,
            format!("{field} must be a whole number of fen from 1 to 10000000000, got {v:?}"),
        )
    })
}

/// notify_url: an absolute http(s) URL of at most 256 characters, without a query string.
pub(crate) fn notify_url(ctx: &Ctx, field: &str, code: &'static str) -> Result<String, WxError> {
    let v = ctx.require(field)?;
    let parsed = url::Url::parse(v).ok();
    let ok = v.len() <= 256
        && !v.contains('?')
        && parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !ok {
        return Err(WxError::new(
            code,
            format!(
                "{field} must be an absolute http(s) URL of at most 256 characters without a query string"
            ),
        ));
    }
    Ok(v.to_owned())
}

fn openid_format(field: &str, v: &str) -> Result<(), WxError> {
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
    if !ok {
        return Err(invalid(format!(
            "{field} must be 1 to 128 letters, digits, _ or -"
        )));
    }
    Ok(())
}

pub(crate) fn unifiedorder(state: &SandboxState, ctx: &Ctx) -> WxResult {
    let out_trade_no = merchant_no(ctx, "out_trade_no", 32)?;
    let sub_mch_id = ctx.sub()?.to_owned();
    *lock(&state.wechat)
        .unifiedorder_calls
        .entry(out_trade_no.clone())
        .or_default() += 1;

    let body = ctx.require("body")?.to_owned();
    max_chars(ctx, "body", 127)?;
    max_chars(ctx, "attach", 127)?;
    let total_fee = fen(ctx, "total_fee", "INVALID_REQUEST")?;
    let ip = ctx.require("spbill_create_ip")?;
    if ip.parse::<IpAddr>().is_err() {
        return Err(invalid(format!(
            "spbill_create_ip must be an IPv4 or IPv6 address, got {ip:?}"
        )));
    }
    let notify_url = notify_url(ctx, "notify_url", "INVALID_REQUEST")?;
    let trade_type = ctx.require("trade_type")?;
    if trade_type != "JSAPI" {
        return Err(invalid(format!(
            "trade_type must be JSAPI (official accounts and mini-programs alike), got {trade_type:?}"
        )));
    }
    if let Some(fee_type) = ctx.get("fee_type")
        && fee_type != "CNY"
    {
        return Err(invalid("fee_type must be CNY"));
    }
    let now = clock::now();
    let time_format = "%Y%m%d%H%M%S";
    let time_start = match ctx.get("time_start") {
        Some(t) => Some(parse_shanghai(t, time_format).ok_or_else(|| {
            invalid(format!(
                "time_start must be yyyyMMddHHmmss (Asia/Shanghai), got {t:?}"
            ))
        })?),
        None => None,
    };
    let time_expire = match ctx.get("time_expire") {
        Some(t) => {
            let expire = parse_shanghai(t, time_format).ok_or_else(|| {
                invalid(format!(
                    "time_expire must be yyyyMMddHHmmss (Asia/Shanghai), got {t:?}"
                ))
            })?;
            if expire <= now || time_start.is_some_and(|s| expire <= s) {
                return Err(invalid(format!(
                    "time_expire {t} must be later than now and than time_start"
                )));
            }
            Some(expire)
        }
        None => None,
    };
    let openid = ctx.get("openid").map(str::to_owned);
    let sub_openid = ctx.get("sub_openid").map(str::to_owned);
    match (&openid, &sub_openid) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "give openid (under the SP appid) or sub_openid (under sub_appid), not both",
            ));
        }
        (None, None) => {
            return Err(WxError::new(
                "LACK_PARAMS",
                "缺少参数: trade_type JSAPI needs openid or sub_openid",
            ));
        }
        (Some(o), None) => openid_format("openid", o)?,
        (None, Some(s)) => {
            if ctx.sub_appid.is_none() {
                return Err(WxError::new(
                    "LACK_PARAMS",
                    "缺少参数: sub_appid is required with sub_openid",
                ));
            }
            openid_format("sub_openid", s)?;
        }
    }

    let mut params = ctx.fields.clone();
    params.remove("nonce_str");
    params.remove("sign");
    let key = (
        ctx.sp.mch_id.clone(),
        sub_mch_id.clone(),
        out_trade_no.clone(),
    );

    let mut guard = lock(&state.wechat);
    let store = &mut *guard;
    if let Some(order) = store.orders.get_mut(&key) {
        order.unifiedorder_calls += 1;
        match order.state {
            TradeState::Success | TradeState::Refund => {
                return Err(WxError::new(
                    "ORDERPAID",
                    "商户订单已支付: the order is paid",
                ));
            }
            TradeState::Closed => {
                return Err(WxError::new(
                    "ORDERCLOSED",
                    "订单已关闭: the order is closed",
                ));
            }
            TradeState::NotPay | TradeState::PayError => {}
        }
        if order.params != params {
            let changed: Vec<&str> = order
                .params
                .keys()
                .chain(params.keys())
                .filter(|k| order.params.get(*k) != params.get(*k))
                .map(String::as_str)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            return Err(WxError::new(
                "OUT_TRADE_NO_USED",
                format!(
                    "商户订单号重复: out_trade_no {out_trade_no} was placed with other parameters ({})",
                    changed.join(", ")
                ),
            ));
        }
        let prepay_id = if order.prepay_expires <= now {
            // A prepay_id lives two hours; the same order asked again later gets a new one.
            let fresh = state.ids.prepay_id(now);
            order.prepay_id = fresh.clone();
            order.prepay_expires = now + ChronoDuration::hours(PREPAY_VALIDITY_HOURS);
            store.by_prepay.insert(fresh.clone(), key);
            fresh
        } else {
            order.prepay_id.clone()
        };
        return Ok(prepay_reply(prepay_id));
    }

    let prepay_id = state.ids.prepay_id(now);
    let order = Order {
        mch_id: ctx.sp.mch_id.clone(),
        sub_mch_id,
        out_trade_no,
        params,
        sub_appid: ctx.sub_appid.clone(),
        openid,
        sub_openid,
        body,
        attach: ctx.get("attach").map(str::to_owned),
        total_fee,
        notify_url,
        sign_type: ctx.sign_type,
        time_expire,
        created: Instant::now(),
        prepay_id: prepay_id.clone(),
        prepay_expires: now + ChronoDuration::hours(PREPAY_VALIDITY_HOURS),
        state: TradeState::NotPay,
        transaction_id: None,
        time_end: None,
        refunds: Vec::new(),
        unifiedorder_calls: 1,
    };
    store.by_prepay.insert(prepay_id.clone(), key.clone());
    store.orders.insert(key, order);
    Ok(prepay_reply(prepay_id))
}

fn prepay_reply(prepay_id: String) -> Vec<(String, String)> {
    vec![
        ("trade_type".into(), "JSAPI".into()),
        ("prepay_id".into(), prepay_id),
    ]
}

fn lookup_ids(ctx: &Ctx) -> Result<(Option<&str>, Option<&str>), WxError> {
    let transaction_id = ctx.get("transaction_id");
    let out_trade_no = ctx.get("out_trade_no");
    if transaction_id.is_none() && out_trade_no.is_none() {
        return Err(WxError::lack("transaction_id or out_trade_no"));
    }
    Ok((transaction_id, out_trade_no))
}

fn not_exist() -> WxError {
    WxError::new(
        "ORDERNOTEXIST",
        "此交易订单号不存在: no such order for this sub-merchant",
    )
}

pub(crate) fn orderquery(state: &SandboxState, ctx: &Ctx) -> WxResult {
    let (transaction_id, out_trade_no) = lookup_ids(ctx)?;
    let sub = ctx.sub()?;
    let mut store = lock(&state.wechat);
    let order = store
        .find_mut(&ctx.sp.mch_id, sub, transaction_id, out_trade_no)
        .ok_or_else(not_exist)?;
    let mut data: Vec<(String, String)> = vec![
        ("out_trade_no".into(), order.out_trade_no.clone()),
        ("trade_state".into(), order.state.as_str().into()),
        ("trade_state_desc".into(), order.state.desc().into()),
        ("trade_type".into(), "JSAPI".into()),
        ("total_fee".into(), order.total_fee.to_string()),
        ("fee_type".into(), "CNY".into()),
    ];
    if let Some(attach) = &order.attach {
        data.push(("attach".into(), attach.clone()));
    }
    if order.state.is_paid() {
        data.push(("openid".into(), order.sp_openid()));
        data.push(("is_subscribe".into(), "N".into()));
        if let Some(sub_openid) = &order.sub_openid {
            data.push(("sub_openid".into(), sub_openid.clone()));
            data.push(("sub_is_subscribe".into(), "N".into()));
        }
        data.push(("bank_type".into(), "OTHERS".into()));
        data.push(("cash_fee".into(), order.total_fee.to_string()));
        data.push(("cash_fee_type".into(), "CNY".into()));
        if let Some(t) = &order.transaction_id {
            data.push(("transaction_id".into(), t.clone()));
        }
        if let Some(t) = order.time_end {
            data.push(("time_end".into(), clock::wechat_compact(t)));
        }
    }
    Ok(data)
}

pub(crate) fn closeorder(state: &SandboxState, ctx: &Ctx) -> WxResult {
    let out_trade_no = ctx.require("out_trade_no")?;
    let sub = ctx.sub()?;
    let min_age = state.scale.delay(state.timings.close_min_age_secs);
    let mut store = lock(&state.wechat);
    let order = store
        .find_mut(&ctx.sp.mch_id, sub, None, Some(out_trade_no))
        .ok_or_else(not_exist)?;
    match order.state {
        TradeState::Success | TradeState::Refund => Err(WxError::new(
            "ORDERPAID",
            "订单已支付，不能发起关单: the order is paid",
        )),
        TradeState::Closed => Err(WxError::new(
            "ORDERCLOSED",
            "订单已关闭: the order is already closed",
        )),
        TradeState::NotPay | TradeState::PayError => {
            if order.created.elapsed() < min_age {
                // WeChat: an order cannot be closed within 5 minutes of being placed.
                return Err(WxError::new(
                    "SYSTEMERROR",
                    format!(
                        "订单生成后不能马上调用关单接口: close the order no sooner than {} s after placing it",
                        state.timings.close_min_age_secs
                    ),
                ));
            }
            order.state = TradeState::Closed;
            Ok(vec![("result_msg".into(), "OK".into())])
        }
    }
}

/// The payer answers the prepay: SUCCESS pays the order, FAIL marks it PAYERROR. Either way the
/// merchant is notified.
pub(crate) fn pay(
    state: &SandboxState,
    prepay_id: &str,
    openid: Option<&str>,
    success: bool,
) -> Result<serde_json::Value, PayerError> {
    let now = clock::now();
    let mut guard = lock(&state.wechat);
    let store = &mut *guard;
    let key = store
        .by_prepay
        .get(prepay_id)
        .cloned()
        .ok_or_else(|| PayerError::new(StatusCode::NOT_FOUND, "no order has this prepay_id"))?;
    let order = store
        .orders
        .get_mut(&key)
        .ok_or_else(|| PayerError::new(StatusCode::NOT_FOUND, "no order has this prepay_id"))?;
    if order.prepay_id != prepay_id || order.prepay_expires <= now {
        return Err(PayerError::new(
            StatusCode::GONE,
            "this prepay_id has expired",
        ));
    }
    if order.time_expire.is_some_and(|t| t <= now) {
        return Err(PayerError::new(
            StatusCode::GONE,
            "the order has expired (time_expire)",
        ));
    }
    match order.state {
        TradeState::Success | TradeState::Refund => {
            return Err(PayerError::new(
                StatusCode::CONFLICT,
                "the order is already paid",
            ));
        }
        TradeState::Closed => {
            return Err(PayerError::new(StatusCode::CONFLICT, "the order is closed"));
        }
        TradeState::NotPay | TradeState::PayError => {}
    }
    let payer = order.openid.as_deref().or(order.sub_openid.as_deref());
    if let (Some(given), Some(expected)) = (openid, payer)
        && given != expected
    {
        return Err(PayerError::new(
            StatusCode::FORBIDDEN,
            format!("the order was placed for payer {expected}, not {given}"),
        ));
    }
    if success {
        let transaction_id = state.ids.transaction_id(now);
        order.state = TradeState::Success;
        order.transaction_id = Some(transaction_id.clone());
        order.time_end = Some(now);
        store.by_transaction.insert(transaction_id, key.clone());
    } else {
        order.state = TradeState::PayError;
    }
    let order = store
        .orders
        .get(&key)
        .ok_or_else(|| PayerError::new(StatusCode::NOT_FOUND, "no order has this prepay_id"))?;
    let sp = state
        .dir
        .wechat_sp(&order.mch_id)
        .ok_or_else(|| PayerError::new(StatusCode::NOT_FOUND, "the order's merchant is gone"))?;
    let outgoing = notifies::payment(order, &sp);
    let answer = serde_json::json!({
        "out_trade_no": order.out_trade_no,
        "trade_state": order.state.as_str(),
        "transaction_id": order.transaction_id,
        "total_fee": order.total_fee,
    });
    drop(guard);
    state
        .notifier
        .send(state.ids.notify_seq(), outgoing, state.faults.for_notify());
    Ok(answer)
}

/// What the cashier page shows for a prepay_id.
pub(crate) fn cashier_view(
    state: &SandboxState,
    prepay_id: &str,
) -> Result<serde_json::Value, PayerError> {
    let store = lock(&state.wechat);
    let order = store
        .by_prepay
        .get(prepay_id)
        .and_then(|key| store.orders.get(key))
        .ok_or_else(|| PayerError::new(StatusCode::NOT_FOUND, "no order has this prepay_id"))?;
    Ok(serde_json::json!({
        "out_trade_no": order.out_trade_no,
        "body": order.body,
        "total_fee": order.total_fee,
        "sub_mch_id": order.sub_mch_id,
        "trade_state": order.state.as_str(),
        "payer": order.openid.as_deref().or(order.sub_openid.as_deref()),
    }))
}
