//! `nkpay serve` as one of many nodes (issue 14), on SQLite and PostgreSQL: a second process
//! with a live node's `server.node_id` refuses to start, naming the holder, and exits
//! non-zero; SIGTERM on a node with work in flight lets it finish, gives back every claim,
//! ends the node lease and exits 0; a node stopped under load ends its lease too, and its id
//! starts again at once.

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use nkpay_core::money::Money;
use nkpay_core::secret::Secret;
use nkpay_core::trade_type::TradeType;
use nkpay_crypto::sealed::SecretSealer;
use nkpay_store::accounts::{self, NewWechatAccount};
use nkpay_store::entity::trade;
use nkpay_store::kinds::MerchantKind;
use nkpay_store::merchants::{self, NewMerchant, NewServiceProvider};
use nkpay_store::trades::{self, NewTrade};
use nkpay_store::{Db, node_leases};
use sea_orm::{ConnectionTrait, Database, EntityTrait};
use support::{free_port, logged, stderr_file, temp_dir, wait_until_ready};

const BIN: &str = env!("CARGO_BIN_EXE_nkpay");
const NODE_ID: u16 = 5;

/// One database per test: a SQLite file, and a fresh PostgreSQL database when the server
/// answers (skipped loudly otherwise, a failure under CI).
struct TestDatabases {
    rt: tokio::runtime::Runtime,
    urls: Vec<(&'static str, String)>,
    pg: Option<(sea_orm::DatabaseConnection, String)>,
}

impl TestDatabases {
    fn new(name: &str) -> TestDatabases {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let dir = temp_dir("nodes", name);
        let mut urls = vec![(
            "sqlite",
            format!("sqlite://{}/nkpay.db?mode=rwc", dir.display()),
        )];
        let server = std::env::var("NKPAY_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let pg = match rt.block_on(Database::connect(&server)) {
            Ok(admin) => {
                let db_name = format!(
                    "nkpay_t_{}_nodes{}_{name}",
                    Utc::now().timestamp(),
                    std::process::id()
                );
                rt.block_on(admin.execute_unprepared(&format!("CREATE DATABASE {db_name}")))
                    .expect("create database");
                let (base, _) = server.rsplit_once('/').expect("server URL with a path");
                urls.push(("postgres", format!("{base}/{db_name}")));
                Some((admin, db_name))
            }
            Err(e) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true")
                        && std::env::var("NKPAY_TEST_DATABASE_URL").is_err(),
                    "PostgreSQL is required: {e}"
                );
                eprintln!("!!! PostgreSQL unreachable ({e}): the PostgreSQL half was SKIPPED");
                None
            }
        };
        TestDatabases { rt, urls, pg }
    }

    fn connect(&self, url: &str) -> Db {
        self.rt
            .block_on(Db::connect_with_pool_size(url, 2))
            .expect("connect")
    }
}

impl Drop for TestDatabases {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg {
            let _ = self.rt.block_on(
                admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
            );
        }
    }
}

fn nkpay(dir: &Path, db_url: &str, port: u16, master_key: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env("NKPAY__DATABASE__URL", db_url)
        .env("NKPAY__SERVER__PORT", port.to_string())
        .env(
            "NKPAY__SERVER__PUBLIC_BASE_URL",
            format!("http://127.0.0.1:{port}"),
        )
        .env("NKPAY__SERVER__NODE_ID", NODE_ID.to_string())
        .env("NKPAY__SANDBOX__ENABLED", "false")
        .env("NKPAY__SECRETS__MASTER_KEY", master_key)
        .env("NKPAY__LOG__FORMAT", "json")
        .stdout(Stdio::null());
    cmd
}

fn get(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split(' ').nth(1)?.parse().ok()
}

/// Waits until `/readyz` answers 200 on `port` (see [`support::wait_until_ready`]).
fn wait_ready(child: &mut Child, port: u16, stderr: &Path) {
    wait_until_ready(child, stderr, || get(port, "/readyz") == Some(200));
}

