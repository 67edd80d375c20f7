//! `nkpay serve` and `nkpay demo`: connect, migrate (unless told not to), start the simulators
//! when configured, build the engine (the demo then onboards its merchants through it), start
//! the background jobs — trades, refunds, onboarding's business job, statements,
//! reconciliation (on their own lower-priority thread, [`crate::jobs_runtime`]), the merchant
//! notification dispatcher —, serve the API until SIGTERM, then stop the jobs.
//!
//! Node identity: before any work the node takes `server.node_id` under a lease
//! (`nkpay_engine::node_identity`) and refuses to start when another live node holds it; it
//! renews the lease while it runs. Graceful shutdown, on SIGTERM or SIGINT: the jobs stop
//! claiming, the API stops accepting, in-flight requests and job work finish (bounded by
//! [`SHUTDOWN_GRACE`]), claimed trades and refunds not worked are given back, and the node
//! lease is ended — exit 0. A node that loses its identity (another instance took its id)
//! stops the same way but drops in-flight requests at once, and exits non-zero. A PostgreSQL
//! connection an HTTP worker opened fails once that worker has stopped: once the node starts
//! stopping every connection is pinged before use, and the idle ones are closed once the HTTP
//! server has stopped and again, after the jobs, before the node's last writes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use nkpay_api::ApiState;
use nkpay_api::observability::PrometheusHandle;
use nkpay_core::secret::Secret;
use nkpay_engine::node_identity::{self, Kept};
use nkpay_engine::notifications::dispatcher::Dispatcher;
use nkpay_engine::{Engine, EngineConfig, EngineParts};
use tokio::sync::watch;
use url::Url;

use crate::config::Config;
use crate::demo;

/// How long a stopping node lets in-flight requests and job work finish; job tasks still
/// running then are abandoned (their claims come back when their leases end).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// What to do besides serving.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub no_migrate: bool,
    /// `nkpay demo`: seed the demo data and write its credentials here.
    pub demo_credentials: Option<PathBuf>,
}

