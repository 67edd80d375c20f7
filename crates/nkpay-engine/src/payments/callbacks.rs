//! Channel notifies (`/callback/wechat/pay`, `/callback/wechat/refund`, `/callback/alipay`):
//! recorded as received, verified by the connector of the account they are addressed to,
//! settled once, answered in the channel's own format. A notify no account verifies changes
//! nothing and gets the channel's failure answer; a late or repeated one is acknowledged and
//! changes nothing.

use std::sync::Arc;

use chrono::Utc;
use nkpay_channels::{Channel, InboundNotify, NotifyAck, NotifyReply};
use nkpay_store::channel_records::{self, NewInboundMessage};
use nkpay_store::trades;

use super::settle::describe_pay_result;
use crate::engine::{CallbackPath, Engine};
use crate::error::EngineError;

/// How much of a refused notify's reasons the inbound log keeps.
const REASON_LIMIT: usize = 1000;

/// An inbound notify as the HTTP edge received it.
#[derive(Debug, Clone)]
pub struct InboundCallback<'a> {
    pub path: CallbackPath,
    pub body: &'a [u8],
    /// The request headers as a JSON object, for the log.
    pub headers: Option<String>,
    pub remote_addr: Option<String>,
}

impl Engine {
    /// Handles one channel notify and returns the exact answer for the channel.
    pub async fn handle_channel_notify(&self, inbound: InboundCallback<'_>) -> NotifyReply {
        let now = Utc::now();
        let kind = inbound.path.channel();
        let record = NewInboundMessage {
            channel: kind,
            kind: inbound.path.kind().to_owned(),
            body: String::from_utf8_lossy(inbound.body).into_owned(),
            headers: inbound.headers.clone(),
            remote_addr: inbound.remote_addr.clone(),
            verified: false,
            outcome: None,
            nkp_seq_id: None,
            received_at: now,
        };
        let record_id = match channel_records::record_inbound(self.db.conn(), &record).await {
            Ok(r) => Some(r.id),
            Err(e) => {
                tracing::error!(error = %e, "could not record an inbound channel notify");
                None
            }
        };
        let channels = match self.channels.all_of(kind).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "no connector to verify a channel notify");
                self.finish(record_id, false, &format!("error: {e}"), None)
                    .await;
                return fallback_reply();
            }
        };
        let Some((_, first)) = channels.first() else {
            self.finish(
                record_id,
                false,
                "refused: no channel account is configured",
                None,
            )
            .await;
            return fallback_reply();
        };
        let mut reasons = Vec::new();
        let mut verified: Option<(InboundNotify, &Arc<dyn Channel>)> = None;
        for (account_id, channel) in &channels {
            match channel.parse_notify(inbound.body) {
                Ok(n) => {
                    verified = Some((n, channel));
                    break;
                }
                Err(e) => reasons.push(format!("account {account_id}: {e}")),
            }
        }
        let Some((notify, channel)) = verified else {
            let mut reason = format!("refused: {}", reasons.join("; "));
            truncate(&mut reason, REASON_LIMIT);
            tracing::warn!(channel = kind.as_str(), %reason, "channel notify refused");
            self.finish(record_id, false, &reason, None).await;
            return first.notify_reply(NotifyAck::Rejected);
        };
        let (ack, outcome, nkp_seq_id) = match self.apply_notify(&notify).await {
            Ok((outcome, id)) => (NotifyAck::Accepted, outcome, id),
            // Storage trouble: let the channel send it again.
            Err(e) => {
                tracing::error!(error = %e, "channel notify could not be applied");
                (NotifyAck::Rejected, format!("error: {e}"), None)
            }
        };
        self.finish(record_id, true, &outcome, nkp_seq_id.as_deref())
            .await;
        channel.notify_reply(ack)
    }

    async fn apply_notify(
        &self,
        notify: &InboundNotify,
    ) -> Result<(String, Option<String>), EngineError> {
        match notify {
            InboundNotify::Payment {
                nkp_seq_id,
                sub_merchant,
                result,
            } => {
                let Some(t) = trades::find_by_nkp_seq_id(self.db.conn(), nkp_seq_id).await? else {
                    // Verified, so it is ours, yet no trade: nothing to settle, and a retry would
                    // not change that.
                    return Ok((format!("no trade {nkp_seq_id}; ignored"), None));
                };
                let applied = self
                    .apply_pay_result(&t, result, sub_merchant.as_deref(), Utc::now())
                    .await?;
                Ok((
                    format!("{}; {}", describe_pay_result(result), applied.describe()),
                    Some(t.nkp_seq_id),
                ))
            }
            InboundNotify::Refund {
                nkp_seq_id,
                refund_nkp_seq_id,
                result,
            } => {
                self.apply_refund_notify(nkp_seq_id, refund_nkp_seq_id, result)
                    .await
            }
        }
    }

    async fn finish(
        &self,
        record_id: Option<i64>,
        verified: bool,
        outcome: &str,
        nkp_seq_id: Option<&str>,
    ) {
        let Some(id) = record_id else { return };
        if let Err(e) =
            channel_records::set_inbound_outcome(self.db.conn(), id, verified, outcome, nkp_seq_id)
                .await
        {
            tracing::warn!(error = %e, "could not complete an inbound notify record");
        }
    }
}

/// The answer when no connector exists to speak the channel's format: any non-success body
/// makes both channels retry later.
fn fallback_reply() -> NotifyReply {
    NotifyReply {
        content_type: "text/plain; charset=utf-8",
        body: b"fail".to_vec(),
    }
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}
