//! Channel notifies (`/callback/wechat/pay`, `/callback/wechat/refund`, `/callback/alipay`):
//! verified by the channel account of the trade they are about, applied once, answered in the
//! channel's own format, and recorded as received with what became of them (handed to the
//! channel history's writer, `exchange_log.rs`: on the request path no write but the
//! finalization's own).
//!
//! Why by the trade's account: a notify is only as good as the key that verified it, and a key
//! speaks for its own account's trades only. So the notify's claim (the trade it names, read
//! without trusting anything) picks the trade, the trade picks its account, and only that
//! account's connector may verify it; the verified notify must then name that same trade, and
//! (for a payment) the trade's sub-merchant. A WeChat refund notify hides its trade inside
//! `req_info`, encrypted with the account's key: the active WeChat accounts its outer `appid` and
//! `mch_id` name try to decrypt it, and it counts only if the trade it names belongs to the
//! account that decrypted it.
//!
//! A notify that is forged, signed with another account's key, about another channel's trade or
//! about no trade of ours is refused with the channel's failure answer, recorded with the reason
//! and changes nothing. One about a trade whose account cannot be built is not refused but
//! answered with a failure, so the channel retries once the account is fixed. A late or repeated
//! notify is acknowledged and changes nothing.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use nkpay_channels::{
    AddressedAccount, Channel, InboundNotify, NotifyAck, NotifyReference, NotifyReply,
    notify_reply, read_notify_reference,
};
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::channel_records::NewInboundMessage;
use nkpay_store::entity::trade;
use nkpay_store::trades;

use crate::context::{CallbackPath, Context};
use crate::error::EngineError;
use crate::payments::Payments;
use crate::payments::finalize::describe_pay_result;
use crate::refunds::Refunds;

/// How much of a refused notify's reasons the inbound log keeps.
const REASON_LIMIT: usize = 1000;

/// An inbound notify as the HTTP edge received it.
#[derive(Debug, Clone)]
pub struct InboundCallback<'a> {
    /// The callback it was posted to.
    pub path: CallbackPath,
    /// The body, byte for byte.
    pub body: &'a [u8],
    /// The request headers as a JSON object, for the log.
    pub headers: Option<String>,
    /// The sender's address, for the log.
    pub remote_addr: Option<String>,
}

/// What became of one notify: the answer to the channel and the line for the inbound log.
struct Handled {
    ack: NotifyAck,
    /// Whether a connector verified it.
    verified: bool,
    outcome: String,
    /// The trade or refund it is recorded under.
    subject: Option<String>,
}

impl Handled {
    fn applied(outcome: String, subject: Option<String>) -> Self {
        Handled {
            ack: NotifyAck::Accepted,
            verified: true,
            outcome,
            subject,
        }
    }

    /// Forged, foreign, or about nothing of ours: nothing changed, and a retry would not change
    /// that.
    fn refused(verified: bool, reason: impl AsRef<str>, subject: Option<&str>) -> Self {
        let mut outcome = format!("refused: {}", reason.as_ref());
        truncate(&mut outcome, REASON_LIMIT);
        Handled {
            ack: NotifyAck::Rejected,
            verified,
            outcome,
            subject: subject.map(str::to_owned),
        }
    }

    /// Our trouble (storage, an account that cannot be built): the channel sends it again.
    fn failed(verified: bool, error: &EngineError, subject: Option<&str>) -> Self {
        tracing::error!(%error, subject, "channel notify could not be handled");
        Handled {
            ack: NotifyAck::Rejected,
            verified,
            outcome: format!("error: {error}"),
            subject: subject.map(str::to_owned),
        }
    }
}

/// A notify verified by the connector of the trade's own account.
struct Verified {
    trade: trade::Model,
    channel: Arc<dyn Channel>,
    notify: InboundNotify,
}

/// The channels' asynchronous notifies: verified by the trade's own account, applied through
/// [`Payments`] or [`Refunds`], answered in the channel's own bytes.
#[derive(Clone)]
pub struct ChannelNotifies {
    ctx: Arc<Context>,
    payments: Payments,
    refunds: Refunds,
}

impl std::fmt::Debug for ChannelNotifies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelNotifies").finish_non_exhaustive()
    }
}

impl std::ops::Deref for ChannelNotifies {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.ctx
    }
}

