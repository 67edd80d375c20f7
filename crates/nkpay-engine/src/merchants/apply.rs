//! Applying (`/v2/merchant/basicdata/ent`, `/indv`): who may, the request id and its replays,
//! the new `mer_id` and `apply_no`, the rows written.

use chrono::Utc;
use nkpay_core::resp_code::RespCode;
use nkpay_store::StoreError;
use nkpay_store::entity::merchant_application;
use nkpay_store::kinds::{ApplyStatus, MerchantKind};
use nkpay_store::merchant_applications::{self, NewApplication};
use rand::Rng;
use serde_json::{Map, Value};

use super::Merchants;
use super::personal::{self, PersonalField};
use crate::callers::{Caller, CallerKind};
use crate::error::EngineError;
use crate::notifications::url_guard;
use crate::payments::replay::same_content;
use crate::request::WriteRequest;

/// The first four digits of every `mer_id` this platform allocates (Dougong's `huifu_id`s
/// start with 6666); the other 12 are random.
pub const MER_ID_PREFIX: &str = "6666";
/// How many random `mer_id`s are tried before giving up (a clash among 10^12 is rare).
const MER_ID_ATTEMPTS: usize = 5;

/// An application as the api read it: every field checked for form.
#[derive(Debug, Clone)]
pub struct Apply {
    /// The request id (`req_date`, `req_seq_id`) and content hash.
    pub request: WriteRequest,
    /// Enterprise (`/ent`) or individual (`/indv`).
    pub kind: MerchantKind,
    /// The service provider the merchant will belong to: must be the caller's own `sys_id`.
    pub upper_huifu_id: String,
    /// The registered name (`reg_name`).
    pub reg_name: String,
    /// The short name (`short_name`), shown to payers.
    pub short_name: Option<String>,
    /// Where the review result is notified (`async_return_url`).
    pub async_return_url: Option<String>,
    /// Every other field, checked, as JSON (nested objects such as `card_info` as objects),
    /// without the personal values.
    pub details: Map<String, Value>,
    /// The personal values (sealed at rest, masked elsewhere).
    pub personal: Vec<PersonalField>,
}

/// The answer to an application: the merchant's `huifu_id` (`mer_id`) and the `apply_no`;
/// the state is P (as first answered; a replay answers the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The new merchant's 16 digits.
    pub mer_id: String,
    /// The application's number.
    pub apply_no: String,
    /// P when first answered.
    pub status: ApplyStatus,
    /// The request's `req_date`, `yyyyMMdd`.
    pub req_date: String,
    /// The request's `req_seq_id`.
    pub req_seq_id: String,
}

impl Applied {
    fn first_answer(row: &merchant_application::Model) -> Applied {
        Applied {
            mer_id: row.mer_id.clone(),
            apply_no: row.apply_no.clone(),
            status: ApplyStatus::Pending,
            req_date: row.req_date.clone(),
            req_seq_id: row.req_seq_id.clone(),
        }
    }
}

