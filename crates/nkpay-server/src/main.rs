/// mimalloc instead of the system allocator (issue 16): the request path allocates and frees
/// small buffers across threads (actix workers, the write queue, sqlx's SQLite threads), where
/// glibc's malloc spent about 6 % of the platform's CPU (8 % in an earlier profile).
/// Alternating pairs on a 2-core machine: `T_JSAPI` +4 % on SQLite and +18 % on PostgreSQL,
/// query +3 % and +6 % (bench/README.md, thirteenth round).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nkpay_server::config::Config;
use nkpay_store::kinds::AdminRole;

/// nkpay — aggregated WeChat Pay / Alipay payments for a service provider.
#[derive(Parser)]
#[command(name = "nkpay", version)]
struct Cli {
    /// Configuration file (default: the embedded config/default.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform (migrates the database first unless --no-migrate).
    Serve {
        #[arg(long)]
        no_migrate: bool,
    },
    /// The embedded default with seeded demo merchants: SQLite, the simulators in-process,
    /// credentials written to data/demo/credentials.json and a printed guide.
    Demo {
        /// Where to write the credentials (JSON) and the PEM key files beside it.
        #[arg(long, default_value = "data/demo/credentials.json")]
        credentials: PathBuf,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Admin users and API tokens, service providers and channel accounts (each write is
    /// audited as local:cli:<$USER>).
    Admin {
        #[command(subcommand)]
        command: AdminSub,
    },
    /// Statement (对账单) files: `bill generate --date yyyyMMdd` makes one trade day's.
    Bill {
        #[command(subcommand)]
        command: nkpay_server::bill_cli::BillCommand,
    },
    /// The platform's signing keys: `keys list`, `keys rotate [--retire-after-days N]`,
    /// `keys assign --sys-id S --key-id K` (writes audited as local:cli:<$USER>).
    Keys {
        #[command(subcommand)]
        command: nkpay_server::keys_cli::KeysCommand,
    },
    /// Print a new RSA-2048 key pair (PEM and bare base64).
    Keygen,
    /// Sign a request as a merchant would, post it, verify and print the reply.
    Call {
        /// API path, e.g. /v2/trade/payment/scanpay/query
        path: String,
        /// The request `data` as a JSON object.
        data: String,
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        base_url: String,
        #[arg(long)]
        sys_id: String,
        #[arg(long, default_value = "NKPAY")]
        product_id: String,
        /// The caller's RSA private key (PEM or bare base64).
        #[arg(long)]
        key: PathBuf,
        /// The platform's public key, to verify the reply.
        #[arg(long)]
        platform_key: Option<PathBuf>,
        /// Print the exact strings signed on each side.
        #[arg(long)]
        explain: bool,
    },
}

#[derive(Subcommand)]
enum AdminSub {
    /// Create an admin user; prints a generated password once unless --password-stdin.
    CreateUser {
        #[arg(long)]
        username: String,
        /// platform-admin, operator, finance, agent-admin or read-only.
        #[arg(long, value_parser = nkpay_server::admin_cli::parse_role)]
        role: AdminRole,
        /// The service provider of an agent-admin.
        #[arg(long)]
        sys_id: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create a named API token for a machine; prints the token once.
    CreateToken {
        #[arg(long)]
        name: String,
        /// platform-admin, operator, finance, agent-admin or read-only.
        #[arg(long, value_parser = nkpay_server::admin_cli::parse_role)]
        role: AdminRole,
        /// The service provider of an agent-admin token.
        #[arg(long)]
        sys_id: Option<String>,
    },
    /// Revoke a named API token.
    RevokeToken {
        #[arg(long)]
        name: String,
    },
    /// Service providers (agents): create, list, suspend, activate, fee floors.
    ServiceProvider {
        #[command(subcommand)]
        command: nkpay_server::admin_cli::ServiceProviderCommand,
    },
    /// The platform's channel accounts: add-wechat, add-alipay, list, enable, disable, test.
    ChannelAccount {
        #[command(subcommand)]
        command: nkpay_server::admin_cli::ChannelAccountCommand,
    },
    /// Print the platform's active public key (`{"key_id", "public_key"}`): hand it to a new
    /// service provider for its SDK's reply and notification checks.
    PlatformKey,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Keygen => return report(nkpay_server::keygen::run().map(|out| print!("{out}"))),
        Command::Call {
            path,
            data,
            base_url,
            sys_id,
            product_id,
            key,
            platform_key,
            explain,
        } => {
            let args = nkpay_server::call::CallArgs {
                base_url,
                path,
                sys_id,
                product_id,
                key_file: key,
                platform_key_file: platform_key.as_deref(),
                data,
                explain: *explain,
            };
            return match runtime().and_then(|rt| rt.block_on(nkpay_server::call::run(args))) {
                Ok((out, true)) => {
                    print!("{out}");
                    ExitCode::SUCCESS
                }
                Ok((out, false)) => {
                    print!("{out}");
                    ExitCode::from(3)
                }
                Err(e) => report(Err(e)),
            };
        }
        _ => {}
    }
    let config = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("nkpay: {e}");
            return ExitCode::from(2);
        }
    };
    nkpay_server::logging::init(&config.log);
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => return report(Err(e)),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { no_migrate } => {
                let options = nkpay_server::serve::ServeOptions {
                    no_migrate,
                    demo_credentials: None,
                };
                nkpay_server::serve::run(config, options).await
            }
            Command::Demo { credentials } => {
                let options = nkpay_server::serve::ServeOptions {
                    no_migrate: false,
                    demo_credentials: Some(credentials),
                };
                nkpay_server::serve::run(config, options).await
            }
            Command::Migrate => {
                let db = nkpay_server::serve::open_database(&config).await?;
                nkpay_store::migrate(&db).await?;
                println!("migrations applied to {}", redact(&config.database.url));
                Ok(())
            }
            Command::Admin { command } => {
                use nkpay_server::admin_cli::AdminCommand;
                let command = match command {
                    AdminSub::CreateUser {
                        username,
                        role,
                        sys_id,
                        password_stdin,
                    } => AdminCommand::CreateUser {
                        username,
                        role,
                        sys_id,
                        password_stdin,
                    },
                    AdminSub::CreateToken { name, role, sys_id } => {
                        AdminCommand::CreateToken { name, role, sys_id }
                    }
                    AdminSub::RevokeToken { name } => AdminCommand::RevokeToken { name },
                    AdminSub::ServiceProvider { command } => AdminCommand::ServiceProvider(command),
                    AdminSub::ChannelAccount { command } => AdminCommand::ChannelAccount(command),
                    AdminSub::PlatformKey => AdminCommand::PlatformKey,
                };
                let out = nkpay_server::admin_cli::run(config, command).await?;
                print!("{out}");
                Ok(())
            }
            Command::Bill { command } => {
                print!("{}", nkpay_server::bill_cli::run(config, command).await?);
                Ok(())
            }
            Command::Keys { command } => {
                print!("{}", nkpay_server::keys_cli::run(config, command).await?);
                Ok(())
            }
            Command::Keygen | Command::Call { .. } => Ok(()),
        }
    });
    report(result)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nkpay: {e:#}");
            ExitCode::FAILURE
        }
    }
}
