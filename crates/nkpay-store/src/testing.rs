//! Test databases for every crate that touches storage: `databases()` gives a fresh, migrated
//! SQLite file and, when a PostgreSQL server answers, a fresh migrated PostgreSQL database, so
//! each storage test loops over both.
//!
//! PostgreSQL comes from `NKPAY_TEST_DATABASE_URL` (a server URL whose user may CREATE
//! DATABASE), else `postgres://postgres@127.0.0.1:5432/test` if it answers. Each `TestDb`
//! gets its own database `nkpay_t_<unix seconds>_<random>`, dropped (WITH FORCE) when the
//! `TestDb` is dropped; ones left by killed test runs are dropped by later runs once they are
//! an hour old. Without PostgreSQL the half is skipped with a loud warning — except under
//! `CI=true`, or when `NKPAY_TEST_DATABASE_URL` is set, where that is a failure (panic: this is
//! test code).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

use crate::db::{Db, connect, migrate};

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const DB_PREFIX: &str = "nkpay_t_";
const STALE_AFTER_SECS: u64 = 3600;

/// One fresh, migrated database.
pub struct TestDb {
    /// The connected, migrated database.
    pub db: Db,
    /// "sqlite" or "postgres", for assertion messages.
    pub label: &'static str,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteFile(PathBuf),
    Postgres { server_url: String, name: String },
}

/// A fresh migrated SQLite database, plus a fresh migrated PostgreSQL one when available.
pub async fn databases() -> Vec<TestDb> {
    let mut out = vec![sqlite().await];
    if let Some(pg) = postgres().await {
        out.push(pg);
    }
    out
}

async fn sqlite() -> TestDb {
    let path = std::env::temp_dir()
        .join("nkpay-store-tests")
        .join(format!("{}.db", unique_name()));
    let db = connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_or_else(|e| panic!("test SQLite {}: {e}", path.display()));
    migrate(&db)
        .await
        .unwrap_or_else(|e| panic!("migrating test SQLite {}: {e}", path.display()));
    TestDb {
        db,
        label: "sqlite",
        cleanup: Cleanup::SqliteFile(path),
    }
}

/// The PostgreSQL test server: its URL (`NKPAY_TEST_DATABASE_URL`, else
/// `postgres://postgres@127.0.0.1:5432/test`) and an open connection to it. `None`, with a loud
/// warning, when it does not answer; a panic instead under `CI=true` or when the URL was set.
pub async fn postgres_server() -> Option<(String, DatabaseConnection)> {
    let configured = std::env::var("NKPAY_TEST_DATABASE_URL").ok();
    let server_url = configured
        .clone()
        .unwrap_or_else(|| DEFAULT_PG_URL.to_owned());
    match admin_connection(&server_url).await {
        Ok(c) => Some((server_url, c)),
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            if ci || configured.is_some() {
                panic!("PostgreSQL test server {server_url} is required but unreachable: {e}");
            }
            eprintln!(
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !!! WARNING: PostgreSQL at {server_url} is unreachable ({e}).\n\
                 !!! The PostgreSQL half of this storage test was SKIPPED.\n\
                 !!! Set NKPAY_TEST_DATABASE_URL or start PostgreSQL; CI=true makes this fatal.\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            None
        }
    }
}

async fn postgres() -> Option<TestDb> {
    let (server_url, server) = postgres_server().await?;
    drop_stale(&server).await;
    let name = unique_name();
    server
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {server_url}: {e}"));
    let _ = server.close().await;
    let url = with_database(&server_url, &name);
    let db = connect(&url)
        .await
        .unwrap_or_else(|e| panic!("test PostgreSQL {name}: {e}"));
    migrate(&db)
        .await
        .unwrap_or_else(|e| panic!("migrating test PostgreSQL {name}: {e}"));
    Some(TestDb {
        db,
        label: "postgres",
        cleanup: Cleanup::Postgres { server_url, name },
    })
}

async fn admin_connection(url: &str) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .connect_timeout(Duration::from_secs(3))
        .sqlx_logging(false);
    Database::connect(options).await
}

/// Drops test databases left behind by runs that were killed before their `Drop`.
async fn drop_stale(server: &DatabaseConnection) {
    let Ok(rows) = server
        .query_all_raw(sea_orm::Statement::from_string(
            server.get_database_backend(),
            format!("SELECT datname FROM pg_database WHERE datname LIKE '{DB_PREFIX}%'"),
        ))
        .await
    else {
        return;
    };
    let now = unix_secs();
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        let born = name
            .strip_prefix(DB_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if born.is_some_and(|b| now.saturating_sub(b) > STALE_AFTER_SECS) {
            let _ = server
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

impl TestDb {
    /// The URL another process opens this database with (`sqlite://<file>` or the
    /// PostgreSQL server's URL naming this database): benchmarks measure a child process on it.
    pub fn url(&self) -> String {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => format!("sqlite://{}", path.display()),
            Cleanup::Postgres { server_url, name } => with_database(server_url, name),
        }
    }
}

/// `url` with its database path replaced by `name`, keeping any query string.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `nkpay_t_<unix seconds>_<random>`: lower-case, a valid unquoted identifier and file name.
fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("{DB_PREFIX}{}_{:016x}", unix_secs(), h.finish())
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Cleanup::Postgres { server_url, name } => {
                // Drop cannot await; a short-lived runtime on its own thread can.
                let (server_url, name) = (server_url.clone(), name.clone());
                let dropper = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async {
                        if let Ok(server) = admin_connection(&server_url).await {
                            let _ = server
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                ))
                                .await;
                            let _ = server.close().await;
                        }
                    });
                });
                let _ = dropper.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_swapped_in_a_server_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
