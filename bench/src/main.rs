//! `nkpay-bench`: the load harness of issue 16 (bench/README.md).
//!
//! `nkpay-bench run` starts the floor and measures it, then for each database starts
//! `nkpay demo` on it and measures each mode, and prints one table whose every row is also a
//! share of the floor measured in the same run. `nkpay-bench floor` is the floor server itself
//! (the harness starts it as a child process).

/// The platform's allocator (`nkpay`'s `main.rs`), so that the floor, which runs from this
/// binary, differs from the platform only by the work the platform adds.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod floor;
mod load;
mod modes;
mod platform;
mod pool;
mod receiver;
mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};

use crate::load::{Load, Pace};
use crate::modes::Mode;
use crate::platform::{DbKind, Floor, Platform};
use crate::pool::{SeqIds, Signer, sign_all};
use crate::report::Row;

/// The load harness: the signed-answer floor and the platform under load, one table.
#[derive(Parser)]
#[command(name = "nkpay-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure the floor, then each mode on each database; print the table.
    Run(RunArgs),
    /// Serve the floor (started by `run`; by hand for a look).
    Floor {
        /// Loopback port to listen on.
        #[arg(long)]
        port: u16,
        /// The caller's public key (SPKI PEM file): requests must verify with it.
        #[arg(long)]
        caller_key: PathBuf,
    },
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// Modes to measure (repeat; default: all, in table order).
    #[arg(long = "mode", value_enum)]
    modes: Vec<Mode>,
    /// Databases to start the platform on (repeat; default: sqlite).
    #[arg(long = "db", value_enum)]
    dbs: Vec<DbKind>,
    /// Connections (one worker each) for the measured runs.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds sent but not measured at the start of each run.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Seconds measured per run (a create or refund run also ends when its pool is used up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Unique pre-signed requests per create mode (jspay: each is a new trade). Enough that a
    /// create run lasts its warm-up and duration on a fast machine (about 2,500 creates a
    /// second), so the trade job's first queries of the run's own trades, 5 s after each, fall
    /// inside it.
    #[arg(long, default_value_t = 30000)]
    requests: usize,
    /// Paid trades set up for the refund mode (one refund each): enough that the refunds last
    /// the warm-up and duration at about 1,000 a second.
    #[arg(long, default_value_t = 12000)]
    refunds: usize,
    /// Notifications delivered in the notify mode.
    #[arg(long, default_value_t = 10000)]
    notifications: usize,
    /// The open-loop rate (requests per second) of `jsapi-open`; default: half the closed-loop
    /// `jsapi` maximum measured in the same run.
    #[arg(long)]
    rate: Option<f64>,
    /// Threads of the load generator's runtime (wrk's default of the table: 1).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Where `nkpay` is (default: beside this binary, i.e. target/release).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// The run's directory: logs, the SQLite file, the demo credentials (default: a new one
    /// under the system's temp directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Measure every mode of a database on one platform, one after another, instead of each
    /// on a platform of its own: the later modes then run beside the trade job still asking
    /// about the earlier modes' unpaid trades (a sustained mix; each row then depends on the
    /// rows before it).
    #[arg(long)]
    shared_platform: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Floor { port, caller_key } => serve_floor(port, &caller_key),
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.client_threads.max(1))
            .enable_all()
            .build()
            .context("the load generator's runtime")
            .and_then(|rt| rt.block_on(run(args))),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nkpay-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve_floor(port: u16, caller_key: &Path) -> anyhow::Result<()> {
    let pem = std::fs::read_to_string(caller_key)
        .with_context(|| format!("reading {}", caller_key.display()))?;
    let keys = floor::FloorKeys {
        caller: RsaPublicKey::from_pem_or_base64(&pem)?,
        signer: RsaPrivateKey::generate_2048()?,
    };
    actix_web::rt::System::new().block_on(floor::serve(port, keys))
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let modes = if args.modes.is_empty() {
        Mode::ALL.to_vec()
    } else {
        args.modes.clone()
    };
    let dbs = if args.dbs.is_empty() {
        vec![DbKind::Sqlite]
    } else {
        args.dbs.clone()
    };
    let bin_dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("this binary has no directory")?
            .to_path_buf(),
    };
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!(
            "nkpay-bench-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S")
        )),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    eprintln!("run directory: {}", dir.display());
    let measured = Load {
        connections: args.connections,
        warmup: Duration::from_secs(args.warmup),
        duration: Duration::from_secs(args.duration),
        pace: Pace::Closed,
        cycle: false,
        keep_replies: false,
    };

    let mut rows = vec![measure_floor(&dir, &measured).await?];
    eprintln!("{}", report::table(&rows));
    for db in dbs {
        let mut jsapi_rate = None;
        for (i, modes) in platform_runs(&modes, &args).into_iter().enumerate() {
            let db_dir = dir.join(format!("{db:?}-{i}").to_lowercase());
            std::fs::create_dir_all(&db_dir)?;
            eprintln!(
                "starting nkpay demo on {} in {}",
                db.label(),
                db_dir.display()
            );
            let platform = Platform::start(&bin_dir, &db_dir, db).await?;
            let result = measure_platform(
                &platform,
                &db_dir,
                db,
                &modes,
                &args,
                &measured,
                &mut jsapi_rate,
                &mut rows,
            )
            .await;
            platform.stop().await;
            result?;
        }
    }
    println!("{}", report::table(&rows));
    Ok(())
}

