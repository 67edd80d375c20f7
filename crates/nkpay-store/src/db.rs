//! Opening the database (SQLite file or PostgreSQL), migrating it, and starting write
//! transactions that behave the same on both.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nkpay_migration::MigratorTrait;
use sea_orm::sqlx::postgres::PgSslMode;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    RuntimeErr, TransactionTrait,
};

use crate::error::StoreError;
use crate::write_batch::{Batcher, WriteBatches, WriteConn, immediate};

/// How long a SQLite connection waits for the write lock before giving up. With the one
/// writer connection ([`Db`]) nobody in this process waits on it; another process writing the
/// same file (`nkpay admin …` beside a running node) may.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Default pool sizes. On SQLite this is the readers' pool; writes go through one connection
/// of their own ([`Db`]).
const SQLITE_POOL_SIZE: u32 = 4;
const POSTGRES_POOL_SIZE: u32 = 16;
/// A PostgreSQL connection idle this long is pinged before it is handed out again (a server
/// restart or a proxy's idle cut-off leaves it dead); one in use under load is handed out as it
/// is. sqlx's default pings on every checkout, which is one more round trip per statement
/// (issue 16: every statement outside a transaction paid it). A SQLite connection is a file
/// handle in this process and is never pinged.
pub const POSTGRES_PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// The platform database: a connection pool, and on a SQLite file two of them.
///
/// SQLite lets one connection write at a time; a second writer gets `SQLITE_BUSY` and its busy
/// handler sleeps (1, 2, 5, 10 … ms) before trying again, which under load costs far more than
/// the writes themselves (issue 16: p50 of 19 ms at half the maximum rate). So on a SQLite file
/// every statement through [`Db::conn`], every transaction of [`Db::begin_write`] and every
/// batch of [`Db::write`] share ONE connection — writers wait in the pool's queue, in order,
/// without sleeping — and reads that need no write lock may use [`Db::reader`], a pool of
/// `max_connections` connections that read beside the writer (WAL: a read sees every committed
/// write). On PostgreSQL and in-memory SQLite both are the same pool.
///
/// A task holding a transaction of [`Db::begin_write`] on SQLite must make its other statements
/// through that transaction, never through [`Db::conn`] (which would wait for the connection the
/// task itself holds until the pool's acquire time-out).
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    reader: Option<DatabaseConnection>,
    /// On a SQLite file opened inside a multi-threaded tokio runtime: the queue whose task runs
    /// [`Db::write`]'s writes in batches on that runtime (see there).
    batcher: Option<Batcher>,
    /// Set by [`Db::ping_every_checkout`]: PostgreSQL connections are pinged on every checkout.
    ping_every_checkout: Arc<AtomicBool>,
}

