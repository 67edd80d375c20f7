//! Alipay face-to-face trades: precreate hands out a QR code; the trade exists only once the QR
//! is scanned (query and close before that: ACQ.TRADE_NOT_EXIST, and the QR stays payable for its
//! lifetime); the payer then pays (TRADE_SUCCESS) or gives up (TRADE_CLOSED).

use actix_web::http::StatusCode;
use chrono::{DateTime, Duration as ChronoDuration, NaiveTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use serde_json::{Map, Value};

use super::gateway::{AliError, AliResult, Call};
use super::notifies;
use super::store::{AlipayStore, Precreate, Trade, TradeStatus};
use crate::clock::{self, parse_shanghai};
use crate::payer::PayerError;
use crate::state::{SandboxState, lock};
use crate::yuan::{from_fen, parse_alipay_amount};

/// A precreate QR code is valid two hours at most.
const QR_VALIDITY_HOURS: i64 = 2;
/// The trade times out after 15 days unless told otherwise.
const DEFAULT_TIMEOUT_DAYS: i64 = 15;
/// The buyer the cashier page pays as, unless told otherwise.
pub(crate) const DEMO_BUYER_ID: &str = "2088102000000001";

pub(crate) fn not_exist() -> AliError {
    AliError::business(
        "ACQ.TRADE_NOT_EXIST",
        "交易不存在: no trade has been created for this out_trade_no / trade_no (a precreated QR code becomes a trade when scanned)",
    )
}

/// `5m`, `2h`, `1d` (1 minute to 15 days) or `1c` (until the end of today, Asia/Shanghai).
fn parse_timeout_express(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (n, unit) = text.split_at(text.char_indices().last()?.0);
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    let d = match unit {
        "m" => ChronoDuration::minutes(n),
        "h" => ChronoDuration::hours(n),
        "d" => ChronoDuration::days(n),
        "c" if n == 1 => {
            let today = now.with_timezone(&Shanghai).date_naive();
            let end = today.succ_opt()?.and_time(NaiveTime::MIN);
            return Some(
                Shanghai
                    .from_local_datetime(&end)
                    .single()?
                    .with_timezone(&Utc),
            );
        }
        _ => return None,
    };
    (d >= ChronoDuration::minutes(1) && d <= ChronoDuration::days(15)).then_some(now + d)
}

/// (trade_no, out_trade_no) of the call; one of them is required.
pub(crate) fn require_trade_ref(call: &Call) -> Result<(Option<String>, Option<String>), AliError> {
    let (trade_no, out_trade_no) = (call.biz("trade_no"), call.biz("out_trade_no"));
    if trade_no.is_none() && out_trade_no.is_none() {
        return Err(AliError::missing(
            "isv.missing-parameter",
            "缺少必选参数: biz_content.out_trade_no or biz_content.trade_no is required",
        ));
    }
    Ok((trade_no, out_trade_no))
}

pub(crate) fn precreate(state: &SandboxState, call: &Call) -> AliResult {
    let out_trade_no = call.require("out_trade_no")?;
    *lock(&state.alipay)
        .precreate_calls
        .entry(out_trade_no.clone())
        .or_default() += 1;
    if out_trade_no.len() > 64
        || !out_trade_no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(AliError::bad_param(
            "out_trade_no must be at most 64 letters, digits or underscores",
        ));
    }
    let amount_text = call.require("total_amount")?;
    let total = parse_alipay_amount(&amount_text).ok_or_else(|| {
        AliError::bad_param(format!(
            "total_amount must be yuan with at most 2 decimals, 0.01 to 100000000, got {amount_text:?}"
        ))
    })?;
    let subject = call.require("subject")?;
    if subject.chars().count() > 256 {
        return Err(AliError::bad_param(
            "subject must be at most 256 characters",
        ));
    }
    let now = clock::now();
    let deadline = match (call.biz("time_expire"), call.biz("timeout_express")) {
        (Some(t), _) => {
            let at = parse_shanghai(&t, "%Y-%m-%d %H:%M:%S").ok_or_else(|| {
                AliError::bad_param(format!(
                    "time_expire must be yyyy-MM-dd HH:mm:ss, got {t:?}"
                ))
            })?;
            if at <= now {
                return Err(AliError::bad_param(format!("time_expire {t} has passed")));
            }
            at
        }
        (None, Some(t)) => parse_timeout_express(&t, now).ok_or_else(|| {
            AliError::bad_param(format!(
                "timeout_express must be 1m to 15d (units m, h, d) or 1c, got {t:?}"
            ))
        })?,
        (None, None) => now + ChronoDuration::days(DEFAULT_TIMEOUT_DAYS),
    };
    let qr_expires = deadline.min(now + ChronoDuration::hours(QR_VALIDITY_HOURS));
    let notify_url = call.param("notify_url").map(str::to_owned);
    let request = (Value::Object(call.biz.clone()), notify_url.clone());
    let key = (call.grant()?.auth_app_id.clone(), out_trade_no.clone());

    let mut guard = lock(&state.alipay);
    let store = &mut *guard;
    if let Some(p) = store.trades.get_mut(&key) {
        p.calls += 1;
        p.expire(now);
        if let Some(t) = &p.trade {
            match t.status {
                TradeStatus::Success => {
                    return Err(AliError::business(
                        "ACQ.TRADE_HAS_SUCCESS",
                        "交易已被支付: the trade is paid",
                    ));
                }
                TradeStatus::Closed => {
                    return Err(AliError::business(
                        "ACQ.TRADE_HAS_CLOSE",
                        "交易已经关闭: the trade is closed",
                    ));
                }
                TradeStatus::WaitBuyerPay => {}
            }
        }
        if p.request != request {
            return Err(AliError::business(
                "ACQ.CONTEXT_INCONSISTENT",
                format!(
                    "交易信息被篡改: out_trade_no {out_trade_no} was precreated with other parameters"
                ),
            ));
        }
        if p.trade.is_none() && p.qr_expires <= now {
            // The old code has lapsed: the same trade asked again gets a fresh one.
            let token = state.ids.qr_token();
            p.qr_code = qr_url(&state.base_url, &token);
            p.qr_token = token.clone();
            p.qr_expires = qr_expires;
            store.by_qr.insert(token, key);
        }
        return Ok(precreate_reply(&out_trade_no, &p.qr_code));
    }
    let token = state.ids.qr_token();
    let qr_code = qr_url(&state.base_url, &token);
    store.by_qr.insert(token.clone(), key.clone());
    store.trades.insert(
        key,
        Precreate {
            app_id: call.app.app_id.clone(),
            auth_app_id: call.grant()?.auth_app_id.clone(),
            seller_id: call.grant()?.user_id.clone(),
            out_trade_no: out_trade_no.clone(),
            request,
            notify_url,
            total,
            subject,
            qr_token: token,
            qr_code: qr_code.clone(),
            qr_expires,
            deadline,
            calls: 1,
            trade: None,
        },
    );
    Ok(precreate_reply(&out_trade_no, &qr_code))
}

