//! Trades and refunds as the console reads them, a trade's timeline, and the operator's
//! refund.
//!
//! The refund goes through [`Refunds::create`], the merchant API's own path (reservation,
//! channel call, finalize, merchant notification), as the merchant's service provider would
//! call it, under the request number `OPR` + the operator's `request_id` (request date: the
//! Asia/Shanghai day of the first attempt). The same `request_id` on the same trade therefore
//! answers the first refund again, on any later day; a new refund is audited
//! (`trade.refund`).

use chrono::{DateTime, NaiveDate, Utc};
use nkpay_core::money::Money;
use nkpay_core::resp_code::RespCode;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::console_queries::{self, RefundFilter, TradeFilter};
use nkpay_store::entity::{refund, trade};
use nkpay_store::kinds::NotificationKind;
use nkpay_store::{channel_records, merchants, notifications, refunds, trades};
use sha2::{Digest, Sha256};

use super::{Console, Page, PageRequest, agent_scope, require};
use crate::admin_identity::{Actor, Permission, audit};
use crate::callers::Callers;
use crate::error::EngineError;
use crate::refunds::{CreateRefund, RefundedTrade, Refunds};
use crate::request::{OriginalKey, RequestId, WriteRequest};
use crate::shanghai_time;

/// The prefix of a console refund's request number (`req_seq_id`).
pub const OPERATOR_REQ_PREFIX: &str = "OPR";
/// The longest operator `request_id` (the request number holds 64 characters).
pub const MAX_REQUEST_ID_CHARS: usize = 64 - OPERATOR_REQ_PREFIX.len();
/// The longest refund reason (it becomes the refund's `remark`).
pub const MAX_REASON_CHARS: usize = 255;

/// UTC bounds, either open: at or after the first, before the second.
pub type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// One end of a listing's time range: an Asia/Shanghai day (included whole) or an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// A day: from its 00:00 as a start, to the end of it as an end.
    Day(NaiveDate),
    /// An instant: included as a start, excluded as an end.
    Instant(DateTime<Utc>),
}

/// Days (or instants) of creation: from the start of `from` to the end of `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayRange {
    /// The first day, or the first instant.
    pub from: Option<Bound>,
    /// The last day, or the instant before which rows end.
    pub to: Option<Bound>,
}

impl DayRange {
    /// The UTC bounds `[start, end)`; [`EngineError::Invalid`] naming `to` when it does not
    /// end after `from` starts (a day before `from`, an instant at or before it).
    pub fn bounds(self) -> Result<Bounds, EngineError> {
        let from = self.from.map(|b| match b {
            Bound::Day(d) => crate::statements::day_bounds(d).0,
            Bound::Instant(t) => t,
        });
        let to = self.to.map(|b| match b {
            Bound::Day(d) => crate::statements::day_bounds(d).1,
            Bound::Instant(t) => t,
        });
        if let (Some(from), Some(to)) = (from, to)
            && to <= from
        {
            return Err(EngineError::invalid("to", "must end after from starts"));
        }
        Ok((from, to))
    }
}

/// What a trade listing asks for (the agent admin's scope is added by the call).
#[derive(Debug, Clone, Default)]
pub struct TradeQuery {
    /// Days of creation.
    pub days: DayRange,
    /// The rest of the filter (`created_*`, `sys_id` and `before_id` are set by the call).
    pub filter: TradeFilter,
}

/// What a refund listing asks for.
#[derive(Debug, Clone, Default)]
pub struct RefundQuery {
    /// Days of creation.
    pub days: DayRange,
    /// The rest of the filter (`created_*`, `sys_id` and `before_id` are set by the call).
    pub filter: RefundFilter,
}

/// A trade as the console's detail page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeDetail {
    /// The trade row (fee and amounts in fen).
    pub trade: trade::Model,
    /// Its refunds, oldest first.
    pub refunds: Vec<refund::Model>,
    /// Fen still refundable: `trans_amt` − succeeded − in-flight refunds (0 unless paid).
    pub refundable: i64,
    /// What happened to it, oldest first.
    pub timeline: Vec<TimelineEntry>,
}

/// One event of a trade's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// What.
    pub event: TimelineEvent,
}

