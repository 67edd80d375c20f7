//! `nkpay-sandbox`: runs the WeChat Pay and Alipay simulators as a process.
//!
//! `nkpay-sandbox --port 8090 [--config FILE] [--accounts-out FILE] [--time-scale 1.0]
//! [--tls-cert PEM --tls-key PEM --client-ca PEM]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use nkpay_sandbox::{Sandbox, SandboxConfig, SandboxError, TlsConfig};

#[derive(Parser, Debug)]
#[command(
    name = "nkpay-sandbox",
    version,
    about = "WeChat Pay v2 and Alipay simulators for nkpay"
)]
struct Cli {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 8090)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Accounts (and optional time_scale, timings, faults) as TOML or JSON; demo accounts without.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Writes every served account, with keys and URLs, as JSON once listening.
    #[arg(long)]
    accounts_out: Option<PathBuf>,
    /// Multiplies channel delays (notify retries, refund settling, close-order minimum age).
    #[arg(long)]
    time_scale: Option<f64>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key and --client-ca.
    #[arg(long, requires_all = ["tls_key", "client_ca"])]
    tls_cert: Option<PathBuf>,
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// CA (PEM) that signs merchant client certificates, demanded by secapi/ calls.
    #[arg(long, requires = "tls_cert")]
    client_ca: Option<PathBuf>,
}

fn read(path: &PathBuf) -> Result<String, SandboxError> {
    std::fs::read_to_string(path).map_err(|source| SandboxError::ReadFile {
        path: path.display().to_string(),
        source,
    })
}

fn config(cli: &Cli) -> Result<SandboxConfig, SandboxError> {
    let mut config = match &cli.config {
        Some(path) => SandboxConfig::load_file(path)?,
        None => SandboxConfig::demo(),
    };
    config.host = cli.host;
    config.port = cli.port;
    if let Some(scale) = cli.time_scale {
        config.time_scale = scale;
    }
    if let (Some(cert), Some(key), Some(ca)) = (&cli.tls_cert, &cli.tls_key, &cli.client_ca) {
        config.tls = Some(TlsConfig {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
            client_ca_pem: read(ca)?,
        });
    }
    Ok(config)
}

async fn run(cli: Cli) -> Result<(), SandboxError> {
    let sandbox = Sandbox::start(config(&cli)?).await?;
    let mut changes = sandbox.accounts_changes();
    if let Some(path) = &cli.accounts_out {
        sandbox.write_accounts(path)?;
    }
    println!("nkpay-sandbox listening on {}", sandbox.base_url());
    // The accounts file follows what is added while serving (sub-merchants, appids, grants).
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            changed = changes.changed() => {
                if changed.is_err() {
                    break;
                }
                if let Some(path) = &cli.accounts_out
                    && let Err(e) = sandbox.write_accounts(path)
                {
                    tracing::warn!("cannot rewrite the accounts file: {e}");
                }
            }
        }
    }
    sandbox.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nkpay-sandbox: {e}");
            ExitCode::FAILURE
        }
    }
}