/// Waits (generously) for `child` to exit by itself.
fn wait_exit(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "{what}: nkpay did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A started `nkpay serve`: the child, the port it listens on, and its stderr file.
struct Node {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Node {
    /// Runs [`nkpay`] on `url` and a free port, with the arguments and settings `args` adds and
    /// its stderr in `<dir>/<name>.stderr`, and waits until it is ready.
    fn start(
        dir: &Path,
        url: &str,
        master_key: &str,
        name: &str,
        args: impl FnOnce(&mut Command) -> &mut Command,
    ) -> Node {
        let port = free_port();
        let (stderr, log) = stderr_file(dir, name);
        let mut child = args(&mut nkpay(dir, url, port, master_key))
            .stderr(stderr)
            .spawn()
            .expect("spawn nkpay");
        wait_ready(&mut child, port, &log);
        Node { child, port, log }
    }

    /// SIGTERM, then waits for the exit and asserts it is the graceful stop's 0. Returns what
    /// the node logged.
    fn stop(mut self, label: &str) -> String {
        sigterm(&self.child);
        let status = wait_exit(&mut self.child, label);
        let log = logged(&self.log);
        assert!(
            status.success(),
            "{label}: graceful stop exits 0, got {status}; the node logged:\n{log}"
        );
        log
    }
}

impl Drop for Node {
    /// A test that failed before [`Node::stop`] leaves no node running behind it.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sets its flag when dropped: load threads polling the flag end even when the test fails.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_second_node_with_a_live_node_id_refuses_to_start_naming_the_holder() {
    let dbs = TestDatabases::new("dup");
    let master_key = SecretSealer::generate_key_base64();
    for (label, url) in &dbs.urls {
        let dir = temp_dir("nodes", label);
        let a = Node::start(&dir, url, &master_key, "a", |c| c.arg("serve"));

        let out = nkpay(&dir, url, free_port(), &master_key)
            .args(["serve", "--no-migrate"])
            .output()
            .expect("run b");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{label}: b must not start: {stderr}");
        for part in [
            format!("server.node_id {NODE_ID} is in use"),
            format!("pid {}", a.child.id()),
            "until".to_owned(),
        ] {
            assert!(stderr.contains(&part), "{label}: {part:?} in {stderr}");
        }
        assert_eq!(get(a.port, "/readyz"), Some(200), "{label}: a still serves");

        let a_log = a.stop(label);
        let db = dbs.connect(url);
        let row = dbs
            .rt
            .block_on(node_leases::find(db.conn(), i32::from(NODE_ID)))
            .expect("read lease")
            .expect("the node's row");
        assert!(
            row.lease_until <= Utc::now(),
            "{label}: lease released: {row:?}; node a logged:\n{a_log}"
        );

        // Released, the id is free at once: another process takes it.
        Node::start(&dir, url, &master_key, "c", |c| {
            c.args(["serve", "--no-migrate"])
        })
        .stop(label);
    }
}

/// A channel that accepts connections and answers each request only after `delay`, with an
/// empty body (the connector reads it as a failed query): queries are in flight for a while.
fn slow_channel(delay: Duration) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let held = Arc::new(Mutex::new(Vec::new()));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let held = held.clone();
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = stream.read(&mut buf);
                std::thread::sleep(delay);
                let _ = stream.write_all(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                if let Ok(mut h) = held.lock() {
                    h.push(stream);
                }
            });
        }
    });
    (url, seen)
}