fn qr_url(base_url: &str, token: &str) -> String {
    format!("{base_url}/sandbox/cashier?qr={token}")
}

fn precreate_reply(out_trade_no: &str, qr_code: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("out_trade_no".into(), out_trade_no.into());
    m.insert("qr_code".into(), qr_code.into());
    m
}

pub(crate) fn buyer_logon_id(buyer_id: &str) -> String {
    let tail = buyer_id
        .get(buyer_id.len().saturating_sub(4)..)
        .unwrap_or("");
    format!("sbx***{tail}@sandbox.example")
}

pub(crate) fn query(state: &SandboxState, call: &Call) -> AliResult {
    let (trade_no, out_trade_no) = require_trade_ref(call)?;
    let now = clock::now();
    let mut store = lock(&state.alipay);
    let p = store
        .find_mut(
            &call.grant()?.auth_app_id,
            trade_no.as_deref(),
            out_trade_no.as_deref(),
        )
        .ok_or_else(not_exist)?;
    p.expire(now);
    let t = p.trade.as_ref().ok_or_else(not_exist)?;
    let mut m = Map::new();
    m.insert("trade_no".into(), t.trade_no.clone().into());
    m.insert("out_trade_no".into(), p.out_trade_no.clone().into());
    m.insert("buyer_logon_id".into(), buyer_logon_id(&t.buyer_id).into());
    m.insert("buyer_user_id".into(), t.buyer_id.clone().into());
    m.insert("trade_status".into(), t.status.as_str().into());
    m.insert("total_amount".into(), from_fen(p.total).into());
    if let Some(paid) = t.gmt_payment {
        let amount = from_fen(p.total);
        m.insert("receipt_amount".into(), amount.clone().into());
        m.insert("buyer_pay_amount".into(), amount.clone().into());
        m.insert("invoice_amount".into(), amount.clone().into());
        m.insert("point_amount".into(), "0.00".into());
        m.insert("send_pay_date".into(), clock::shanghai_seconds(paid).into());
        m.insert(
            "fund_bill_list".into(),
            serde_json::json!([{"amount": amount, "fund_channel": "ALIPAYACCOUNT"}]),
        );
    }
    Ok(m)
}

