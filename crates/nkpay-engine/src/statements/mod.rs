//! Statement (对账单) files for finance (issue 12): per merchant and per service provider
//! (all its merchants), per Asia/Shanghai trade day, `TRADE_BILL` (every trade and refund that
//! succeeded that day) and `SETTLE_BILL` (per merchant: gross, refunds, fees, net), as zips of
//! CSV ([`writer`]); kept where every node can serve them (chunks in the database by default,
//! or a shared directory); found by `filequery` and handed out as signed links ([`link`]); made
//! once across every node after the day closes by the singleton job ([`job`]).
//!
//! Dates: `data_date` is the trade day; `file_date` is Dougong's, the day the file is produced
//! (the trade day + 1). File names carry the trade day.

mod admin;
pub mod contents;
pub mod job;
pub mod link;
pub mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use futures::{Stream, StreamExt};
use nkpay_core::secret::Secret;
use nkpay_store::entity::statement_file;
use nkpay_store::kinds::{StatementOwner, StatementStatus};
use nkpay_store::statement_rows::{self, RowOwner};
use nkpay_store::statements::{self, FileFilter, NewStatementFile, WrittenContent};
use sha2::{Digest, Sha256};

use crate::admin_identity::Actor;
use crate::callers::{Caller, CallerKind};
use crate::engine::service;
use crate::error::EngineError;
use crate::shanghai_time;
use writer::{Compression, Spooled};

/// The bill types (`bill_type` of `filequery`; API.md "filequery").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BillType {
    /// Every trade and refund of the day (the default).
    TradeBill,
    /// Per merchant: gross, refunds, fees, net, for the day.
    SettleBill,
    /// The month's trade summary: a line per day and merchant.
    TradeBillMonth,
    /// The month's settlement summary: a line per merchant.
    SettleBillMonth,
}

impl BillType {
    /// Every bill type.
    pub const ALL: [BillType; 4] = [
        BillType::TradeBill,
        BillType::SettleBill,
        BillType::TradeBillMonth,
        BillType::SettleBillMonth,
    ];

    /// The wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            BillType::TradeBill => "TRADE_BILL",
            BillType::SettleBill => "SETTLE_BILL",
            BillType::TradeBillMonth => "TRADE_BILL_MONTH",
            BillType::SettleBillMonth => "SETTLE_BILL_MONTH",
        }
    }

    /// Reads the wire word; `None` for anything else.
    pub fn parse(text: &str) -> Option<BillType> {
        BillType::ALL.into_iter().find(|b| b.as_str() == text)
    }

    /// Whether it is a monthly bill.
    pub fn monthly(self) -> bool {
        matches!(self, BillType::TradeBillMonth | BillType::SettleBillMonth)
    }

    fn run_kind(self) -> &'static str {
        if self.monthly() { "monthly" } else { "daily" }
    }
}

/// Where statement files are kept: somewhere every node reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementStorage {
    /// In the database, in 1 MiB chunks (`statement_file_chunks`): the default.
    Database,
    /// In this directory, which every node must share (a network file system).
    Directory(PathBuf),
}

/// How statement files are made, kept and handed out (`[statements]` in the configuration).
#[derive(Debug, Clone)]
pub struct StatementSettings {
    /// When (Asia/Shanghai wall time) the job makes the previous day's files; default 01:00.
    pub generate_at: NaiveTime,
    /// The HMAC-SHA256 key of download links (the server derives it from the master key when
    /// `statements.link_key` is not set, so every node shares it). `Default`: 32 random bytes,
    /// valid only on this process.
    pub link_key: Secret<Vec<u8>>,
    /// How long a download link works after `filequery` gave it; default 1 hour.
    pub link_ttl: Duration,
    /// Where files are kept.
    pub storage: StatementStorage,
    /// Entries' compression; default deflate level 6.
    pub compression: Compression,
    /// How often the job looks whether a day is due; default 60 s.
    pub job_interval: Duration,
}

