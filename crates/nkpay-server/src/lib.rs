//! nkpay-server: the `nkpay` binary — configuration, wiring and the command line.
//!
//! Not for: business rules or protocol code.

pub mod admin_cli;
pub mod bill_cli;
pub mod call;
pub mod config;
pub mod demo;
pub mod jobs_runtime;
pub mod keygen;
pub mod keys_cli;
pub mod logging;
pub mod master_key;
pub mod serve;