/// A service provider, a merchant, a WeChat account at `gateway` and `count` processing trades
/// due for a channel query now.
async fn seed_due_trades(db: &Db, master_key: &str, gateway: &str, count: usize) {
    let sealer = SecretSealer::from_key_base64(master_key).expect("sealer");
    let now = Utc::now();
    let conn = db.conn();
    merchants::insert_service_provider(
        conn,
        &NewServiceProvider {
            sys_id: "6666000000000000".into(),
            product_id: "NKPAY".into(),
            name: "Agent One".into(),
            rsa_public_key: "MIIBIjANBgkq".into(),
        },
        now,
    )
    .await
    .expect("service provider");
    merchants::insert_merchant(
        conn,
        &NewMerchant {
            mer_id: "6666000000000001".into(),
            sys_id: "6666000000000000".into(),
            name: "小店".into(),
            short_name: None,
            kind: MerchantKind::Indv,
            rsa_public_key: None,
            notify_schedule: None,
        },
        now,
    )
    .await
    .expect("merchant");
    let account = accounts::insert_wechat_account(
        conn,
        &sealer,
        &NewWechatAccount {
            name: "WeChat SP".into(),
            gateway_url: gateway.into(),
            is_default: true,
            appid: "wxd930ea5d5a258f4f".into(),
            mch_id: "10000100".into(),
            api_key: Secret::new("192006250b4c09247ec02edce69f6a2d".into()),
            client_cert_pem: None,
            client_key_pem: None,
        },
        now,
    )
    .await
    .expect("wechat account");
    for i in 0..count {
        let seq = format!("NKP{:013}", i + 1);
        trades::insert(
            conn,
            &NewTrade {
                nkp_seq_id: seq.clone(),
                sys_id: "6666000000000000".into(),
                mer_id: "6666000000000001".into(),
                req_date: now.format("%Y%m%d").to_string(),
                req_seq_id: seq,
                trade_type: TradeType::TJsapi,
                channel_account_id: account.id,
                trans_amt: Money::from_fen(100).expect("amount"),
                fee_rate_bp: 38,
                goods_desc: "一杯咖啡".into(),
                notify_url: None,
                remark: None,
                sub_mch_id: Some("1900000109".into()),
                appid: Some("wxd930ea5d5a258f4f".into()),
                sub_appid: None,
                openid: None,
                sub_openid: Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()),
                time_expire: now + chrono::Duration::hours(2),
                next_query_at: Some(now),
                request_hash: "h".repeat(64),
                client_ip: None,
                attach: None,
            },
            now,
        )
        .await
        .expect("trade");
    }
}

/// The threads of process `pid`: (name, thread id), from `/proc/<pid>/task/*/comm` (proc(5)).
fn threads_of(pid: u32) -> Vec<(String, u32)> {
    let mut threads: Vec<(String, u32)> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the node's threads")
        .filter_map(|e| {
            let tid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).ok()?;
            Some((name.trim_end().to_owned(), tid))
        })
        .collect();
    threads.sort();
    threads
}

/// The niceness of thread `tid` of process `pid`: field 19 of `/proc/<pid>/task/<tid>/stat`
/// (proc(5)), counted after the parenthesised name, which may hold spaces.
fn niceness(pid: u32, tid: u32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).expect("stat");
    let after_name = &stat[stat.rfind(')').expect("the name's parenthesis") + 1..];
    // Fields 3 (state) onwards; niceness is field 19.
    after_name
        .split_whitespace()
        .nth(19 - 3)
        .expect("field 19")
        .parse()
        .expect("a niceness")
}