impl Default for StatementSettings {
    fn default() -> Self {
        use rand::RngCore;
        let mut key = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        StatementSettings {
            generate_at: NaiveTime::from_hms_opt(1, 0, 0).unwrap_or(NaiveTime::MIN),
            link_key: Secret::new(key),
            link_ttl: Duration::from_secs(3600),
            storage: StatementStorage::Database,
            compression: Compression::Deflate(6),
            job_interval: Duration::from_secs(60),
        }
    }
}

/// A file made by a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeFile {
    /// Its public id.
    pub file_id: String,
    /// Its name (`yyyyMMdd_<huifu_id>_<BILL_TYPE>.zip`, trade day).
    pub file_name: String,
    /// Bytes.
    pub size_bytes: i64,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
    /// Detail rows.
    pub rows: i64,
}

/// What [`Statements::generate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateReport {
    /// The trade day.
    pub data_date: NaiveDate,
    /// Made before the day closed: the scheduled run replaces the files.
    pub partial: bool,
    /// Every file made.
    pub files: Vec<MadeFile>,
}

/// One file as `filequery` and the console describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDetail {
    /// Its public id.
    pub file_id: String,
    /// Its name.
    pub file_name: String,
    /// `yyyyMMdd`, produced on (trade day + 1).
    pub file_date: String,
    /// `yyyyMMdd`, the trade day.
    pub data_date: String,
    /// Bill type.
    pub bill_type: String,
    /// Whose (`mer_id` or `sys_id`).
    pub huifu_id: String,
    /// "mer" or "sys".
    pub owner_kind: String,
    /// Bytes.
    pub size_bytes: i64,
    /// Hex SHA-256.
    pub sha256: String,
    /// Detail rows.
    pub row_count: i64,
    /// Made before the day closed.
    pub partial: bool,
    /// When it was made (UTC).
    pub created_at: DateTime<Utc>,
    /// Signed link (expires after `statements.link_ttl`).
    pub download_url: String,
}

/// The state of a day's (or month's) run, as `task_details[]` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDetail {
    /// I (not started), P (running, or partial), S (done; no file: no trades), F (failed).
    pub task_stat: &'static str,
    /// Bill type asked.
    pub bill_type: String,
    /// `yyyyMMdd`, production day.
    pub file_date: String,
    /// `yyyyMMdd`, trade day.
    pub data_date: String,
    /// When the run started (UTC).
    pub start_time: Option<DateTime<Utc>>,
    /// When it ended (UTC).
    pub end_time: Option<DateTime<Utc>>,
}

/// `filequery`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileQueryAnswer {
    /// The files (ready ones only).
    pub file_details: Vec<FileDetail>,
    /// The run behind them.
    pub task_details: Vec<TaskDetail>,
}

/// A file's bytes for a download: its row and a stream of chunks.
pub struct Download {
    /// The file.
    pub file: statement_file::Model,
    /// Its bytes in order.
    pub chunks: std::pin::Pin<Box<dyn Stream<Item = Result<Vec<u8>, EngineError>> + Send>>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("file_id", &self.file.file_id)
            .finish_non_exhaustive()
    }
}

/// Why a download link is refused (the API answers 403 for the first two, 404 for the last).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadRefusal {
    /// The link's time is over.
    #[error("download link expired: ask filequery for a new one")]
    Expired,
    /// The link was altered, or signed with another key.
    #[error("download link signature does not match")]
    BadSignature,
    /// No ready file with that id (removed since; a regenerated file keeps its id).
    #[error("statement file not found")]
    NotFound,
}

service!(
    /// Statement files: generate, find, sign links, serve.
    Statements
);

/// UTC bounds of an Asia/Shanghai day: `[00:00, next 00:00)`.
pub fn day_bounds(day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = |d: NaiveDate| {
        // Shanghai has had no daylight saving since 1991: midnight is one instant.
        Shanghai
            .from_local_datetime(&d.and_time(NaiveTime::MIN))
            .single()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| d.and_time(NaiveTime::MIN).and_utc() - TimeDelta::hours(8))
    };
    let next = day.succ_opt().unwrap_or(day);
    (start(day), start(next))
}