pub(crate) fn close(state: &SandboxState, call: &Call) -> AliResult {
    let (trade_no, out_trade_no) = require_trade_ref(call)?;
    let now = clock::now();
    let mut store = lock(&state.alipay);
    let p = store
        .find_mut(
            &call.grant()?.auth_app_id,
            trade_no.as_deref(),
            out_trade_no.as_deref(),
        )
        .ok_or_else(not_exist)?;
    p.expire(now);
    let out_trade_no = p.out_trade_no.clone();
    // Before a scan there is no trade to close; the QR code keeps working.
    let t = p.trade.as_mut().ok_or_else(not_exist)?;
    if t.status != TradeStatus::WaitBuyerPay {
        return Err(AliError::business(
            "ACQ.TRADE_STATUS_ERROR",
            format!(
                "交易状态不合法: only WAIT_BUYER_PAY can be closed, the trade is {}",
                t.status.as_str()
            ),
        ));
    }
    t.status = TradeStatus::Closed;
    t.gmt_close = Some(now);
    let mut m = Map::new();
    m.insert("trade_no".into(), t.trade_no.clone().into());
    m.insert("out_trade_no".into(), out_trade_no.into());
    Ok(m)
}

/// The token of a `qr_code`: the whole cashier URL or the bare token.
fn qr_token(qr: &str) -> String {
    url::Url::parse(qr)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "qr")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_else(|| qr.to_owned())
}

fn check_buyer(buyer_id: &str) -> Result<(), PayerError> {
    if buyer_id.len() == 16
        && buyer_id.starts_with("2088")
        && buyer_id.bytes().all(|b| b.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(PayerError::new(
            StatusCode::BAD_REQUEST,
            "buyer_id must be an Alipay user id: 16 digits starting 2088",
        ))
    }
}

/// The buyer scans: the trade comes into being (WAIT_BUYER_PAY) if the QR code is still valid.
fn scan_locked(
    state: &SandboxState,
    p: &mut Precreate,
    buyer_id: &str,
    now: DateTime<Utc>,
) -> Result<(), PayerError> {
    p.expire(now);
    match &mut p.trade {
        Some(t) if t.status == TradeStatus::WaitBuyerPay => {
            t.buyer_id = buyer_id.to_owned();
            Ok(())
        }
        Some(_) => Ok(()),
        None => {
            if p.qr_expires <= now {
                return Err(PayerError::new(
                    StatusCode::GONE,
                    "this QR code has expired",
                ));
            }
            p.trade = Some(Trade {
                trade_no: state.ids.alipay_trade_no(now),
                buyer_id: buyer_id.to_owned(),
                status: TradeStatus::WaitBuyerPay,
                gmt_create: now,
                gmt_payment: None,
                gmt_close: None,
                refunds: Vec::new(),
            });
            Ok(())
        }
    }
}

fn trade_json(p: &Precreate) -> Value {
    serde_json::json!({
        "out_trade_no": p.out_trade_no,
        "total_amount": from_fen(p.total),
        "subject": p.subject,
        "trade_no": p.trade.as_ref().map(|t| t.trade_no.clone()),
        "trade_status": p.trade.as_ref().map(|t| t.status.as_str()),
    })
}

