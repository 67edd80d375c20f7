//! WeChat Pay's memory: orders keyed by (mch_id, sub_mch_id, out_trade_no), their refunds, and
//! the indexes the API looks them up by.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::{DateTime, Utc};
use nkpay_crypto::wechat_sign::WechatSignType;

use crate::state::{SubDevConfigView, WechatOrderView, WechatRefundView, WechatSnapshot};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TradeState {
    NotPay,
    Success,
    Refund,
    Closed,
    PayError,
}

impl TradeState {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeState::NotPay => "NOTPAY",
            TradeState::Success => "SUCCESS",
            TradeState::Refund => "REFUND",
            TradeState::Closed => "CLOSED",
            TradeState::PayError => "PAYERROR",
        }
    }

    pub fn desc(self) -> &'static str {
        match self {
            TradeState::NotPay => "未支付",
            TradeState::Success => "支付成功",
            TradeState::Refund => "转入退款",
            TradeState::Closed => "已关闭",
            TradeState::PayError => "支付失败",
        }
    }

    pub fn is_paid(self) -> bool {
        matches!(self, TradeState::Success | TradeState::Refund)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefundStatus {
    Processing,
    Success,
    Change,
    RefundClose,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Processing => "PROCESSING",
            RefundStatus::Success => "SUCCESS",
            RefundStatus::Change => "CHANGE",
            RefundStatus::RefundClose => "REFUNDCLOSE",
        }
    }
}

pub(crate) type OrderKey = (String, String, String);

#[derive(Debug)]
pub(crate) struct Refund {
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_fee: i64,
    pub status: RefundStatus,
    pub created_at: DateTime<Utc>,
    pub success_time: Option<DateTime<Utc>>,
    pub notify_url: Option<String>,
    pub requests: u32,
}

#[derive(Debug)]
pub(crate) struct Order {
    pub mch_id: String,
    pub sub_mch_id: String,
    pub out_trade_no: String,
    /// The request fields that define the order (all but nonce_str and sign): a second
    /// unifiedorder must repeat them exactly.
    pub params: BTreeMap<String, String>,
    pub sub_appid: Option<String>,
    pub openid: Option<String>,
    pub sub_openid: Option<String>,
    pub body: String,
    pub attach: Option<String>,
    pub total_fee: i64,
    pub notify_url: String,
    pub sign_type: WechatSignType,
    pub time_expire: Option<DateTime<Utc>>,
    pub created: Instant,
    pub prepay_id: String,
    pub prepay_expires: DateTime<Utc>,
    pub state: TradeState,
    pub transaction_id: Option<String>,
    pub time_end: Option<DateTime<Utc>>,
    pub refunds: Vec<Refund>,
    pub unifiedorder_calls: u32,
}

impl Order {
    /// What is still refundable: refunds that were closed gave their amount back.
    pub fn refundable(&self) -> i64 {
        let taken: i64 = self
            .refunds
            .iter()
            .filter(|r| r.status != RefundStatus::RefundClose)
            .map(|r| r.refund_fee)
            .sum();
        self.total_fee - taken
    }

    /// The payer's openid under the service provider's appid (notifies always carry one).
    pub fn sp_openid(&self) -> String {
        match (&self.openid, &self.sub_openid) {
            (Some(o), _) => o.clone(),
            (None, Some(sub)) => format!("oSp{sub}"),
            (None, None) => String::new(),
        }
    }
}

/// A sub-merchant's development configuration (JSAPI payment directories; its appids live with
/// the accounts) and the calls that changed it.
#[derive(Debug, Default, Clone)]
pub(crate) struct SubDevConfig {
    pub jsapi_paths: Vec<String>,
    /// Appids bound through addsubdevconfig, in order.
    pub bound_appids: Vec<String>,
    /// addsubdevconfig calls that passed the gate, accepted or not.
    pub add_calls: u32,
    /// querysubdevconfig calls that passed the gate.
    pub query_calls: u32,
}

#[derive(Debug, Default)]
pub(crate) struct WechatStore {
    /// Keyed by sub_mch_id.
    pub sub_dev_configs: BTreeMap<String, SubDevConfig>,
    pub orders: HashMap<OrderKey, Order>,
    pub by_prepay: HashMap<String, OrderKey>,
    pub by_transaction: HashMap<String, OrderKey>,
    pub unifiedorder_calls: BTreeMap<String, u32>,
    pub refund_requests: u64,
    pub refunds_made: u64,
}

impl WechatStore {
    /// The order named by `transaction_id` (preferred) or `out_trade_no`, only within this
    /// merchant and sub-merchant.
    pub fn find_mut(
        &mut self,
        mch_id: &str,
        sub_mch_id: &str,
        transaction_id: Option<&str>,
        out_trade_no: Option<&str>,
    ) -> Option<&mut Order> {
        let key = match (transaction_id, out_trade_no) {
            (Some(t), _) => self.by_transaction.get(t)?.clone(),
            (None, Some(o)) => (mch_id.to_owned(), sub_mch_id.to_owned(), o.to_owned()),
            (None, None) => return None,
        };
        if key.0 != mch_id || key.1 != sub_mch_id {
            return None;
        }
        self.orders.get_mut(&key)
    }

    pub fn snapshot(&self) -> WechatSnapshot {
        let mut orders: Vec<WechatOrderView> = self
            .orders
            .values()
            .map(|o| WechatOrderView {
                mch_id: o.mch_id.clone(),
                sub_mch_id: o.sub_mch_id.clone(),
                out_trade_no: o.out_trade_no.clone(),
                trade_state: o.state.as_str().to_owned(),
                total_fee: o.total_fee,
                prepay_id: o.prepay_id.clone(),
                transaction_id: o.transaction_id.clone(),
                unifiedorder_calls: o.unifiedorder_calls,
                refunds: o
                    .refunds
                    .iter()
                    .map(|r| WechatRefundView {
                        out_refund_no: r.out_refund_no.clone(),
                        refund_id: r.refund_id.clone(),
                        refund_fee: r.refund_fee,
                        refund_status: r.status.as_str().to_owned(),
                        requests: r.requests,
                    })
                    .collect(),
            })
            .collect();
        orders.sort_by(|a, b| a.out_trade_no.cmp(&b.out_trade_no));
        let sub_dev_configs = self
            .sub_dev_configs
            .iter()
            .map(|(sub, c)| {
                let view = SubDevConfigView {
                    jsapi_paths: c.jsapi_paths.clone(),
                    appids: c.bound_appids.clone(),
                    addsubdevconfig_calls: c.add_calls,
                    querysubdevconfig_calls: c.query_calls,
                };
                (sub.clone(), view)
            })
            .collect();
        WechatSnapshot {
            sub_dev_configs,
            unifiedorder_calls: self.unifiedorder_calls.clone(),
            refund_requests: self.refund_requests,
            refunds_made: self.refunds_made,
            orders,
        }
    }
}
