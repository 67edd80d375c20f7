//! The sandbox's shared state (accounts, stores, faults, notifier) and the read-only snapshot of
//! it served at `GET /sandbox/state`, so tests can check what the channel saw.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::accounts::Directory;
use crate::alipay::store::AlipayStore;
use crate::clock::TimeScale;
use crate::config::Timings;
use crate::faults::FaultBox;
use crate::ids::Ids;
use crate::notify::{Notifier, NotifyRecord};
use crate::wechat::store::WechatStore;

/// Everything a request handler needs; one per running sandbox, shared by all workers.
pub(crate) struct SandboxState {
    pub dir: Directory,
    pub faults: FaultBox,
    pub ids: Ids,
    pub scale: TimeScale,
    pub timings: Timings,
    /// TLS is on: `secapi/` calls demand a client certificate.
    pub tls: bool,
    pub base_url: String,
    pub wechat: Mutex<WechatStore>,
    pub alipay: Mutex<AlipayStore>,
    pub notifier: Arc<Notifier>,
}

/// Locks a store; a panic elsewhere while holding it must not take every later request down.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SandboxState {
    pub fn snapshot(&self) -> StateSnapshot {
        StateSnapshot {
            wechat: lock(&self.wechat).snapshot(),
            alipay: lock(&self.alipay).snapshot(),
            notifies: self.notifier.records(),
        }
    }
}

/// What the simulated channels have seen and done.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StateSnapshot {
    pub wechat: WechatSnapshot,
    pub alipay: AlipaySnapshot,
    pub notifies: Vec<NotifyRecord>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WechatSnapshot {
    /// Per sub_mch_id: what addsubdevconfig bound and how often it and querysubdevconfig were
    /// called (only sub-merchants that saw one of those calls).
    #[serde(default)]
    pub sub_dev_configs: BTreeMap<String, SubDevConfigView>,
    /// unifiedorder calls per out_trade_no (every call that named one, accepted or not).
    pub unifiedorder_calls: BTreeMap<String, u32>,
    /// secapi/pay/refund calls that passed the signature check.
    pub refund_requests: u64,
    /// Distinct refunds made (retries of one out_refund_no count once).
    pub refunds_made: u64,
    pub orders: Vec<WechatOrderView>,
}

/// One sub-merchant's development configuration as the sandbox's state shows it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SubDevConfigView {
    /// JSAPI payment directories bound, in order.
    pub jsapi_paths: Vec<String>,
    /// Appids bound through addsubdevconfig, in order (configured ones are not repeated here).
    pub appids: Vec<String>,
    /// addsubdevconfig calls that passed the certificate, signature and merchant checks,
    /// accepted or refused.
    pub addsubdevconfig_calls: u32,
    /// querysubdevconfig calls that passed those checks.
    pub querysubdevconfig_calls: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WechatOrderView {
    pub mch_id: String,
    pub sub_mch_id: String,
    pub out_trade_no: String,
    pub trade_state: String,
    pub total_fee: i64,
    pub prepay_id: String,
    pub transaction_id: Option<String>,
    pub unifiedorder_calls: u32,
    pub refunds: Vec<WechatRefundView>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WechatRefundView {
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_fee: i64,
    pub refund_status: String,
    /// How many refund calls named this out_refund_no.
    pub requests: u32,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AlipaySnapshot {
    /// Third-party app authorization: grants made on the page, code exchanges, refreshes.
    #[serde(default)]
    pub app_auth: AppAuthSnapshot,
    pub precreate_calls: BTreeMap<String, u32>,
    /// alipay.trade.refund calls that passed the gateway checks.
    pub refund_requests: u64,
    /// Distinct refunds made (fund_change=Y).
    pub refunds_made: u64,
    pub trades: Vec<AlipayTradeView>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AlipayTradeView {
    pub app_id: String,
    pub auth_app_id: String,
    pub seller_id: String,
    pub out_trade_no: String,
    pub total_amount: String,
    pub qr_code: String,
    /// Set once the QR code was scanned: before that the trade does not exist for the gateway.
    pub trade_no: Option<String>,
    pub trade_status: Option<String>,
    pub precreate_calls: u32,
    pub refunds: Vec<AlipayRefundView>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AlipayRefundView {
    pub out_request_no: String,
    pub refund_amount: String,
    pub requests: u32,
}

/// One grant made through the page, as `/sandbox/state` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PageGrantView {
    pub app_id: String,
    pub user_id: String,
    pub auth_app_id: String,
    /// The code was exchanged for the tokens.
    pub code_exchanged: bool,
    /// How many times the grant's tokens were refreshed.
    pub refreshes: u32,
}

/// What the authorization flow saw.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AppAuthSnapshot {
    /// Grants made through `/oauth2/appToAppAuth.htm`, oldest first.
    pub page_grants: Vec<PageGrantView>,
    /// `alipay.open.auth.token.app` calls with `grant_type=authorization_code` that reached the
    /// method (accepted or refused).
    pub code_exchanges: u32,
    /// The same with `grant_type=refresh_token`.
    pub refresh_calls: u32,
    /// `alipay.open.auth.token.app.query` calls.
    pub token_queries: u32,
}
