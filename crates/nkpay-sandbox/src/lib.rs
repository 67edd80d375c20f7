//! nkpay-sandbox: simulators of WeChat Pay v2 (service-provider mode) and the Alipay open-platform
//! gateway (ISV mode), with a payer side (an HTTP call or a cashier page settles a payment as a
//! buyer would), notifies sent on each channel's real retry schedule, fault injection and state
//! introspection — for development, demos and tests.
//!
//! Embed it with [`Sandbox::start`] (or run the `nkpay-sandbox` binary). It checks what the real
//! services check: signatures, required fields and formats, merchant/sub-merchant/app bindings,
//! grants, idempotency rules, and answers every failure with the documented error code.
//!
//! Not for: production, and not a client. It shares no code with the connectors
//! (`nkpay-channels`) beyond `nkpay-core` and `nkpay-crypto`, so that one mistake made on both
//! sides cannot pass its own tests. State lives in memory only.

mod accounts;
mod alipay;
mod cashier;
mod clock;
mod config;
mod control;
mod error;
mod faults;
mod ids;
mod notify;
mod payer;
mod server;
mod state;
mod wechat;
mod yuan;

pub use accounts::{
    Accounts, AlipayAccounts, AlipayGrant, AlipayIsvApp, AppKind, BoundAppid, WechatAccounts,
    WechatServiceProvider, WechatSubMerchant,
};
pub use config::{SandboxConfig, Timings, TlsConfig};
pub use error::SandboxError;
pub use faults::{BillFault, Faults, RefundOutcome};
pub use server::{RunningSandbox, Sandbox};
pub use state::StateSnapshot;
