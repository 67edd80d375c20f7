//! Statement generation for a large day (issue 12 "Done when"): N trades (default 1,000,000;
//! `NKPAY_BENCH_TRADES` changes it) succeeded on one Asia/Shanghai day for one merchant, made
//! into its `TRADE_BILL` zip through the engine (`Statements::generate`: database cursor → csv →
//! zip spool → 1 MiB chunks in the database, sha256), once stored (the CSV stream's own speed)
//! and once with deflate level 6 (the default), on SQLite and, when it answers, PostgreSQL
//! (`NKPAY_TEST_DATABASE_URL`). Prints rows/s and the process's peak RSS during generation
//! (`VmHWM`, reset through `/proc/self/clear_refs` before each run, so loading the rows does
//! not count) beside the resident set just before it. Run: `cargo bench -p nkpay-engine --bench statements`.

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
use nkpay_engine::statements::StatementSettings;
use nkpay_engine::statements::writer::Compression;
use nkpay_engine::{Engine, EngineConfig, EngineParts, platform_keys};
use nkpay_store::sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use nkpay_store::testing::{TestDb, databases};

const SP: &str = "NKSPBENCH";
const MER: &str = "6666000900000001";
/// Rows per INSERT while loading the day.
const INSERT_BATCH: usize = 1000;

fn main() {
    let trades: usize = std::env::var("NKPAY_BENCH_TRADES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dbs: Vec<TestDb> = rt.block_on(databases());
    println!("statement generation, {trades} trades in one day, one merchant");
    println!(
        "{:<9} {:<10} {:>10} {:>12} {:>12} {:>14} {:>12}",
        "database", "zip", "seconds", "rows/s", "file MiB", "RSS before MiB", "peak RSS MiB"
    );
    for t in &dbs {
        let day = NaiveDate::from_ymd_opt(2026, 11, 20).expect("date");
        let loaded = Instant::now();
        rt.block_on(seed(t, day, trades));
        let signer = rt
            .block_on(platform_keys::load_or_create(&t.db, &sealer()))
            .expect("platform key");
        eprintln!(
            "{}: {trades} trades loaded in {:.1} s",
            t.label,
            loaded.elapsed().as_secs_f64()
        );
        for (label, compression) in [
            ("stored", Compression::Stored),
            ("deflate 6", Compression::Deflate(6)),
        ] {
            let engine = engine_with(t, signer.clone(), compression);
            reset_peak_rss();
            let before = status_mib("VmRSS:");
            let start = Instant::now();
            let report = rt
                .block_on(engine.statements().generate(day, Utc::now()))
                .expect("generate");
            let secs = start.elapsed().as_secs_f64();
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
            println!(
                "{:<9} {:<10} {:>10.2} {:>12.0} {:>12.1} {:>14.1} {:>12.1}",
                t.label,
                label,
                secs,
                rows as f64 / secs,
                file.size_bytes as f64 / 1048576.0,
                before,
                status_mib("VmHWM:")
            );
        }
    }
}

fn engine_with(
    t: &TestDb,
    signer: platform_keys::PlatformSigner,
    compression: Compression,
) -> Engine {
    Engine::new(EngineParts {
        db: t.db.clone(),
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

fn sealer() -> Arc<SecretSealer> {
    use std::sync::OnceLock;
    static KEY: OnceLock<String> = OnceLock::new();
    let key = KEY.get_or_init(SecretSealer::generate_key_base64);
    Arc::new(SecretSealer::from_key_base64(key).expect("sealer"))
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

/// Resets the process's peak resident set (`VmHWM`) to its current size (Linux).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
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
