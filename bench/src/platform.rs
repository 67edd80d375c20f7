//! The targets as processes: the floor (`nkpay-bench floor`) and the platform (`nkpay demo`, its
//! simulators in-process, on SQLite or on a fresh PostgreSQL database), each on free loopback
//! ports, waited for by condition (a port that answers, `/readyz`, the credentials file).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use hyper::Method;
use nkpay_store::sea_orm::{ConnectionTrait, Database};
use serde::Deserialize;

use crate::load::Client;

/// Which database the platform runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DbKind {
    /// A SQLite file in the run's directory (the embedded default).
    Sqlite,
    /// A fresh database on the PostgreSQL server of `NKPAY_TEST_DATABASE_URL`.
    Postgres,
}

impl DbKind {
    /// "SQLite" or "PostgreSQL", for the table.
    pub fn label(self) -> &'static str {
        match self {
            DbKind::Sqlite => "SQLite",
            DbKind::Postgres => "PostgreSQL",
        }
    }
}

/// The parts of `data/demo/credentials.json` the harness uses (nkpay-server's `demo.rs`
/// `Credentials`).
#[derive(Debug, Clone, Deserialize)]
pub struct Credentials {
    /// The simulators' base URL.
    pub sandbox_url: String,
    /// The service provider's `sys_id`.
    pub sys_id: String,
    /// Its `product_id`.
    pub product_id: String,
    /// Its private key (PKCS#8 PEM).
    pub private_key: String,
    /// The onboarded merchants.
    pub merchants: Vec<DemoMerchant>,
}

/// One onboarded demo merchant.
#[derive(Debug, Clone, Deserialize)]
pub struct DemoMerchant {
    /// Its `mer_id` (`huifu_id`).
    pub mer_id: String,
    /// Official-account appids bound to it (`T_JSAPI`).
    pub wx_mp_appids: Vec<String>,
    /// Mini-program appids bound to it (`T_MINIAPP`).
    pub wx_miniapp_appids: Vec<String>,
    /// Whether its Alipay business is open (`A_NATIVE`).
    pub alipay: bool,
}

impl Credentials {
    /// The first merchant that can take every trade type the harness sends.
    ///
    /// Errors: no demo merchant has an official-account appid, a mini-program appid and
    /// Alipay.
    pub fn merchant(&self) -> anyhow::Result<&DemoMerchant> {
        self.merchants
            .iter()
            .find(|m| !m.wx_mp_appids.is_empty() && !m.wx_miniapp_appids.is_empty() && m.alipay)
            .context("no demo merchant has an mp appid, a mini-program appid and Alipay")
    }
}

/// A free loopback port (bound, then released for the child to take).
///
/// Errors: nothing could be bound.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// The socket address of an `http://host:port…` base URL.
///
/// Errors: the URL has no `host:port` that parses as an address.
pub fn addr_of(base_url: &str) -> anyhow::Result<SocketAddr> {
    let rest = base_url
        .strip_prefix("http://")
        .with_context(|| format!("{base_url}: not http://"))?;
    let host_port = rest.split('/').next().unwrap_or(rest);
    host_port
        .parse()
        .with_context(|| format!("{base_url}: not an IP address and port"))
}

/// A child process killed when dropped.
pub struct Process {
    child: Child,
    /// Its stdout + stderr.
    pub log: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    fn spawn(mut command: Command, log: PathBuf) -> anyhow::Result<Process> {
        let out = std::fs::File::create(&log)
            .with_context(|| format!("creating the log {}", log.display()))?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {command:?}"))?;
        Ok(Process { child, log })
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: String = log
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            bail!("{} exited with {status}:\n{tail}", self.log.display());
        }
        Ok(())
    }
}