/// The modes each platform of a database measures, in order: every mode on a platform of its
/// own (so a row does not depend on the rows before it: a faster create mode leaves more unpaid
/// trades for the trade job to ask about while the next mode runs), or all on one with
/// `--shared-platform`. `jsapi-open` without `--rate` needs the closed-loop `jsapi` rate, so a
/// `jsapi` run is put before it when not asked for.
fn platform_runs(modes: &[Mode], args: &RunArgs) -> Vec<Vec<Mode>> {
    let mut queue: Vec<Mode> = modes.to_vec();
    if modes.contains(&Mode::JsapiOpen) && args.rate.is_none() && !modes.contains(&Mode::Jsapi) {
        queue.insert(0, Mode::Jsapi);
    }
    if args.shared_platform {
        vec![queue]
    } else {
        queue.into_iter().map(|m| vec![m]).collect()
    }
}

/// The floor row: the floor's process started with a fresh caller key, a pool of 2,000 signed
/// `T_JSAPI` bodies reused (the floor keeps nothing, so repeats cost what new ones do).
async fn measure_floor(dir: &Path, measured: &Load) -> anyhow::Result<Row> {
    let caller = RsaPrivateKey::generate_2048()?;
    let caller_key = dir.join("floor-caller.pem");
    std::fs::write(&caller_key, caller.public_key().to_spki_pem())?;
    let floor = Floor::start(dir, &caller_key).await?;
    let signer = Signer {
        sys_id: "6666000100000000".into(),
        product_id: "NKPAY".into(),
        key: caller,
    };
    let merchant = platform::DemoMerchant {
        mer_id: "6666000000000001".into(),
        wx_mp_appids: vec!["wx0000000000000001".into()],
        wx_miniapp_appids: Vec::new(),
        alipay: false,
    };
    let ids = SeqIds::new(chrono::Utc::now().timestamp_millis());
    let date = pool::shanghai_today();
    let datas = (0..2000)
        .map(|i| modes::jspay_data(&merchant, "T_JSAPI", &date, &ids.id("fl", i)))
        .collect();
    let bodies = Arc::new(sign_all(&signer, datas)?);
    let load = Load {
        cycle: true,
        ..measured.clone()
    };
    eprintln!("measuring the floor");
    let outcome = load::run(floor.addr, modes::JSPAY, bodies, &load).await?;
    let csv = dir.join("latencies-floor.csv");
    if let Err(e) = report::write_latencies(&csv, report::SENT_AFTER_WARMUP, &outcome.latencies) {
        eprintln!("nkpay-bench: latencies not written: {e:#}");
    }
    let mut row = Row::new(
        "floor: actix-web, parse + canonical form + RSA verify + RSA sign, no DB, no channel"
            .into(),
        &outcome,
        &["00000100"],
    );
    row.is_floor = true;
    Ok(row)
}