impl Db {
    /// Wraps an existing sea-orm connection (tests, or a caller with its own pool settings):
    /// reads and writes share it.
    pub fn from_connection(conn: DatabaseConnection) -> Db {
        Db {
            conn,
            reader: None,
            batcher: None,
            ping_every_checkout: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Opens `url` like [`connect`] with a pool of at most `max_connections` connections
    /// (at least 1; an in-memory SQLite database always has exactly one).
    pub async fn connect_with_pool_size(url: &str, max_connections: u32) -> Result<Db, StoreError> {
        open(url, Some(max_connections)).await
    }

    /// The most connections the pool holds at once (on a SQLite file: the readers' pool,
    /// `database.max_connections`; the writer's one connection is not counted).
    pub fn max_connections(&self) -> Option<u32> {
        match self.backend() {
            DbBackend::Sqlite => Some(
                self.reader()
                    .get_sqlite_connection_pool()
                    .options()
                    .get_max_connections(),
            ),
            DbBackend::Postgres => Some(
                self.conn
                    .get_postgres_connection_pool()
                    .options()
                    .get_max_connections(),
            ),
            _ => None,
        }
    }

    /// The pool's connections now: open and idle ones, and the most it may open (`None` for a
    /// backend other than SQLite and PostgreSQL).
    pub fn pool_status(&self) -> Option<PoolStatus> {
        macro_rules! status {
            ($pool:expr) => {{
                let pool = $pool;
                let open = pool.size();
                Some(PoolStatus {
                    open,
                    idle: u32::try_from(pool.num_idle()).unwrap_or(open).min(open),
                    max: pool.options().get_max_connections(),
                })
            }};
        }
        match self.backend() {
            DbBackend::Sqlite => status!(self.reader().get_sqlite_connection_pool()),
            DbBackend::Postgres => status!(self.conn.get_postgres_connection_pool()),
            _ => None,
        }
    }

    /// The connection for writes, and for reads that must be in order with this process's
    /// writes (on a SQLite file the one writer connection; see [`Db`]).
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// The connection for reads that take no lock and need not wait for writes in flight (on a
    /// SQLite file the readers' pool, which sees every committed write; elsewhere the same as
    /// [`Db::conn`]). A statement that writes must not go here.
    pub fn reader(&self) -> &DatabaseConnection {
        self.reader.as_ref().unwrap_or(&self.conn)
    }

    /// Which database this is: SQLite or PostgreSQL.
    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Starts a transaction that will write, on the caller's task. On SQLite it is
    /// `BEGIN IMMEDIATE`, which takes the write lock up front: a deferred transaction that reads
    /// and then writes can fail with SQLITE_BUSY when another writer got in between, and
    /// busy_timeout does not help there. The hot writes go through [`Db::write`] instead.
    pub async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        Ok(self.conn.begin_with_options(immediate()).await?)
    }

    /// Runs `write` — its statements through the [`WriteConn`] it is given — and returns its
    /// result.
    ///
    /// On a SQLite file opened in a multi-threaded runtime (the server's), the write queues for
    /// one task of that runtime, which runs it together with the writes queued beside it in one
    /// transaction and answers after the `COMMIT` (group commit; the rules that keep each write
    /// atomic are in `write_batch.rs`). A request task shares its thread with RSA and JSON work,
    /// so a write run inside it was polled late while holding the one writer connection, and
    /// each write paid the connection's checkout and give-back besides its statements (issue
    /// 16: `T_JSAPI` creates stopped at about 1,000/s with the CPU a third idle). Elsewhere it
    /// runs in place on the pool.
    ///
    /// `write` must make every statement through its [`WriteConn`], never through
    /// [`Db::conn`] or [`Db::begin_write`], which would wait for the connection its batch holds;
    /// and it must not wait on anything but the database. A `Db::write` inside it is refused
    /// ([`StoreError::Db`]) rather than left waiting for its own batch. It runs to its end even
    /// when the caller stops waiting: a write is never cut off half-way by a dropped request.
    ///
    /// Errors: the write's own; [`StoreError::Db`] when its batch did not commit (every write
    /// of the batch gets that error, and none of them is written), or when it panicked.
    pub async fn write<T, F>(
        &self,
        write: impl FnOnce(WriteConn) -> F + Send + 'static,
    ) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        match &self.batcher {
            Some(batcher) => batcher.write(write).await,
            None => write(WriteConn::pool(self.conn.clone())).await,
        }
    }

    /// The batches [`Db::write`] ran so far (`None` where writes run in place: PostgreSQL,
    /// in-memory SQLite, outside a multi-threaded runtime).
    pub fn write_batches(&self) -> Option<WriteBatches> {
        self.batcher.as_ref().map(|b| b.counts())
    }

    /// From now on every PostgreSQL connection is pinged before it is handed out, however
    /// briefly it was idle, and one whose ping fails is closed and replaced (sqlx's
    /// `before_acquire`); a stopping node calls this before its HTTP server stops. No effect on
    /// SQLite, nor on a [`Db::from_connection`] pool.
    ///
    /// Why: a PostgreSQL connection's socket belongs to the tokio runtime whose task opened it
    /// (it is registered with that runtime's I/O driver). The HTTP server's workers each run a
    /// runtime of their own (actix-web), and a connection one of them opened fails every
    /// statement once that worker has stopped ("A Tokio 1.x context was found, but it is being
    /// shutdown"). A connection idle less than [`POSTGRES_PING_IF_IDLE_FOR`] is otherwise handed
    /// out without a ping, so while a node stops — its workers ending one by one, its jobs and
    /// remaining requests finishing — statements would be handed dead connections. The ping of
    /// a dead one usually fails at once, but not always: tokio may still hold the socket as
    /// readable, and on the loopback the server's answer can already be there. So before its
    /// last writes a stopping node also closes the idle connections
    /// ([`Db::close_idle_connections`]). SQLite's connections run on threads of their own, not
    /// on a runtime's driver.
    pub fn ping_every_checkout(&self) {
        self.ping_every_checkout.store(true, Ordering::Relaxed);
    }