/// Polls `ready` every 50 ms until it is true, the process dies, or `limit` passes.
async fn wait_until<F, Fut>(
    process: &mut Process,
    what: &str,
    limit: Duration,
    mut ready: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        process.check_alive()?;
        if ready().await {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "{what} not ready after {limit:?} (log: {})",
                process.log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn answers_get(addr: SocketAddr, path: &str) -> bool {
    let mut c = Client::new(addr);
    matches!(c.call(Method::GET, path, Bytes::new()).await, Ok((200, _)))
}

async fn answers_post(addr: SocketAddr) -> bool {
    let mut c = Client::new(addr);
    c.call(Method::POST, "/", Bytes::new()).await.is_ok()
}

/// The floor as a child process (`<bench binary> floor`), verifying with the public key in
/// `caller_key` (SPKI PEM file).
pub struct Floor {
    /// Where it listens.
    pub addr: SocketAddr,
    _process: Process,
}

impl Floor {
    /// Starts it and waits until it answers.
    ///
    /// Errors: it could not be started or never answered within a minute.
    pub async fn start(dir: &Path, caller_key: &Path) -> anyhow::Result<Floor> {
        let port = free_port()?;
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("floor")
            .arg("--port")
            .arg(port.to_string())
            .arg("--caller-key")
            .arg(caller_key);
        let mut process = Process::spawn(command, dir.join("floor.log"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_until(&mut process, "the floor", Duration::from_secs(60), || {
            answers_post(addr)
        })
        .await?;
        Ok(Floor {
            addr,
            _process: process,
        })
    }
}

/// A running `nkpay demo`.
pub struct Platform {
    /// What the demo wrote for merchants.
    pub credentials: Credentials,
    /// The merchant API's address.
    pub addr: SocketAddr,
    /// The simulators' address.
    pub sandbox_addr: SocketAddr,
    /// The database URL it runs on (the notify mode writes notifications there).
    pub database_url: String,
    process: Option<Process>,
    postgres: Option<FreshPostgres>,
}

impl Platform {
    /// Starts `<bin_dir>/nkpay demo` in `dir` on `db` and waits until `/readyz` answers and the
    /// credentials are written. The environment is passed through, so any `NKPAY__…` setting
    /// applies; the ports, the database and the master key file are the run's own.
    ///
    /// Errors: no `nkpay` binary, no PostgreSQL server, or the demo never became ready (its log
    /// is named).
    pub async fn start(bin_dir: &Path, dir: &Path, db: DbKind) -> anyhow::Result<Platform> {
        let exe = bin_dir.join("nkpay");
        anyhow::ensure!(
            exe.exists(),
            "{} not found: cargo build --release -p nkpay-server",
            exe.display()
        );
        let (database_url, postgres) = match db {
            DbKind::Sqlite => (
                format!("sqlite://{}/nkpay.db?mode=rwc", dir.display()),
                None,
            ),
            DbKind::Postgres => {
                let fresh = FreshPostgres::create().await?;
                (fresh.url.clone(), Some(fresh))
            }
        };
        let port = free_port()?;
        let sandbox_port = free_port()?;
        let credentials_path = dir.join("credentials.json");
        let mut command = Command::new(&exe);
        command
            .current_dir(dir)
            .arg("demo")
            .arg("--credentials")
            .arg(&credentials_path)
            .env("NKPAY__SERVER__PORT", port.to_string())
            .env(
                "NKPAY__SERVER__PUBLIC_BASE_URL",
                format!("http://127.0.0.1:{port}"),
            )
            .env("NKPAY__SANDBOX__PORT", sandbox_port.to_string())
            .env("NKPAY__DATABASE__URL", &database_url)
            .env("NKPAY__SECRETS__MASTER_KEY_FILE", dir.join("master.key"));
        // One receiving host gets every notification in the notify mode: let the dispatcher
        // use its whole concurrency there unless told otherwise.
        // The abuse limits stay switched on (every request is still counted), with allowances
        // above any rate this machine reaches: the bench's one sys_id, and its one address for
        // every channel notify, would otherwise measure the limits (100 requests/s, 50
        // callbacks/s by default), not the platform.
        for (key, value) in [
            ("NKPAY__NOTIFY__PER_HOST_CONCURRENCY", "32"),
            ("NKPAY__LIMITS__PER_SYS_ID_PER_SEC", "100000"),
            ("NKPAY__LIMITS__PER_SYS_ID_BURST", "1000000"),
            ("NKPAY__LIMITS__CALLBACK_PER_ADDR_PER_SEC", "100000"),
            ("NKPAY__LIMITS__CALLBACK_BURST", "1000000"),
        ] {
            if std::env::var_os(key).is_none() {
                command.env(key, value);
            }
        }
        let mut process = Process::spawn(command, dir.join("nkpay.log"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let creds = credentials_path.clone();
        wait_until(&mut process, "nkpay demo", Duration::from_secs(180), || {
            let creds = creds.clone();
            async move { creds.exists() && answers_get(addr, "/readyz").await }
        })
        .await?;
        let text = std::fs::read_to_string(&credentials_path)
            .with_context(|| format!("reading {}", credentials_path.display()))?;
        let credentials: Credentials = serde_json::from_str(&text)
            .with_context(|| format!("reading {}", credentials_path.display()))?;
        Ok(Platform {
            addr,
            sandbox_addr: addr_of(&credentials.sandbox_url)?,
            credentials,
            database_url,
            process: Some(process),
            postgres,
        })
    }

    /// Stops the demo, then drops its PostgreSQL database (if any).
    pub async fn stop(mut self) {
        self.process.take();
        if let Some(pg) = self.postgres.take() {
            pg.drop_database().await;
        }
    }
}

/// A database of its own on the PostgreSQL server of `NKPAY_TEST_DATABASE_URL` (default
/// `postgres://postgres@127.0.0.1:5432/test`), dropped after the run.
struct FreshPostgres {
    server_url: String,
    name: String,
    url: String,
}

impl FreshPostgres {
    async fn create() -> anyhow::Result<FreshPostgres> {
        let server_url = std::env::var("NKPAY_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let name = format!("nkpay_bench_{}", chrono::Utc::now().timestamp_millis());
        let conn = Database::connect(&server_url)
            .await
            .with_context(|| format!("connecting to PostgreSQL {server_url}"))?;
        conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        let url = with_database(&server_url, &name)?;
        Ok(FreshPostgres {
            server_url,
            name,
            url,
        })
    }

    async fn drop_database(self) {
        match Database::connect(&self.server_url).await {
            Ok(conn) => {
                let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                if let Err(e) = conn.execute_unprepared(&sql).await {
                    eprintln!("dropping {}: {e}", self.name);
                }
            }
            Err(e) => eprintln!("dropping {}: {e}", self.name),
        }
    }
}

/// `server_url` with its database path replaced by `name` (its query string kept).
///
/// Errors: the URL has no `scheme://host/` part.
pub fn with_database(server_url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match server_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server_url, None),
    };
    let after_scheme = base.find("://").context("no scheme in the database URL")? + 3;
    let host_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let mut url = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_database_keeps_the_servers_host_user_and_options() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "nb_1").unwrap(),
            "postgres://postgres@127.0.0.1:5432/nb_1"
        );
        assert_eq!(
            with_database("postgres://u:p@db:5432?sslmode=disable", "nb_1").unwrap(),
            "postgres://u:p@db:5432/nb_1?sslmode=disable"
        );
        assert!(with_database("nonsense", "x").is_err());
    }

    #[test]
    fn base_urls_give_their_socket_address() {
        assert_eq!(
            addr_of("http://127.0.0.1:8090/").unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 8090))
        );
        assert_eq!(addr_of("http://127.0.0.1:8080").unwrap().port(), 8080);
        assert!(addr_of("https://x").is_err());
    }

    #[test]
    fn the_merchant_chosen_takes_every_trade_type() {
        let creds: Credentials = serde_json::from_str(
            r#"{"base_url":"b","sandbox_url":"s","sys_id":"1","product_id":"p","private_key":"k",
                "merchants":[
                  {"mer_id":"a","wx_mp_appids":["wx1"],"wx_miniapp_appids":[],"alipay":true},
                  {"mer_id":"b","wx_mp_appids":["wx1"],"wx_miniapp_appids":["wx2"],"alipay":true}]}"#,
        )
        .unwrap();
        assert_eq!(creds.merchant().unwrap().mer_id, "b");
    }
}
