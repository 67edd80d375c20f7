//! Alipay's memory: precreated QR codes keyed by (auth_app_id, out_trade_no), each turning into a
//! trade once scanned, with its refunds; and the bill download tickets.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::app_auth::AppAuthStore;
use crate::state::{AlipayRefundView, AlipaySnapshot, AlipayTradeView};
use crate::yuan::from_fen;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TradeStatus {
    WaitBuyerPay,
    Success,
    Closed,
}

impl TradeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeStatus::WaitBuyerPay => "WAIT_BUYER_PAY",
            TradeStatus::Success => "TRADE_SUCCESS",
            TradeStatus::Closed => "TRADE_CLOSED",
        }
    }
}

#[derive(Debug)]
pub(crate) struct AliRefund {
    pub out_request_no: String,
    pub amount: i64,
    pub gmt_refund: DateTime<Utc>,
    pub requests: u32,
}

/// A scanned QR code: the trade the gateway knows about.
#[derive(Debug)]
pub(crate) struct Trade {
    pub trade_no: String,
    pub buyer_id: String,
    pub status: TradeStatus,
    pub gmt_create: DateTime<Utc>,
    pub gmt_payment: Option<DateTime<Utc>>,
    pub gmt_close: Option<DateTime<Utc>>,
    pub refunds: Vec<AliRefund>,
}

impl Trade {
    pub fn refunded(&self) -> i64 {
        self.refunds.iter().map(|r| r.amount).sum()
    }
}

#[derive(Debug)]
pub(crate) struct Precreate {
    pub app_id: String,
    pub auth_app_id: String,
    pub seller_id: String,
    pub out_trade_no: String,
    /// biz_content and notify_url as first asked: a second precreate must repeat them.
    pub request: (Value, Option<String>),
    pub notify_url: Option<String>,
    pub total: i64,
    pub subject: String,
    pub qr_token: String,
    pub qr_code: String,
    pub qr_expires: DateTime<Utc>,
    /// After this an unpaid scanned trade closes by itself.
    pub deadline: DateTime<Utc>,
    pub calls: u32,
    pub trade: Option<Trade>,
}

impl Precreate {
    /// Closes a scanned, unpaid trade whose time is up (Alipay does this on its own).
    pub fn expire(&mut self, now: DateTime<Utc>) {
        let deadline = self.deadline;
        if let Some(t) = &mut self.trade
            && t.status == TradeStatus::WaitBuyerPay
            && deadline <= now
        {
            t.status = TradeStatus::Closed;
            t.gmt_close = Some(deadline);
        }
    }
}

pub(crate) type TradeKey = (String, String);

/// A bill_download_url handed out: whose bill, which period, until when.
#[derive(Debug)]
pub(crate) struct BillTicket {
    pub user_id: String,
    /// `yyyy-MM-dd` or `yyyy-MM`.
    pub period: String,
    pub expires: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub(crate) struct AlipayStore {
    /// Third-party app authorization: codes, refresh tokens, retired tokens.
    pub auth: AppAuthStore,
    pub trades: HashMap<TradeKey, Precreate>,
    pub by_qr: HashMap<String, TradeKey>,
    pub by_trade_no: HashMap<String, TradeKey>,
    pub precreate_calls: BTreeMap<String, u32>,
    pub refund_requests: u64,
    pub refunds_made: u64,
    pub bills: HashMap<String, BillTicket>,
}

impl AlipayStore {
    /// The precreate named by trade_no (preferred) or out_trade_no, within one sub-merchant.
    pub fn find_mut(
        &mut self,
        auth_app_id: &str,
        trade_no: Option<&str>,
        out_trade_no: Option<&str>,
    ) -> Option<&mut Precreate> {
        let key = match (trade_no, out_trade_no) {
            (Some(t), _) => self.by_trade_no.get(t)?.clone(),
            (None, Some(o)) => (auth_app_id.to_owned(), o.to_owned()),
            (None, None) => return None,
        };
        if key.0 != auth_app_id {
            return None;
        }
        self.trades.get_mut(&key)
    }

    pub fn snapshot(&self) -> AlipaySnapshot {
        let mut trades: Vec<AlipayTradeView> = self
            .trades
            .values()
            .map(|p| AlipayTradeView {
                app_id: p.app_id.clone(),
                auth_app_id: p.auth_app_id.clone(),
                seller_id: p.seller_id.clone(),
                out_trade_no: p.out_trade_no.clone(),
                total_amount: from_fen(p.total),
                qr_code: p.qr_code.clone(),
                trade_no: p.trade.as_ref().map(|t| t.trade_no.clone()),
                trade_status: p.trade.as_ref().map(|t| t.status.as_str().to_owned()),
                precreate_calls: p.calls,
                refunds: p
                    .trade
                    .iter()
                    .flat_map(|t| &t.refunds)
                    .map(|r| AlipayRefundView {
                        out_request_no: r.out_request_no.clone(),
                        refund_amount: from_fen(r.amount),
                        requests: r.requests,
                    })
                    .collect(),
            })
            .collect();
        trades.sort_by(|a, b| a.out_trade_no.cmp(&b.out_trade_no));
        AlipaySnapshot {
            app_auth: self.auth.snapshot(),
            precreate_calls: self.precreate_calls.clone(),
            refund_requests: self.refund_requests,
            refunds_made: self.refunds_made,
            trades,
        }
    }
}
