//! Every HTTP exchange with a channel goes into the trade's history (connectors mask secrets
//! before handing them over). Losing a history row must not fail a payment, so errors are
//! logged, not returned.

use chrono::Utc;
use nkpay_channels::Exchange;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::channel_records::{self, NewExchange};

use crate::context::Context;

impl Context {
    /// Stores `exchanges` under `nkp_seq_id`; the last one carries `outcome`, the earlier ones
    /// (permitted re-sends) say they were re-sent.
    pub(crate) async fn log_exchanges(
        &self,
        nkp_seq_id: Option<&str>,
        channel: ChannelKind,
        exchanges: &[Exchange],
        outcome: &str,
    ) {
        let last = exchanges.len().saturating_sub(1);
        for (i, ex) in exchanges.iter().enumerate() {
            let transport = match (ex.status, &ex.error) {
                (Some(status), _) => format!("HTTP {status}"),
                (None, Some(err)) => format!("no reply: {err}"),
                (None, None) => "no reply".to_owned(),
            };
            let outcome = if i == last {
                format!("{transport}; {outcome}")
            } else {
                format!("{transport}; re-sent")
            };
            let reply_body =
                (ex.status.is_some() || !ex.reply_body.is_empty()).then(|| ex.reply_body.clone());
            let new = NewExchange {
                nkp_seq_id: nkp_seq_id.map(str::to_owned),
                channel,
                call_name: ex.call.clone(),
                request_body: ex.request_body.clone(),
                reply_body,
                duration_ms: i64::try_from(ex.duration.as_millis()).unwrap_or(i64::MAX),
                outcome,
                at: ex.started_at.min(Utc::now()),
            };
            if let Err(e) = channel_records::record_exchange(self.db.conn(), &new).await {
                tracing::warn!(error = %e, call = %ex.call, "could not store a channel exchange");
            }
        }
    }
}