/// Measures `modes` one after another on `platform`, each row pushed onto `rows`, and each
/// run's latencies written into `dir` (the platform's directory) as [`Mode::latencies_file`]
/// ([`report::write_latencies`]; a file that cannot be written is reported and skipped).
#[allow(clippy::too_many_arguments)]
async fn measure_platform(
    platform: &Platform,
    dir: &Path,
    db: DbKind,
    modes: &[Mode],
    args: &RunArgs,
    measured: &Load,
    jsapi_rate: &mut Option<f64>,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let c = &platform.credentials;
    let signer = Signer {
        sys_id: c.sys_id.clone(),
        product_id: c.product_id.clone(),
        key: RsaPrivateKey::from_pem_or_base64(&c.private_key)?,
    };
    let merchant = c.merchant()?.clone();
    let ids = SeqIds::new(chrono::Utc::now().timestamp_millis());
    let date = pool::shanghai_today();
    for &mode in modes {
        eprintln!("measuring {mode:?} on {}", db.label());
        let db_label = db.label();
        let (label, outcome) = match mode {
            Mode::Jsapi | Mode::Miniapp | Mode::Native | Mode::JsapiOpen => {
                let trade_type = modes::trade_type(mode).context("a create mode")?;
                let (load, label, count) = if mode == Mode::JsapiOpen {
                    let rate = args
                        .rate
                        .or(jsapi_rate.map(|r: f64| r / 2.0))
                        .context("jsapi-open needs --rate or a jsapi run before it")?;
                    let secs = (measured.warmup + measured.duration).as_secs_f64();
                    let load = Load {
                        pace: Pace::Open { rate },
                        ..measured.clone()
                    };
                    let label = format!(
                        "`jspay` `{trade_type}`, {db_label}, open-loop at {} req/s",
                        report::per_second(rate)
                    );
                    (load, label, (rate * secs).ceil() as usize + 1)
                } else {
                    let label = format!("`jspay` `{trade_type}`, {db_label}");
                    (measured.clone(), label, args.requests)
                };
                let tag = format!("{mode:?}").to_lowercase();
                let tag = &tag[..2.min(tag.len())];
                let tag = if mode == Mode::JsapiOpen { "jo" } else { tag };
                let datas = (0..count)
                    .map(|i| modes::jspay_data(&merchant, trade_type, &date, &ids.id(tag, i)))
                    .collect();
                let bodies = Arc::new(sign_all(&signer, datas)?);
                eprintln!("{} requests signed; sending", bodies.len());
                let outcome = load::run(platform.addr, modes::JSPAY, bodies, &load).await?;
                if mode == Mode::Jsapi {
                    *jsapi_rate = Some(outcome.rate());
                }
                (label, outcome)
            }
            Mode::Query => {
                let trade = modes::paid_trades(platform, &signer, &ids, "pq", 1, 1)
                    .await?
                    .into_iter()
                    .next()
                    .context("the query's paid trade")?;
                let bodies = sign_all(&signer, vec![modes::query_data(&merchant.mer_id, &trade)])?;
                let load = Load {
                    cycle: true,
                    ..measured.clone()
                };
                let outcome =
                    load::run(platform.addr, modes::QUERY, Arc::new(bodies), &load).await?;
                (
                    format!("`query` of a final `T_JSAPI` trade, {db_label}"),
                    outcome,
                )
            }
            Mode::Refund => {
                let trades = modes::paid_trades(
                    platform,
                    &signer,
                    &ids,
                    "pr",
                    args.refunds,
                    args.connections,
                )
                .await?;
                let datas = trades
                    .iter()
                    .enumerate()
                    .map(|(i, t)| modes::refund_data(&merchant.mer_id, &date, &ids.id("rf", i), t))
                    .collect();
                let bodies = Arc::new(sign_all(&signer, datas)?);
                let outcome = load::run(platform.addr, modes::REFUND, bodies, measured).await?;
                (
                    format!("`refund` of a paid `T_JSAPI` trade, {db_label}"),
                    outcome,
                )
            }
            Mode::Notify => {
                let outcome = modes::notify(platform, &ids, args.notifications).await?;
                (
                    format!("notification deliveries to a local receiver, {db_label}"),
                    outcome,
                )
            }
        };
        let row = Row::new(label, &outcome, mode.expected());
        eprintln!("{}", report::table(std::slice::from_ref(&row)));
        let csv = dir.join(mode.latencies_file());
        // The row is measured: a file that cannot be written costs the file, not the table.
        match report::write_latencies(&csv, mode.latencies_at_column(), &outcome.latencies) {
            Ok(()) => eprintln!("latencies: {}", csv.display()),
            Err(e) => eprintln!("nkpay-bench: latencies not written: {e:#}"),
        }
        rows.push(row);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs_of(argv: &[&str]) -> Vec<Vec<Mode>> {
        let cli = Cli::try_parse_from([&["nkpay-bench", "run"], argv].concat()).unwrap();
        match cli.command {
            Command::Run(args) => {
                let modes = if args.modes.is_empty() {
                    Mode::ALL.to_vec()
                } else {
                    args.modes.clone()
                };
                platform_runs(&modes, &args)
            }
            Command::Floor { .. } => panic!("a run"),
        }
    }

    #[test]
    fn each_mode_gets_a_platform_of_its_own_unless_shared() {
        assert_eq!(
            runs_of(&["--mode", "query", "--mode", "native"]),
            vec![vec![Mode::Query], vec![Mode::Native]]
        );
        assert_eq!(
            runs_of(&["--mode", "query", "--mode", "native", "--shared-platform"]),
            vec![vec![Mode::Query, Mode::Native]]
        );
        assert_eq!(runs_of(&[]).len(), Mode::ALL.len());
    }

    #[test]
    fn the_open_loop_without_a_rate_is_preceded_by_the_closed_loop() {
        assert_eq!(
            runs_of(&["--mode", "jsapi-open"]),
            vec![vec![Mode::Jsapi], vec![Mode::JsapiOpen]]
        );
        assert_eq!(
            runs_of(&["--mode", "jsapi-open", "--rate", "200"]),
            vec![vec![Mode::JsapiOpen]]
        );
        assert_eq!(
            runs_of(&["--mode", "jsapi-open", "--shared-platform"]),
            vec![vec![Mode::Jsapi, Mode::JsapiOpen]]
        );
    }
}