/// The kinds of events on a trade's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimelineEvent {
    /// The merchant's jspay request as stored, and the first answer it was given.
    MerchantRequest {
        /// `req_date`, `yyyyMMdd`.
        req_date: String,
        /// `req_seq_id`.
        req_seq_id: String,
        /// The first answer (JSON), when recorded.
        first_response: Option<String>,
    },
    /// A refund request (from the merchant API, the console or reconciliation).
    RefundRequest {
        /// The refund's number.
        nkp_seq_id: String,
        /// Its `req_seq_id` (`OPR…` from the console, `RECON…` from reconciliation).
        req_seq_id: String,
        /// Fen.
        ord_amt: i64,
    },
    /// A call to the channel about the trade or one of its refunds, with its reply.
    ChannelCall {
        /// The trade's or the refund's number.
        nkp_seq_id: String,
        /// The channel.
        channel: ChannelKind,
        /// The call (`unifiedorder`, `alipay.trade.refund`, …).
        call_name: String,
        /// What was sent (secrets masked by the connector).
        request_body: String,
        /// What came back, if anything.
        reply_body: Option<String>,
        /// How long the call took.
        duration_ms: i64,
        /// Transport result and what was made of it.
        outcome: String,
    },
    /// A notify the channel sent about the trade or one of its refunds.
    ChannelNotify {
        /// The trade's or the refund's number.
        nkp_seq_id: String,
        /// The channel.
        channel: ChannelKind,
        /// `pay` / `refund`.
        kind: String,
        /// The raw body.
        body: String,
        /// Whether its signature verified.
        verified: bool,
        /// What was done with it.
        outcome: Option<String>,
        /// Who sent it.
        remote_addr: Option<String>,
    },
    /// A trade or refund reached its final state, at the channel's end time (which the
    /// channel writes in whole seconds: never placed before the request itself).
    Finalized {
        /// The trade's or the refund's number.
        nkp_seq_id: String,
        /// `S`, `F` or `C`.
        status: String,
    },
    /// A merchant notification was queued.
    NotificationQueued {
        /// The notification's id.
        notification_id: i64,
        /// `trade` / `refund`.
        kind: NotificationKind,
        /// What it is about.
        subject_nkp_seq_id: String,
        /// Where it goes.
        notify_url: String,
    },
    /// One delivery attempt of a merchant notification.
    NotificationAttempt {
        /// The notification's id.
        notification_id: i64,
        /// The HTTP status the merchant answered, if it answered.
        http_status: Option<i32>,
        /// Why it failed, when it did.
        error: Option<String>,
        /// Whether the merchant acknowledged it.
        delivered: bool,
        /// How long it took.
        duration_ms: i64,
    },
}

/// A refund asked for in the console.
#[derive(Debug, Clone)]
pub struct ConsoleRefund {
    /// The client's id of this refund request: the same id on the same trade is the same
    /// refund. 1 to [`MAX_REQUEST_ID_CHARS`] of `0-9 A-Z a-z _ -`.
    pub request_id: String,
    /// The amount to refund.
    pub amount: Money,
    /// Why (the refund's remark), at most [`MAX_REASON_CHARS`] characters.
    pub reason: Option<String>,
}

/// What a console refund answers: the refund as it stands and whether this call made it
/// (`false`: an earlier call with the same `request_id` did).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleRefundOutcome {
    /// The refund row.
    pub refund: refund::Model,
    /// Made now, not replayed.
    pub created: bool,
}

impl Console {
    /// Trades matching `q`, newest first, one page and the total. Agent admins see their own
    /// merchants' only.
    pub async fn trades(
        &self,
        by: &Actor,
        q: &TradeQuery,
        page: PageRequest,
    ) -> Result<Page<trade::Model>, EngineError> {
        let filter = self.trade_filter(by, q)?;
        let conn = self.db.conn();
        let items = console_queries::list_trades(conn, &filter, page.window()).await?;
        let total = console_queries::count_trades(conn, &filter).await?;
        Ok(Page { items, total, page })
    }

    /// Up to `limit` trades matching `q` with ids below `before_id` (`None`: from the newest),
    /// newest first: the pages of a CSV export.
    pub async fn trades_before(
        &self,
        by: &Actor,
        q: &TradeQuery,
        before_id: Option<i64>,
        limit: u64,
    ) -> Result<Vec<trade::Model>, EngineError> {
        let mut filter = self.trade_filter(by, q)?;
        filter.before_id = before_id;
        let window = console_queries::Window { offset: 0, limit };
        Ok(console_queries::list_trades(self.db.conn(), &filter, window).await?)
    }

