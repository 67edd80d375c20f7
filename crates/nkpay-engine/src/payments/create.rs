//! jspay (aggregate scan): check the rules that depend on the clock and the merchant, route,
//! insert the trade under the merchant's request id, place it at the channel, store what the
//! payer needs, answer — and keep that answer for replays.

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use nkpay_channels::{CreateOrder, CreateResult, MerchantRoute, PayPrompt, WechatPayer};
use nkpay_core::money::Money;
use nkpay_core::state::TradeStatus;
use nkpay_store::StoreError;
use nkpay_store::entity::trade;
use nkpay_store::trades::{self, NewTrade, Placement};

use super::Payments;
use super::amount_limit;
use super::command::CreateTrade;
use super::finalize::closing;
use super::routing::Route;
use super::view::{Created, TradeView};
use crate::callers::Scope;
use crate::config::delta;
use crate::error::EngineError;
use crate::notifications::url_guard;

/// A trade's payer has 2 hours when `time_expire` is absent (API.md "jspay"; also the life of
/// a WeChat `prepay_id`).
const DEFAULT_EXPIRY: TimeDelta = TimeDelta::hours(2);
/// `time_expire` at least 1 minute from now (API.md "jspay").
const MIN_EXPIRY: TimeDelta = TimeDelta::minutes(1);
/// `time_expire` at most 24 hours from now (API.md "jspay").
const MAX_EXPIRY: TimeDelta = TimeDelta::hours(24);

impl Payments {
    /// `jspay`: creates the trade and places it at the channel, or answers a replay of the same
    /// request as the first time. Refusals: `10000000` (`req_date` not current, `time_expire`
    /// out of range, `notify_url` not deliverable), `20000000` (same id, other content),
    /// `22000000` (merchant not approved, or frozen), `22000001` (payment method not opened),
    /// routing errors naming the field.
    pub async fn create(&self, scope: &Scope, cmd: CreateTrade) -> Result<Created, EngineError> {
        let now = Utc::now();
        let mer_id = scope.mer_id();
        let id = &cmd.request.id;
        let req_date = id.date_text();
        // A new request id is the common case, so the rules and the route are checked first and
        // the insert's unique key finds a replay: a new trade costs no lookup. A refusal before
        // the insert gives way to the first answer when the id is taken, so a replay is still
        // answered as the first time, even on a later day or after the merchant's settings
        // changed.
        let route = match self.check_and_route(scope, &cmd, now).await {
            Ok(checked) => checked,
            Err(refusal) => {
                return match trades::find_by_req(
                    self.db.reader(),
                    mer_id,
                    &req_date,
                    &id.req_seq_id,
                )
                .await?
                {
                    Some(existing) => self.replay(existing, &cmd.request.content_hash).await,
                    None => Err(refusal),
                };
            }
        };
        let (route, time_expire) = route;
        let new = self.new_trade(scope, &cmd, &route, time_expire, now);
        let inserted = self
            .db
            .write(move |w| async move { trades::insert(&w.executor(), &new, now).await })
            .await;
        let t = match inserted {
            Ok(t) => t,
            Err(StoreError::Duplicate { .. }) => {
                // The id is taken (a replay, or a concurrent duplicate won the insert): answer
                // what the first request answers.
                let first =
                    trades::find_by_req(self.db.reader(), mer_id, &req_date, &id.req_seq_id)
                        .await?
                        .ok_or_else(|| {
                            EngineError::Internal("duplicate trade key but no trade found".into())
                        })?;
                return self.replay(first, &cmd.request.content_hash).await;
            }
            Err(e) => return Err(e.into()),
        };
        self.place(&t, route.merchant, now).await
    }

    /// The rules of a new trade that depend on the clock and the merchant (approved and not
    /// frozen, `req_date` current, amount within the channel's limit, `time_expire` in range,
    /// `notify_url` deliverable), then its route: the route and the trade's `time_expire`.
    async fn check_and_route(
        &self,
        scope: &Scope,
        cmd: &CreateTrade,
        now: DateTime<Utc>,
    ) -> Result<(Route, DateTime<Utc>), EngineError> {
        // Only an approved merchant that is not frozen takes payments (issue 11 "Review").
        crate::merchants::check_may_trade(&scope.merchant)?;
        cmd.request
            .id
            .check_current("req_date", now, self.config.req_date_tolerance_days)?;
        amount_limit::check(
            "trans_amt",
            cmd.trans_amt,
            cmd.trade_type.channel(),
            self.config.max_trans_amt,
        )?;
        let time_expire = time_expire(cmd.time_expire, now)?;
        if let Some(url) = &cmd.notify_url {
            url_guard::check_notify_url(url, &self.config.notify_url_policy)
                .await
                .map_err(|refusal| {
                    EngineError::refused(
                        nkpay_core::resp_code::RespCode::ParamError,
                        refusal.to_string(),
                    )
                })?;
        }
        let route = self
            .resolve_route(scope.mer_id(), cmd.trade_type, &cmd.wx)
            .await?;
        Ok((route, time_expire))
    }