    /// Closes the PostgreSQL connections idle in the pool now, alive or not, so that the next
    /// statements open new ones on the runtime they run on; returns how many were closed (0 on
    /// SQLite). Best effort: it stops when sqlx hands out no idle connection at once (none
    /// left, or every permit taken), and after a pool's worth. Connections in use are left
    /// alone. A stopping node calls this once its HTTP server has stopped, and again once its
    /// jobs have ended, before its last writes: a connection an HTTP worker opened fails once
    /// that worker has stopped, and a ping does not always tell ([`Db::ping_every_checkout`]).
    pub async fn close_idle_connections(&self) -> usize {
        if self.backend() != DbBackend::Postgres {
            return 0;
        }
        let pool = self.conn.get_postgres_connection_pool();
        let mut closed = 0;
        while closed < pool.options().get_max_connections() as usize {
            let Some(idle) = pool.try_acquire() else {
                break;
            };
            // A dead connection's goodbye fails at once; it is dropped all the same.
            if let Err(e) = idle.close().await {
                tracing::debug!(error = %e, "an idle connection closed without its goodbye");
            }
            closed += 1;
        }
        closed
    }

    /// Closes the pools, waiting for connections to be returned.
    pub async fn close(self) -> Result<(), StoreError> {
        if let Some(reader) = self.reader {
            reader.close().await?;
        }
        Ok(self.conn.close().await?)
    }
}

/// A snapshot of the connection pool ([`Db::pool_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open now, in use or idle.
    pub open: u32,
    /// Open connections waiting in the pool for a user.
    pub idle: u32,
    /// The most connections the pool opens (`database.max_connections`).
    pub max: u32,
}

/// Opens `url`: `sqlite:` (e.g. `sqlite://data/nkpay.db`; the parent directory is created,
/// WAL journal, busy timeout, foreign keys on) or `postgres://` / `postgresql://`, with the
/// backend's default pool size ([`Db::connect_with_pool_size`] sets it).
pub async fn connect(url: &str) -> Result<Db, StoreError> {
    open(url, None).await
}

