//! nkpay-api: the actix-web surface — the merchant open API, channel callbacks, the console API
//! and health endpoints.
//!
//! Not for: business rules; every handler calls nkpay-engine.