impl ChannelNotifies {
    /// The service over `ctx`, applying results through `payments` and `refunds`.
    pub(crate) fn new(ctx: Arc<Context>, payments: Payments, refunds: Refunds) -> Self {
        ChannelNotifies {
            ctx,
            payments,
            refunds,
        }
    }

    /// Handles one channel notify and returns the exact answer for the channel (WeChat Pay v2:
    /// `<xml>` with `return_code` `SUCCESS` or `FAIL`; Alipay: `success` or `fail`). Never an
    /// error: trouble on our side is recorded and answered `FAIL` / `fail`, so the channel sends
    /// the notify again.
    pub async fn handle(&self, inbound: InboundCallback<'_>) -> NotifyReply {
        let kind = inbound.path.channel();
        let received_at = Utc::now();
        let handled = match self.verify_notify(kind, inbound.body).await {
            Ok(v) => self.apply_verified(&v).await,
            Err(handled) => handled,
        };
        if handled.ack == NotifyAck::Rejected {
            tracing::warn!(
                channel = kind.as_str(),
                outcome = %handled.outcome,
                "channel notify not accepted"
            );
        }
        self.log_handled(&inbound, received_at, &handled).await;
        notify_reply(kind, handled.ack)
    }

    /// The channel's failure answer to a callback refused before it was read (over the sender's
    /// rate or the body cap), logged but recorded nowhere: the channel retries later, a stranger
    /// fills no table.
    pub fn refuse_unread(&self, path: CallbackPath, reason: &str) -> NotifyReply {
        let kind = path.channel();
        tracing::warn!(
            channel = kind.as_str(),
            path = path.path(),
            reason,
            "channel callback refused unread"
        );
        notify_reply(kind, NotifyAck::Rejected)
    }

    /// Finds the trade the notify is about and verifies the notify with that trade's account.
    async fn verify_notify(&self, kind: ChannelKind, body: &[u8]) -> Result<Verified, Handled> {
        match read_notify_reference(kind, body) {
            Err(e) => Err(Handled::refused(false, e.to_string(), None)),
            Ok(NotifyReference::Trade { nkp_seq_id, .. }) => {
                self.verify_for_trade(kind, &nkp_seq_id, body).await
            }
            Ok(NotifyReference::Sealed { account }) => self.verify_sealed(&account, body).await,
        }
    }

