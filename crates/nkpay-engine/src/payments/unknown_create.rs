//! A create whose outcome is unknown: the channel may have made the order though its reply was
//! lost (a time-out, a system error after processing). Both channels answer the same
//! `out_trade_no` with the same parameters with the same order again (WeChat the same
//! `prepay_id`, Alipay the same `qr_code`), so the create is repeated exactly — on the
//! merchant's replay of the jspay and by the trade job on the query back-off — and the first
//! repeat that places it stores `pay_info` / `qr_code` and becomes the answer replayed from
//! then on. Repeats are counted before they are sent and bounded by `create_repeat_limit`; once
//! they are used up the job closes the trade upstream (from the moment the channel allows it)
//! and it fails like any closed trade, with the merchant notified.

use chrono::{DateTime, Utc};
use nkpay_channels::CreateResult;
use nkpay_store::entity::trade;
use nkpay_store::trades;

use super::Payments;
use super::create::{create_order, describe_create, placement};
use super::view::{Created, TradeView};
use crate::config::EngineConfig;
use crate::error::EngineError;

/// Whether `t`'s create was left unknown and its repeats are used up: the job closes it.
pub(crate) fn create_given_up(config: &EngineConfig, t: &trade::Model) -> bool {
    t.create_unknown_at.is_some() && t.create_repeats >= config.create_repeat_limit
}

impl Payments {
    /// Repeats the create of processing trade `t`, whose outcome was left unknown, with the
    /// very parameters of the first. The answer to give from now on when this repeat (or a
    /// concurrent one) placed the order; `None` when no repeat was left, or the channel still
    /// gave no answer, or refused (the job closes the trade once the repeats are used up).
    pub(crate) async fn repeat_create(
        &self,
        t: &trade::Model,
        now: DateTime<Utc>,
    ) -> Result<Option<Created>, EngineError> {
        let limit = self.config.create_repeat_limit;
        if !trades::take_create_repeat(self.db.conn(), &t.nkp_seq_id, limit, now).await? {
            return Ok(None);
        }
        let (channel, tref) = self.trade_ref(t).await?;
        let order = create_order(t, tref.merchant)?;
        let recorded = match channel.create(&order).await {
            Ok(recorded) => recorded,
            Err(e) => {
                // Nothing was sent (e.g. the order's time_expire has passed); counted all the same.
                tracing::warn!(nkp_seq_id = %t.nkp_seq_id, error = %e, "repeated create not sent");
                return Ok(None);
            }
        };
        let outcome = format!("repeated create: {}", describe_create(&recorded.value));
        self.log_exchanges(
            Some(&t.nkp_seq_id),
            channel.kind(),
            &recorded.exchanges,
            &outcome,
        )
        .await;
        let CreateResult::Created(prompt) = recorded.value else {
            return Ok(None);
        };
        let placement = placement(prompt);
        let mut view = TradeView::from(t);
        view.pay_info.clone_from(&placement.pay_info);
        view.qr_code.clone_from(&placement.qr_code);
        let created = Created {
            trade: view,
            unknown_reason: None,
        };
        let text = serde_json::to_string(&created)
            .map_err(|e| EngineError::Internal(format!("answer not serializable: {e}")))?;
        if trades::record_repeated_placement(
            self.db.conn(),
            &t.nkp_seq_id,
            &placement,
            &text,
            Utc::now(),
        )
        .await?
        {
            tracing::info!(nkp_seq_id = %t.nkp_seq_id, "unknown create placed by a repeat");
            return Ok(Some(created));
        }
        // Another repeat placed it first (its answer stands), or the trade ended meanwhile.
        let current = self.trade_of_id(&t.nkp_seq_id).await?;
        Ok(current
            .first_response
            .as_deref()
            .and_then(|text| serde_json::from_str::<Created>(text).ok())
            .filter(|answer| answer.unknown_reason.is_none()))
    }
}
