//! The console's regeneration of statement files (`POST /admin/api/statements/generate`): the
//! same engine path as `nkpay bill generate --date` and the scheduled job, for a person.
//!
//! Who: [`Permission::GenerateStatements`] — platform admins and operators ([`Actor::may`]).
//! Finance reads statements and reconciliation but writes nothing except resolving differences
//! (issue 13's roles), read-only writes nothing, and an agent admin's scope is its own merchants
//! while a regeneration remakes every merchant's files of the period — all three are refused. Every request is audited as `statement.generate`
//! (who, the period, each file's SHA-256 before → after, or the error).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use nkpay_store::audit_log::{self, AuditEntry};
use nkpay_store::statements::{self, FileFilter};
use serde_json::json;

use super::{GenerateReport, Period, Statements, ymd};
use crate::admin_identity::{Actor, Permission, require};
use crate::error::EngineError;

/// Files of one period listed at most, for the audit's before → after.
const AUDIT_FILES: u64 = 10_000;

impl Statements {
    /// Remakes the files of `period` (a trade day, or a month by its first day) for `actor`, as
    /// [`Statements::generate`] / [`Statements::generate_month`] do (today or this month
    /// `partial`; a closed period gives identical bytes; the old files stay served until the
    /// new ones are complete), and audits it.
    /// Errors: [`EngineError::Forbidden`] without [`Permission::GenerateStatements`] (finance,
    /// read-only and agent admins);
    /// [`EngineError::Invalid`] naming `date` for a period that has not begun; the run's own.
    pub async fn regenerate(
        &self,
        actor: &Actor,
        period: Period,
        now: DateTime<Utc>,
    ) -> Result<GenerateReport, EngineError> {
        require(actor, Permission::GenerateStatements)?;
        let data_date = ymd(period.data_date());
        let before: BTreeMap<String, Option<String>> = statements::list(
            self.db.conn(),
            &FileFilter {
                data_date: Some(data_date.clone()),
                limit: AUDIT_FILES,
                ..FileFilter::default()
            },
        )
        .await?
        .into_iter()
        .filter(|f| period.bills().iter().any(|b| b.as_str() == f.bill_type))
        .map(|f| (f.file_id, f.sha256))
        .collect();
        let result = match period {
            Period::Day(day) => self.generate(day, now).await,
            Period::Month(first) => self.generate_month(first, now).await,
        };
        let detail = match &result {
            Ok(report) => json!({
                "period": period.run_kind(),
                "data_date": data_date,
                "partial": report.partial,
                "files": report.files.iter().map(|f| json!({
                    "file_id": f.file_id,
                    "sha256": {
                        "before": before.get(&f.file_id).cloned().flatten(),
                        "after": f.sha256,
                    },
                })).collect::<Vec<_>>(),
            }),
            Err(e) => json!({
                "period": period.run_kind(),
                "data_date": data_date,
                "error": e.to_string(),
            }),
        };
        audit_log::append(
            self.db.conn(),
            AuditEntry {
                actor: &actor.audit_name(),
                action: "statement.generate",
                target: &format!("statements:{}", period.label()),
                detail,
                address: actor.address.as_deref(),
            },
            Utc::now(),
        )
        .await?;
        result
    }
}
