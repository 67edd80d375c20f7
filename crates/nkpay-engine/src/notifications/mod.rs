//! Merchant notifications: what a final state sends (`resp_data`), the SSRF guard for
//! `notify_url`s, the dispatcher that delivers the outbox with retries, the console's listings
//! and re-sends, and the counts it shows.
//!
//! The outbox rows are written by the payments and refunds code, in the same transaction as
//! the final state (`nkpay_store::notifications::enqueue`); everything after that is here.

pub mod console;
mod delivery;
pub mod dispatcher;
mod guarded_resolver;
mod host_slots;
mod merchant_schedules;
mod recorder;
pub(crate) mod resp_data;
pub mod schedule;
pub mod stats;
pub mod url_guard;

pub use dispatcher::{DispatchTotals, Dispatcher, DispatcherConfig, RoundSummary};
pub use schedule::parse_schedule;
pub use stats::{NotifyStats, stats};
pub use url_guard::UrlPolicy;
