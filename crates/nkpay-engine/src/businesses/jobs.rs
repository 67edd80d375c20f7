//! The business job: every round it renews Alipay grants about to expire
//! ([`Businesses::refresh_due`](super::Businesses::refresh_due), within
//! [`REFRESH_WITHIN_DAYS`]) and asks WeChat again for bindings whose outcome was unknown
//! ([`Businesses::retry_pending`](super::Businesses::retry_pending), after
//! [`RETRY_AFTER_SECS`]). One node at a time: on PostgreSQL a round runs under the advisory
//! lock [`LOCK_KEY`] ([`crate::singleton::run_alone`]; a node that does not get it skips the
//! round), so two nodes never spend the same Alipay refresh token or send the same WeChat
//! binding at once. The SQLite default runs one node, without a lock.

use std::sync::Arc;

use chrono::{Duration, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::engine::Engine;
use crate::jobs::spawn_rounds;
use crate::singleton;

/// The PostgreSQL advisory lock's key (the bytes of "nkpaybz"): one business job across every
/// node.
pub const LOCK_KEY: i64 = 0x006e_6b70_6179_627a;
use crate::observability::Job;

/// Grants expiring within this many days are renewed (Alipay's `app_auth_token` lives a year;
/// renewing a week ahead leaves room for failures).
pub const REFRESH_WITHIN_DAYS: i64 = 7;
/// A binding left `P` by an unknown outcome is asked again after this many seconds.
pub const RETRY_AFTER_SECS: i64 = 30;

/// Starts the business job; it stops when `shutdown` turns true.
pub fn spawn(engine: Arc<Engine>, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    spawn_rounds(engine, Job::Business, shutdown, |engine| async move {
        let sent = singleton::run_alone(engine.db(), LOCK_KEY, "business job", || async {
            let now = Utc::now();
            let businesses = engine.businesses();
            let report = businesses
                .refresh_due(now, Duration::days(REFRESH_WITHIN_DAYS))
                .await?;
            if report.refreshed + report.failed > 0 {
                tracing::info!(?report, "Alipay grant refresh round");
            }
            businesses
                .retry_pending(
                    now,
                    Duration::seconds(RETRY_AFTER_SECS),
                    engine.config.job_batch,
                )
                .await
        })
        .await?;
        Ok(sent.unwrap_or(0))
    })
}
