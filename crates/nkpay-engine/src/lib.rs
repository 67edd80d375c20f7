//! nkpay-engine: the use cases — onboarding, payments, refunds, merchant notifications,
//! reconciliation, statements and the background jobs.
//!
//! Not for: HTTP routes or wire formats; it speaks in nkpay-core terms.
//!
//! Start here: [`Engine::new`] from [`EngineParts`]; the merchant API calls
//! [`Engine::authenticate`] then [`Engine::jspay`], [`Engine::query_trade`] or
//! [`Engine::close_trade`], [`Engine::refund`] or [`Engine::query_refund`]; channel callbacks
//! call [`Engine::handle_channel_notify`]; [`jobs::spawn`] runs the trade job and
//! [`refunds::jobs::spawn`] the refund job.

pub mod callers;
pub mod channel_notifies;
pub mod channel_registry;
pub mod config;
mod engine;
pub mod error;
mod exchange_log;
pub mod jobs;
pub mod notifications;
pub mod onboarding;
pub mod payments;
pub mod platform_keys;
pub mod refunds;
pub mod shanghai_time;

pub use callers::{Caller, CallerKind};
pub use config::{ChannelSettings, EngineConfig};
pub use engine::{CallbackPath, Engine, EngineParts};
pub use error::EngineError;
pub use channel_notifies::InboundCallback;
