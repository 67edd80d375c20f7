//! Trades and refunds in the console (issue 13):
//!
//! - `GET /admin/api/trades?from=&to=&mer_id=&status=&trade_type=&channel=&req_seq_id=&nkp_seq_id=&out_trade_no=&party_order_id=&page=&size=&format=`
//!   → `{"items": [trade…], "total", "page", "size"}`, newest first. `from`/`to`: days of
//!   creation, Asia/Shanghai, `yyyyMMdd`, both included; `status` `P`/`S`/`F`/`C`;
//!   `trade_type` `T_JSAPI`/`T_MINIAPP`/`A_NATIVE`; `channel` `wechat`/`alipay`;
//!   `out_trade_no` is the platform's number sent to the channel (= `nkp_seq_id`),
//!   `party_order_id` the channel's (WeChat `transaction_id`, Alipay `trade_no`); `page` from 1,
//!   `size` 1–200 (default 50), or `offset` and `limit` (1–200). `format=csv`: every matching trade (no page) as UTF-8 CSV
//!   with a header row, streamed.
//! - `GET /admin/api/trades/{nkp_seq_id}` → `{"trade", "refunds": [refund…], "refundable",
//!   "refundable_fen", "fee_amt", "fee_amt_fen", "timeline": [{"at", "kind", "summary", …}]}`,
//!   the timeline oldest first, `kind` one of `merchant_request`, `channel_call` (request and
//!   reply bodies), `channel_notify`, `refund_request`, `finalized`, `notification_queued`,
//!   `notification_attempt`.
//! - `POST /admin/api/trades/{nkp_seq_id}/refund` `{"request_id", "amount": "yuan",
//!   "reason"}` (`ord_amt` is read as `amount`) → 201 `{"refund", "created": true}` for a new refund, 200 with `"created":
//!   false` for a repeated `request_id` (the same refund). Through the merchant API's refund
//!   path; audited (`trade.refund`).
//! - `GET /admin/api/refunds?from=&to=&mer_id=&status=&channel=&req_seq_id=&nkp_seq_id=&org_nkp_seq_id=&page=&size=&format=`
//!   → the same envelope of refunds (`status` `P`/`S`/`F`), or CSV.
//!
//! Amounts are yuan texts as the merchant API writes them (`trans_amt: "1.00"`) with the fen
//! integer beside them (`trans_amt_fen: 100`); times RFC 3339 UTC with milliseconds. An agent
//! admin sees its own merchants' only: another's trade is 404. Refund: platform admin and
//! operator (finance, read-only and agent admins 403). Bad input: 400 `{"error", "field"}`.

use actix_web::{HttpResponse, web};
use nkpay_core::money::Money;
use nkpay_core::state::{RefundStatus, TradeStatus};
use nkpay_core::trade_type::{ChannelKind, TradeType};
use nkpay_engine::console::trades::{
    ConsoleRefund, RefundQuery, TimelineEntry, TimelineEvent, TradeQuery,
};
use nkpay_store::console_queries::{RefundFilter, TradeFilter};
use nkpay_store::entity::{refund, trade};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AdminActor;
use super::error::AdminError;
use super::listing::{Export, ListingError, ListingParams, list_or_export, parsed, refused, time};
use crate::ApiState;

/// The trade listing.
pub const TRADES: &str = "/admin/api/trades";
/// The refund listing.
pub const REFUNDS: &str = "/admin/api/refunds";

/// Mounts the trade and refund calls.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(TRADES)
            .app_data(super::error::json_config())
            .route("", web::get().to(list_trades))
            .route("/{nkp_seq_id}", web::get().to(trade_detail))
            .route("/{nkp_seq_id}/refund", web::post().to(refund_trade)),
    )
    .route(REFUNDS, web::get().to(list_refunds));
}

fn yuan(fen: i64) -> String {
    Money::yuan_of_fen(fen)
}

/// Sets `name` to the yuan text of `fen` (as the merchant API writes amounts) and
/// `name_fen` to the integer.
fn amount(v: &mut Value, name: &str, fen: i64) {
    v[name] = json!(yuan(fen));
    v[format!("{name}_fen")] = json!(fen);
}

