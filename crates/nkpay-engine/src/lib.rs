//! nkpay-engine: the use cases — onboarding, payments, refunds, merchant notifications,
//! reconciliation, statements and the background jobs.
//!
//! Not for: HTTP routes or wire formats; it speaks in nkpay-core terms.

pub mod notify;
