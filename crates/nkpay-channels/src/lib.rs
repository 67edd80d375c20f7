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
//!   then queries, it never guesses. The onboarding calls (WeChat sub-merchant development
//!   configuration, Alipay app authorization) are the exception: their results have no room for
//!   a refusal or an unknown outcome, so those come as [`ChannelError::Refused`] and
//!   [`ChannelError::Unanswered`], which carry the exchanges.
//! - Every HTTP exchange is handed back in [`Recorded::exchanges`], secrets masked, for the
//!   trade's history.
//! - Re-sends happen only where the protocol says a re-send with the same parameters is safe
//!   (WeChat `SYSTEMERROR` on unified order; a refund with the same refund number).
//! - Protocol rules the engine must follow live here too, behind [`Channel`]: when a close is
//!   allowed ([`Channel::earliest_close`]), how a notify's sub-merchant must match the trade's
//!   ([`Channel::check_notify_merchant`]), where notifies go ([`NotifyUrls`], full URLs given by
//!   the engine when it builds a connector; nothing here knows the platform's routes).
//! - Units: money is [`Money`](nkpay_core::money::Money) in fen; times are UTC inside and
//!   Asia/Shanghai only on the wire, as both channels write them.
//!
//! Protocol sources: WeChat Pay v2 service-provider documents and Alipay open-platform
//! documents, as summarised in `design/CHANNELS.md` (checked against `wechatpy` 1.8.18 and
//! `python-alipay-sdk` 3.4.0).

#![warn(missing_docs)]

pub mod alipay;
mod bill;
pub mod call_metrics;
mod channel;
mod client_identity;
mod error;
mod exchange;
mod flat_fields;
mod notify;
mod notify_reference;
mod outcome;
mod request;
mod shanghai_time;
mod transport;
pub mod wechat;
mod yuan;

/// The fuzz harnesses' shared corpus and mutation strategies (docs/fuzzing.md), tests only.
#[cfg(test)]
#[path = "../../../fuzz/fuzzing.rs"]
#[allow(dead_code)]
pub(crate) mod fuzzing;

pub use bill::{Bill, BillRequest, BillResult, BillRow, BillRowKind, BillSummary};
pub use channel::Channel;
pub use client_identity::ClientIdentity;
pub use error::ChannelError;
pub use exchange::{Exchange, Recorded};
pub use notify::{InboundNotify, NotifyAck, NotifyReply, NotifyUrls, notify_reply};
pub use notify_reference::{AddressedAccount, NotifyReference, read_notify_reference};
pub use outcome::{CloseResult, CreateResult, PayPrompt, PayResult, ProbeResult, RefundResult};
pub use request::{CreateOrder, MerchantRoute, RefundOrder, RefundRef, TradeRef, WechatPayer};
pub use transport::HttpSettings;