/// A trade as the console shows it; each amount as yuan text (`trans_amt`) and fen
/// (`trans_amt_fen`).
pub fn trade_json(t: &trade::Model) -> Value {
    let mut v = json!({
        "nkp_seq_id": t.nkp_seq_id,
        "out_trade_no": t.nkp_seq_id,
        "sys_id": t.sys_id,
        "mer_id": t.mer_id,
        "req_date": t.req_date,
        "req_seq_id": t.req_seq_id,
        "trade_type": t.trade_type.as_str(),
        "channel": t.channel.as_str(),
        "channel_account_id": t.channel_account_id,
        "status": t.status.as_str(),
        "fee_rate_bp": t.fee_rate_bp,
        "goods_desc": t.goods_desc,
        "remark": t.remark,
        "party_order_id": t.party_order_id,
        "sub_mch_id": t.sub_mch_id,
        "buyer_id": t.buyer_id,
        "bank_code": t.bank_code,
        "bank_message": t.bank_message,
        "end_time": t.end_time.map(time),
        "created_at": time(t.created_at),
        "updated_at": time(t.updated_at),
    });
    amount(&mut v, "trans_amt", t.trans_amt);
    amount(&mut v, "fee_amt", t.fee_amt);
    amount(&mut v, "refunded_amt", t.refunded_amt);
    amount(&mut v, "refund_in_flight_amt", t.refund_in_flight_amt);
    v
}

/// A refund as the console shows it; amounts as yuan text and fen (`ord_amt`,
/// `ord_amt_fen`).
pub fn refund_json(r: &refund::Model) -> Value {
    let mut v = json!({
        "nkp_seq_id": r.nkp_seq_id,
        "org_nkp_seq_id": r.org_nkp_seq_id,
        "sys_id": r.sys_id,
        "mer_id": r.mer_id,
        "req_date": r.req_date,
        "req_seq_id": r.req_seq_id,
        "channel": r.channel.as_str(),
        "status": r.status.as_str(),
        "party_refund_id": r.party_refund_id,
        "remark": r.remark,
        "bank_code": r.bank_code,
        "bank_message": r.bank_message,
        "end_time": r.end_time.map(time),
        "created_at": time(r.created_at),
    });
    amount(&mut v, "ord_amt", r.ord_amt);
    amount(&mut v, "fee_amt", r.fee_amt);
    v
}

/// The trade CSV's columns, in order: fields of [`trade_json`].
const TRADE_CSV: &[&str] = &[
    "nkp_seq_id",
    "mer_id",
    "sys_id",
    "req_date",
    "req_seq_id",
    "trade_type",
    "channel",
    "status",
    "trans_amt",
    "trans_amt_fen",
    "fee_amt_fen",
    "refunded_amt_fen",
    "refund_in_flight_amt_fen",
    "party_order_id",
    "goods_desc",
    "remark",
    "bank_code",
    "bank_message",
    "end_time",
    "created_at",
];

/// The refund CSV's columns, in order: fields of [`refund_json`].
const REFUND_CSV: &[&str] = &[
    "nkp_seq_id",
    "org_nkp_seq_id",
    "mer_id",
    "sys_id",
    "req_date",
    "req_seq_id",
    "channel",
    "status",
    "ord_amt",
    "ord_amt_fen",
    "fee_amt_fen",
    "party_refund_id",
    "remark",
    "bank_code",
    "bank_message",
    "end_time",
    "created_at",
];

