//! `scanpay/query`, and asking the channel about a trade still processing — what the API does
//! before answering and what the query job does when nobody called back.

use chrono::{DateTime, Utc};
use nkpay_channels::PayResult;
use nkpay_core::state::TradeStatus;
use nkpay_store::entity::trade;
use nkpay_store::trades;
use serde_json::{Map, Value};

use super::fields::Fields;
use super::settle::{Applied, closing, describe_pay_result};
use super::trade_view::{self, status_of};
use crate::callers::Caller;
use crate::config::delta;
use crate::engine::Engine;
use crate::error::EngineError;

impl Engine {
    /// `POST /v2/trade/payment/scanpay/query`: the trade, refreshed from the channel first when
    /// it is still processing.
    pub async fn query_trade(
        &self,
        caller: &Caller,
        data: &Map<String, Value>,
    ) -> Result<Map<String, Value>, EngineError> {
        let f = Fields::new(data);
        let mer_id = self.merchant_of(caller, &f).await?;
        let mut t = self.find_org_trade(&f, mer_id).await?;
        if status_of(&t)? == TradeStatus::Processing {
            match self.refresh(&t, Utc::now()).await {
                Ok((fresh, _)) => t = fresh,
                // The stored state is still a true answer; the job keeps asking.
                Err(e) => {
                    tracing::warn!(nkp_seq_id = %t.nkp_seq_id, error = %e, "refresh before query failed")
                }
            }
        }
        Ok(trade_view::query_data(&t)?.into_map())
    }

    /// Queries the channel about `t` and applies the answer. Returns the trade as it is now and
    /// what the answer did.
    pub(crate) async fn refresh(
        &self,
        t: &trade::Model,
        now: DateTime<Utc>,
    ) -> Result<(trade::Model, Applied), EngineError> {
        let (channel, tref) = self.trade_ref(t).await?;
        let recorded = channel.query(&tref).await?;
        let applied = match &recorded.value {
            PayResult::NotFound if self.never_placed(t, now) => {
                let settlement = closing(
                    TradeStatus::Closed,
                    Some((
                        "ORDERNOTEXIST".to_owned(),
                        "the channel has no such order: it was never placed".to_owned(),
                    )),
                    now,
                );
                self.settle(t, settlement, now).await?
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
        let fresh = trades::find_by_nkp_seq_id(self.db.conn(), &t.nkp_seq_id)
            .await?
            .ok_or_else(|| EngineError::Internal(format!("trade {} vanished", t.nkp_seq_id)))?;
        Ok((fresh, applied))
    }

    /// A trade the channel does not know is given up only once a create still in flight could
    /// no longer be creating it.
    fn never_placed(&self, t: &trade::Model, now: DateTime<Utc>) -> bool {
        now - t.created_at >= delta(self.config.not_found_grace)
    }
}
