//! nkpay-store: the sea-orm entities and the queries the engine needs, on SQLite (the embedded
//! default) and PostgreSQL (production, multi-node).
//!
//! Not for: business rules (nkpay-engine) or HTTP.
