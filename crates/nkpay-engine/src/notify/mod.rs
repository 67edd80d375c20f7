//! Merchant notifications: the SSRF guard for `notify_url`s, the dispatcher that delivers the
//! outbox with retries, re-sends and the counts the console shows.

pub mod url_guard;
