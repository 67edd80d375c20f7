//! Payments: jspay (create), query and close from the merchant API, and the one path every
//! channel result about a payment goes through to a final state (`finalize`; channel
//! notifies reach it from `crate::channel_notifies`, the job from `crate::jobs`). Each file is
//! one step of the trade's life; `unknown_create.rs` resolves a create whose reply was lost.

pub(crate) mod amount_limit;
mod close;
mod command;
mod create;
pub(crate) mod finalize;
mod original;
mod query;
pub(crate) mod replay;
pub(crate) mod routing;
pub(crate) mod unknown_create;
mod view;

pub use command::{CloseTrade, CreateTrade, WxData};
pub use view::{CloseOutcome, Closed, Created, TradeView};

use crate::engine::service;

service!(
    /// Trades: create (`jspay`), query, close, and every channel result about a payment.
    Payments
);