async fn open(url: &str, max_connections: Option<u32>) -> Result<Db, StoreError> {
    let max_connections = max_connections.map(|n| n.max(1));
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
            // Nothing can go stale between checkouts: the ping would only cost a hop to the
            // connection's worker thread and back.
            options.test_before_acquire(false);
            options.map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
            });
            if in_memory {
                // Each connection to `:memory:` is its own database, so keep exactly one.
                options.max_connections(1);
                return Ok(Db::from_connection(Database::connect(options).await?));
            }
            create_parent_dir(Path::new(path))?;
            // The writer first: it creates the file and switches it to WAL.
            let mut writer = options.clone();
            writer.max_connections(1).min_connections(1);
            let conn = Database::connect(writer).await?;
            options.max_connections(max_connections.unwrap_or(SQLITE_POOL_SIZE));
            let reader = Database::connect(options).await?;
            let batcher = tokio::runtime::Handle::try_current()
                .ok()
                .filter(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
                .map(|runtime| Batcher::start(conn.clone(), &runtime));
            Ok(Db {
                conn,
                reader: Some(reader),
                batcher,
                ping_every_checkout: Arc::new(AtomicBool::new(false)),
            })
        }
        "postgres" | "postgresql" => {
            let ping_every_checkout = Arc::new(AtomicBool::new(false));
            let ping_all = Arc::clone(&ping_every_checkout);
            options
                .max_connections(max_connections.unwrap_or(POSTGRES_POOL_SIZE))
                .test_before_acquire_if_idle_for(POSTGRES_PING_IF_IDLE_FOR)
                // After the idle ping (which sea-orm runs first): once the node stops, the
                // connections idle for less are pinged too (`Db::ping_every_checkout`).
                .map_sqlx_postgres_before_acquire(move |conn, meta| {
                    let ping = ping_all.load(Ordering::Relaxed)
                        && meta.idle_for < POSTGRES_PING_IF_IDLE_FOR;
                    Box::pin(async move {
                        if ping {
                            sea_orm::sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                });
            if plain_on_loopback(url, tls_variable_set()) {
                let mut plain = options.clone();
                plain.map_sqlx_postgres_opts(|o| o.ssl_mode(PgSslMode::Disable));
                match Database::connect(plain).await {
                    Ok(conn) => {
                        tracing::info!(
                            "PostgreSQL on the loopback, no sslmode named: connected without TLS"
                        );
                        return Ok(Db {
                            ping_every_checkout,
                            ..Db::from_connection(conn)
                        });
                    }
                    Err(e) if worth_asking_with_tls(&e) => {
                        tracing::warn!(
                            error = %e,
                            "PostgreSQL on the loopback refused a connection without TLS; \
                             connecting with TLS (name an sslmode on the URL to choose)"
                        );
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(Db {
                ping_every_checkout,
                ..Db::from_connection(Database::connect(options).await?)
            })
        }
        other => Err(StoreError::UnsupportedUrl {
            scheme: other.to_owned(),
        }),
    }
}

/// The URL parameters and environment variables by which a PostgreSQL connection asks for TLS
/// or configures it (sqlx's names, after libpq's).
const TLS_PARAMETERS: [&str; 9] = [
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
];
const TLS_VARIABLES: [&str; 4] = ["PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY"];

/// Whether a `postgres:` URL is opened without TLS: when the host sqlx will connect to over
/// TCP (the URL's host, or its `host=`/`hostaddr=` parameter, or `PGHOST`) is a loopback one
/// (`localhost`, 127.0.0.0/8, `::1`), and nothing asks for or configures TLS (none of
/// [`TLS_PARAMETERS`] on the URL; `tls_variable_set` false for [`TLS_VARIABLES`]). Otherwise
/// sqlx's default applies, `prefer`: TLS when the server offers it, with no certificate check.
///
/// On a PostgreSQL server on the same host, TLS without a certificate check guards nothing
/// that the host's own users could not read anyway, and it cost the query path about a sixth
/// of its throughput (issue 16; bench/README.md). A TCP forwarder listening on the loopback
/// (HAProxy, socat, a pooler) may carry the traffic further: such a deployment names its
/// `sslmode`. A server that refuses a plain start-up makes [`connect`] ask again with TLS.
fn plain_on_loopback(url: &str, tls_variable_set: bool) -> bool {
    use sea_orm::sqlx::postgres::PgConnectOptions;
    if tls_variable_set {
        return false;
    }
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    if parsed
        .query_pairs()
        .any(|(key, _)| TLS_PARAMETERS.contains(&key.as_ref()))
    {
        return false;
    }
    let Ok(options) = url.parse::<PgConnectOptions>() else {
        return false;
    };
    if options.get_socket().is_some() {
        return false;
    }
    let host = options.get_host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a refusal of a plain start-up is worth asking again with TLS: any refusal the
/// server (or a pooler in front of it) answered, except a wrong password (SQLSTATE 28P01),
/// which TLS does not change. PostgreSQL refuses a plain start-up that only `hostssl` lines of
/// `pg_hba.conf` would admit with 28000; PgBouncer with `client_tls_sslmode = require` with
/// 08P01. A connection that could not be made at all (refused, time-out) is final.
fn worth_asking_with_tls(e: &DbErr) -> bool {
    let DbErr::Conn(RuntimeErr::SqlxError(e)) = e else {
        return false;
    };
    e.as_database_error()
        .is_some_and(|d| d.code().is_none_or(|code| code != "28P01"))
}

/// Whether any of [`TLS_VARIABLES`] is set in this process's environment.
fn tls_variable_set() -> bool {
    TLS_VARIABLES
        .iter()
        .any(|name| std::env::var_os(name).is_some())
}

/// The row a lookup by a unique key found, if any: such lookups read `all()` rows, never
/// `one()`. sea-orm's `one()` adds `LIMIT ?` with the 1 as a bound parameter, and SQLite marks
/// a bound LIMIT as an input of the query plan (`sqlite3ExprIsInteger` sets the statement's
/// variable mask), so every rebinding expires the cached prepared statement and the next step
/// parses the SQL again (issue 16: a few per cent of the query path's CPU). A unique key
/// matches at most one row, so the answer is the same.
pub(crate) fn unique_row<T>(rows: Vec<T>) -> Option<T> {
    rows.into_iter().next()
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
    use std::sync::{Arc, Mutex};

    /// Holds `n` connections of a pool sized `n`: a further acquire waits until one is
    /// returned, and the pool never opens more than `n`.
    async fn pool_holds_exactly(url: &str, n: u32, label: &str) {
        let db = Db::connect_with_pool_size(url, n)
            .await
            .unwrap_or_else(|e| panic!("{label}: connect {e}"));
        assert_eq!(db.max_connections(), Some(n), "{label}");
        macro_rules! check {
            ($pool:expr) => {{
                let pool = $pool;
                let mut held = Vec::new();
                for _ in 0..n {
                    held.push(pool.acquire().await.expect("acquire"));
                }
                assert_eq!(pool.size(), n, "{label}: all {n} connections open");
                let more = pool.acquire();
                let mut more = tokio::spawn(more);
                // It cannot complete while all n are held, however long we look.
                assert!(
                    tokio::time::timeout(Duration::from_millis(300), &mut more)
                        .await
                        .is_err(),
                    "{label}: connection {} was handed out beyond the pool size",
                    n + 1
                );
                assert!(pool.try_acquire().is_none(), "{label}");
                drop(held.pop());
                let conn = tokio::time::timeout(Duration::from_secs(25), more)
                    .await
                    .expect("the waiting acquire completes once one is returned")
                    .expect("join")
                    .expect("acquire");
                assert_eq!(
                    pool.size(),
                    n,
                    "{label}: no connection beyond the pool size"
                );
                drop(conn);
            }};
        }
        match db.backend() {
            DbBackend::Sqlite => check!(db.reader().get_sqlite_connection_pool()),
            _ => check!(db.conn().get_postgres_connection_pool()),
        }
        db.close().await.expect("close");
    }

    #[test]
    fn tls_is_left_out_only_for_loopback_urls_that_say_nothing_about_it() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgresql://u:p@localhost/db",
            "postgres://u@LOCALHOST:5433/db?application_name=x",
            "postgres://u@127.0.0.2/db",
            "postgres://u@[::1]:5432/db",
            "postgres://u@db.example.com/db?host=127.0.0.1",
        ] {
            assert!(plain_on_loopback(url, false), "{url}");
            assert!(
                !plain_on_loopback(url, true),
                "{url}: a PGSSL… variable decides"
            );
        }
        for url in [
            "postgres://u@127.0.0.1/db?sslmode=prefer",
            "postgres://u@127.0.0.1/db?sslmode=require",
            "postgres://u@localhost/db?ssl-mode=verify-full",
            "postgres://u@localhost/db?sslrootcert=/etc/ca.pem",
            "postgres://u@localhost/db?sslcert=/etc/c.pem&sslkey=/etc/k.pem",
            "postgres://u@localhost/db?host=db.internal",
            "postgres://u@localhost/db?hostaddr=10.0.0.5",
            "postgres://u@localhost/db?host=/var/run/postgresql",
            "postgres://u@db.example.com/db",
            "postgres://u@10.0.0.5/db",
            "postgres://u@[2001:db8::1]/db",
            "not a url",
        ] {
            assert!(!plain_on_loopback(url, false), "{url}");
        }
    }

    /// A stand-in PostgreSQL server on the loopback that refuses every start-up: a plain one
    /// with SQLSTATE `plain_code`, one after a TLS request (answered `N`, no TLS here, so
    /// the client goes on in plain) with 28P01. Returns its URL and, per connection, whether
    /// the client asked for TLS first.
    async fn refusing_server(plain_code: &'static str) -> (String, Arc<Mutex<Vec<bool>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::TcpStream;
        async fn message(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
            let len = s.read_u32().await? as usize;
            let mut body = vec![0; len.saturating_sub(4)];
            s.read_exact(&mut body).await?;
            Ok(body)
        }
        fn error(code: &str, text: &str) -> Vec<u8> {
            let mut fields = Vec::new();
            for (tag, value) in [(b'S', "FATAL"), (b'V', "FATAL"), (b'C', code), (b'M', text)] {
                fields.push(tag);
                fields.extend_from_slice(value.as_bytes());
                fields.push(0);
            }
            fields.push(0);
            let mut out = vec![b'E'];
            out.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
            out.extend_from_slice(&fields);
            out
        }
        const SSL_REQUEST: [u8; 4] = 80_877_103u32.to_be_bytes();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "postgres://nkpay@{}/nkpay",
            listener.local_addr().expect("addr")
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let Ok(first) = message(&mut s).await else {
                    continue;
                };
                let asked_tls = first.starts_with(&SSL_REQUEST);
                if asked_tls {
                    let _ = s.write_all(b"N").await;
                    let _ = message(&mut s).await;
                }
                log.lock().expect("log").push(asked_tls);
                let reply = if asked_tls {
                    error("28P01", "refused after the TLS request")
                } else {
                    error(plain_code, "refused in plain")
                };
                let _ = s.write_all(&reply).await;
            }
        });
        (url, seen)
    }

    /// A loopback server that refuses a plain start-up (PostgreSQL's `pg_hba.conf`: 28000;
    /// PgBouncer requiring TLS: 08P01) is asked again the default way, TLS first; a wrong
    /// password (28P01) is final.
    #[tokio::test]
    async fn a_loopback_server_refusing_plain_connections_is_asked_again_with_tls() {
        if tls_variable_set() {
            eprintln!("a PGSSL… variable is set: the TLS choice is not ours to make; skipped");
            return;
        }
        for code in ["28000", "08P01"] {
            let (url, seen) = refusing_server(code).await;
            let e = connect(&url).await.expect_err("refused");
            assert!(
                e.to_string().contains("refused after the TLS request"),
                "{code}: {e}"
            );
            assert_eq!(*seen.lock().expect("seen"), vec![false, true], "{code}");
        }

        let (url, seen) = refusing_server("28P01").await;
        let e = connect(&url).await.expect_err("refused");
        assert!(e.to_string().contains("refused in plain"), "{e}");
        assert_eq!(*seen.lock().expect("seen"), vec![false], "no second try");
    }

    /// On the test server (a loopback URL without `sslmode` in CI): the connection is plain;
    /// an explicit `sslmode=require` is kept and gets TLS when the server offers it.
    #[tokio::test]
    async fn a_loopback_url_without_sslmode_connects_in_plain_and_an_explicit_one_is_kept() {
        use sea_orm::{ConnectionTrait, Statement};
        let Some((pg, probe)) = crate::testing::postgres_server().await else {
            return;
        };
        let _ = probe.close().await;
        async fn uses_tls(db: &Db) -> bool {
            let row = db
                .conn()
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                ))
                .await
                .expect("pg_stat_ssl")
                .expect("this backend's row");
            row.try_get::<bool>("", "ssl").expect("ssl")
        }
        let db = connect(&pg).await.expect("postgres");
        if plain_on_loopback(&pg, tls_variable_set()) {
            assert!(!uses_tls(&db).await, "{pg}: plain on the loopback");
        } else {
            eprintln!("{pg} is not a loopback URL without TLS settings: plain half skipped");
        }
        let offers_tls = db
            .conn()
            .query_one_raw(Statement::from_string(DbBackend::Postgres, "SHOW ssl"))
            .await
            .expect("SHOW ssl")
            .and_then(|r| r.try_get::<String>("", "ssl").ok())
            .is_some_and(|v| v == "on");
        db.close().await.expect("close");
        if !offers_tls || pg.contains('?') {
            eprintln!("the test server offers no TLS (or its URL has parameters): half skipped");
            return;
        }
        let db = connect(&format!("{pg}?sslmode=require"))
            .await
            .expect("postgres with TLS");
        assert!(uses_tls(&db).await, "{pg}: sslmode=require is kept");
        db.close().await.expect("close");
    }

    #[tokio::test]
    async fn the_pool_has_the_configured_size_on_sqlite_and_postgres() {
        let dir = std::env::temp_dir().join(format!("nkpay-pool-{}", std::process::id()));
        let file = dir.join("pool.db");
        pool_holds_exactly(&format!("sqlite://{}", file.display()), 3, "sqlite").await;
        let _ = std::fs::remove_dir_all(&dir);
        // Without a size the backend default applies.
        let db = connect("sqlite::memory:").await.expect("memory");
        assert_eq!(db.max_connections(), Some(1));

        if let Some((pg, probe)) = crate::testing::postgres_server().await {
            let _ = probe.close().await;
            pool_holds_exactly(&pg, 2, "postgres").await;
            let db = connect(&pg).await.expect("postgres");
            assert_eq!(db.max_connections(), Some(POSTGRES_POOL_SIZE));
        }
    }

    /// SQLite connections are handed out without a ping; a PostgreSQL connection the server
    /// ended is pinged once idle past [`POSTGRES_PING_IF_IDLE_FOR`], found dead and replaced,
    /// so the statement after a quiet spell succeeds on a new backend.
    #[tokio::test]
    async fn pooled_connections_are_pinged_only_on_postgres_after_an_idle_spell() {
        let dir = std::env::temp_dir().join(format!("nkpay-ping-{}", std::process::id()));
        let db = Db::connect_with_pool_size(&format!("sqlite://{}", dir.join("p.db").display()), 2)
            .await
            .expect("sqlite");
        for pool in [&db.conn, db.reader()] {
            assert!(
                !pool
                    .get_sqlite_connection_pool()
                    .options()
                    .get_test_before_acquire()
            );
        }
        db.close().await.expect("close");
        let _ = std::fs::remove_dir_all(&dir);

        let Some((pg, killer)) = crate::testing::postgres_server().await else {
            return;
        };
        let db = Db::connect_with_pool_size(&pg, 1).await.expect("postgres");
        let first = backend_pid(&db).await.expect("first statement");
        let used = std::time::Instant::now();
        terminate_backend(&killer, first).await;
        let _ = killer.close().await;
        // The idle spell is the condition under test: after it the checkout pings.
        tokio::time::sleep(POSTGRES_PING_IF_IDLE_FOR.saturating_sub(used.elapsed())).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = backend_pid(&db)
            .await
            .expect("the dead connection was replaced");
        assert_ne!(first, second, "a new backend answers");
        db.close().await.expect("close");
    }

    /// After [`Db::close_idle_connections`] a PostgreSQL connection opened by a runtime that has
    /// since ended (an HTTP worker's, when the server stops) is gone, and the next statement
    /// runs on a new connection of its own runtime; SQLite keeps its connections.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn close_idle_connections_drops_the_connections_of_an_ended_runtime() {
        use sea_orm::{ConnectionTrait, Statement};
        let dir = std::env::temp_dir().join(format!("nkpay-idle-{}", std::process::id()));
        let url = format!("sqlite://{}", dir.join("i.db").display());
        let sqlite = Db::connect_with_pool_size(&url, 2).await.expect("sqlite");
        assert_eq!(sqlite.close_idle_connections().await, 0);
        assert_eq!(
            sqlite.conn.get_sqlite_connection_pool().size(),
            1,
            "the writer is kept"
        );
        sqlite.close().await.expect("close");
        let _ = std::fs::remove_dir_all(&dir);

        let Some((pg, probe)) = crate::testing::postgres_server().await else {
            return;
        };
        let _ = probe.close().await;
        let db = Db::connect_with_pool_size(&pg, 1).await.expect("postgres");
        let select_one = |db: Db| async move {
            db.conn()
                .execute_raw(Statement::from_string(DbBackend::Postgres, "SELECT 1"))
                .await
        };
        // On a runtime of its own (a thread's): empty the pool, run a statement, which opens the
        // pool's one connection there, wait until it is back in the pool, and end the runtime.
        let db_on_thread = db.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let pool = db_on_thread.conn.get_postgres_connection_pool();
                wait_for("an empty pool", || async {
                    while let Some(idle) = pool.try_acquire() {
                        let _ = idle.close().await;
                    }
                    pool.size() == 0
                })
                .await;
                select_one(db_on_thread.clone())
                    .await
                    .expect("on the thread's runtime");
                wait_for("the connection back in the pool", || async {
                    pool.num_idle() == 1
                })
                .await;
            })
        })
        .join()
        .expect("the thread");

        assert_eq!(db.close_idle_connections().await, 1);
        select_one(db.clone())
            .await
            .expect("after the close, a new connection answers");
        db.close().await.expect("close");
    }

    /// After [`Db::ping_every_checkout`] a PostgreSQL connection is pinged however briefly it
    /// was idle: one whose backend ended a moment ago is replaced, and the statement answers.
    #[tokio::test]
    async fn after_ping_every_checkout_a_dead_connection_is_replaced_at_once() {
        use sea_orm::{ConnectionTrait, Statement};
        let Some((pg, probe)) = crate::testing::postgres_server().await else {
            return;
        };
        let db = Db::connect_with_pool_size(&pg, 1).await.expect("postgres");
        let first = backend_pid(&db).await.expect("first statement");
        db.ping_every_checkout();
        terminate_backend(&probe, first).await;
        let gone = format!("SELECT 1 FROM pg_stat_activity WHERE pid = {first}");
        wait_for("the backend to end", || async {
            probe
                .query_one_raw(Statement::from_string(DbBackend::Postgres, gone.clone()))
                .await
                .expect("pg_stat_activity")
                .is_none()
        })
        .await;
        let second = backend_pid(&db)
            .await
            .expect("the dead connection was replaced at checkout");
        assert_ne!(first, second, "a new backend answers");
        let _ = probe.close().await;
        db.close().await.expect("close");
    }

    /// The PostgreSQL backend process that answers `db`'s next statement.
    async fn backend_pid(db: &Db) -> Result<i32, sea_orm::DbErr> {
        use sea_orm::{ConnectionTrait, Statement};
        let row = db
            .conn()
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_backend_pid() AS pid",
            ))
            .await?
            .expect("a row");
        Ok(row.try_get::<i32>("", "pid").expect("pid"))
    }

    /// Ends the PostgreSQL backend `pid` from the `server` connection (`pg_terminate_backend`).
    async fn terminate_backend(server: &DatabaseConnection, pid: i32) {
        use sea_orm::{ConnectionTrait, Statement};
        server
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT pg_terminate_backend({pid})"),
            ))
            .await
            .expect("terminate");
    }

    /// Polls `cond` every millisecond until it holds (at most 30 s, then panics naming `what`).
    async fn wait_for<F: std::future::Future<Output = bool>>(
        what: &str,
        mut cond: impl FnMut() -> F,
    ) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !cond().await {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// In a multi-threaded runtime a SQLite file's writes run on the write queue's task of that
    /// runtime, and one whose caller stopped waiting still completes; in a current-thread
    /// runtime (and on PostgreSQL) they run in place.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_run_on_the_runtime_and_finish_when_the_caller_stops_waiting() {
        use sea_orm::{ConnectionTrait, Statement};
        let dir = std::env::temp_dir().join(format!("nkpay-write-{}", std::process::id()));
        let url = format!("sqlite://{}", dir.join("w.db").display());
        let db = Db::connect_with_pool_size(&url, 2).await.expect("sqlite");
        assert!(db.batcher.is_some(), "opened in a multi-threaded runtime");
        let sql = |text: &str| Statement::from_string(DbBackend::Sqlite, text.to_owned());
        db.conn()
            .execute_raw(sql("CREATE TABLE t (n INTEGER)"))
            .await
            .expect("create");
        let caller = std::thread::current().id();
        let ran_on = db
            .write(move |w| async move {
                w.executor()
                    .execute_raw(sql("INSERT INTO t VALUES (1)"))
                    .await?;
                Ok(std::thread::current().id())
            })
            .await
            .expect("write");
        assert_ne!(ran_on, caller, "the write ran as a task of the runtime");

        // Polled once (the task starts and waits for the gate), then dropped: once the gate
        // opens the insert still lands.
        let (open, gate) = tokio::sync::oneshot::channel::<()>();
        let started = db.write(move |w| async move {
            let _ = gate.await;
            w.executor()
                .execute_raw(sql("INSERT INTO t VALUES (2)"))
                .await?;
            Ok(())
        });
        let first_poll = tokio::time::timeout(Duration::ZERO, started).await;
        assert!(
            first_poll.is_err(),
            "finished at its first poll: {first_poll:?}"
        );
        open.send(()).expect("the task waits at the gate");
        let count = || async {
            let row = db
                .reader()
                .query_one_raw(sql("SELECT COUNT(*) AS n FROM t"))
                .await
                .expect("count")
                .expect("row");
            row.try_get::<i64>("", "n").expect("n")
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while count().await < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "the dropped write never landed"
            );
            tokio::task::yield_now().await;
        }
        db.close().await.expect("close");
        let _ = std::fs::remove_dir_all(&dir);

        let in_place = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let db = Db::connect_with_pool_size(&url.replace("w.db", "c.db"), 1)
                    .await
                    .expect("sqlite");
                let none = db.batcher.is_none();
                db.close().await.expect("close");
                none
            })
        });
        assert!(
            in_place.join().expect("thread"),
            "current-thread runtime: in place"
        );
    }

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
