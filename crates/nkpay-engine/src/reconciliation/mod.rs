//! Reconciliation (对账, issue 12): one channel account's bill of one Asia/Shanghai day against
//! our trades and refunds, every difference recorded, and what is safe healed.
//!
//! [`Reconciliation::run`] downloads the bill — WeChat `pay/downloadbill` with `bill_type=ALL`
//! for the whole service-provider account, Alipay `alipay.data.dataservice.bill.downloadurl.query`
//! once per authorized merchant (each grant's `app_auth_token`) —, compares it (`compare.rs`)
//! and records a `reconciliation_differences` row per difference. Healing (`heal.rs`): a trade
//! paid at the channel but processing here is queried and finalized through the payments'
//! finalize path (the merchant is notified); a trade paid at the channel after it was closed or
//! failed here is refunded in full through the refunds' path (recorded, idempotent); a refund
//! refunded at the channel but processing here is queried and finalized; a trade or refund
//! succeeded here but absent at the channel becomes an incident for an operator.
//!
//! The admin side (`admin.rs`): runs and differences listed, a difference resolved with a note
//! (audited), incidents listed and resolved (audited). The scheduled run: [`job::spawn`].

mod admin;
mod compare;
mod heal;
pub mod job;

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use nkpay_channels::{BillRequest, BillResult, BillRow, MerchantRoute};
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::accounts;
use nkpay_store::entity::reconciliation_run;
use nkpay_store::merchant_channels;
use nkpay_store::reconciliation::{self as store, RunCounts, RunStatus};

pub use admin::{DifferenceQuery, RunQuery};

use crate::engine::service;
use crate::error::EngineError;

service!(
    /// Reconciliation with the channels' bills: runs, their differences, healing, and the
    /// operator's side (resolve with a note, incidents).
    Reconciliation
);

/// The UTC instants [start, end) of Asia/Shanghai calendar day `day`.
pub(crate) fn day_bounds(day: NaiveDate) -> Result<(DateTime<Utc>, DateTime<Utc>), EngineError> {
    let at = |d: NaiveDate| {
        Shanghai
            .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
            .single()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| EngineError::invalid("date", "must be a real Asia/Shanghai day"))
    };
    let next = day
        .succ_opt()
        .ok_or_else(|| EngineError::invalid("date", "must be a real calendar day"))?;
    Ok((at(day)?, at(next)?))
}

impl Reconciliation {
    /// Reconciles channel account `channel_account_id`'s bill of `day` (an Asia/Shanghai
    /// calendar day), records every difference and heals what is safe; the run as it ended.
    /// A run whose bill cannot be had ends `failed` with the reason (and compares nothing);
    /// a day without a bill (`No Bill Exist`, `isp.bill_not_exist`) is an empty bill. Runs may
    /// be repeated: each records its own differences, healing is idempotent.
    /// Errors: [`EngineError::Invalid`] naming `channel_account_id` (unknown account) or
    /// `date` (a day that has not ended yet in Asia/Shanghai is allowed, for testing: the
    /// channels then bill what they have so far).
    pub async fn run(
        &self,
        channel_account_id: i64,
        day: NaiveDate,
    ) -> Result<reconciliation_run::Model, EngineError> {
        self.run_by(channel_account_id, day, None).await
    }

    /// [`Self::run`], naming who started it (an admin's name, `job` for the scheduled run).
    pub async fn run_by(
        &self,
        channel_account_id: i64,
        day: NaiveDate,
        started_by: Option<&str>,
    ) -> Result<reconciliation_run::Model, EngineError> {
        let account = accounts::find_channel_account(self.db.conn(), channel_account_id)
            .await?
            .ok_or_else(|| {
                EngineError::invalid(
                    "channel_account_id",
                    format!("no channel account {channel_account_id}"),
                )
            })?;
        let now = Utc::now();
        let bill_date = day.format("%Y%m%d").to_string();
        let run = store::start_run(
            self.db.conn(),
            account.id,
            account.channel.as_str(),
            &bill_date,
            started_by,
            now,
        )
        .await?;
        let rows = match self.fetch_bills(account.id, account.channel, day).await {
            Ok(rows) => rows,
            Err(reason) => {
                tracing::warn!(run = run.id, %reason, "reconciliation: no bill");
                store::finish_run(
                    self.db.conn(),
                    run.id,
                    RunStatus::Failed,
                    RunCounts::default(),
                    Some(&reason),
                    Utc::now(),
                )
                .await?;
                return self.run_of(run.id).await;
            }
        };
        let counts = match self
            .compare_and_heal(&run, account.id, day, &bill_date, &rows)
            .await
        {
            Ok(counts) => counts,
            Err(e) => {
                // Not left `running`: the job would wait for it to go stale.
                let reason = format!("comparison stopped: {e}");
                store::finish_run(
                    self.db.conn(),
                    run.id,
                    RunStatus::Failed,
                    RunCounts::default(),
                    Some(&reason),
                    Utc::now(),
                )
                .await?;
                return Err(e);
            }
        };
        store::finish_run(
            self.db.conn(),
            run.id,
            RunStatus::Done,
            counts,
            None,
            Utc::now(),
        )
        .await?;
        tracing::info!(
            run = run.id,
            account = account.id,
            bill_date,
            bill_rows = counts.bill_rows,
            differences = counts.differences,
            healed = counts.healed,
            "reconciliation run done"
        );
        self.run_of(run.id).await
    }