/// Finds the precreate behind a QR code and scans it; the trade is then indexed by trade_no.
fn scanned<'a>(
    state: &SandboxState,
    store: &'a mut AlipayStore,
    qr: &str,
    buyer_id: &str,
    now: DateTime<Utc>,
) -> Result<&'a mut Precreate, PayerError> {
    let unknown = || PayerError::new(StatusCode::NOT_FOUND, "no precreate has this qr_code");
    let key = store
        .by_qr
        .get(&qr_token(qr))
        .cloned()
        .ok_or_else(unknown)?;
    let p = store.trades.get_mut(&key).ok_or_else(unknown)?;
    scan_locked(state, p, buyer_id, now)?;
    if let Some(t) = &p.trade {
        store.by_trade_no.insert(t.trade_no.clone(), key);
    }
    Ok(p)
}

/// Scans without paying (the trade then exists for query and close).
pub(crate) fn scan(state: &SandboxState, qr: &str, buyer_id: &str) -> Result<Value, PayerError> {
    check_buyer(buyer_id)?;
    let mut store = lock(&state.alipay);
    let p = scanned(state, &mut store, qr, buyer_id, clock::now())?;
    Ok(trade_json(p))
}

/// Scans and pays (SUCCESS) or gives up (FAIL → TRADE_CLOSED); the merchant is notified.
pub(crate) fn pay(
    state: &SandboxState,
    qr: &str,
    buyer_id: &str,
    success: bool,
) -> Result<Value, PayerError> {
    check_buyer(buyer_id)?;
    let now = clock::now();
    let mut guard = lock(&state.alipay);
    let p = scanned(state, &mut guard, qr, buyer_id, now)?;
    let Some(t) = p.trade.as_mut() else {
        return Err(PayerError::new(
            StatusCode::NOT_FOUND,
            "no trade for this qr_code",
        ));
    };
    match t.status {
        TradeStatus::Success => {
            return Err(PayerError::new(
                StatusCode::CONFLICT,
                "the trade is already paid",
            ));
        }
        TradeStatus::Closed => {
            return Err(PayerError::new(StatusCode::CONFLICT, "the trade is closed"));
        }
        TradeStatus::WaitBuyerPay => {}
    }
    if success {
        t.status = TradeStatus::Success;
        t.gmt_payment = Some(now);
    } else {
        t.status = TradeStatus::Closed;
        t.gmt_close = Some(now);
    }
    let answer = trade_json(p);
    let outgoing = notifies::trade(state, p, None, now);
    drop(guard);
    if let Some(outgoing) = outgoing {
        state
            .notifier
            .send(state.ids.notify_seq(), outgoing, state.faults.for_notify());
    }
    Ok(answer)
}

/// What the cashier page shows for a QR code, scanning it as the demo buyer.
pub(crate) fn cashier_view(state: &SandboxState, qr: &str) -> Result<Value, PayerError> {
    scan(state, qr, DEMO_BUYER_ID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_express_takes_minutes_hours_days_and_today() {
        let now = Utc.with_ymd_and_hms(2025, 6, 1, 4, 0, 0).unwrap();
        assert_eq!(
            parse_timeout_express("5m", now),
            Some(now + ChronoDuration::minutes(5))
        );
        assert_eq!(
            parse_timeout_express("2h", now),
            Some(now + ChronoDuration::hours(2))
        );
        assert_eq!(
            parse_timeout_express("15d", now),
            Some(now + ChronoDuration::days(15))
        );
        // 12:00 in Shanghai; the day ends at 16:00 UTC.
        assert_eq!(
            parse_timeout_express("1c", now),
            Some(Utc.with_ymd_and_hms(2025, 6, 1, 16, 0, 0).unwrap())
        );
        for bad in ["", "m", "0m", "16d", "5s", "2c", "-1h", "1.5h", "5分"] {
            assert_eq!(parse_timeout_express(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn qr_tokens_come_from_the_cashier_url_or_bare() {
        assert_eq!(
            qr_token("http://127.0.0.1:1/sandbox/cashier?qr=bax1"),
            "bax1"
        );
        assert_eq!(qr_token("bax2"), "bax2");
    }
}
