//! The crate's one error type.

use std::path::PathBuf;

use sea_orm::{DbErr, SqlErr};

/// Every failure of the store. Database errors are mapped in one place (`from_write` and the
/// `From<DbErr>` impl): unique-key violations become [`StoreError::Duplicate`], stored values
/// that do not parse into their column's type become [`StoreError::Corrupt`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key refused the row: the caller decides whether that is a replay.
    #[error("{what} already exists ({detail})")]
    Duplicate {
        /// What was inserted, e.g. "trade".
        what: &'static str,
        /// The database's words on which key.
        detail: String,
    },
    /// No row for the key.
    #[error("{what} {key} not found")]
    NotFound {
        /// What was looked for.
        what: &'static str,
        /// The key that found nothing.
        key: String,
    },
    /// A database URL that is neither SQLite nor PostgreSQL.
    #[error("database URL must start with sqlite: or postgres:// (got scheme {scheme:?})")]
    UnsupportedUrl {
        /// The URL's scheme as given.
        scheme: String,
    },
    /// The SQLite file's directory could not be created.
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// An argument the store refuses before writing.
    #[error("invalid {field}: {rule}")]
    Invalid {
        /// The argument refused.
        field: &'static str,
        /// The rule it broke.
        rule: String,
    },
    /// A stored value the code cannot read: a status, channel, trade-type or kind column
    /// holding a string that is none of its enum's values (never defaulted), a JSON column that
    /// is not JSON, a required secret missing.
    #[error("stored {what} is unreadable: {reason}")]
    Corrupt {
        /// What could not be read: the column's type (e.g. "TradeStatus") or the field.
        what: &'static str,
        /// Why, naming the stored value.
        reason: String,
    },
    /// A secret could not be sealed or opened.
    #[error("{what}: {source}")]
    Sealing {
        /// Which secret.
        what: &'static str,
        /// The cipher's error.
        source: nkpay_crypto::CryptoError,
    },
    /// Any other database error.
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

    /// Whether this is [`StoreError::Duplicate`].
    pub fn is_duplicate(&self) -> bool {
        matches!(self, StoreError::Duplicate { .. })
    }
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        StoreError::from_write("row", err)
    }
}
