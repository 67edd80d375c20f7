//! `scanpay/query`, and asking the channel about a trade still processing — what the API does
//! before answering and what the query job does when nobody called back.

use chrono::{DateTime, Utc};
use nkpay_channels::PayResult;
use nkpay_core::state::TradeStatus;
use nkpay_store::entity::trade;

use super::Payments;
use super::finalize::{Applied, closing, describe_pay_result};
use super::view::TradeView;
use crate::callers::Scope;
use crate::config::delta;
use crate::error::EngineError;
use crate::request::OriginalKey;

impl Payments {
    /// `scanpay/query`: the trade `key` names among the merchant's (`23000001` when none),
    /// refreshed from the channel first when it is still processing. Never a stored answer.
    pub async fn query(&self, scope: &Scope, key: &OriginalKey) -> Result<TradeView, EngineError> {
        let mut t = self.find_original_trade(key, scope.mer_id()).await?;
        if t.status == TradeStatus::Processing {
            match self.refresh(&t, Utc::now()).await {
                Ok((fresh, _)) => t = fresh,
                // The stored state is still a true answer; the job keeps asking.
                Err(e) => {
                    tracing::warn!(nkp_seq_id = %t.nkp_seq_id, error = %e, "refresh before query failed")
                }
            }
        }
        Ok((&t).into())
    }

    /// Queries the channel about `t` and applies the answer. Returns the trade as it is now (`t`
    /// itself when the answer changed nothing, [`Applied::StillProcessing`]) and what the
    /// answer did.
    pub(crate) async fn refresh(
        &self,
        t: &trade::Model,
        now: DateTime<Utc>,
    ) -> Result<(trade::Model, Applied), EngineError> {
        let (channel, tref) = self.trade_ref(t).await?;
        let recorded = channel.query(&tref).await?;
        let applied = match &recorded.value {
            PayResult::NotFound if self.never_placed(t, now) => {
                let final_state = closing(
                    TradeStatus::Closed,
                    Some((
                        "ORDERNOTEXIST".to_owned(),
                        "the channel has no such order: it was never placed".to_owned(),
                    )),
                    now,
                );
                self.finalize(t, final_state, now).await?
            }
            result => self.apply_pay_result(t, result, None, now).await?,
        };
        let outcome = format!(
            "{}; {}",
            describe_pay_result(&recorded.value),
            applied.describe()
        );
        self.log_exchanges(
            Some(&t.nkp_seq_id),
            channel.kind(),
            &recorded.exchanges,
            &outcome,
        )
        .await;
        // Nothing changed it here when the channel says it is still open: the trade as read
        // is the answer, without another statement on the writer connection (issue 16: the
        // job asks about every silent trade).
        let fresh = match applied {
            Applied::StillProcessing => t.clone(),
            _ => self.trade_of_id(&t.nkp_seq_id).await?,
        };
        Ok((fresh, applied))
    }

    /// A trade the channel does not know is given up only once a create still in flight could
    /// no longer be creating it.
    fn never_placed(&self, t: &trade::Model, now: DateTime<Utc>) -> bool {
        now - t.created_at >= delta(self.config.not_found_grace)
    }
}