    async fn run_of(&self, id: i64) -> Result<reconciliation_run::Model, EngineError> {
        store::find_run(self.db.conn(), id)
            .await?
            .ok_or_else(|| EngineError::Internal(format!("reconciliation run {id} vanished")))
    }

    /// Every bill row of the account and day; `Err` with the reason when a bill cannot be had.
    async fn fetch_bills(
        &self,
        account_id: i64,
        kind: ChannelKind,
        day: NaiveDate,
    ) -> Result<Vec<BillRow>, String> {
        let channel = self
            .channels
            .get(account_id)
            .await
            .map_err(|e| format!("connector of account {account_id}: {e}"))?;
        let merchants: Vec<Option<MerchantRoute>> = match kind {
            ChannelKind::Wechat => vec![None],
            ChannelKind::Alipay => self
                .alipay_routes(account_id)
                .await
                .map_err(|e| format!("Alipay grants: {e}"))?
                .into_iter()
                .map(Some)
                .collect(),
        };
        let mut rows = Vec::new();
        for merchant in merchants {
            let request = BillRequest {
                date: day,
                merchant,
            };
            let recorded = channel
                .bill(&request)
                .await
                .map_err(|e| format!("bill of {day}: {e}"))?;
            let outcome = match &recorded.value {
                BillResult::Ready(b) => format!("bill of {day}: {} rows", b.rows.len()),
                BillResult::NoBill { message } => format!("no bill of {day}: {message}"),
                BillResult::Failed { code, message } => format!("bill refused {code}: {message}"),
                BillResult::Unknown { reason } => format!("bill unknown: {reason}"),
            };
            self.log_exchanges(None, kind, &recorded.exchanges, &outcome)
                .await;
            match recorded.value {
                BillResult::Ready(bill) => rows.extend(bill.rows),
                BillResult::NoBill { .. } => {}
                BillResult::Failed { code, message } => {
                    return Err(format!("the channel refused the bill: {code} {message}"));
                }
                BillResult::Unknown { reason } => {
                    return Err(format!("the bill could not be had: {reason}"));
                }
            }
        }
        Ok(rows)
    }

    /// The grants whose trades go through Alipay account `account_id`: a business naming it,
    /// or naming none while it is the default Alipay account.
    async fn alipay_routes(&self, account_id: i64) -> Result<Vec<MerchantRoute>, EngineError> {
        let default = accounts::find_default_account(self.db.conn(), ChannelKind::Alipay)
            .await?
            .map(|a| a.id);
        let mut out = Vec::new();
        for b in store::alipay_grants(self.db.conn()).await? {
            let mine = match b.channel_account_id {
                Some(id) => id == account_id,
                None => default == Some(account_id),
            };
            if !mine {
                continue;
            }
            if let Some(token) = merchant_channels::open_app_auth_token(&self.sealer, &b)? {
                out.push(MerchantRoute::Alipay {
                    app_auth_token: token,
                    seller_id: b.ali_seller_id.clone(),
                });
            }
        }
        Ok(out)
    }

    async fn compare_and_heal(
        &self,
        run: &reconciliation_run::Model,
        account_id: i64,
        day: NaiveDate,
        bill_date: &str,
        rows: &[BillRow],
    ) -> Result<RunCounts, EngineError> {
        let (from, to) = day_bounds(day)?;
        let conn = self.db.conn();
        let day_trades = store::trades_succeeded_between(conn, account_id, from, to).await?;
        let day_refunds: Vec<_> = store::refunds_succeeded_between(conn, account_id, from, to)
            .await?
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        let mut order_nos: Vec<String> = rows.iter().map(|r| r.nkp_seq_id.clone()).collect();
        order_nos.sort();
        order_nos.dedup();
        let mut refund_nos: Vec<String> = rows
            .iter()
            .filter_map(|r| r.refund_nkp_seq_id.clone())
            .collect();
        refund_nos.sort();
        refund_nos.dedup();
        let named_trades: HashMap<_, _> = store::find_trades(conn, &order_nos)
            .await?
            .into_iter()
            .map(|t| (t.nkp_seq_id.clone(), t))
            .collect();
        let named_refunds: HashMap<_, _> = store::find_refunds(conn, &refund_nos)
            .await?
            .into_iter()
            .map(|r| (r.nkp_seq_id.clone(), r))
            .collect();
        let compared = compare::compare(
            rows,
            &compare::Ours {
                channel_account_id: account_id,
                day_trades: &day_trades,
                day_refunds: &day_refunds,
                named_trades: &named_trades,
                named_refunds: &named_refunds,
            },
        );
        let mut counts = RunCounts {
            bill_rows: compared.bill_rows,
            matched_rows: compared.matched_rows,
            foreign_rows: compared.foreign_rows,
            ..RunCounts::default()
        };
        for mut finding in compared.findings {
            finding.difference.run_id = run.id;
            finding.difference.channel_account_id = account_id;
            finding.difference.bill_date = bill_date.to_owned();
            let saved = store::insert_difference(conn, &finding.difference, Utc::now()).await?;
            counts.differences += 1;
            match self.heal(&saved, &finding.heal).await {
                Ok(true) => counts.healed += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(difference = saved.id, error = %e, "reconciliation: healing failed");
                    store::note_heal_attempt(
                        conn,
                        saved.id,
                        &format!("healing failed: {e}"),
                        Utc::now(),
                    )
                    .await?;
                }
            }
        }
        Ok(counts)
    }
}
