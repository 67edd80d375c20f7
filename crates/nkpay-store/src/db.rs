//! Opening the database (SQLite file or PostgreSQL), migrating it, and starting write
//! transactions that behave the same on both.

use std::path::Path;
use std::time::Duration;

use nkpay_migration::MigratorTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::error::StoreError;

/// How long a SQLite writer waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// SQLite serializes writers anyway; a few connections let readers run beside a writer (WAL).
const SQLITE_POOL_SIZE: u32 = 4;
const POSTGRES_POOL_SIZE: u32 = 16;

/// A connection pool to the platform database.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
}

impl Db {
    /// Wraps an existing sea-orm connection (tests, or a caller with its own pool settings).
    pub fn from_connection(conn: DatabaseConnection) -> Db {
        Db { conn }
    }

    /// The sea-orm connection, for queries this crate does not provide.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Which database this is: SQLite or PostgreSQL.
    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Starts a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`, which takes
    /// the write lock up front: a deferred transaction that reads and then writes can fail with
    /// SQLITE_BUSY when another writer got in between, and busy_timeout does not help there.
    pub async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        Ok(self.conn.begin_with_options(options).await?)
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(self) -> Result<(), StoreError> {
        Ok(self.conn.close().await?)
    }
}

/// Opens `url`: `sqlite:` (e.g. `sqlite://data/nkpay.db`; the parent directory is created,
/// WAL journal, busy timeout, foreign keys on) or `postgres://` / `postgresql://`.
pub async fn connect(url: &str) -> Result<Db, StoreError> {
    let scheme = url.split(':').next().unwrap_or_default();
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    match scheme {
        "sqlite" => {
            let path = sqlite_path(url);
            let in_memory = path.is_empty() || path == ":memory:" || url.contains("mode=memory");
            if !in_memory {
                create_parent_dir(Path::new(path))?;
            }
            // Each connection to `:memory:` is its own database, so keep exactly one.
            options.max_connections(if in_memory { 1 } else { SQLITE_POOL_SIZE });
            options.map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
            });
        }
        "postgres" | "postgresql" => {
            options.max_connections(POSTGRES_POOL_SIZE);
        }
        other => {
            return Err(StoreError::UnsupportedUrl {
                scheme: other.to_owned(),
            });
        }
    }
    let conn = Database::connect(options).await?;
    Ok(Db { conn })
}

/// Applies every pending migration; a no-op when the schema is current.
pub async fn migrate(db: &Db) -> Result<(), StoreError> {
    nkpay_migration::Migrator::up(db.conn(), None).await?;
    Ok(())
}

/// The file path inside a `sqlite:` URL (`sqlite://a/b.db?mode=rwc` → `a/b.db`).
fn sqlite_path(url: &str) -> &str {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    rest.split('?').next().unwrap_or_default()
}

fn create_parent_dir(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_path_is_taken_from_every_url_form() {
        assert_eq!(
            sqlite_path("sqlite://data/nkpay.db?mode=rwc"),
            "data/nkpay.db"
        );
        assert_eq!(sqlite_path("sqlite:data/nkpay.db"), "data/nkpay.db");
        assert_eq!(sqlite_path("sqlite:///tmp/x.db"), "/tmp/x.db");
        assert_eq!(sqlite_path("sqlite::memory:"), ":memory:");
    }
}
