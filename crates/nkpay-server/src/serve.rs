//! `nkpay serve` and `nkpay demo`: connect, migrate (unless told not to), start the simulators
//! when configured, build the engine (the demo then onboards its merchants through it), start
//! the background jobs — trades, refunds, onboarding's business job, statements,
//! reconciliation, the merchant notification dispatcher —, serve the API until SIGTERM, then
//! stop the jobs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use nkpay_api::ApiState;
use nkpay_engine::notifications::dispatcher::Dispatcher;
use nkpay_engine::{Engine, EngineConfig, EngineParts};
use tokio::sync::watch;
use url::Url;

use crate::config::Config;
use crate::demo;

/// What to do besides serving.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub no_migrate: bool,
    /// `nkpay demo`: seed the demo data and write its credentials here.
    pub demo_credentials: Option<PathBuf>,
}

pub async fn run(config: Config, options: ServeOptions) -> anyhow::Result<()> {
    let sealer = Arc::new(crate::master_key::load(&config.secrets)?);
    let db = open_database(&config).await?;
    let migrate = config.database.migrate_on_start || options.demo_credentials.is_some();
    if migrate && !options.no_migrate {
        nkpay_store::migrate(&db).await?;
        tracing::info!("database migrated");
    }
    let signer = nkpay_engine::platform_keys::load_or_create(&db, &sealer).await?;

    // The simulators run in-process when configured (always for the demo); the connectors
    // then talk to them instead of the configured gateways.
    let mut channel_urls = (
        Url::parse(&config.channels.wechat_base_url)?,
        Url::parse(&config.channels.alipay_gateway_url)?,
    );
    let demo_sandbox = match &options.demo_credentials {
        Some(path) => {
            let started = demo::start_sandbox_for(&config, &db, path).await?;
            channel_urls = sandbox_urls(&started.sandbox)?;
            Some((started, path.clone()))
        }
        None => None,
    };
    let sandbox = match (&demo_sandbox, config.sandbox.enabled) {
        (None, true) => {
            let sandbox = demo::start_sandbox(&config).await?;
            channel_urls = sandbox_urls(&sandbox)?;
            Some(sandbox)
        }
        _ => None,
    };

    let engine = Arc::new(Engine::new(EngineParts {
        db: db.clone(),
        sealer: sealer.clone(),
        node_id: config.server.node_id,
        signer,
        public_base_url: config.server.public_base_url.clone(),
        config: EngineConfig {
            admin_auth: config.admin_auth()?,
            ..config.engine_config(channel_urls.0, channel_urls.1)
        },
    })?);
    // The demo onboards its merchants through the engine, before the API listens.
    let demo = match demo_sandbox {
        Some((started, path)) => {
            let mut demo =
                demo::seed(&engine, started, &path, &config.server.public_base_url).await?;
            demo::ensure_admin(&engine, &mut demo.credentials, &path).await?;
            Some((demo, path))
        }
        None => None,
    };

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut background = vec![
        nkpay_engine::jobs::spawn(engine.clone(), shutdown_rx.clone()),
        nkpay_engine::refunds::jobs::spawn(engine.clone(), shutdown_rx.clone()),
        // Onboarding: pending WeChat bindings asked again, Alipay grants renewed before expiry.
        nkpay_engine::businesses::jobs::spawn(engine.clone(), shutdown_rx.clone()),
        // Statements: yesterday's files once `statements.generate_at` has passed (Asia/Shanghai),
        // and the last closed month; one node at a time (PostgreSQL advisory lock).
        nkpay_engine::statements::job::spawn(engine.clone(), shutdown_rx.clone()),
    ];
    // Reconciliation: yesterday's channel bills once `reconciliation.run_after` has passed
    // (Asia/Shanghai); one node at a time (its own PostgreSQL advisory lock).
    if let Some(schedule) = config.reconciliation_schedule()? {
        background.push(nkpay_engine::reconciliation::job::spawn(
            engine.clone(),
            schedule,
            shutdown_rx.clone(),
        ));
    }
    if let Some((demo, path)) = &demo {
        background.push(demo::keep_sandbox_accounts(
            demo,
            path.clone(),
            shutdown_rx.clone(),
        ));
    }
    let dispatcher = Dispatcher::new(
        db.clone(),
        engine.signer().clone(),
        config.dispatcher_config(),
        format!("node-{}", config.server.node_id),
    )?;
    let mut stop = shutdown_rx.clone();
    background.push(dispatcher.spawn(async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    }));

    let state = web::Data::new(ApiState {
        db: db.clone(),
        engine: engine.clone(),
        body_limit_bytes: config.server.body_limit_bytes,
    });
    let console_dir = web::Data::new(nkpay_api::console::ConsoleDir(config.console.dir.clone()));
    let bind = config.bind_addr();
    let limit = config.server.body_limit_bytes;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(console_dir.clone())
            .app_data(web::PayloadConfig::new(limit))
            .configure(nkpay_api::configure)
    })
    .shutdown_timeout(20)
    .bind(&bind)?
    .run();
    tracing::info!(%bind, "nkpay listening");
    if let Some((demo, path)) = &demo {
        println!("{}", demo::guide(&demo.credentials, path));
    }
    // actix-web stops accepting on SIGTERM/SIGINT and lets in-flight requests finish.
    server.await?;
    let _ = shutdown_tx.send(true);
    for task in background {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    if let Some(sandbox) = sandbox {
        sandbox.shutdown().await;
    }
    if let Some((demo, _)) = demo {
        // The accounts-saving task has ended with the others; a copy still held elsewhere
        // stops the simulators when dropped.
        if let Ok(sandbox) = Arc::try_unwrap(demo.sandbox) {
            sandbox.shutdown().await;
        }
    }
    tracing::info!("nkpay stopped");
    Ok(())
}

/// Connects to the configured database with the configured pool size.
pub async fn open_database(config: &Config) -> anyhow::Result<nkpay_store::Db> {
    Ok(nkpay_store::Db::connect_with_pool_size(
        &config.database.url,
        config.database.max_connections,
    )
    .await?)
}

fn sandbox_urls(sandbox: &nkpay_sandbox::RunningSandbox) -> anyhow::Result<(Url, Url)> {
    Ok((
        Url::parse(&sandbox.wechat_api_base_url())?,
        Url::parse(&sandbox.alipay_gateway_url())?,
    ))
}