    /// A notify naming trade `nkp_seq_id` in the clear: only the trade's account may verify it.
    async fn verify_for_trade(
        &self,
        kind: ChannelKind,
        nkp_seq_id: &str,
        body: &[u8],
    ) -> Result<Verified, Handled> {
        // The readers' pool: the trade was committed before its order was placed, and a
        // status read stale is corrected by finalization's conditional UPDATE.
        let t = match trades::find_by_nkp_seq_id(self.db.reader(), nkp_seq_id).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                return Err(Handled::refused(
                    false,
                    format!("no trade {nkp_seq_id}"),
                    None,
                ));
            }
            Err(e) => return Err(Handled::failed(false, &e.into(), None)),
        };
        if t.channel != kind {
            let reason = format!(
                "trade {nkp_seq_id} is a {} trade, the notify came from {}",
                t.channel.as_str(),
                kind.as_str()
            );
            return Err(Handled::refused(false, reason, Some(nkp_seq_id)));
        }
        let channel = match self.channels.get(t.channel_account_id).await {
            Ok(ch) => ch,
            Err(e) => return Err(Handled::failed(false, &e, Some(nkp_seq_id))),
        };
        let notify = channel.parse_notify(body).map_err(|e| {
            let reason = format!(
                "account {} of trade {nkp_seq_id}: {e}",
                t.channel_account_id
            );
            Handled::refused(false, reason, Some(nkp_seq_id))
        })?;
        let named = notified_trade(&notify);
        if named != t.nkp_seq_id {
            let reason = format!("verified notify names trade {named}, not {nkp_seq_id}");
            return Err(Handled::refused(true, reason, Some(nkp_seq_id)));
        }
        Ok(Verified {
            trade: t,
            channel,
            notify,
        })
    }

    /// A WeChat refund notify: each active account it is addressed to tries to decrypt it; it
    /// counts only for a trade of the account that did.
    async fn verify_sealed(
        &self,
        claimed: &AddressedAccount,
        body: &[u8],
    ) -> Result<Verified, Handled> {
        let candidates = match self.channels.addressed_to(claimed).await {
            Ok(c) => c,
            Err(e) => return Err(Handled::failed(false, &e, None)),
        };
        if candidates.is_empty() {
            let reason = format!("no active channel account is addressed as {claimed:?}");
            return Err(Handled::refused(false, reason, None));
        }
        let mut reasons = Vec::new();
        // The trade the last decrypting account read, to record the refusal under.
        let mut named_trade: Option<String> = None;
        for (account_id, channel) in candidates {
            let notify = match channel.parse_notify(body) {
                Ok(n) => n,
                Err(e) => {
                    reasons.push(format!("account {account_id}: {e}"));
                    continue;
                }
            };
            let named = notified_trade(&notify).to_owned();
            named_trade = Some(named.clone());
            let t = match trades::find_by_nkp_seq_id(self.db.reader(), &named).await {
                Ok(Some(t)) => t,
                Ok(None) => {
                    reasons.push(format!("account {account_id}: no trade {named}"));
                    continue;
                }
                Err(e) => return Err(Handled::failed(true, &e.into(), Some(&named))),
            };
            if t.channel_account_id != account_id {
                reasons.push(format!(
                    "account {account_id}: trade {named} belongs to account {}",
                    t.channel_account_id
                ));
                continue;
            }
            return Ok(Verified {
                trade: t,
                channel,
                notify,
            });
        }
        Err(Handled::refused(
            named_trade.is_some(),
            reasons.join("; "),
            named_trade.as_deref(),
        ))
    }

    /// Applies a verified notify to its trade (or the trade's refund).
    async fn apply_verified(&self, v: &Verified) -> Handled {
        let t = &v.trade;
        let applied = match &v.notify {
            InboundNotify::Payment {
                sub_merchant,
                result,
                ..
            } => match self
                .merchant_mismatch(t, v.channel.as_ref(), sub_merchant.as_deref())
                .await
            {
                Ok(mismatch) => self
                    .payments
                    .apply_pay_result(t, result, mismatch.as_deref(), Utc::now())
                    .await
                    .map(|applied| {
                        (
                            format!("{}; {}", describe_pay_result(result), applied.describe()),
                            Some(t.nkp_seq_id.clone()),
                        )
                    }),
                Err(e) => Err(e),
            },
            InboundNotify::Refund {
                refund_nkp_seq_id,
                result,
                ..
            } => {
                self.refunds
                    .apply_refund_notify(&t.nkp_seq_id, refund_nkp_seq_id, result)
                    .await
            }
        };
        match applied {
            Ok((outcome, subject)) => Handled::applied(outcome, subject),
            // Storage trouble: let the channel send it again.
            Err(e) => Handled::failed(true, &e, Some(&t.nkp_seq_id)),
        }
    }

    /// Why the sub-merchant a payment notify names is not trade `t`'s, by the channel's rule;
    /// `None` when it matches.
    async fn merchant_mismatch(
        &self,
        t: &trade::Model,
        channel: &dyn Channel,
        named: Option<&str>,
    ) -> Result<Option<String>, EngineError> {
        let (_, trade_ref) = self.trade_ref(t).await?;
        Ok(channel
            .check_notify_merchant(named, &trade_ref.merchant)
            .err()
            .map(|e| e.to_string()))
    }

    /// Hands the notify as received, with what became of it, to the channel history's
    /// writer (`Context::log_inbound`).
    async fn log_handled(
        &self,
        inbound: &InboundCallback<'_>,
        received_at: DateTime<Utc>,
        handled: &Handled,
    ) {
        self.log_inbound(NewInboundMessage {
            channel: inbound.path.channel(),
            kind: inbound.path.kind().to_owned(),
            body: String::from_utf8_lossy(inbound.body).into_owned(),
            headers: inbound.headers.clone(),
            remote_addr: inbound.remote_addr.clone(),
            verified: handled.verified,
            outcome: Some(handled.outcome.clone()),
            nkp_seq_id: handled.subject.clone(),
            received_at,
        })
        .await;
    }
}

/// The trade a verified notify is about.
fn notified_trade(notify: &InboundNotify) -> &str {
    match notify {
        InboundNotify::Payment { nkp_seq_id, .. } | InboundNotify::Refund { nkp_seq_id, .. } => {
            nkp_seq_id
        }
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
