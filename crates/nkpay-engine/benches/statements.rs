//! Statement generation for a large day (issue 12 "Done when"): N trades (default 1,000,000;
//! `NKPAY_BENCH_TRADES` changes it) succeeded on one Asia/Shanghai day for one merchant, made
//! into its files through the engine (`Statements::generate`: index-ordered database cursors →
//! csv → zip spool → 1 MiB chunks in the database, sha256), once stored (the CSV stream's own
//! speed) and once with deflate level 6 (the default), on SQLite and, when it answers,
//! PostgreSQL (`NKPAY_TEST_DATABASE_URL`). The day is loaded by this process; each generation
//! runs in a fresh process of its own (this binary again, told by environment variables), so
//! its peak resident set (`VmHWM`) is the generation's alone, as `nkpay bill generate` would
//! use, printed beside its resident set just before generating. Rows/s counts the detail rows
//! of the merchant's and its provider's trade bills (2 × N).
//! Run: `cargo bench -p nkpay-engine --bench statements`.

use std::sync::Arc;
use std::time::Instant;

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use nkpay_core::secret::Secret;
use nkpay_crypto::rsa_keys::RsaPrivateKey;
use nkpay_crypto::sealed::SecretSealer;
use nkpay_engine::onboarding::{
    self, MerchantKind, MerchantSetup, NewWechatAccount, ServiceProviderSetup,
};
use nkpay_engine::statements::writer::Compression;
use nkpay_engine::statements::{StatementSettings, day_bounds, writer};
use nkpay_engine::{Engine, EngineConfig, EngineParts, platform_keys};
use nkpay_store::sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use nkpay_store::statement_rows::{self, RowOwner};
use nkpay_store::testing::{TestDb, databases};

const SP: &str = "NKSPBENCH";
const MER: &str = "6666000900000001";
/// Rows per INSERT while loading the day.
const INSERT_BATCH: usize = 1000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(url) = std::env::var(CHILD_URL) {
        rt.block_on(child(&url));
        return;
    }
    let trades: usize = std::env::var("NKPAY_BENCH_TRADES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dbs: Vec<TestDb> = rt.block_on(databases());
    println!("statement generation, {trades} trades in one day, one merchant");
    println!(
        "{:<9} {:<22} {:>10} {:>12} {:>8} {:>14} {:>12} {:>14} {:>12}",
        "database",
        "what",
        "seconds",
        "rows/s",
        "CPU s",
        "rows/CPU s",
        "file MiB",
        "RSS before MiB",
        "peak RSS MiB"
    );
    for t in &dbs {
        let loaded = Instant::now();
        rt.block_on(seed(t, day(), trades));
        rt.block_on(platform_keys::load_or_create(&t.db, &sealer()))
            .expect("platform key");
        eprintln!(
            "{}: {trades} trades loaded in {:.1} s",
            t.label,
            loaded.elapsed().as_secs_f64()
        );
        for (label, level, mode) in [
            ("CSV stream (stored)", "0", "stream"),
            ("generate, stored", "0", "generate"),
            ("generate, deflate 6", "6", "generate"),
        ] {
            // Generation runs in a process of its own, so its peak resident set is the
            // generation's alone (not the loading's): what `nkpay bill generate` would use.
            let out = std::process::Command::new(std::env::current_exe().expect("bench binary"))
                .env(CHILD_URL, t.url())
                .env(CHILD_LEVEL, level)
                .env(CHILD_MODE, mode)
                .env(CHILD_SEALER, sealer_key())
                .output()
                .expect("generation process");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let Some(figures) = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
                panic!(
                    "generation process failed: {}\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            };
            let f: Vec<f64> = figures
                .split_whitespace()
                .map(|v| v.parse().expect("figure"))
                .collect();
            let [secs, cpu, rows, size, before, peak] = f[..] else {
                panic!("generation process answered {figures}");
            };
            println!(
                "{:<9} {:<22} {:>10.2} {:>12.0} {:>8.2} {:>14.0} {:>12.1} {:>14.1} {:>12.1}",
                t.label,
                label,
                secs,
                rows / secs,
                cpu,
                rows / cpu,
                size / 1048576.0,
                before,
                peak
            );
        }
    }
}

/// The child process's variables: the database, the deflate level (0 stored), the sealer key.
const CHILD_URL: &str = "NKPAY_BENCH_CHILD_URL";
const CHILD_LEVEL: &str = "NKPAY_BENCH_CHILD_LEVEL";
const CHILD_SEALER: &str = "NKPAY_BENCH_CHILD_SEALER";
/// `generate` (the engine's whole run: every file of the day, stored with its SHA-256) or
/// `stream` (the CSV stream alone: the merchant's rows from the database cursors through the
/// csv and zip writers into the spool file, nothing stored).
const CHILD_MODE: &str = "NKPAY_BENCH_CHILD_MODE";

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).expect("date")
}

