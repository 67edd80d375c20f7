//! Where a statement file's bytes live while it is regenerated: every write goes under a fresh
//! content key (and, in a shared directory, a fresh file name), and the file's row is switched
//! to it in one transaction ([`nkpay_store::statements::swap_in`]). The old bytes stay
//! readable — `filequery` lists the old file and a download already under way completes —
//! until [`DETACHED_GRACE`] after the switch, when [`Statements::purge_detached`] removes them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use nkpay_store::statements;

use super::{StatementStorage, Statements};
use crate::error::EngineError;
use crate::singleton;

/// How long replaced (or abandoned half-written) bytes are kept before they are removed: a
/// download that started before a regeneration has this long to finish.
pub const DETACHED_GRACE: Duration = Duration::from_secs(24 * 3600);

/// The PostgreSQL advisory lock's key (the bytes of "nkpaypg"): one purge of replaced
/// statement bytes across every node.
pub const PURGE_LOCK_KEY: i64 = 0x006e_6b70_6179_7067;

/// Detached contents removed per purge at most (the next regeneration removes the rest).
const PURGE_BATCH: u64 = 200;

/// A fresh content key: 32 lowercase hex digits of randomness (fits the 64-character key
/// columns on its own, whatever the file id).
pub(crate) fn fresh_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Statements {
    /// Removes the bytes detached more than [`DETACHED_GRACE`] before `now` (replaced by a
    /// regeneration, or left by a writer that died): their chunks, and their file when files
    /// are kept in a shared directory. How many were removed.
    ///
    /// One node at a time: on PostgreSQL it runs under the advisory lock [`PURGE_LOCK_KEY`]
    /// ([`crate::singleton::run_alone`]); a node that does not get it removes nothing (`0`)
    /// and leaves the work to the holder or the next regeneration.
    /// Errors: the database's; a directory file that cannot be removed is logged and left.
    pub async fn purge_detached(&self, now: DateTime<Utc>) -> Result<usize, EngineError> {
        let grace = chrono::TimeDelta::from_std(DETACHED_GRACE)
            .map_err(|e| EngineError::Internal(format!("grace period: {e}")))?;
        let removed = singleton::run_alone(&self.db, PURGE_LOCK_KEY, "statement purge", || async {
            let removed = statements::purge_detached(&self.db, now - grace, PURGE_BATCH).await?;
            for (_, path) in &removed {
                self.remove_directory_file(path);
            }
            Ok(removed.len())
        })
        .await?;
        Ok(removed.unwrap_or(0))
    }

    /// After a failed write: drops what was written under `content_key` at once (the note
    /// stays until then, so a purge catches what this misses).
    pub(crate) async fn discard(&self, content_key: &str, path: &str) {
        if let Err(e) = statements::delete_chunks(self.db.conn(), content_key).await {
            tracing::warn!(content_key, error = %e, "statement bytes of a failed write kept");
            return;
        }
        self.remove_directory_file(path);
        self.remove_directory_file(&format!("{path}.part"));
    }

    /// Removes `path` from the shared statements directory (nothing for database storage or
    /// an empty path; a missing file is fine).
    fn remove_directory_file(&self, path: &str) {
        let StatementStorage::Directory(dir) = &self.config.statements.storage else {
            return;
        };
        if path.is_empty() || path == ".part" {
            return;
        }
        let file = dir.join(path);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(file = %file.display(), error = %e, "statement file kept"),
        }
    }
}
