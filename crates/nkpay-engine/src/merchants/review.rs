//! The platform's review (issue 11 "Platform operator → Review"): approve or reject a pending
//! application (the result notified to its `async_return_url`, in the transaction of the
//! change), freeze and unfreeze a merchant, reveal one personal value. Every write is audited
//! (who, before → after, from which address) in its transaction.
//!
//! Rule (ours, after `admin_identity`'s roles): platform admins and operators review and
//! freeze; every role reads merchants and applications, an agent admin only its own service
//! provider's (another's is not found to it), read-only; revealing a full personal value is the
//! platform admin's alone (the least-privilege choice: operators review with masked values and
//! the documents' file ids).

use chrono::Utc;
use nkpay_core::secret::Secret;
use nkpay_store::entity::{merchant, merchant_application};
use nkpay_store::kinds::{AdminRole, ApplyStatus, NotificationKind};
use nkpay_store::merchant_applications::{self, Review};
use nkpay_store::{StoreError, merchants, notifications};
use serde_json::json;

use super::Merchants;
use super::personal;
use crate::admin_identity::{Actor, audit};
use crate::error::EngineError;
use crate::notifications::resp_data::onboarding_notice;

/// The longest review or freeze reason, in characters.
pub const MAX_REASON_CHARS: usize = 256;

/// What an admin does with merchants; [`may`] says which roles may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MerchantAction {
    /// List and read merchants and applications (masked).
    Read,
    /// Approve, reject, freeze, unfreeze.
    Review,
    /// Show one personal value in full.
    Reveal,
}

/// Whether `by`'s role allows `action` (see the module's rule). An agent admin's reads are
/// further limited to its own service provider's merchants by the service.
pub fn may(by: &Actor, action: MerchantAction) -> bool {
    use AdminRole::*;
    matches!(
        (by.role, action),
        (PlatformAdmin, _)
            | (Operator, MerchantAction::Read | MerchantAction::Review)
            | (Finance | ReadOnly | AgentAdmin, MerchantAction::Read)
    )
}

fn require(by: &Actor, action: MerchantAction) -> Result<(), EngineError> {
    if may(by, action) {
        Ok(())
    } else {
        Err(EngineError::Forbidden(format!(
            "role {} may not {action:?} merchants",
            by.role
        )))
    }
}

/// Whether `by` sees merchants of service provider `sys_id`: an agent admin only its own.
pub(crate) fn sees(by: &Actor, sys_id: &str) -> bool {
    by.role != AdminRole::AgentAdmin || by.sys_id.as_deref() == Some(sys_id)
}