pub async fn run(config: Config, options: ServeOptions) -> anyhow::Result<()> {
    // Installed first, so the jobs' first rounds are counted too.
    let recorder = if config.metrics.enabled {
        Some(nkpay_api::observability::install_recorder()?)
    } else {
        None
    };
    let sealer = Arc::new(crate::master_key::load(&config.secrets)?);
    let jobs_runtime = crate::jobs_runtime::JobsRuntime::start(config.jobs.nice)
        .context("starting the jobs' runtime")?;
    let db = open_database(&config).await?;
    let migrate = config.database.migrate_on_start || options.demo_credentials.is_some();
    if migrate && !options.no_migrate {
        nkpay_store::migrate(&db).await?;
        tracing::info!("database migrated");
    }
    let signer = nkpay_engine::platform_keys::load_or_create(&db, &sealer)
        .await?
        .with_refresh(config.platform_keys_refresh());

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
    // Before any work (the demo's onboarding mints ids too): this node's id, under a lease.
    let node_lease = node_identity::register(
        &db,
        config.server.node_id,
        engine.instance_id(),
        Duration::from_secs(config.server.node_lease_secs),
    )
    .await?;
    let (lease_stop_tx, lease_stop_rx) = watch::channel(false);
    let mut keeper = node_lease.keep(lease_stop_rx);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let bind = config.bind_addr();
    // Everything that may fail after the id was taken: on failure the id is released again,
    // so a corrected restart need not wait for the lease to end.
    let setup = async {
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

        // The jobs on their own thread at a lower CPU priority (`jobs.nice`); the merchant
        // notification dispatcher stays with the requests.
        let reconciliation = config.reconciliation_schedule()?;
        let mut background = {
            let _on_jobs_runtime = jobs_runtime.handle().enter();
            let mut jobs = vec![
                nkpay_engine::jobs::spawn(engine.clone(), shutdown_rx.clone()),
                nkpay_engine::refunds::jobs::spawn(engine.clone(), shutdown_rx.clone()),
                // Onboarding: pending WeChat bindings asked again, Alipay grants renewed before
                // expiry.
                nkpay_engine::businesses::jobs::spawn(engine.clone(), shutdown_rx.clone()),
                // Statements: yesterday's files once `statements.generate_at` has passed
                // (Asia/Shanghai), and the last closed month; one node at a time (PostgreSQL
                // advisory lock).
                nkpay_engine::statements::job::spawn(engine.clone(), shutdown_rx.clone()),
            ];
            // Reconciliation: yesterday's channel bills once `reconciliation.run_after` has
            // passed (Asia/Shanghai); one node at a time (its own PostgreSQL advisory lock).
            if let Some(schedule) = reconciliation {
                jobs.push(nkpay_engine::reconciliation::job::spawn(
                    engine.clone(),
                    schedule,
                    shutdown_rx.clone(),
                ));
            }
            jobs
        };
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
            engine.job_owner(),
        )?;
        let mut stop = shutdown_rx.clone();
        background.push(dispatcher.spawn(async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        }));

        // Metrics: the Prometheus recorder every crate records into, rendered by GET /metrics.
        let metrics = recorder.map(|handle| {
            background.push(keep_metrics(handle.clone(), shutdown_rx.clone()));
            web::Data::new(nkpay_api::observability::MetricsEndpoint {
                handle,
                token: config.metrics.token.clone().map(Secret::new),
            })
        });

        let state = web::Data::new(ApiState {
            db: db.clone(),
            engine: engine.clone(),
            body_limit_bytes: config.server.body_limit_bytes,
            limits: Arc::new(nkpay_api::limits::Limits::new(
                config.limits.limits_config(),
            )),
        });
        let console_dir =
            web::Data::new(nkpay_api::console::ConsoleDir(config.console.dir.clone()));
        let limit = config.server.body_limit_bytes;
        let server = HttpServer::new(move || {
            let mut app = App::new()
                .app_data(state.clone())
                .app_data(console_dir.clone())
                .app_data(web::PayloadConfig::new(limit));
            if let Some(metrics) = &metrics {
                app = app.app_data(metrics.clone());
            }
            app.configure(nkpay_api::configure)
                // Request metrics inside, the request id (and its log span) around everything.
                .wrap(from_fn(nkpay_api::observability::track))
                .wrap(from_fn(nkpay_api::request_id::propagate))
        })
        .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
        .disable_signals()
        .bind(&bind)?
        .run();
        let http = server.handle();
        let server = tokio::spawn(server);
        Ok::<_, anyhow::Error>((demo, background, http, server))
    }
    .await;
    let (demo, background, http, mut server) = match setup {
        Ok(started) => started,
        Err(e) => {
            let _ = shutdown_tx.send(true);
            let _ = lease_stop_tx.send(true);
            if let Ok(Kept::Stopped(lease)) = keeper.await {
                let _ = lease.release().await;
            }
            return Err(e);
        }
    };
    tracing::info!(%bind, "nkpay listening");
    if let Some((demo, path)) = &demo {
        println!("{}", demo::guide(&demo.credentials, path));
    }

    let mut kept = None;
    let mut served = None;
    tokio::select! {
        signal = stop_signal() => {
            tracing::info!(signal, "stopping: no new work; finishing what is in flight");
        }
        k = &mut keeper => kept = Some(k),
        r = &mut server => served = Some(r),
    }
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    // The HTTP workers stop one by one from here; a PostgreSQL connection one of them opened
    // fails once it has, so every checkout is pinged and a dead connection replaced.
    db.ping_every_checkout();
    engine.stop_taking_work();
    let _ = shutdown_tx.send(true);
    if served.is_none() {
        // Lost identity: this id may be minting on another node now, so no request finishes.
        http.stop(kept.is_none()).await;
        served = Some(server.await);
    }
    // The connections the HTTP workers opened are dead or about to be: the idle ones are closed
    // before the jobs finish their remaining work.
    close_idle_connections(&db).await;
    for mut task in background {
        if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
            tracing::warn!(
                "a background job did not stop in time; its claims expire with their leases"
            );
            task.abort();
        }
    }
    // Again before the node's last writes: a connection handed back as a worker stopped may
    // have reached the pool after the first round.
    close_idle_connections(&db).await;
    // The channel exchanges still queued for the history's writer go in before the node ends.
    engine.flush_channel_history().await;
    match nkpay_store::query_jobs::release_all(db.conn(), engine.job_owner(), chrono::Utc::now())
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(released = n, "claimed trades and refunds given back"),
        Err(e) => {
            tracing::warn!(error = %e, "giving back claims failed; they expire with their leases")
        }
    }
    let kept = match kept {
        Some(k) => k,
        None => {
            let _ = lease_stop_tx.send(true);
            keeper.await
        }
    };
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
    let lost = match kept {
        Ok(Kept::Stopped(lease)) => {
            match lease.release().await {
                Ok(true) => tracing::info!(node_id = lease.node_id(), "node id released"),
                Ok(false) => tracing::warn!(
                    node_id = lease.node_id(),
                    "node id was already held by another instance"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "node id not released; it is free when its lease ends")
                }
            }
            None
        }
        Ok(Kept::Lost(why)) => Some(why),
        Err(e) => Some(format!("node lease keeper failed: {e}")),
    };
    if let Some(why) = lost {
        tracing::error!(%why, "nkpay stopped: node identity lost");
        anyhow::bail!(why);
    }
    match served {
        Some(Ok(Ok(()))) | None => {}
        Some(Ok(Err(e))) => return Err(e).context("HTTP server"),
        Some(Err(e)) => return Err(e).context("HTTP server task"),
    }
    tracing::info!("nkpay stopped");
    Ok(())
}

/// [`nkpay_store::Db::close_idle_connections`], logged.
async fn close_idle_connections(db: &nkpay_store::Db) {
    let closed = db.close_idle_connections().await;
    if closed > 0 {
        tracing::debug!(closed, "idle database connections closed");
    }
}

/// Waits for SIGTERM or SIGINT (Ctrl-C) and names it.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(e) => {
                tracing::warn!(error = %e, "SIGTERM cannot be watched; stopping on SIGINT only");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

/// Runs the recorder's upkeep (histogram buffers drained, even when nobody scrapes) every
/// [`METRICS_UPKEEP`] until `shutdown` turns true.
fn keep_metrics(
    handle: PrometheusHandle,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(METRICS_UPKEEP) => handle.run_upkeep(),
                _ = shutdown.wait_for(|stopped| *stopped) => return,
            }
        }
    })
}

/// How often the metrics recorder's upkeep runs.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

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
