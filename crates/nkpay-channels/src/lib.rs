//! nkpay-channels: the `Channel` trait and one connector per upstream (WeChat Pay v2 service
//! provider, Alipay ISV): wire types, clients, notify parsing and bill parsing.
//!
//! Not for: deciding what a result means for a trade (nkpay-engine); no channel field name leaves
//! its module.
//!
//! Conventions every connector keeps:
//! - A call returns `Err(ChannelError)` only before anything was sent (the order does not fit the
//!   channel's rules, the route is for another channel). Once a request has left, every outcome
//!   is a typed result, and anything we cannot be sure of is an explicit `Unknown`: the engine
//!   then queries, it never guesses.
//! - Every HTTP exchange is handed back in [`Recorded::exchanges`], secrets masked, for the
//!   trade's history.
//! - Re-sends happen only where the protocol says a re-send with the same parameters is safe
//!   (WeChat `SYSTEMERROR` on unified order; a refund with the same refund number).

pub mod alipay;
mod bill;
mod channel;
mod client_identity;
mod error;
mod exchange;
mod flat_fields;
mod notify;
mod outcome;
mod request;
mod shanghai_time;
mod transport;
pub mod wechat;
mod yuan;

pub use bill::{Bill, BillRequest, BillResult, BillRow, BillRowKind, BillSummary};
pub use channel::Channel;
pub use client_identity::ClientIdentity;
pub use error::ChannelError;
pub use exchange::{Exchange, Recorded};
pub use notify::{InboundNotify, NotifyAck, NotifyReply};
pub use outcome::{CloseResult, CreateResult, PayPrompt, PayResult, RefundResult};
pub use request::{CreateOrder, MerchantRoute, RefundOrder, RefundRef, TradeRef, WechatPayer};
pub use transport::HttpSettings;
