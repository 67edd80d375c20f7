//! What the engine is told about a merchant request once the api has read its fields: the
//! request's own id (`req_date` + `req_seq_id`, unique per `mer_id`), the fingerprint of a
//! write's content, and how a request names the original trade or refund (its `org_*` fields).
//!
//! Forms are checked by the api (`nkpay-api::open`); the rules that depend on the clock or the
//! database (how old `req_date` may be, replays, scope) are checked here.

use chrono::{DateTime, NaiveDate, Utc};

use crate::error::EngineError;
use crate::shanghai_time;

/// A request's own id: `req_date` (`yyyyMMdd`, Asia/Shanghai) + `req_seq_id`
/// (`[0-9A-Za-z_-]{1,64}`), unique per merchant (API.md "Parties and identifiers").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestId {
    /// The caller's date of the request.
    pub req_date: NaiveDate,
    /// The caller's serial number of the request.
    pub req_seq_id: String,
}

impl RequestId {
    /// `req_date` as the merchant wrote it and as it is stored: `yyyyMMdd`.
    pub fn date_text(&self) -> String {
        self.req_date.format(shanghai_time::DATE).to_string()
    }

    /// Refuses a `req_date` more than `tolerance_days` from today in Asia/Shanghai
    /// (`10000000`): a request id from another day is a mistake or an old request replayed.
    /// Checked for new requests only: a replay is answered as the first time, even on a later
    /// day.
    pub(crate) fn check_current(
        &self,
        field: &str,
        now: DateTime<Utc>,
        tolerance_days: i64,
    ) -> Result<(), EngineError> {
        let today = shanghai_time::date_of(now);
        if (self.req_date - today).num_days().abs() > tolerance_days {
            return Err(EngineError::invalid(
                field,
                format!(
                    "must be today's date (Asia/Shanghai, {}) give or take {tolerance_days} day",
                    today.format(shanghai_time::DATE)
                ),
            ));
        }
        Ok(())
    }
}

/// A write request (jspay, close, refund): its id and the SHA-256 (hex) of its canonical
/// `data`, so that a replay with the same content gets the first answer and other content
/// under the same id is refused (`20000000`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRequest {
    /// The request's own id.
    pub id: RequestId,
    /// Hex SHA-256 of the canonical request `data` (computed by the api).
    pub content_hash: String,
}

/// How a query, close or refund names the original trade (or a refund query the original
/// refund) of the merchant (API.md "query, close").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginalKey {
    /// Its `org_nkp_seq_id`; an `org_req_date` given with it must match too.
    Nkp {
        /// The platform's serial number (≤ 32 letters or digits).
        nkp_seq_id: String,
        /// The original request's date, when the caller gave it.
        req_date: Option<NaiveDate>,
    },
    /// Its `org_req_date` + `org_req_seq_id`.
    Req(RequestId),
}

impl OriginalKey {
    /// Whether a stored `yyyyMMdd` request date is the one this key names (always, when the
    /// key is by `nkp_seq_id` without a date).
    pub(crate) fn date_matches(&self, stored: &str) -> bool {
        match self {
            OriginalKey::Nkp { req_date, .. } => {
                req_date.is_none_or(|d| d.format(shanghai_time::DATE).to_string() == stored)
            }
            OriginalKey::Req(id) => id.date_text() == stored,
        }
    }
}
