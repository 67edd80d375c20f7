//! nkpay-server: the `nkpay` binary — configuration, wiring and the command line.
//!
//! Not for: business rules or protocol code.
