//! nkpay-core: the payment domain with no I/O — money in fen, ids, trade types, the trade and
//! refund state machines, response codes and the shared error type.
//!
//! Not for: signatures (nkpay-crypto), storage (nkpay-store), or anything that talks to a network.

#![warn(missing_docs)]

pub mod bank_account;
pub mod business_codes;
pub mod cert_no;
pub mod contact;
pub mod error;
pub mod fee;
pub mod fee_rate;
pub mod masking;
pub mod money;
pub mod resident_id;
pub mod resp_code;
pub mod secret;
pub mod seq_id;
pub mod state;
mod string_enum;
pub mod trade_type;
pub mod uscc;
pub mod validity;

pub use error::CoreError;
