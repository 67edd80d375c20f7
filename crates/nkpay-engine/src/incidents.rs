//! Incidents: what the platform cannot resolve by itself and an operator must look at (a payment
//! after a close, amounts or sub-merchants that contradict the trade, a query that never ends).

use chrono::{DateTime, Utc};
use nkpay_store::incidents;

use crate::context::Context;
use crate::error::EngineError;

impl Context {
    /// Opens an incident of `kind` about trade or refund `nkp_seq_id` unless one of that kind is
    /// still open, so repeats of the same notify or query do not pile up; an operator resolves
    /// it.
    pub(crate) async fn open_incident_once(
        &self,
        nkp_seq_id: &str,
        kind: &'static str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let known = incidents::list_for(self.db.conn(), nkp_seq_id)
            .await?
            .iter()
            .any(|i| i.kind == kind && i.resolved_at.is_none());
        if !known {
            tracing::warn!(nkp_seq_id, kind, detail, "incident");
            incidents::open_incident(self.db.conn(), kind, Some(nkp_seq_id), detail, now).await?;
        }
        Ok(())
    }
}
