//! nkpay-engine: the use cases — payments, refunds, channel notifies, merchant notifications,
//! onboarding and the background jobs — in nkpay-core terms: typed commands in (`Money`,
//! `NaiveDate`, enums, ids), typed answers out.
//!
//! Not for: HTTP routes or wire formats. The merchant API's fields and replies live in
//! `nkpay-api`; the channels' in `nkpay-channels`.
//!
//! Start here: [`Engine::new`] from [`EngineParts`] builds the services. The merchant API calls
//! [`Callers::verify_caller`] and [`Callers::authorize`] (giving a [`Scope`]), then
//! [`Payments::create`], [`Payments::query`], [`Payments::close`], [`Refunds::create`] or
//! [`Refunds::query`]; channel callbacks call [`ChannelNotifies::handle`]; [`jobs::spawn`] runs
//! the trade job and [`refunds::jobs::spawn`] the refund job; [`notifications::Dispatcher`]
//! delivers merchant notifications.

#![warn(missing_docs)]

pub mod admin_identity;
pub mod admin_sessions;
pub mod businesses;
pub mod callers;
pub mod channel_accounts;
pub mod channel_notifies;
mod channel_registry;
pub mod config;
pub mod console;
pub mod context;
mod engine;
pub mod error;
mod exchange_log;
mod incidents;
pub mod jobs;
pub mod merchants;
pub mod node_identity;
pub mod notifications;
pub mod observability;
pub mod onboarding;
pub mod payments;
pub mod platform_keys;
pub mod reconciliation;
pub mod refunds;
pub mod request;
pub mod service_providers;
pub mod shanghai_time;
pub mod signing_keys;
pub mod singleton;
pub mod statements;
mod ttl_cache;

pub use admin_identity::{Actor, AdminIdentity, Permission};
pub use callers::{Caller, CallerKind, Callers, Scope};
pub use channel_accounts::ChannelAccounts;
pub use channel_notifies::{ChannelNotifies, InboundCallback};
pub use config::{ChannelSettings, EngineConfig};
pub use context::{CallbackPath, Context, EngineParts};
pub use engine::Engine;
pub use error::EngineError;
pub use merchants::Merchants;
pub use payments::Payments;
pub use refunds::Refunds;
pub use service_providers::ServiceProviders;
pub use signing_keys::SigningKeys;
pub use statements::Statements;
