//! Refunds: `scanpay/refund` and `scanpay/refundquery` from the merchant API, the channel's
//! refund notifies, and the job that asks the channel about refunds nobody called back about.
//!
//! A refund reserves its amount on the trade with one conditional UPDATE (`refunded +
//! in_flight + amount <= paid`, see `nkpay_store::trades::reserve_refund`) before anything goes
//! upstream, so concurrent refunds on any number of nodes can never sum over the paid amount.
//! Its number (`nkp_seq_id`, the upstream `out_refund_no` / `out_request_no`) is fixed at that
//! moment, so every re-send after an unknown outcome is the same refund to the channel. Every
//! result — the reply, a notify, a query — ends in `finalize`, which moves the refund to its
//! final state once, commits or releases the reservation and enqueues the merchant notification
//! in one transaction.

mod channel_notify;
mod command;
mod create;
mod finalize;
pub mod jobs;
mod original;
mod query;
mod replay;
mod upstream;
mod view;

pub use command::{CreateRefund, RefundedTrade};
pub use view::{RefundAnswer, RefundView};

use crate::engine::service;

service!(
    /// Refunds: create, query, and every channel result about a refund.
    Refunds
);