/// One timeline entry: `{"at", "kind", "summary", ...}` with the event's own fields.
fn timeline_json(e: &TimelineEntry) -> Value {
    let (kind, summary, mut v) = match &e.event {
        TimelineEvent::MerchantRequest {
            req_date,
            req_seq_id,
            first_response,
        } => (
            "merchant_request",
            format!("merchant request {req_date} {req_seq_id}"),
            json!({"req_date": req_date, "req_seq_id": req_seq_id, "detail": first_response}),
        ),
        TimelineEvent::RefundRequest {
            nkp_seq_id,
            req_seq_id,
            ord_amt,
        } => (
            "refund_request",
            format!(
                "refund {nkp_seq_id} of {} requested ({req_seq_id})",
                yuan(*ord_amt)
            ),
            json!({"nkp_seq_id": nkp_seq_id, "req_seq_id": req_seq_id,
                   "ord_amt": yuan(*ord_amt), "ord_amt_fen": ord_amt}),
        ),
        TimelineEvent::ChannelCall {
            nkp_seq_id,
            channel,
            call_name,
            request_body,
            reply_body,
            duration_ms,
            outcome,
        } => (
            "channel_call",
            format!("{channel} {call_name}: {outcome} ({duration_ms} ms)"),
            json!({"nkp_seq_id": nkp_seq_id, "channel": channel.as_str(), "call_name": call_name,
                   "request_body": request_body, "reply_body": reply_body,
                   "duration_ms": duration_ms, "outcome": outcome}),
        ),
        TimelineEvent::ChannelNotify {
            nkp_seq_id,
            channel,
            kind,
            body,
            verified,
            outcome,
            remote_addr,
        } => (
            "channel_notify",
            format!(
                "{channel} {kind} notify, {}: {}",
                if *verified {
                    "verified"
                } else {
                    "not verified"
                },
                outcome.as_deref().unwrap_or("-")
            ),
            json!({"nkp_seq_id": nkp_seq_id, "channel": channel.as_str(), "notify_kind": kind,
                   "body": body, "verified": verified, "outcome": outcome,
                   "remote_addr": remote_addr, "ok": verified}),
        ),
        TimelineEvent::Finalized { nkp_seq_id, status } => (
            "finalized",
            format!("{nkp_seq_id} final: {status}"),
            json!({"nkp_seq_id": nkp_seq_id, "status": status}),
        ),
        TimelineEvent::NotificationQueued {
            notification_id,
            kind,
            subject_nkp_seq_id,
            notify_url,
        } => (
            "notification_queued",
            format!("merchant notification #{notification_id} queued for {notify_url}"),
            json!({"notification_id": notification_id, "notification_kind": kind.as_str(),
                   "subject_nkp_seq_id": subject_nkp_seq_id, "notify_url": notify_url}),
        ),
        TimelineEvent::NotificationAttempt {
            notification_id,
            http_status,
            error,
            delivered,
            duration_ms,
        } => (
            "notification_attempt",
            format!(
                "merchant notification #{notification_id} attempt: {}{}",
                if *delivered {
                    "delivered"
                } else {
                    "not delivered"
                },
                match (http_status, error) {
                    (_, Some(e)) => format!(" ({e})"),
                    (Some(s), None) => format!(" (HTTP {s})"),
                    (None, None) => String::new(),
                }
            ),
            json!({"notification_id": notification_id, "http_status": http_status,
                   "error": error, "delivered": delivered, "duration_ms": duration_ms,
                   "ok": delivered}),
        ),
    };
    v["at"] = json!(time(e.at));
    v["kind"] = json!(kind);
    v["summary"] = json!(summary);
    v
}

#[derive(Debug, Deserialize)]
struct TradeParams {
    #[serde(flatten)]
    listing: ListingParams,
    mer_id: Option<String>,
    status: Option<String>,
    trade_type: Option<String>,
    channel: Option<String>,
    req_seq_id: Option<String>,
    nkp_seq_id: Option<String>,
    out_trade_no: Option<String>,
    party_order_id: Option<String>,
}