/// The Asia/Shanghai day that starts at UTC instant `t` (a bound from [`day_bounds`]).
fn to_day(t: DateTime<Utc>) -> NaiveDate {
    shanghai_time::date_of(t)
}

/// What a run covers: an Asia/Shanghai trade day, or a month (its first day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// One trade day.
    Day(NaiveDate),
    /// A calendar month, by its first day.
    Month(NaiveDate),
}

impl Period {
    /// The month holding `day`.
    pub fn month_of(day: NaiveDate) -> Period {
        Period::Month(day.with_day(1).unwrap_or(day))
    }

    /// `data_date`: the day, or the month's first day.
    pub fn data_date(self) -> NaiveDate {
        match self {
            Period::Day(d) | Period::Month(d) => d,
        }
    }

    /// Dougong's `file_date`: the day after the day, or the 1st of the next month.
    pub fn file_date(self) -> NaiveDate {
        to_day(self.bounds().1)
    }

    /// UTC bounds `[start, end)`.
    pub fn bounds(self) -> (DateTime<Utc>, DateTime<Utc>) {
        match self {
            Period::Day(d) => day_bounds(d),
            Period::Month(first) => {
                let next = first
                    .checked_add_months(chrono::Months::new(1))
                    .unwrap_or(first);
                (day_bounds(first).0, day_bounds(next).0)
            }
        }
    }

    /// What file names carry: `yyyyMMdd`, or `yyyyMM` for a month.
    pub fn label(self) -> String {
        match self {
            Period::Day(d) => ymd(d),
            Period::Month(first) => first.format("%Y%m").to_string(),
        }
    }

    /// The bills a run of this period makes.
    pub fn bills(self) -> [BillType; 2] {
        match self {
            Period::Day(_) => [BillType::TradeBill, BillType::SettleBill],
            Period::Month(_) => [BillType::TradeBillMonth, BillType::SettleBillMonth],
        }
    }

    /// The `statement_runs.kind`: "daily" or "monthly".
    pub fn run_kind(self) -> &'static str {
        match self {
            Period::Day(_) => "daily",
            Period::Month(_) => "monthly",
        }
    }
}

fn ymd(d: NaiveDate) -> String {
    d.format(shanghai_time::DATE).to_string()
}

/// The public id of a file: `<data_date>_<owner_id>_<BILL_TYPE>` (stable across reruns).
pub fn file_id(data_date: NaiveDate, owner_id: &str, bill: BillType) -> String {
    format!("{}_{owner_id}_{}", ymd(data_date), bill.as_str())
}

