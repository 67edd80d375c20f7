//! `nkpay serve`: connect, migrate (unless told not to), mount the API, serve until SIGTERM.

use actix_web::{App, HttpServer, web};
use nkpay_api::ApiState;

use crate::config::Config;

pub async fn run(config: Config, no_migrate: bool) -> anyhow::Result<()> {
    let _sealer = crate::master_key::load(&config.secrets)?;
    let db = nkpay_store::connect(&config.database.url).await?;
    if config.database.migrate_on_start && !no_migrate {
        nkpay_store::migrate(&db).await?;
        tracing::info!("database migrated");
    }
    let state = web::Data::new(ApiState { db });
    let bind = config.bind_addr();
    let limit = config.server.body_limit_bytes;
    tracing::info!(%bind, "nkpay listening");
    // actix-web stops accepting on SIGTERM/SIGINT and lets in-flight requests finish.
    HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::JsonConfig::default().limit(limit))
            .app_data(web::PayloadConfig::new(limit))
            .configure(nkpay_api::configure)
    })
    .shutdown_timeout(20)
    .bind(&bind)?
    .run()
    .await?;
    tracing::info!("nkpay stopped");
    Ok(())
}