impl TradeParams {
    fn query(&self) -> Result<TradeQuery, ListingError> {
        let nkp_seq_id = match (&self.nkp_seq_id, &self.out_trade_no) {
            (Some(a), Some(b)) if a != b => {
                return Err(refused(
                    "out_trade_no",
                    "is the nkp_seq_id sent to the channel; give one of the two, or the same",
                ));
            }
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        Ok(TradeQuery {
            days: self.listing.days()?,
            filter: TradeFilter {
                mer_id: self.mer_id.clone(),
                status: parsed::<TradeStatus>(
                    "status",
                    self.status.as_deref(),
                    "must be P, S, F or C",
                )?,
                trade_type: parsed::<TradeType>(
                    "trade_type",
                    self.trade_type.as_deref(),
                    "must be T_JSAPI, T_MINIAPP or A_NATIVE",
                )?,
                channel: parsed::<ChannelKind>(
                    "channel",
                    self.channel.as_deref(),
                    "must be wechat or alipay",
                )?,
                req_seq_id: self.req_seq_id.clone(),
                nkp_seq_id,
                party_order_id: self.party_order_id.clone(),
                ..TradeFilter::default()
            },
        })
    }
}

async fn list_trades(
    state: web::Data<ApiState>,
    actor: AdminActor,
    params: web::Query<TradeParams>,
) -> Result<HttpResponse, ListingError> {
    let q = params.query()?;
    let console = state.engine.console().clone();
    let by = actor.0;
    let export = Export {
        filename: "trades.csv",
        header: TRADE_CSV,
        view: trade_json,
        id: |t| t.id,
    };
    let (c, b, qq) = (console.clone(), by.clone(), q.clone());
    list_or_export(
        &params.listing,
        export,
        |page| async move { c.trades(&b, &qq, page).await },
        move |before, limit| {
            let (console, by, q) = (console.clone(), by.clone(), q.clone());
            async move { console.trades_before(&by, &q, before, limit).await }
        },
    )
    .await
}

async fn trade_detail(
    state: web::Data<ApiState>,
    actor: AdminActor,
    id: web::Path<String>,
) -> Result<HttpResponse, ListingError> {
    let id = id.into_inner();
    let d = state
        .engine
        .console()
        .trade_detail(&actor.0, &id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("trade {id}")))?;
    Ok(HttpResponse::Ok().json(json!({
        "trade": trade_json(&d.trade),
        "refunds": d.refunds.iter().map(refund_json).collect::<Vec<_>>(),
        "refundable": yuan(d.refundable),
        "refundable_fen": d.refundable,
        "fee_amt": yuan(d.trade.fee_amt),
        "fee_amt_fen": d.trade.fee_amt,
        "timeline": d.timeline.iter().map(timeline_json).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
struct RefundBody {
    request_id: Option<String>,
    #[serde(alias = "ord_amt")]
    amount: Option<String>,
    reason: Option<String>,
}

async fn refund_trade(
    state: web::Data<ApiState>,
    actor: AdminActor,
    id: web::Path<String>,
    body: web::Json<RefundBody>,
) -> Result<HttpResponse, ListingError> {
    let id = id.into_inner();
    let body = body.into_inner();
    let request_id = body.request_id.ok_or_else(|| {
        refused(
            "request_id",
            "is required: your id of this refund request; repeat it to retry safely",
        )
    })?;
    let amount = body
        .amount
        .ok_or_else(|| refused("amount", "is required: yuan with two decimals, e.g. 1.00"))?;
    let amount = Money::parse_yuan(&amount).map_err(|e| {
        refused(
            "amount",
            format!("must be yuan with two decimals, at least 0.01: {e}"),
        )
    })?;
    let reason = body.reason.filter(|r| !r.trim().is_empty());
    let out = state
        .engine
        .console()
        .refund(
            &actor.0,
            &id,
            ConsoleRefund {
                request_id,
                amount,
                reason,
            },
        )
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("trade {id}")))?;
    let mut reply = if out.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(reply.json(json!({"refund": refund_json(&out.refund), "created": out.created})))
}

#[derive(Debug, Deserialize)]
struct RefundParams {
    #[serde(flatten)]
    listing: ListingParams,
    mer_id: Option<String>,
    status: Option<String>,
    channel: Option<String>,
    req_seq_id: Option<String>,
    nkp_seq_id: Option<String>,
    org_nkp_seq_id: Option<String>,
}

impl RefundParams {
    fn query(&self) -> Result<RefundQuery, ListingError> {
        Ok(RefundQuery {
            days: self.listing.days()?,
            filter: RefundFilter {
                mer_id: self.mer_id.clone(),
                status: parsed::<RefundStatus>(
                    "status",
                    self.status.as_deref(),
                    "must be P, S or F",
                )?,
                channel: parsed::<ChannelKind>(
                    "channel",
                    self.channel.as_deref(),
                    "must be wechat or alipay",
                )?,
                req_seq_id: self.req_seq_id.clone(),
                nkp_seq_id: self.nkp_seq_id.clone(),
                org_nkp_seq_id: self.org_nkp_seq_id.clone(),
                ..RefundFilter::default()
            },
        })
    }
}

async fn list_refunds(
    state: web::Data<ApiState>,
    actor: AdminActor,
    params: web::Query<RefundParams>,
) -> Result<HttpResponse, ListingError> {
    let q = params.query()?;
    let console = state.engine.console().clone();
    let by = actor.0;
    let export = Export {
        filename: "refunds.csv",
        header: REFUND_CSV,
        view: refund_json,
        id: |r| r.id,
    };
    let (c, b, qq) = (console.clone(), by.clone(), q.clone());
    list_or_export(
        &params.listing,
        export,
        |page| async move { c.refunds(&b, &qq, page).await },
        move |before, limit| {
            let (console, by, q) = (console.clone(), by.clone(), q.clone());
            async move { console.refunds_before(&by, &q, before, limit).await }
        },
    )
    .await
}