/// The generation process: opens the loaded database, generates the day's files and prints
/// `RESULT <seconds> <CPU seconds> <trade-bill rows> <merchant's zip bytes> <RSS before MiB>
/// <peak RSS MiB>`; CPU seconds are the process's user + system time spent generating (all its
/// threads: the database driver's too), steadier than wall time on a busy machine.
async fn child(url: &str) {
    let db = nkpay_store::connect(url).await.expect("database");
    let signer = platform_keys::load_or_create(&db, &sealer())
        .await
        .expect("platform key");
    let level: u8 = std::env::var(CHILD_LEVEL)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let compression = if level == 0 {
        Compression::Stored
    } else {
        Compression::Deflate(level)
    };
    let engine = engine_with(db.clone(), signer, compression);
    let before = status_mib("VmRSS:");
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let (rows, size) = if std::env::var(CHILD_MODE).is_ok_and(|m| m == "stream") {
        let (from, to) = day_bounds(day());
        let owner = RowOwner::Merchant(MER.into());
        let cursor = statement_rows::stream_rows(&db, &owner, from, to)
            .await
            .expect("rows");
        let spooled = writer::trade_bill(cursor, day(), MER, compression)
            .await
            .expect("csv stream");
        let size = spooled.file.metadata().map_or(0, |m| m.len());
        (spooled.rows, i64::try_from(size).unwrap_or(i64::MAX))
    } else {
        let report = engine
            .statements()
            .generate(day(), Utc::now())
            .await
            .expect("generate");
        let file = report
            .files
            .iter()
            .find(|f| f.file_id.ends_with(&format!("{MER}_TRADE_BILL")))
            .expect("the merchant's trade bill");
        // Every file of the day is made (the merchant's and its provider's, trade and
        // settlement bills): rows/s counts the detail rows of both trade bills.
        let rows: i64 = report
            .files
            .iter()
            .filter(|f| f.file_id.ends_with("_TRADE_BILL"))
            .map(|f| f.rows)
            .sum();
        (rows, file.size_bytes)
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "RESULT {secs} {} {rows} {size} {before} {}",
        cpu_seconds() - cpu_before,
        status_mib("VmHWM:")
    );
}

fn engine_with(
    db: nkpay_store::Db,
    signer: platform_keys::PlatformKeys,
    compression: Compression,
) -> Engine {
    Engine::new(EngineParts {
        db,
        sealer: sealer(),
        node_id: 1,
        signer,
        public_base_url: "http://127.0.0.1:8080".into(),
        config: EngineConfig {
            statements: StatementSettings {
                compression,
                ..StatementSettings::default()
            },
            ..EngineConfig::default()
        },
    })
    .expect("engine")
}

/// The key the loaded database's secrets are sealed with: made once by the benchmark and handed
/// to its generation processes.
fn sealer_key() -> String {
    use std::sync::OnceLock;
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        std::env::var(CHILD_SEALER).unwrap_or_else(|_| SecretSealer::generate_key_base64())
    })
    .clone()
}