#[test]
fn sigterm_with_work_in_flight_finishes_gives_back_every_claim_and_releases_the_node_id() {
    let dbs = TestDatabases::new("term");
    let master_key = SecretSealer::generate_key_base64();
    for (label, url) in &dbs.urls {
        let dir = temp_dir("nodes", label);
        // Each channel query takes 3 s: claimed trades are in flight when SIGTERM comes.
        let (gateway, queries) = slow_channel(Duration::from_secs(3));
        let out = nkpay(&dir, url, free_port(), &master_key)
            .arg("migrate")
            .output()
            .expect("migrate");
        assert!(out.status.success(), "{label} migrate");
        let db = dbs.connect(url);
        dbs.rt
            .block_on(seed_due_trades(&db, &master_key, &gateway, 20));

        let node = Node::start(&dir, url, &master_key, "node", |c| {
            c.args(["serve", "--no-migrate"])
                .env("NKPAY__CHANNELS__WECHAT_BASE_URL", &gateway)
                .env("NKPAY__JOBS__CONCURRENCY", "2")
                .env("NKPAY__SERVER__NODE_LEASE_SECS", "3")
        });
        let owner_prefix = format!("node-{NODE_ID}-");
        let claimed = || {
            dbs.rt
                .block_on(trade::Entity::find().all(db.conn()))
                .expect("trades")
                .into_iter()
                .filter(|t| {
                    t.query_lease_owner
                        .as_deref()
                        .is_some_and(|o| o.starts_with(&owner_prefix))
                })
                .count()
        };
        // The node claimed a batch and its first queries reached the channel.
        wait_until("the node has queries in flight", || {
            claimed() > 0 && queries.load(Ordering::SeqCst) > 0
        });
        assert!(
            claimed() > 2,
            "{label}: a batch larger than the concurrency"
        );
        // The jobs run on their own thread `jobs.nice` (10 by default) steps of niceness below
        // the node's own priority; the main thread keeps the node's.
        let own = niceness(std::process::id(), std::process::id());
        let threads = threads_of(node.child.id());
        let jobs: Vec<i32> = threads
            .iter()
            .filter(|(name, _)| name == "nkpay-jobs")
            .map(|(_, tid)| niceness(node.child.id(), *tid))
            .collect();
        assert!(
            !jobs.is_empty() && jobs.iter().all(|n| *n == (own + 10).min(19)),
            "{label}: the jobs' threads: {jobs:?} of {threads:?}"
        );
        assert_eq!(
            niceness(node.child.id(), node.child.id()),
            own,
            "{label}: the main thread"
        );

        let node_log = node.stop(label);
        let rows = dbs
            .rt
            .block_on(trade::Entity::find().all(db.conn()))
            .expect("trades");
        let held: Vec<_> = rows
            .iter()
            .filter(|t| t.query_lease_owner.is_some() || t.query_lease_until.is_some())
            .map(|t| (&t.nkp_seq_id, &t.query_lease_owner))
            .collect();
        assert!(held.is_empty(), "{label}: claims left behind: {held:?}");
        // Only the queries started before the signal went out (two at a time): the rest of
        // the batch was given back unworked.
        assert!(
            queries.load(Ordering::SeqCst) < rows.len(),
            "{label}: the stopping node kept working through its batch"
        );
        let lease = dbs
            .rt
            .block_on(node_leases::find(db.conn(), i32::from(NODE_ID)))
            .expect("read lease")
            .expect("the node's row");
        assert!(
            lease.lease_until <= Utc::now(),
            "{label}: node lease released: {lease:?}; the node logged:\n{node_log}"
        );
    }
}

/// A node stopped while requests that read the database are in flight still ends its node
/// lease, so the same node id starts again at once, as in a rolling restart. On PostgreSQL the
/// HTTP workers then hold pool connections they opened themselves, which fail every statement
/// once their worker has stopped; the node's last writes must not be handed one of them (a
/// cluster test's node once could not release its id, and its restart was refused).
#[test]
fn a_node_stopped_under_load_releases_its_node_id_and_starts_again_at_once() {
    let dbs = TestDatabases::new("restart");
    let master_key = SecretSealer::generate_key_base64();
    for (label, url) in &dbs.urls {
        let dir = temp_dir("nodes", label);
        let a = Node::start(&dir, url, &master_key, "a", |c| c.arg("serve"));
        let port = a.port;

        // On PostgreSQL the connections the node opened while starting end (as after a server
        // restart): the load's requests replace them, on the workers. Then 32 clients ask
        // `/readyz` (one statement each), more at once than the pool holds, so the workers open
        // connections of their own; the load stops, and SIGTERM comes while those connections
        // were all used moments ago (a connection idle longer is pinged before it is handed
        // out, and a dead one replaced).
        if let Some((admin, _)) = &dbs.pg {
            let db_name = url.rsplit('/').next().expect("a database name");
            dbs.rt
                .block_on(admin.execute_unprepared(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = '{db_name}' AND pid <> pg_backend_pid()"
                )))
                .expect("terminate the node's connections");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let _stop_on_failure = SetOnDrop(Arc::clone(&stop));
        let answered = Arc::new(AtomicUsize::new(0));
        let clients: Vec<_> = (0..32)
            .map(|_| {
                let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
                std::thread::spawn(move || {
                    // A request given a connection that ended fails; the next goes on.
                    while !stop.load(Ordering::SeqCst) {
                        if get(port, "/readyz") == Some(200) {
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        wait_until("the load is under way", || {
            answered.load(Ordering::SeqCst) >= 1_000
        });
        stop.store(true, Ordering::SeqCst);
        for client in clients {
            client.join().expect("client");
        }
        let log = a.stop(label);
        for failed in ["node id not released", "giving back claims failed"] {
            assert!(!log.contains(failed), "{label}: node a logged:\n{log}");
        }

        // The same id again, at once.
        Node::start(&dir, url, &master_key, "b", |c| {
            c.args(["serve", "--no-migrate"])
        })
        .stop(label);
    }
}
