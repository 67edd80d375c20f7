//! The operator's side of reconciliation: runs started and read, differences read and resolved
//! with a note, incidents read and resolved. Who may: reading — platform admin, operator,
//! finance, read-only (agent admins do not: a run covers every merchant of a channel account);
//! starting runs (a run may refund a trade paid after its close) — platform admin and operator;
//! resolving — platform admin, operator and finance, whose only write it is (issue 13's roles;
//! `Actor::may`). Every resolution is audited in the same transaction as the change (actor,
//! address, the note).

use chrono::{NaiveDate, Utc};
use nkpay_store::audit_log::{self, AuditEntry};
use nkpay_store::entity::{incident, reconciliation_difference, reconciliation_run};
use nkpay_store::incidents;
use nkpay_store::kinds::AdminRole;
use nkpay_store::reconciliation::{self as store, DifferenceFilter};

use super::Reconciliation;
use crate::admin_identity::{Actor, Permission, require};
use crate::error::EngineError;

/// The longest note an operator may write when resolving.
pub const MAX_NOTE_CHARS: usize = 1000;

/// Which runs to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    /// Only this channel account's.
    pub channel_account_id: Option<i64>,
    /// Only this bill day.
    pub date: Option<NaiveDate>,
    /// Runs with a smaller id than this (paging); `None` from the newest.
    pub before_id: Option<i64>,
    /// At most this many (1–500).
    pub limit: u64,
}

/// Which differences to list, oldest first.
#[derive(Debug, Clone, Default)]
pub struct DifferenceQuery {
    /// The filter (run, state, kind, day).
    pub filter: DifferenceFilter,
    /// Differences with a larger id than this (paging); 0 from the first.
    pub after_id: i64,
    /// At most this many (1–5000).
    pub limit: u64,
}

/// Reading reconciliation: platform admin, operator, finance, read-only.
fn allow(actor: &Actor) -> Result<(), EngineError> {
    use AdminRole::*;
    match actor.role {
        PlatformAdmin | Operator | Finance | ReadOnly => Ok(()),
        AgentAdmin => Err(EngineError::Forbidden(format!(
            "role {} may not read reconciliation",
            actor.role.as_str()
        ))),
    }
}

fn check_limit(limit: u64, max: u64) -> Result<u64, EngineError> {
    if limit == 0 || limit > max {
        return Err(EngineError::invalid(
            "limit",
            format!("must be between 1 and {max}"),
        ));
    }
    Ok(limit)
}

fn check_note(note: &str) -> Result<&str, EngineError> {
    let note = note.trim();
    if note.is_empty() || note.chars().count() > MAX_NOTE_CHARS {
        return Err(EngineError::invalid(
            "note",
            format!("must say what was done, 1 to {MAX_NOTE_CHARS} characters"),
        ));
    }
    Ok(note)
}

impl Reconciliation {
    /// Starts a run for `actor` (see [`Reconciliation::run`]); `Forbidden` for read-only and
    /// agent admins.
    pub async fn start_run(
        &self,
        actor: &Actor,
        channel_account_id: i64,
        day: NaiveDate,
    ) -> Result<reconciliation_run::Model, EngineError> {
        require(actor, Permission::RunReconciliation)?;
        self.run_by(channel_account_id, day, Some(&actor.audit_name()))
            .await
    }

    /// Runs matching `q`, newest first. `Invalid` naming `limit` outside 1–500.
    pub async fn list_runs(
        &self,
        actor: &Actor,
        q: &RunQuery,
    ) -> Result<Vec<reconciliation_run::Model>, EngineError> {
        allow(actor)?;
        let limit = check_limit(q.limit, 500)?;
        let date = q.date.map(|d| d.format("%Y%m%d").to_string());
        Ok(store::list_runs(
            self.db.conn(),
            q.channel_account_id,
            date.as_deref(),
            q.before_id.unwrap_or(i64::MAX),
            limit,
        )
        .await?)
    }

    /// Run `id`, `None` when unknown.
    pub async fn get_run(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<Option<reconciliation_run::Model>, EngineError> {
        allow(actor)?;
        Ok(store::find_run(self.db.conn(), id).await?)
    }

    /// Differences matching `q`, oldest first. `Invalid` naming `limit` outside 1–5000.
    pub async fn list_differences(
        &self,
        actor: &Actor,
        q: &DifferenceQuery,
    ) -> Result<Vec<reconciliation_difference::Model>, EngineError> {
        allow(actor)?;
        let limit = check_limit(q.limit, 5000)?;
        Ok(store::list_differences(self.db.conn(), &q.filter, q.after_id, limit).await?)
    }

    /// Resolves open difference `id` with `note` (what the operator did), audited as
    /// `reconciliation.difference_resolve`. `None` when there is no such difference;
    /// `Invalid` naming `note` (empty or over [`MAX_NOTE_CHARS`]) or `state` (not open).
    pub async fn resolve_difference(
        &self,
        actor: &Actor,
        id: i64,
        note: &str,
    ) -> Result<Option<reconciliation_difference::Model>, EngineError> {
        require(actor, Permission::ResolveDifferences)?;
        let note = check_note(note)?;
        let now = Utc::now();
        let txn = self.db.begin_write().await?;
        let Some(before) = store::find_difference(&txn, id).await? else {
            return Ok(None);
        };
        if !store::resolve_difference(&txn, id, note, &actor.audit_name(), now).await? {
            return Err(EngineError::invalid(
                "state",
                format!(
                    "difference {id} is {}, only an open one can be resolved",
                    before.state
                ),
            ));
        }
        audit_log::append(
            &txn,
            AuditEntry {
                actor: &actor.audit_name(),
                action: "reconciliation.difference_resolve",
                target: &format!("reconciliation_difference:{id}"),
                detail: serde_json::json!({
                    "kind": before.kind.as_str(),
                    "order_no": before.order_no,
                    "refund_no": before.refund_no,
                    "state": {"before": before.state.as_str(), "after": "resolved"},
                    "note": note,
                }),
                address: actor.address.as_deref(),
            },
            now,
        )
        .await?;
        txn.commit().await.map_err(nkpay_store::StoreError::from)?;
        Ok(store::find_difference(self.db.conn(), id).await?)
    }

    /// Open incidents, newest first (at most `limit`, 1–500).
    pub async fn open_incidents(
        &self,
        actor: &Actor,
        limit: u64,
    ) -> Result<Vec<incident::Model>, EngineError> {
        allow(actor)?;
        let limit = check_limit(limit, 500)?;
        Ok(incidents::list_open(self.db.conn(), limit).await?)
    }

    /// Resolves open incident `id` with `note`, audited as `incident.resolve`. `false` when it
    /// is unknown or already resolved; `Invalid` naming `note`.
    pub async fn resolve_incident(
        &self,
        actor: &Actor,
        id: i64,
        note: &str,
    ) -> Result<bool, EngineError> {
        require(actor, Permission::ResolveDifferences)?;
        let note = check_note(note)?;
        let now = Utc::now();
        let txn = self.db.begin_write().await?;
        if !incidents::resolve(&txn, id, now).await? {
            return Ok(false);
        }
        audit_log::append(
            &txn,
            AuditEntry {
                actor: &actor.audit_name(),
                action: "incident.resolve",
                target: &format!("incident:{id}"),
                detail: serde_json::json!({ "note": note }),
                address: actor.address.as_deref(),
            },
            now,
        )
        .await?;
        txn.commit().await.map_err(nkpay_store::StoreError::from)?;
        Ok(true)
    }
}