impl Statements {
    /// Makes the `TRADE_BILL` and `SETTLE_BILL` of trade day `day` for every merchant with a
    /// row that day and for each of their service providers, replacing earlier files of the day.
    /// A day that has not closed yet (today, Asia/Shanghai, at `now`) is made `partial`; a day
    /// after today is refused (`EngineError::Invalid` naming `date`). A rerun of a closed day
    /// writes identical bytes. The day's run is recorded (`task_stat` P, then S or F).
    pub async fn generate(
        &self,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<GenerateReport, EngineError> {
        self.run(Period::Day(day), now).await
    }

    /// Makes the monthly `TRADE_BILL_MONTH` (a line per day and merchant) and
    /// `SETTLE_BILL_MONTH` (a line per merchant) of the month whose first day is `month` (any
    /// day of it is taken as its month), for every merchant with a row that month and their
    /// service providers. The current month is made `partial`; a month that has not begun is
    /// refused naming `date`. Recorded as the run of kind `monthly`, `data_date` the 1st.
    pub async fn generate_month(
        &self,
        month: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<GenerateReport, EngineError> {
        self.run(Period::month_of(month), now).await
    }

    async fn run(&self, period: Period, now: DateTime<Utc>) -> Result<GenerateReport, EngineError> {
        let today = shanghai_time::date_of(now);
        let first = period.data_date();
        if first > today {
            return Err(EngineError::invalid(
                "date",
                format!(
                    "the period {} has not begun (today is {} in Asia/Shanghai)",
                    period.label(),
                    ymd(today)
                ),
            ));
        }
        let partial = period.bounds().1 > day_bounds(today).0;
        let data_date = ymd(first);
        let kind = period.run_kind();
        statements::start_run(self.db.conn(), &data_date, kind, partial, now).await?;
        match self.generate_files(period, partial, now).await {
            Ok(files) => {
                let count = i64::try_from(files.len()).unwrap_or(i64::MAX);
                statements::finish_run(
                    self.db.conn(),
                    &data_date,
                    kind,
                    "S",
                    count,
                    None,
                    Utc::now(),
                )
                .await?;
                Ok(GenerateReport {
                    data_date: first,
                    partial,
                    files,
                })
            }
            Err(e) => {
                let reason = e.to_string();
                tracing::error!(data_date, kind, error = %reason, "statement run failed");
                statements::finish_run(
                    self.db.conn(),
                    &data_date,
                    kind,
                    "F",
                    0,
                    Some(&reason),
                    Utc::now(),
                )
                .await?;
                Err(e)
            }
        }
    }

    async fn generate_files(
        &self,
        period: Period,
        partial: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<MadeFile>, EngineError> {
        let (from, to) = period.bounds();
        let owners = statement_rows::owners_with_rows(&self.db, from, to).await?;
        let providers: BTreeSet<&str> = owners.iter().map(|(_, sys)| sys.as_str()).collect();
        let mut targets: Vec<(StatementOwner, RowOwner)> = owners
            .iter()
            .map(|(mer, _)| (StatementOwner::Merchant, RowOwner::Merchant(mer.clone())))
            .collect();
        targets.extend(providers.iter().map(|sys| {
            (
                StatementOwner::ServiceProvider,
                RowOwner::ServiceProvider((*sys).to_owned()),
            )
        }));
        // A day's trade bills come from one pass over each merchant's rows, written to the
        // merchant's file and its service provider's at once (the provider's file is its
        // merchants' rows one merchant after the other: statement_rows' file order). Each
        // file is stored as soon as it is complete: one spool file open per owner at a time.
        let mut trade_bills: BTreeMap<(bool, String), MadeFile> = BTreeMap::new();
        if period.bills().contains(&BillType::TradeBill) {
            let data_date = period.data_date();
            let level = self.config.statements.compression;
            for sys in &providers {
                let mut provider = writer::TradeBill::new(data_date, sys, level)?;
                for (mer, _) in owners.iter().filter(|(_, s)| s == sys) {
                    let mut merchant = writer::TradeBill::new(data_date, mer, level)?;
                    let owner = RowOwner::Merchant(mer.clone());
                    let mut rows = statement_rows::stream_rows(&self.db, &owner, from, to).await?;
                    while let Some(row) = rows.next().await {
                        let row = row?;
                        merchant.push(&row)?;
                        provider.push(&row)?;
                    }
                    let file = self
                        .store_trade_bill(
                            StatementOwner::Merchant,
                            &owner,
                            merchant,
                            period,
                            partial,
                            now,
                        )
                        .await?;
                    trade_bills.insert((false, mer.clone()), file);
                }
                let owner = RowOwner::ServiceProvider((*sys).to_owned());
                let file = self
                    .store_trade_bill(
                        StatementOwner::ServiceProvider,
                        &owner,
                        provider,
                        period,
                        partial,
                        now,
                    )
                    .await?;
                trade_bills.insert((true, (*sys).to_owned()), file);
            }
        }
        let mut made = Vec::new();
        for (kind, owner) in &targets {
            let key = match owner {
                RowOwner::Merchant(id) => (false, id.clone()),
                RowOwner::ServiceProvider(id) => (true, id.clone()),
            };
            for bill in period.bills() {
                let done = match bill {
                    BillType::TradeBill => trade_bills.remove(&key),
                    _ => None,
                };
                made.push(match done {
                    Some(file) => file,
                    None => {
                        self.make_file(*kind, owner, bill, period, None, partial, now)
                            .await?
                    }
                });
            }
        }
        Ok(made)
    }

    /// Finishes a trade bill written by the caller and stores it as `owner`'s file.
    async fn store_trade_bill(
        &self,
        kind: StatementOwner,
        owner: &RowOwner,
        bill: writer::TradeBill,
        period: Period,
        partial: bool,
        now: DateTime<Utc>,
    ) -> Result<MadeFile, EngineError> {
        let spooled = Some(bill.finish()?);
        self.make_file(
            kind,
            owner,
            BillType::TradeBill,
            period,
            spooled,
            partial,
            now,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn make_file(
        &self,
        kind: StatementOwner,
        owner: &RowOwner,
        bill: BillType,
        period: Period,
        written: Option<writer::Spooled>,
        partial: bool,
        now: DateTime<Utc>,
    ) -> Result<MadeFile, EngineError> {
        let owner_id = match owner {
            RowOwner::Merchant(id) | RowOwner::ServiceProvider(id) => id.as_str(),
        };
        let settings = &self.config.statements;
        let id = file_id(period.data_date(), owner_id, bill);
        let file_name = format!("{}_{owner_id}_{}.zip", period.label(), bill.as_str());
        // Written under a fresh key, then switched to in one transaction: the old file stays
        // listed and downloadable until then (contents.rs).
        let content_key = contents::fresh_key();
        let path = match &settings.storage {
            StatementStorage::Database => String::new(),
            StatementStorage::Directory(_) => format!("{id}.{content_key}.zip"),
        };
        let new = NewStatementFile {
            file_id: id.clone(),
            owner: kind,
            owner_id: owner_id.to_owned(),
            file_date: ymd(period.file_date()),
            data_date: ymd(period.data_date()),
            bill_type: bill.as_str().to_owned(),
            file_name: file_name.clone(),
            partial,
        };
        statements::note_detached(self.db.conn(), &content_key, &path, Utc::now()).await?;
        let written = self
            .write_file(owner, bill, period, written, &content_key, &path)
            .await;
        let (size, sha256, rows) = match written {
            Ok(w) => w,
            Err(e) => {
                self.discard(&content_key, &path).await;
                return Err(e);
            }
        };
        let content = WrittenContent {
            content_key,
            path,
            size_bytes: size,
            sha256: sha256.clone(),
            row_count: rows,
        };
        statements::swap_in(&self.db, &new, &content, now, Utc::now()).await?;
        if let Err(e) = self.purge_detached(Utc::now()).await {
            tracing::warn!(error = %e, "statement bytes replaced earlier not purged yet");
        }
        Ok(MadeFile {
            file_id: id,
            file_name,
            size_bytes: size,
            sha256,
            rows,
        })
    }

    /// Writes the file's bytes to its store — `written` when the caller made them already (a
    /// day's trade bills), else made here —; its size, SHA-256 and rows.
    async fn write_file(
        &self,
        owner: &RowOwner,
        bill: BillType,
        period: Period,
        written: Option<writer::Spooled>,
        id: &str,
        path: &str,
    ) -> Result<(i64, String, i64), EngineError> {
        let settings = &self.config.statements;
        let huifu_id = match owner {
            RowOwner::Merchant(id) | RowOwner::ServiceProvider(id) => id.as_str(),
        };
        let first = period.data_date();
        let (from, to) = period.bounds();
        let Spooled { mut file, rows } = match (written, bill) {
            (Some(spooled), _) => spooled,
            (None, BillType::TradeBill) => {
                let stream = statement_rows::stream_rows(&self.db, owner, from, to).await?;
                writer::trade_bill(stream, first, huifu_id, settings.compression).await?
            }
            (None, BillType::SettleBill) => {
                let lines = self.settle_lines(owner, first, first).await?;
                let entry = writer::entry_name(first, huifu_id, "settle", 1);
                writer::settle_bill(&lines, &entry, settings.compression)?
            }
            (None, BillType::TradeBillMonth) => {
                let last = to_day(to).pred_opt().unwrap_or(first);
                let lines = self.settle_lines(owner, first, last).await?;
                let entry = writer::month_entry_name(first, huifu_id, "month_order");
                writer::settle_bill(&lines, &entry, settings.compression)?
            }
            (None, BillType::SettleBillMonth) => {
                let label = first.format("%Y%m").to_string();
                let lines = statement_rows::merchant_totals(&self.db, owner, from, to)
                    .await?
                    .into_iter()
                    .map(|m| (label.clone(), m))
                    .collect::<Vec<_>>();
                let entry = writer::month_entry_name(first, huifu_id, "month_settle");
                writer::settle_bill(&lines, &entry, settings.compression)?
            }
        };
        let mut hasher = Sha256::new();
        let mut size = 0i64;
        let mut seq = 0i32;
        let mut out = match &settings.storage {
            StatementStorage::Database => None,
            StatementStorage::Directory(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    EngineError::Internal(format!("statements directory {}: {e}", dir.display()))
                })?;
                let tmp = dir.join(format!("{path}.part"));
                let f = std::fs::File::create(&tmp).map_err(|e| {
                    EngineError::Internal(format!("statement file {}: {e}", tmp.display()))
                })?;
                Some((f, tmp, dir.join(path)))
            }
        };
        loop {
            let chunk = writer::next_chunk(&mut file)?;
            if chunk.is_empty() {
                break;
            }
            hasher.update(&chunk);
            size += i64::try_from(chunk.len()).unwrap_or(i64::MAX);
            match &mut out {
                None => statements::put_chunk(self.db.conn(), id, seq, chunk).await?,
                Some((f, tmp, _)) => f.write_all(&chunk).map_err(|e| {
                    EngineError::Internal(format!("statement file {}: {e}", tmp.display()))
                })?,
            }
            seq += 1;
        }
        if let Some((f, tmp, target)) = out {
            f.sync_all()
                .and_then(|()| std::fs::rename(&tmp, &target))
                .map_err(|e| {
                    EngineError::Internal(format!("statement file {}: {e}", target.display()))
                })?;
        }
        Ok((size, hex::encode(hasher.finalize()), rows))
    }

    /// Each day's totals per merchant of `owner` from `first` to `last` (inclusive), by day
    /// then `mer_id`: the lines of a daily settlement file and of a month's trade bill.
    async fn settle_lines(
        &self,
        owner: &RowOwner,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<Vec<writer::SettleLine>, EngineError> {
        let mut lines = Vec::new();
        let mut day = first;
        while day <= last {
            let (from, to) = day_bounds(day);
            let label = ymd(day);
            for m in statement_rows::merchant_totals(&self.db, owner, from, to).await? {
                lines.push((label.clone(), m));
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        Ok(lines)
    }

    /// `filequery` (API.md): the ready files of `huifu_id` produced on `file_date` (the trade
    /// day + 1; monthly bills: the 1st of the next month) of `bill_type` (default
    /// `TRADE_BILL`), with signed links, and the run's state. `huifu_id` is a merchant the
    /// caller may act for, or a service provider's own `sys_id` (its combined file).
    /// Refusals: `22000000` for a `huifu_id` the caller may not see; `EngineError::Invalid`
    /// naming `file_date` for a monthly bill asked on a day other than the 1st.
    pub async fn filequery(
        &self,
        caller: &Caller,
        huifu_id: &str,
        file_date: NaiveDate,
        bill_type: Option<BillType>,
        now: DateTime<Utc>,
    ) -> Result<FileQueryAnswer, EngineError> {
        let owner = if caller.kind == CallerKind::ServiceProvider && caller.sys_id == huifu_id {
            StatementOwner::ServiceProvider
        } else {
            crate::callers::Callers::new(self.ctx.clone())
                .authorize(caller, huifu_id)
                .await?;
            StatementOwner::Merchant
        };
        let bill = bill_type.unwrap_or(BillType::TradeBill);
        let data_date = if bill.monthly() {
            if file_date.format("%d").to_string() != "01" {
                return Err(EngineError::invalid(
                    "file_date",
                    "a monthly bill is produced on the 1st of the next month (yyyyMM01)",
                ));
            }
            let last = file_date.pred_opt().unwrap_or(file_date);
            last.with_day0(0).unwrap_or(last)
        } else {
            file_date.pred_opt().unwrap_or(file_date)
        };
        let files = statements::find_for(
            self.db.conn(),
            owner,
            huifu_id,
            &ymd(file_date),
            Some(bill.as_str()),
        )
        .await?;
        let run = statements::find_run(self.db.conn(), &ymd(data_date), bill.run_kind()).await?;
        let task_stat = match &run {
            None => "I",
            Some(r) if r.partial && r.task_stat == "S" => "P",
            Some(r) => match r.task_stat.as_str() {
                "S" => "S",
                "F" => "F",
                _ => "P",
            },
        };
        let file_details = files
            .iter()
            .filter(|f| f.status == StatementStatus::Ready)
            .map(|f| self.detail(f, now))
            .collect();
        Ok(FileQueryAnswer {
            file_details,
            task_details: vec![TaskDetail {
                task_stat,
                bill_type: bill.as_str().to_owned(),
                file_date: ymd(file_date),
                data_date: ymd(data_date),
                start_time: run.as_ref().map(|r| r.started_at),
                end_time: run.and_then(|r| r.ended_at),
            }],
        })
    }

    /// A file's description with a link signed at `now`.
    pub fn detail(&self, f: &statement_file::Model, now: DateTime<Utc>) -> FileDetail {
        FileDetail {
            file_id: f.file_id.clone(),
            file_name: f.file_name.clone(),
            file_date: f.file_date.clone(),
            data_date: f.data_date.clone(),
            bill_type: f.bill_type.clone(),
            huifu_id: f.owner_id.clone(),
            owner_kind: f.owner_kind.as_str().to_owned(),
            size_bytes: f.size_bytes,
            sha256: f.sha256.clone().unwrap_or_default(),
            row_count: f.row_count,
            partial: f.partial,
            created_at: f.created_at,
            download_url: self.signed_link(&f.file_id, now),
        }
    }

    /// The signed download link of `file_id`, valid `statements.link_ttl` from `now`.
    pub fn signed_link(&self, file_id: &str, now: DateTime<Utc>) -> String {
        let settings = &self.config.statements;
        let ttl = i64::try_from(settings.link_ttl.as_secs()).unwrap_or(i64::MAX);
        let expires = now.timestamp().saturating_add(ttl);
        let sign = link::sign(settings.link_key.expose(), file_id, expires);
        format!(
            "{}{}{file_id}?expires={expires}&sign={sign}",
            self.callback_base,
            link::DOWNLOAD_PATH
        )
    }

    /// Opens a file for a signed link's holder: the signature and expiry checked at `now`,
    /// then the ready file's chunks.
    pub async fn download_by_link(
        &self,
        file_id: &str,
        expires: i64,
        sign: &str,
        now: DateTime<Utc>,
    ) -> Result<Download, DownloadRefusal> {
        link::verify(
            self.config.statements.link_key.expose(),
            file_id,
            expires,
            sign,
            now,
        )
        .map_err(|r| match r {
            link::LinkRefusal::Expired => DownloadRefusal::Expired,
            link::LinkRefusal::BadSignature => DownloadRefusal::BadSignature,
        })?;
        match self.open(file_id).await {
            Ok(Some(d)) => Ok(d),
            Ok(None) => Err(DownloadRefusal::NotFound),
            Err(e) => {
                tracing::error!(file_id, error = %e, "statement download");
                Err(DownloadRefusal::NotFound)
            }
        }
    }

    /// The ready file `file_id` and its bytes; `None` when there is none. The bytes are those
    /// of the file as it was when opened: a regeneration meanwhile does not change or cut them
    /// (they are kept [`contents::DETACHED_GRACE`] after it).
    pub async fn open(&self, file_id: &str) -> Result<Option<Download>, EngineError> {
        let Some(file) = statements::find_by_file_id(self.db.conn(), file_id).await? else {
            return Ok(None);
        };
        if file.status != StatementStatus::Ready {
            return Ok(None);
        }
        let chunks: std::pin::Pin<Box<dyn Stream<Item = Result<Vec<u8>, EngineError>> + Send>> =
            if file.path.is_empty() {
                let db = self.db.clone();
                let id = file.chunk_key().to_owned();
                Box::pin(futures::stream::try_unfold(0i32, move |seq| {
                    let db = db.clone();
                    let id = id.clone();
                    async move {
                        Ok(statements::read_chunk(db.conn(), &id, seq)
                            .await?
                            .map(|c| (c, seq + 1)))
                    }
                }))
            } else {
                let StatementStorage::Directory(dir) = &self.config.statements.storage else {
                    return Err(EngineError::Internal(format!(
                        "statement file {file_id} lies in a directory but statements.storage is database"
                    )));
                };
                let mut f = std::fs::File::open(dir.join(&file.path)).map_err(|e| {
                    EngineError::Internal(format!("statement file {}: {e}", file.path))
                })?;
                Box::pin(futures::stream::try_unfold((), move |()| {
                    let chunk = writer::next_chunk(&mut f);
                    async move {
                        let chunk = chunk?;
                        Ok((!chunk.is_empty()).then_some((chunk, ())))
                    }
                }))
            };
        Ok(Some(Download { file, chunks }))
    }

    /// The console's listing: files of trade day `data_date`, `bill_type`, owner, newest
    /// first, skipping `offset`, at most `limit`. An agent admin sees its own service
    /// provider's files and its merchants'; every other role sees all (reading statements is
    /// not a write: not audited).
    pub async fn list(
        &self,
        actor: &Actor,
        filter: FileFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<FileDetail>, EngineError> {
        Ok(self.page(actor, filter, now).await?.0)
    }

    /// [`Self::list`] with how many files match in all (for the console's pager).
    pub async fn page(
        &self,
        actor: &Actor,
        mut filter: FileFilter,
        now: DateTime<Utc>,
    ) -> Result<(Vec<FileDetail>, u64), EngineError> {
        if let Some(sys_id) = self.agent_scope(actor)? {
            let mut ids = vec![sys_id.clone()];
            ids.extend(
                nkpay_store::merchants::list_merchants_of(self.db.conn(), &sys_id)
                    .await?
                    .into_iter()
                    .map(|m| m.mer_id),
            );
            filter.owner_ids = Some(ids);
        }
        let rows = statements::list(self.db.conn(), &filter).await?;
        let total = statements::count(self.db.conn(), &filter).await?;
        Ok((rows.iter().map(|f| self.detail(f, now)).collect(), total))
    }

    /// The ready file `file_id` for the console, if `actor` may see it.
    pub async fn open_for(
        &self,
        actor: &Actor,
        file_id: &str,
    ) -> Result<Option<Download>, EngineError> {
        let Some(d) = self.open(file_id).await? else {
            return Ok(None);
        };
        if let Some(sys_id) = self.agent_scope(actor)? {
            let mine = d.file.owner_id == sys_id
                || nkpay_store::merchants::find_merchant(self.db.conn(), &d.file.owner_id)
                    .await?
                    .is_some_and(|m| m.sys_id == sys_id);
            if !mine {
                return Ok(None);
            }
        }
        Ok(Some(d))
    }

    /// `Some(sys_id)` for an agent admin (sees its own), `None` for roles that see all.
    fn agent_scope(&self, actor: &Actor) -> Result<Option<String>, EngineError> {
        use nkpay_store::kinds::AdminRole;
        match actor.role {
            AdminRole::AgentAdmin => actor.sys_id.clone().map(Some).ok_or_else(|| {
                EngineError::Forbidden("an agent admin without a service provider".to_owned())
            }),
            _ => Ok(None),
        }
    }
}
