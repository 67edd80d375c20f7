//! The crate's one error type.

use std::path::PathBuf;

use sea_orm::{DbErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key refused the row: the caller decides whether that is a replay.
    #[error("{what} already exists ({detail})")]
    Duplicate { what: &'static str, detail: String },
    #[error("{what} {key} not found")]
    NotFound { what: &'static str, key: String },
    #[error("database URL must start with sqlite: or postgres:// (got scheme {scheme:?})")]
    UnsupportedUrl { scheme: String },
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid {field}: {rule}")]
    Invalid { field: &'static str, rule: String },
    /// A stored value the code cannot read (an unknown status, a JSON column that is not JSON).
    #[error("stored {what} is unreadable: {reason}")]
    Corrupt { what: &'static str, reason: String },
    #[error("{what}: {source}")]
    Sealing {
        what: &'static str,
        source: nkpay_crypto::CryptoError,
    },
    #[error("database error: {0}")]
    Db(#[source] DbErr),
}

impl StoreError {
    /// Maps a database error from an INSERT or UPDATE on `what`, turning a unique-key
    /// violation into [`StoreError::Duplicate`].
    pub(crate) fn from_write(what: &'static str, err: DbErr) -> StoreError {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(detail)) => {
                StoreError::Duplicate { what, detail }
            }
            _ => match err {
                // A column whose stored value does not parse into its type (an unknown status,
                // channel or kind): never defaulted, always this error.
                DbErr::TryIntoErr { into, source, .. } => StoreError::Corrupt {
                    what: into,
                    reason: source.to_string(),
                },
                err => StoreError::Db(err),
            },
        }
    }

    pub fn is_duplicate(&self) -> bool {
        matches!(self, StoreError::Duplicate { .. })
    }
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        StoreError::from_write("row", err)
    }
}
