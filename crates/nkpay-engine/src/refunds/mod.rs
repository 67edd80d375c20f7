//! Refunds: `scanpay/refund` and `scanpay/refundquery` from the merchant API, the channel's
//! refund notifies, and the job that asks the channel about refunds nobody called back about.
//!
//! A refund reserves its amount on the trade with one conditional UPDATE (`refunded +
//! in_flight + amount <= paid`, see `nkpay_store::trades::reserve_refund`) before anything goes
//! upstream, so concurrent refunds on any number of nodes can never sum over the paid amount.
//! Its number (`nkp_seq_id`, the upstream `out_refund_no` / `out_request_no`) is fixed at that
//! moment, so every re-send after an unknown outcome is the same refund to the channel. Every
//! result — the reply, a notify, a query — ends in [`settle`], which moves the refund to its
//! final state once, commits or releases the reservation and enqueues the merchant notification
//! in one transaction.

mod create;
pub mod jobs;
mod notify;
mod org_trade;
mod query;
mod replay;
mod request;
pub mod settle;
mod upstream;
pub mod view;

pub use settle::RefundApplied;