    fn trade_filter(&self, by: &Actor, q: &TradeQuery) -> Result<TradeFilter, EngineError> {
        require(by, Permission::ReadTrades)?;
        let (from, to) = q.days.bounds()?;
        Ok(TradeFilter {
            created_from: from,
            created_to: to,
            sys_id: agent_scope(by)?,
            before_id: None,
            ..q.filter.clone()
        })
    }

    /// Refunds matching `q`, newest first, one page and the total. Agent admins see their own
    /// merchants' only.
    pub async fn refunds(
        &self,
        by: &Actor,
        q: &RefundQuery,
        page: PageRequest,
    ) -> Result<Page<refund::Model>, EngineError> {
        let filter = self.refund_filter(by, q)?;
        let conn = self.db.conn();
        let items = console_queries::list_refunds(conn, &filter, page.window()).await?;
        let total = console_queries::count_refunds(conn, &filter).await?;
        Ok(Page { items, total, page })
    }

    /// Up to `limit` refunds matching `q` with ids below `before_id`, newest first: the pages
    /// of a CSV export.
    pub async fn refunds_before(
        &self,
        by: &Actor,
        q: &RefundQuery,
        before_id: Option<i64>,
        limit: u64,
    ) -> Result<Vec<refund::Model>, EngineError> {
        let mut filter = self.refund_filter(by, q)?;
        filter.before_id = before_id;
        let window = console_queries::Window { offset: 0, limit };
        Ok(console_queries::list_refunds(self.db.conn(), &filter, window).await?)
    }

    fn refund_filter(&self, by: &Actor, q: &RefundQuery) -> Result<RefundFilter, EngineError> {
        require(by, Permission::ReadTrades)?;
        let (from, to) = q.days.bounds()?;
        Ok(RefundFilter {
            created_from: from,
            created_to: to,
            sys_id: agent_scope(by)?,
            before_id: None,
            ..q.filter.clone()
        })
    }

    /// The trade `nkp_seq_id` the actor may see: `None` when there is none, or it belongs to
    /// a merchant of another service provider than an agent admin's.
    async fn visible_trade(
        &self,
        by: &Actor,
        nkp_seq_id: &str,
    ) -> Result<Option<trade::Model>, EngineError> {
        let conn = self.db.conn();
        let Some(t) = trades::find_by_nkp_seq_id(conn, nkp_seq_id).await? else {
            return Ok(None);
        };
        if let Some(sys_id) = agent_scope(by)? {
            let mine = merchants::find_merchant(conn, &t.mer_id)
                .await?
                .is_some_and(|m| m.sys_id == sys_id);
            if !mine {
                return Ok(None);
            }
        }
        Ok(Some(t))
    }

    /// The trade `nkp_seq_id` with its refunds, refundable amount and timeline; `None` when
    /// the actor may not see it or there is none.
    pub async fn trade_detail(
        &self,
        by: &Actor,
        nkp_seq_id: &str,
    ) -> Result<Option<TradeDetail>, EngineError> {
        require(by, Permission::ReadTrades)?;
        let Some(t) = self.visible_trade(by, nkp_seq_id).await? else {
            return Ok(None);
        };
        let conn = self.db.conn();
        let refund_rows = refunds::list_for_trade(conn, &t.nkp_seq_id).await?;
        let mut timeline = vec![TimelineEntry {
            at: t.created_at,
            event: TimelineEvent::MerchantRequest {
                req_date: t.req_date.clone(),
                req_seq_id: t.req_seq_id.clone(),
                first_response: t.first_response.clone(),
            },
        }];
        if let Some(end) = t.end_time.filter(|_| t.status.is_final()) {
            timeline.push(TimelineEntry {
                at: end.max(t.created_at),
                event: TimelineEvent::Finalized {
                    nkp_seq_id: t.nkp_seq_id.clone(),
                    status: t.status.as_str().to_owned(),
                },
            });
        }
        let mut subjects = vec![(NotificationKind::Trade, t.nkp_seq_id.clone())];
        for r in &refund_rows {
            timeline.push(TimelineEntry {
                at: r.created_at,
                event: TimelineEvent::RefundRequest {
                    nkp_seq_id: r.nkp_seq_id.clone(),
                    req_seq_id: r.req_seq_id.clone(),
                    ord_amt: r.ord_amt,
                },
            });
            if let Some(end) = r.end_time.filter(|_| r.status.is_final()) {
                timeline.push(TimelineEntry {
                    at: end.max(r.created_at),
                    event: TimelineEvent::Finalized {
                        nkp_seq_id: r.nkp_seq_id.clone(),
                        status: r.status.as_str().to_owned(),
                    },
                });
            }
            subjects.push((NotificationKind::Refund, r.nkp_seq_id.clone()));
        }
        for (kind, id) in &subjects {
            self.channel_events(id, &mut timeline).await?;
            for n in notifications::list_for_subject(conn, *kind, id).await? {
                timeline.push(TimelineEntry {
                    at: n.created_at,
                    event: TimelineEvent::NotificationQueued {
                        notification_id: n.id,
                        kind: n.kind,
                        subject_nkp_seq_id: n.subject_nkp_seq_id.clone(),
                        notify_url: n.notify_url.clone(),
                    },
                });
                for a in notifications::list_attempts(conn, n.id).await? {
                    timeline.push(TimelineEntry {
                        at: a.started_at,
                        event: TimelineEvent::NotificationAttempt {
                            notification_id: n.id,
                            http_status: a.http_status,
                            error: a.error,
                            delivered: a.delivered,
                            duration_ms: a.duration_ms,
                        },
                    });
                }
            }
        }
        // Stable: events of the same instant keep the order they were gathered in.
        timeline.sort_by_key(|e| e.at);
        Ok(Some(TradeDetail {
            refundable: refundable(&t),
            trade: t,
            refunds: refund_rows,
            timeline,
        }))
    }

