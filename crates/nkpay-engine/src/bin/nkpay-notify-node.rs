//! A node that only delivers merchant notifications: the dispatcher against a database, set
//! up from the environment. Used by the crash and multi-node tests (a process one can kill -9)
//! and usable as a dedicated notification worker beside `nkpay serve`.
//!
//! Environment:
//! - `NKPAY_DATABASE_URL` (required): `sqlite://…` or `postgres://…`, already migrated
//! - `NKPAY_NOTIFY_KEY_FILE` (required): the platform private key (PEM or base64 DER)
//! - `NKPAY_NOTIFY_KEY_ID` (required): its key id, sent as `X-Nkp-Key-Id`
//! - `NKPAY_NOTIFY_NODE`: the node name in leases (default `notify-<pid>`)
//! - `NKPAY_NOTIFY_SCHEDULE`: delays like `15,15,30` or `200ms,1s` (default: the platform's)
//! - `NKPAY_NOTIFY_TIMEOUT_MS`, `NKPAY_NOTIFY_LEASE_MS`, `NKPAY_NOTIFY_POLL_MS`,
//!   `NKPAY_NOTIFY_CONCURRENCY`, `NKPAY_NOTIFY_PER_HOST`
//! - `NKPAY_NOTIFY_ALLOW_LOOPBACK`, `NKPAY_NOTIFY_ALLOW_PRIVATE`: `true` to allow
//!
//! Prints `ready <node>` once delivering, and `totals …` when stopped by SIGINT or SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use nkpay_crypto::rsa_keys::RsaPrivateKey;
use nkpay_engine::notifications::{Dispatcher, DispatcherConfig, parse_schedule};
use nkpay_engine::platform_keys::PlatformSigner;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nkpay-notify-node: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let db_url = required("NKPAY_DATABASE_URL")?;
    let key_file = required("NKPAY_NOTIFY_KEY_FILE")?;
    let key_id = required("NKPAY_NOTIFY_KEY_ID")?;
    let node = std::env::var("NKPAY_NOTIFY_NODE")
        .unwrap_or_else(|_| format!("notify-{}", std::process::id()));
    let pem = std::fs::read_to_string(&key_file)
        .map_err(|e| format!("NKPAY_NOTIFY_KEY_FILE {key_file}: {e}"))?;
    let key = RsaPrivateKey::from_pem_or_base64(&pem)
        .map_err(|e| format!("NKPAY_NOTIFY_KEY_FILE {key_file}: {e}"))?;
    let config = config_from_env()?;

    let db = nkpay_store::connect(&db_url)
        .await
        .map_err(|e| format!("NKPAY_DATABASE_URL: {e}"))?;
    let dispatcher = Dispatcher::new(db, PlatformSigner::new(key_id, key), config, node.clone())
        .map_err(|e| e.to_string())?;
    let handle = dispatcher.clone().spawn(stop_signal());
    println!("ready {node}");
    handle.await.map_err(|e| format!("dispatcher task: {e}"))?;
    let t = dispatcher.totals();
    println!(
        "totals node={node} claimed={} deferred={} delivered={} failed={} released={}",
        t.claimed, t.deferred, t.delivered, t.failed, t.released
    );
    Ok(())
}

fn config_from_env() -> Result<DispatcherConfig, String> {
    let mut c = DispatcherConfig::default();
    if let Some(s) = optional("NKPAY_NOTIFY_SCHEDULE") {
        c.schedule = parse_schedule(&s).map_err(|e| format!("NKPAY_NOTIFY_SCHEDULE: {e}"))?;
    }
    if let Some(ms) = number("NKPAY_NOTIFY_TIMEOUT_MS")? {
        c.timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = number("NKPAY_NOTIFY_LEASE_MS")? {
        c.lease = Duration::from_millis(ms);
    }
    if let Some(ms) = number("NKPAY_NOTIFY_POLL_MS")? {
        c.poll_interval = Duration::from_millis(ms);
    }
    if let Some(n) = number("NKPAY_NOTIFY_CONCURRENCY")? {
        c.concurrency = usize::try_from(n).map_err(|e| e.to_string())?;
    }
    if let Some(n) = number("NKPAY_NOTIFY_PER_HOST")? {
        c.per_host_concurrency = usize::try_from(n).map_err(|e| e.to_string())?;
    }
    c.policy.allow_loopback = flag("NKPAY_NOTIFY_ALLOW_LOOPBACK")?;
    c.policy.allow_private = flag("NKPAY_NOTIFY_ALLOW_PRIVATE")?;
    Ok(c)
}

fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(name: &str) -> Result<String, String> {
    optional(name).ok_or_else(|| format!("{name} must be set"))
}

fn number(name: &str) -> Result<Option<u64>, String> {
    optional(name)
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| format!("{name} must be a whole number, not {v:?}"))
        })
        .transpose()
}

fn flag(name: &str) -> Result<bool, String> {
    match optional(name).as_deref() {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(format!("{name} must be true or false, not {other:?}")),
    }
}

async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
