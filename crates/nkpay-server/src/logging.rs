//! Structured logs: text for people, JSON for collectors; `RUST_LOG` wins over the config level.
//! Logs go to standard error, so that standard output carries only what a command prints (the
//! `nkpay admin` JSON lines, the demo guide) and can be piped.

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
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