    /// The channel calls and notifies recorded under `nkp_seq_id`, onto `timeline`.
    async fn channel_events(
        &self,
        nkp_seq_id: &str,
        timeline: &mut Vec<TimelineEntry>,
    ) -> Result<(), EngineError> {
        // The history's writer may still hold this node's latest calls (exchange_log.rs).
        self.flush_channel_history().await;
        let conn = self.db.conn();
        for x in channel_records::list_exchanges_for(conn, nkp_seq_id).await? {
            timeline.push(TimelineEntry {
                at: x.created_at,
                event: TimelineEvent::ChannelCall {
                    nkp_seq_id: nkp_seq_id.to_owned(),
                    channel: x.channel,
                    call_name: x.call_name,
                    request_body: x.request_body,
                    reply_body: x.reply_body,
                    duration_ms: x.duration_ms,
                    outcome: x.outcome,
                },
            });
        }
        for m in channel_records::list_inbound_for(conn, nkp_seq_id).await? {
            timeline.push(TimelineEntry {
                at: m.received_at,
                event: TimelineEvent::ChannelNotify {
                    nkp_seq_id: nkp_seq_id.to_owned(),
                    channel: m.channel,
                    kind: m.kind,
                    body: m.body,
                    verified: m.verified,
                    outcome: m.outcome,
                    remote_addr: m.remote_addr,
                },
            });
        }
        Ok(())
    }

