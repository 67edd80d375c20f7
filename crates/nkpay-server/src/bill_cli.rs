//! `nkpay bill generate --date yyyyMMdd`: makes (or remakes) the statement files of one trade
//! day (Asia/Shanghai) through the engine, as the scheduled job does, and prints a JSON report:
//! `{"data_date", "partial", "files": [{"file_id", "file_name", "size_bytes", "sha256",
//! "rows"}]}`. A closed day remade gives identical bytes; today is made `partial` (the
//! scheduled run replaces it); a day after today is refused naming `--date`.

use chrono::Utc;

use crate::config::Config;

/// What `nkpay bill` does.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum BillCommand {
    /// Make the statement files of one trade day (replacing earlier ones of that day).
    Generate {
        /// The trade day, `yyyyMMdd` (Asia/Shanghai); today is made partial.
        #[arg(long)]
        date: String,
    },
}

/// Runs `command` against the configured database; the report as JSON text.
pub async fn run(config: Config, command: BillCommand) -> anyhow::Result<String> {
    match command {
        BillCommand::Generate { date } => {
            let day = nkpay_engine::shanghai_time::parse_date(&date).ok_or_else(|| {
                anyhow::anyhow!("--date {date:?}: must be a real date written yyyyMMdd")
            })?;
            let engine = crate::admin_cli::engine(&config).await?;
            let report = engine
                .statements()
                .generate(day, Utc::now())
                .await
                .map_err(|e| match e {
                    nkpay_engine::EngineError::Invalid { rule, .. } => {
                        anyhow::anyhow!("--date {date}: {rule}")
                    }
                    other => anyhow::anyhow!(other),
                })?;
            let out = nkpay_api::admin::statements::report_json(&report);
            Ok(format!("{}\n", serde_json::to_string_pretty(&out)?))
        }
    }
}