fn sealer() -> Arc<SecretSealer> {
    Arc::new(SecretSealer::from_key_base64(&sealer_key()).expect("sealer"))
}

/// The service provider, its merchant, a channel account, and `trades` trades paid through
/// the day (spread evenly, Asia/Shanghai), amounts 1.00 to 99.99 yuan with a 0.6 % fee.
async fn seed(t: &TestDb, day: NaiveDate, trades: usize) {
    let db = &t.db;
    let key = RsaPrivateKey::generate_2048().expect("key");
    onboarding::create_service_provider(
        db,
        &ServiceProviderSetup {
            sys_id: SP.into(),
            product_id: "NKPAY".into(),
            name: "bench provider".into(),
            public_key: key.public_key().to_spki_pem(),
        },
    )
    .await
    .expect("provider");
    onboarding::create_merchant(
        db,
        &MerchantSetup {
            mer_id: MER.into(),
            sys_id: SP.into(),
            name: "bench merchant".into(),
            short_name: None,
            kind: MerchantKind::Ent,
            public_key: None,
        },
    )
    .await
    .expect("merchant");
    let account = onboarding::register_wechat_account(
        db,
        &sealer(),
        &NewWechatAccount {
            name: "bench".into(),
            gateway_url: "http://127.0.0.1:9/".into(),
            is_default: true,
            appid: "wx0000000000000001".into(),
            mch_id: "1900000001".into(),
            api_key: Secret::new("k".repeat(32)),
            client_cert_pem: None,
            client_key_pem: None,
        },
    )
    .await
    .expect("account");
    let start = Shanghai
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("instant")
        .with_timezone(&Utc);
    let step_ms = (86_400_000 / trades.max(1)) as i64;
    let backend = db.backend();
    let mut i = 0usize;
    while i < trades {
        let tx = db.conn().begin().await.expect("tx");
        for _ in 0..20 {
            if i >= trades {
                break;
            }
            let n = INSERT_BATCH.min(trades - i);
            let mut sql = String::from(
                "INSERT INTO trades (nkp_seq_id, sys_id, mer_id, req_date, req_seq_id, \
                 trade_type, channel, channel_account_id, trans_amt, status, goods_desc, \
                 remark, party_order_id, fee_amt, refunded_amt, refund_in_flight_amt, \
                 time_expire, end_time, query_attempts, request_hash, created_at, updated_at, \
                 version) VALUES ",
            );
            let mut values = Vec::with_capacity(n * 3);
            for k in 0..n {
                let seq = i + k;
                let paid = start + TimeDelta::milliseconds(step_ms * seq as i64);
                let p = values.len();
                if k > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "('NKPB{seq:012}', '{SP}', '{MER}', '20261120', 'r{seq}', 'T_JSAPI', \
                     'wechat', {acc}, {amt}, 'S', 'bench', NULL, '4200{seq:012}', {fee}, 0, 0, \
                     ${a}, ${b}, 0, 'h', ${c}, ${b}, 0)",
                    acc = account.id,
                    amt = 100 + (seq % 9900),
                    fee = (100 + (seq % 9900)) * 6 / 1000,
                    a = p + 1,
                    b = p + 2,
                    c = p + 3,
                ));
                values.push((paid + TimeDelta::hours(2)).into());
                values.push(paid.into());
                values.push((paid - TimeDelta::seconds(30)).into());
            }
            tx.execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await
                .expect("insert trades");
            i += n;
        }
        tx.commit().await.expect("commit");
    }
}

/// The process's user + system CPU time so far, in seconds (`/proc/self/stat` fields 14 and 15,
/// in clock ticks of 1/100 s as Linux reports them to user space); 0 where unknown.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // The command name (field 2) may hold spaces; fields after its ')' are plain.
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

/// A `/proc/self/status` figure in MiB (`VmRSS:` now, `VmHWM:` the peak since the last
/// reset); 0 where unknown.
fn status_mib(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