    /// Refunds `amount` of trade `nkp_seq_id` through [`Refunds::create`] (see the module
    /// docs), as the trade's merchant's service provider. `Ok(None)` when the actor may not see
    /// the trade or there is none. Refusals name the field: `request_id` (form, or reused with
    /// other content), `reason` (too long), `amount` (more than is left to refund),
    /// `nkp_seq_id` (the trade is not paid, or its merchant or provider is not active).
    /// [`EngineError::Forbidden`] for finance and read-only.
    pub async fn refund(
        &self,
        by: &Actor,
        nkp_seq_id: &str,
        cmd: ConsoleRefund,
    ) -> Result<Option<ConsoleRefundOutcome>, EngineError> {
        require(by, Permission::Refund)?;
        check_request_id(&cmd.request_id)?;
        if let Some(reason) = &cmd.reason
            && reason.chars().count() > MAX_REASON_CHARS
        {
            return Err(EngineError::invalid(
                "reason",
                format!("must be at most {MAX_REASON_CHARS} characters"),
            ));
        }
        let Some(t) = self.visible_trade(by, nkp_seq_id).await? else {
            return Ok(None);
        };
        let conn = self.db.conn();
        let req_seq_id = format!("{OPERATOR_REQ_PREFIX}{}", cmd.request_id);
        let earlier =
            console_queries::find_refund_of_trade_by_req_seq_id(conn, &t.nkp_seq_id, &req_seq_id)
                .await?;
        let req_date = match &earlier {
            Some(r) => shanghai_time::parse_date(&r.req_date).ok_or_else(|| {
                EngineError::Internal(format!(
                    "refund {} has req_date {}",
                    r.nkp_seq_id, r.req_date
                ))
            })?,
            None => shanghai_time::date_of(chrono::Utc::now()),
        };
        let scope = self.merchant_scope(&t).await?;
        let content_hash = hex::encode(Sha256::digest(
            format!(
                "console-refund\n{}\n{}\n{}",
                t.nkp_seq_id,
                cmd.amount.fen(),
                cmd.reason.as_deref().unwrap_or_default()
            )
            .as_bytes(),
        ));
        let create = CreateRefund {
            request: WriteRequest {
                id: RequestId {
                    req_date,
                    req_seq_id,
                },
                content_hash,
            },
            trade: RefundedTrade::Org(OriginalKey::Nkp {
                nkp_seq_id: t.nkp_seq_id.clone(),
                req_date: None,
            }),
            ord_amt: cmd.amount,
            notify_url: t.notify_url.clone(),
            remark: cmd.reason.clone(),
        };
        let answer = Refunds::new(self.ctx.clone())
            .create(&scope, create)
            .await
            .map_err(console_refusal)?;
        let r = refunds::find_by_nkp_seq_id(conn, &answer.refund.nkp_seq_id)
            .await?
            .ok_or_else(|| {
                EngineError::Internal(format!("refund {} vanished", answer.refund.nkp_seq_id))
            })?;
        let created = earlier.is_none();
        if created {
            audit(
                conn,
                by,
                "trade.refund",
                &format!("trade:{}", t.nkp_seq_id),
                serde_json::json!({
                    "before": {"refunded_amt": t.refunded_amt, "refund_in_flight_amt": t.refund_in_flight_amt},
                    "after": {"refund": r.nkp_seq_id, "ord_amt": r.ord_amt, "status": r.status.as_str()},
                    "request_id": cmd.request_id,
                    "reason": cmd.reason,
                }),
                chrono::Utc::now(),
            )
            .await?;
        }
        Ok(Some(ConsoleRefundOutcome { refund: r, created }))
    }

    /// The trade's merchant as its service provider acts for it: the same proof of caller and
    /// merchant the merchant API requires (`nkp_seq_id` refused when either is not active).
    async fn merchant_scope(&self, t: &trade::Model) -> Result<crate::callers::Scope, EngineError> {
        let conn = self.db.conn();
        let inactive = |why: String| EngineError::invalid("nkp_seq_id", why);
        let merchant = merchants::find_merchant(conn, &t.mer_id)
            .await?
            .ok_or_else(|| inactive(format!("the trade's merchant {} is gone", t.mer_id)))?;
        let sp = merchants::find_service_provider(conn, &merchant.sys_id)
            .await?
            .ok_or_else(|| {
                inactive(format!(
                    "the merchant's service provider {} is gone",
                    merchant.sys_id
                ))
            })?;
        let callers = Callers::new(self.ctx.clone());
        let caller = callers
            .authenticate(&sp.sys_id, &sp.product_id)
            .await
            .map_err(|e| inactive(format!("service provider {}: {e}", sp.sys_id)))?;
        callers
            .authorize(&caller, &t.mer_id)
            .await
            .map_err(|e| inactive(format!("merchant {}: {e}", t.mer_id)))
    }
}

/// Fen still refundable on `t`: nothing unless it is paid.
pub fn refundable(t: &trade::Model) -> i64 {
    if t.status != nkpay_core::state::TradeStatus::Succeeded {
        return 0;
    }
    (t.trans_amt - t.refunded_amt - t.refund_in_flight_amt).max(0)
}

fn check_request_id(id: &str) -> Result<(), EngineError> {
    let ok = (1..=MAX_REQUEST_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(EngineError::invalid(
            "request_id",
            format!("must be 1 to {MAX_REQUEST_ID_CHARS} characters of 0-9 A-Z a-z _ -"),
        ))
    }
}

/// The merchant API's refusals of a refund, as the console's fields.
fn console_refusal(e: EngineError) -> EngineError {
    match e {
        EngineError::Refused { code, desc } => {
            let field = match code {
                RespCode::RefundExceedsRefundable => "amount",
                RespCode::DuplicateRequest => "request_id",
                _ => "nkp_seq_id",
            };
            EngineError::invalid(field, desc)
        }
        other => other,
    }
}