fn checked_reason(reason: &str) -> Result<String, EngineError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(EngineError::invalid("reason", "is required"));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(EngineError::invalid(
            "reason",
            format!("must be at most {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok(reason.to_owned())
}

/// The names of the personal fields [`Merchants::reveal`] shows.
pub const REVEALABLE: &[&str] = &[
    "legal_cert_no",
    "contact_mobile_no",
    "contact_email",
    "card_info.card_no",
    "card_info.cert_no",
    "card_info.mp",
];

impl Merchants {
    /// Approves (`Y`) a pending application, or rejects it (`N`, `reason` required, at most
    /// [`MAX_REASON_CHARS`]): the application and its merchant change, the audit row
    /// (`merchant_application.approve` / `.reject`, before → after) and the notification to
    /// `async_return_url` (`MERCHANT_AUDIT`: `audit_status`, `audit_desc`, `huifu_id`,
    /// `apply_no`, `req_seq_id`, `req_date`) are written in one transaction. `Ok(None)` when
    /// there is no such application (or `by` is an agent admin, who does not review);
    /// [`EngineError::Invalid`] naming `apply_no` when it is not pending;
    /// [`EngineError::Forbidden`] unless `by` is a platform admin or operator.
    pub async fn review(
        &self,
        by: &Actor,
        apply_no: &str,
        approve: bool,
        reason: Option<&str>,
    ) -> Result<Option<merchant_application::Model>, EngineError> {
        require(by, MerchantAction::Review)?;
        let reason = match (approve, reason) {
            (false, r) => Some(checked_reason(r.unwrap_or_default())?),
            (true, Some(r)) if !r.trim().is_empty() => Some(checked_reason(r)?),
            (true, _) => None,
        };
        let status = if approve {
            ApplyStatus::Approved
        } else {
            ApplyStatus::Rejected
        };
        let now = Utc::now();
        let reviewer = by.audit_name();
        let tx = self.db.begin_write().await?;
        let Some(before) = merchant_applications::find(&tx, apply_no).await? else {
            return Ok(None);
        };
        let review = Review {
            status,
            reason: reason.as_deref(),
            reviewed_by: &reviewer,
        };
        if !merchant_applications::review(&tx, apply_no, &review, now).await? {
            return Err(EngineError::invalid(
                "apply_no",
                format!(
                    "is not pending review (apply_status {})",
                    before.status.as_str()
                ),
            ));
        }
        let action = if approve {
            "merchant_application.approve"
        } else {
            "merchant_application.reject"
        };
        audit(
            &tx,
            by,
            action,
            &format!("merchant_application:{apply_no}"),
            json!({
                "mer_id": before.mer_id,
                "before": { "apply_status": before.status.as_str() },
                "after": { "apply_status": status.as_str(), "reason": reason },
            }),
            now,
        )
        .await?;
        let notice = onboarding_notice(
            NotificationKind::MerchantAudit,
            &before.mer_id,
            &before.apply_no,
            before.async_return_url.as_deref(),
            &[
                ("audit_status", status.as_str()),
                ("audit_desc", reason.as_deref().unwrap_or("审核通过")),
                ("apply_no", &before.apply_no),
                ("req_seq_id", &before.req_seq_id),
                ("req_date", &before.req_date),
            ],
            now,
        )?;
        if let Some(n) = notice {
            notifications::enqueue(&tx, &n, now).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        self.merchant_setup_changed();
        tracing::info!(apply_no, status = status.as_str(), by = %reviewer, "merchant application reviewed");
        Ok(Some(merchant_application::Model {
            status,
            reason,
            reviewed_by: Some(reviewer),
            reviewed_at: Some(now),
            updated_at: now,
            ..before
        }))
    }

    /// Freezes merchant `mer_id` (`reason` required, at most [`MAX_REASON_CHARS`]) or
    /// unfreezes it (`reason` `None`), audited (`merchant.freeze` / `.unfreeze`, before →
    /// after) in its transaction. A frozen merchant's `jspay` is refused `22000000`; its
    /// refunds, queries and closes still work. `Ok(None)` when there is no such merchant;
    /// [`EngineError::Invalid`] naming `mer_id` when it already is in that state;
    /// [`EngineError::Forbidden`] unless `by` is a platform admin or operator.
    pub async fn set_frozen(
        &self,
        by: &Actor,
        mer_id: &str,
        reason: Option<&str>,
    ) -> Result<Option<merchant::Model>, EngineError> {
        require(by, MerchantAction::Review)?;
        let reason = reason.map(checked_reason).transpose()?;
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        let Some(before) = merchants::find_merchant(&tx, mer_id).await? else {
            return Ok(None);
        };
        if !merchants::set_frozen(&tx, mer_id, reason.as_deref(), now).await? {
            let state = if before.frozen_at.is_some() {
                "is already frozen"
            } else {
                "is not frozen"
            };
            return Err(EngineError::invalid("mer_id", state));
        }
        let action = if reason.is_some() {
            "merchant.freeze"
        } else {
            "merchant.unfreeze"
        };
        audit(
            &tx,
            by,
            action,
            &format!("merchant:{mer_id}"),
            json!({
                "before": { "frozen": before.frozen_at.is_some(), "reason": before.frozen_reason },
                "after": { "frozen": reason.is_some(), "reason": reason },
            }),
            now,
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.merchant_setup_changed();
        tracing::info!(mer_id, action, by = %by.audit_name(), "merchant freeze changed");
        Ok(Some(merchant::Model {
            frozen_at: reason.as_ref().map(|_| now),
            frozen_reason: reason,
            updated_at: now,
            ..before
        }))
    }

    /// The full value of one personal field (one of [`REVEALABLE`]) of merchant `mer_id`'s
    /// latest application, audited (`merchant.reveal`, the field's name, never its value) in
    /// the transaction that reads it. `Ok(None)` when there is no such merchant or
    /// application, or the application has no such value; [`EngineError::Invalid`] naming
    /// `field` for a name not in [`REVEALABLE`]; [`EngineError::Forbidden`] unless `by` is a
    /// platform admin.
    pub async fn reveal(
        &self,
        by: &Actor,
        mer_id: &str,
        field: &str,
    ) -> Result<Option<Secret<String>>, EngineError> {
        require(by, MerchantAction::Reveal)?;
        if !REVEALABLE.contains(&field) {
            return Err(EngineError::invalid(
                "field",
                format!("must be one of {}", REVEALABLE.join(", ")),
            ));
        }
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        let Some(app) = merchant_applications::latest_of(&tx, mer_id).await? else {
            return Ok(None);
        };
        let Some(value) = personal::reveal(&self.sealer, &app.personal_sealed, field)? else {
            return Ok(None);
        };
        audit(
            &tx,
            by,
            "merchant.reveal",
            &format!("merchant:{mer_id}"),
            json!({ "field": field, "apply_no": app.apply_no }),
            now,
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: AdminRole) -> Actor {
        Actor {
            role,
            sys_id: (role == AdminRole::AgentAdmin).then(|| "SPA".to_owned()),
            ..Actor::local("test")
        }
    }

    #[test]
    fn roles_read_review_and_reveal_as_the_rule_says() {
        use MerchantAction::*;
        let table = [
            (AdminRole::PlatformAdmin, [true, true, true]),
            (AdminRole::Operator, [true, true, false]),
            (AdminRole::Finance, [true, false, false]),
            (AdminRole::ReadOnly, [true, false, false]),
            (AdminRole::AgentAdmin, [true, false, false]),
        ];
        for (role, expected) in table {
            let a = actor(role);
            assert_eq!(
                [may(&a, Read), may(&a, Review), may(&a, Reveal)],
                expected,
                "{role}"
            );
        }
        let agent = actor(AdminRole::AgentAdmin);
        assert!(sees(&agent, "SPA"));
        assert!(!sees(&agent, "SPB"));
        assert!(sees(&actor(AdminRole::ReadOnly), "SPB"));
    }

    #[test]
    fn reasons_are_required_and_bounded() {
        assert!(checked_reason("  ").is_err());
        assert!(checked_reason(&"因".repeat(MAX_REASON_CHARS + 1)).is_err());
        assert_eq!(checked_reason(" 证照模糊 ").unwrap(), "证照模糊");
    }
}