    fn new_trade(
        &self,
        scope: &Scope,
        req: &CreateTrade,
        route: &Route,
        time_expire: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> NewTrade {
        let (openid, sub_appid, sub_openid) = match &route.payer {
            Some(nkpay_channels::WechatPayer::Platform { openid }) => {
                (Some(openid.clone()), None, None)
            }
            Some(nkpay_channels::WechatPayer::Sub {
                sub_appid,
                sub_openid,
            }) => (None, Some(sub_appid.clone()), Some(sub_openid.clone())),
            None => (None, None, None),
        };
        NewTrade {
            nkp_seq_id: self.seq.next_id(),
            sys_id: scope.caller.sys_id.clone(),
            mer_id: scope.mer_id().to_owned(),
            req_date: req.request.id.date_text(),
            req_seq_id: req.request.id.req_seq_id.clone(),
            trade_type: req.trade_type,
            channel_account_id: route.channel_account_id,
            trans_amt: req.trans_amt,
            fee_rate_bp: route.fee_rate_bp,
            goods_desc: req.goods_desc.clone(),
            notify_url: req.notify_url.clone(),
            remark: req.remark.clone(),
            sub_mch_id: route.sub_mch_id.clone(),
            appid: route.appid.clone(),
            sub_appid,
            openid,
            sub_openid,
            time_expire,
            next_query_at: Some(now + delta(self.config.query_delay(0))),
            request_hash: req.request.content_hash.clone(),
            // Kept so that a repeat of the create sends exactly these parameters.
            client_ip: req.wx.client_ip.clone(),
            attach: req.wx.attach.clone(),
        }
    }

    /// Places the inserted trade at the channel and keeps the answer for replays: the trade as
    /// it stands afterwards. An order the channel made is stored with its answer in one
    /// conditional UPDATE, the answer built from the trade as inserted (nothing read back); only
    /// when the trade moved meanwhile (a channel notify already, say) is it read again.
    async fn place(
        &self,
        t: &trade::Model,
        merchant: MerchantRoute,
        now: DateTime<Utc>,
    ) -> Result<Created, EngineError> {
        let order = create_order(t, merchant)?;
        let channel = self.channels.get(t.channel_account_id).await?;
        let mut unknown_reason = None;
        match channel.create(&order).await {
            Err(e) => {
                // Nothing was sent: the order cannot be placed as asked, so the trade fails.
                // The merchant sees the broken rule, never our configuration (logged instead).
                tracing::warn!(nkp_seq_id = %t.nkp_seq_id, error = %e, "create refused before sending");
                let final_state = closing(
                    TradeStatus::Failed,
                    Some(("NKP_REFUSED".to_owned(), e.merchant_text_or_generic())),
                    now,
                );
                self.finalize(t, final_state, Utc::now()).await?;
            }
            Ok(recorded) => {
                let outcome = describe_create(&recorded.value);
                self.log_exchanges(
                    Some(&t.nkp_seq_id),
                    channel.kind(),
                    &recorded.exchanges,
                    &outcome,
                )
                .await;
                match recorded.value {
                    CreateResult::Created(prompt) => {
                        let placement = placement(prompt);
                        let created = Created {
                            trade: placed_view(t, &placement),
                            unknown_reason: None,
                        };
                        let (id, stored, answer) = (
                            t.nkp_seq_id.clone(),
                            placement.clone(),
                            answer_text(&created)?,
                        );
                        let recorded = self
                            .db
                            .write(move |w| async move {
                                trades::record_placement_and_answer(
                                    &w.executor(),
                                    &id,
                                    &stored,
                                    &answer,
                                    Utc::now(),
                                )
                                .await
                            })
                            .await?;
                        if recorded {
                            return Ok(created);
                        }
                        // The trade is no longer processing, or has an answer already: the
                        // placement is stored only on a processing trade, as before.
                        trades::record_placement(
                            self.db.conn(),
                            &t.nkp_seq_id,
                            &placement,
                            Utc::now(),
                        )
                        .await?;
                    }
                    CreateResult::Failed { code, message } => {
                        let final_state = closing(TradeStatus::Failed, Some((code, message)), now);
                        self.finalize(t, final_state, Utc::now()).await?;
                    }
                    CreateResult::Unknown { reason } => {
                        // The order may exist upstream: the same create again answers it, on
                        // the merchant's replay or from the job (`unknown_create.rs`).
                        tracing::warn!(nkp_seq_id = %t.nkp_seq_id, %reason, "create outcome unknown");
                        trades::record_create_unknown(self.db.conn(), &t.nkp_seq_id, Utc::now())
                            .await?;
                        unknown_reason = Some(reason);
                    }
                }
            }
        }
        let current = self.trade_of_id(&t.nkp_seq_id).await?;
        let created = Created {
            trade: (&current).into(),
            unknown_reason,
        };
        trades::record_first_response(
            self.db.conn(),
            &t.nkp_seq_id,
            &answer_text(&created)?,
            Utc::now(),
        )
        .await?;
        Ok(created)
    }
}

/// The first answer as kept for replays: the JSON of the engine's typed answer.
fn answer_text(created: &Created) -> Result<String, EngineError> {
    serde_json::to_string(created)
        .map_err(|e| EngineError::Internal(format!("first answer not serializable: {e}")))
}

/// Trade `t` as inserted (processing) with `placement` stored: what a read-back after
/// [`trades::record_placement_and_answer`] would give.
fn placed_view(t: &trade::Model, placement: &Placement) -> TradeView {
    let mut view = TradeView::from(t);
    if let Some(v) = &placement.pay_info {
        view.pay_info = Some(v.clone());
    }
    if let Some(v) = &placement.qr_code {
        view.qr_code = Some(v.clone());
    }
    if let Some(v) = &placement.party_order_id {
        view.party_order_id = Some(v.clone());
    }
    view
}

/// The order placed for trade `t` for `merchant`, built from the trade alone (its payer, amount,
/// expiry, creation time, client IP and attach as stored), so that the first create and every
/// repeat send the very same parameters.
pub(crate) fn create_order(
    t: &trade::Model,
    merchant: MerchantRoute,
) -> Result<CreateOrder, EngineError> {
    let payer = match (&t.openid, &t.sub_appid, &t.sub_openid) {
        (Some(openid), _, _) => Some(WechatPayer::Platform {
            openid: openid.clone(),
        }),
        (None, Some(sub_appid), Some(sub_openid)) => Some(WechatPayer::Sub {
            sub_appid: sub_appid.clone(),
            sub_openid: sub_openid.clone(),
        }),
        _ => None,
    };
    Ok(CreateOrder {
        nkp_seq_id: t.nkp_seq_id.clone(),
        trade_type: t.trade_type,
        amount: Money::from_fen(t.trans_amt)
            .map_err(|e| EngineError::Internal(format!("trade {} amount: {e}", t.nkp_seq_id)))?,
        description: t.goods_desc.clone(),
        time_expire: t.time_expire,
        placed_at: t.created_at,
        client_ip: t.client_ip.clone(),
        payer,
        attach: t.attach.clone(),
        merchant,
    })
}

/// What the payer needs from a placed order, as stored on the trade.
pub(crate) fn placement(prompt: PayPrompt) -> Placement {
    match prompt {
        PayPrompt::PayInfo(p) => Placement {
            pay_info: Some(p),
            ..Placement::default()
        },
        PayPrompt::QrCode(q) => Placement {
            qr_code: Some(q),
            ..Placement::default()
        },
    }
}

/// A short label of a create's result, for the trade's channel history.
pub(crate) fn describe_create(r: &CreateResult) -> String {
    match r {
        CreateResult::Created(PayPrompt::PayInfo(_)) => "created (pay_info)".to_owned(),
        CreateResult::Created(PayPrompt::QrCode(_)) => "created (qr_code)".to_owned(),
        CreateResult::Failed { code, message } => format!("refused {code}: {message}"),
        CreateResult::Unknown { reason } => format!("unknown: {reason}"),
    }
}

/// `time_expire`: 1 minute to 24 hours from now; 2 hours when absent. The field has whole
/// seconds, so it is compared against whole seconds. Out of range is `10000000`.
fn time_expire(
    value: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, EngineError> {
    let now = now.with_nanosecond(0).unwrap_or(now);
    let Some(t) = value else {
        return Ok(now + DEFAULT_EXPIRY);
    };
    if t < now + MIN_EXPIRY || t > now + MAX_EXPIRY {
        return Err(EngineError::invalid(
            "time_expire",
            "must be between 1 minute and 24 hours from now",
        ));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        // 2025-03-10 12:00:00 in Shanghai.
        Utc.with_ymd_and_hms(2025, 3, 10, 4, 0, 0).unwrap()
    }

    #[test]
    fn time_expire_defaults_to_two_hours_and_stays_within_a_minute_to_a_day() {
        assert_eq!(
            time_expire(None, now()).unwrap(),
            now() + TimeDelta::hours(2)
        );
        let at = |m: i64, s: i64| Some(now() + TimeDelta::minutes(m) + TimeDelta::seconds(s));
        assert!(time_expire(at(1, 0), now()).is_ok());
        assert!(time_expire(at(0, 59), now()).is_err());
        assert!(time_expire(at(24 * 60, 0), now()).is_ok());
        let err = time_expire(at(24 * 60, 1), now()).unwrap_err();
        assert!(err.to_string().starts_with("time_expire格式错误"), "{err}");
    }
}