impl Merchants {
    /// Applies for a merchant under `caller`: refused `22000000` when the caller is a merchant
    /// (merchants do not onboard others) or `upper_huifu_id` is not the caller's own `sys_id`
    /// (issue 11 "Scope"); the same request id (`sys_id`, `req_date`, `req_seq_id`) again gets
    /// the first answer with the same content, `20000000` with other content; a new request's
    /// `req_date` must be today (Asia/Shanghai, the trades' tolerance) and its
    /// `async_return_url` deliverable (`10000000`). Writes the merchant (`apply_status` P) and
    /// the application in one transaction, personal data sealed.
    pub async fn apply(&self, caller: &Caller, cmd: Apply) -> Result<Applied, EngineError> {
        if caller.kind != CallerKind::ServiceProvider {
            return Err(EngineError::refused(
                RespCode::MerchantNotAllowed,
                format!(
                    "sys_id {} 为商户，不能进件: a merchant cannot onboard merchants; the service provider applies",
                    caller.sys_id
                ),
            ));
        }
        if cmd.upper_huifu_id != caller.sys_id {
            return Err(EngineError::refused(
                RespCode::MerchantNotAllowed,
                format!(
                    "upper_huifu_id {} 无权操作: a service provider onboards only under its own sys_id {}",
                    cmd.upper_huifu_id, caller.sys_id
                ),
            ));
        }
        let now = Utc::now();
        let id = &cmd.request.id;
        let req_date = id.date_text();
        if let Some(existing) = merchant_applications::find_by_request(
            self.db.conn(),
            &caller.sys_id,
            &req_date,
            &id.req_seq_id,
        )
        .await?
        {
            return replay(&existing, &cmd.request);
        }
        id.check_current("req_date", now, self.config.req_date_tolerance_days)?;
        if let Some(url) = &cmd.async_return_url {
            url_guard::check_notify_url(url, &self.config.notify_url_policy)
                .await
                .map_err(|refusal| EngineError::invalid("async_return_url", refusal.to_string()))?;
        }
        let mut details = cmd.details.clone();
        personal::mask_into(&mut details, &cmd.personal);
        let details = Value::Object(details).to_string();
        let personal_sealed = personal::seal(&self.sealer, &cmd.personal)?;
        let apply_no = self.seq.next_id();
        for _ in 0..MER_ID_ATTEMPTS {
            let new = NewApplication {
                apply_no: apply_no.clone(),
                mer_id: new_mer_id(),
                sys_id: caller.sys_id.clone(),
                kind: cmd.kind,
                name: cmd.reg_name.clone(),
                short_name: cmd.short_name.clone(),
                req_date: req_date.clone(),
                req_seq_id: id.req_seq_id.clone(),
                request_hash: cmd.request.content_hash.clone(),
                async_return_url: cmd.async_return_url.clone(),
                details: details.clone(),
                personal_sealed: personal_sealed.clone(),
            };
            let tx = self.db.begin_write().await?;
            match merchant_applications::insert(&tx, &new, now).await {
                Ok(row) => {
                    tx.commit().await.map_err(StoreError::from)?;
                    tracing::info!(
                        sys_id = %row.sys_id,
                        mer_id = %row.mer_id,
                        apply_no = %row.apply_no,
                        kind = %row.kind,
                        "merchant application received"
                    );
                    return Ok(Applied::first_answer(&row));
                }
                Err(StoreError::Duplicate {
                    what: "merchant", ..
                }) => continue,
                Err(StoreError::Duplicate { .. }) => {
                    drop(tx);
                    // A concurrent duplicate won the insert: answer what it answers.
                    let winner = merchant_applications::find_by_request(
                        self.db.conn(),
                        &caller.sys_id,
                        &req_date,
                        &id.req_seq_id,
                    )
                    .await?
                    .ok_or_else(|| {
                        EngineError::Internal(
                            "duplicate application key but no application found".into(),
                        )
                    })?;
                    return replay(&winner, &cmd.request);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Internal(format!(
            "no free mer_id after {MER_ID_ATTEMPTS} attempts"
        )))
    }
}

/// The first answer again, or `20000000` when the content differs.
fn replay(
    row: &merchant_application::Model,
    request: &WriteRequest,
) -> Result<Applied, EngineError> {
    same_content(
        &row.request_hash,
        &request.content_hash,
        &row.req_date,
        &row.req_seq_id,
    )?;
    Ok(Applied::first_answer(row))
}

/// A random `mer_id`: [`MER_ID_PREFIX`] and 12 random digits.
fn new_mer_id() -> String {
    let n: u64 = rand::thread_rng().gen_range(0..1_000_000_000_000);
    format!("{MER_ID_PREFIX}{n:012}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocated_mer_ids_are_sixteen_digits_with_the_prefix() {
        for _ in 0..100 {
            let id = new_mer_id();
            assert_eq!(id.len(), 16);
            assert!(id.starts_with(MER_ID_PREFIX));
            assert!(id.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
