//! nkpay-store: the sea-orm entities and the queries the engine needs, on SQLite (the embedded
//! default) and PostgreSQL (production, multi-node).
//!
//! Every state change here is a conditional UPDATE or an INSERT under a unique key, so two
//! nodes, two notifies or two clicks cannot finalize a trade twice or over-refund; functions that
//! change state return whether they did. Functions take `now` from the caller (UTC) so the
//! engine's clock, and tests, decide time. Secrets are sealed with
//! `nkpay_crypto::sealed::SecretSealer` before they reach a column.
//!
//! Not for: business rules (nkpay-engine) or HTTP.

#![warn(missing_docs)]

pub mod accounts;
pub mod admin_api_tokens;
pub mod admin_sessions;
pub mod admin_users;
pub mod audit_log;
pub mod channel_records;
pub mod console_queries;
mod db;
pub mod entity;
mod error;
pub mod fee_floors;
pub mod gauges;
pub mod incidents;
pub mod kinds;
mod lease;
pub mod merchant_applications;
pub mod merchant_bindings;
pub mod merchant_channels;
pub mod merchants;
pub mod node_leases;
pub mod notification_console;
pub mod notification_deferral;
pub mod notifications;
pub mod platform_keys;
pub mod query_jobs;
#[cfg(test)]
mod query_plans;
pub mod reconciliation;
pub mod refunds;
pub mod sealing;
pub mod statement_rows;
pub mod statements;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trade_close_requests;
pub mod trade_schedule;
pub mod trades;
mod write_batch;

pub(crate) use db::unique_row;
pub use db::{Db, PoolStatus, connect, migrate};
pub use error::StoreError;
pub use sea_orm;
pub use write_batch::{MAX_BATCH, WriteBatches, WriteConn, WriteTxn};
