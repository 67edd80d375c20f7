//! Payments: jspay (create), query and close from the merchant API, and the one settlement path
//! every result goes through (channel notifies reach it from `crate::channel_notifies`). Each
//! file is one step of the trade's life.

pub mod close;
mod create;
pub mod fields;
pub mod idempotency;
pub(crate) mod org_trade;
mod query;
pub mod routing;
pub mod settle;
pub mod trade_view;
pub mod validation;

pub use close::CloseOutcome;
pub use settle::Applied;
