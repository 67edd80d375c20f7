//! Structured logs: text for people, JSON for collectors; `RUST_LOG` wins over the config level.
//! Logs go to standard error, so that standard output carries only what a command prints (the
//! `nkpay admin` JSON lines, the demo guide) and can be piped. Lines logged while a request is
//! handled carry its id (docs/observability.md).

use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

pub fn init(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{},sqlx=warn,sea_orm=warn", log.level)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = if log.format == "json" {
        // The current span and its parents on every line: a request's `request_id`
        // (docs/observability.md).
        builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init()
    } else {
        builder.try_init()
    };
}
