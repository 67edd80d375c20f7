//! jspay (aggregate scan): validate, route, insert the trade under the merchant's request id,
//! place it at the channel, store what the payer needs, answer — and keep that answer for
//! replays.

use chrono::{DateTime, Utc};
use nkpay_channels::{CreateOrder, CreateResult, PayPrompt};
use nkpay_core::resp_code::RespCode;
use nkpay_core::state::TradeStatus;
use nkpay_store::StoreError;
use nkpay_store::entity::trade;
use nkpay_store::trades::{self, NewTrade, Placement};
use serde_json::{Map, Value};

use super::fields::Fields;
use super::idempotency::request_hash;
use super::routing::Route;
use super::settle::closing;
use super::trade_view::{self, Data};
use super::validation::{self, JspayRequest};
use crate::callers::Caller;
use crate::config::delta;
use crate::engine::Engine;
use crate::error::EngineError;

impl Engine {
    /// `POST /v2/trade/payment/jspay`: the reply `data` (unsigned), or a refusal.
    pub async fn jspay(
        &self,
        caller: &Caller,
        data: &Map<String, Value>,
    ) -> Result<Map<String, Value>, EngineError> {
        let now = Utc::now();
        let f = Fields::new(data);
        let mer_id = self.merchant_of(caller, &f).await?;
        // The request id first: a replay is answered as the first time, even on a later day.
        let (req_date, req_seq_id) = validation::request_id(&f)?;
        let hash = request_hash(data)?;
        if let Some(existing) =
            trades::find_by_req(self.db.conn(), mer_id, req_date, req_seq_id).await?
        {
            return self.replay(existing, &hash).await;
        }

        let req = validation::jspay(&f, mer_id, now, &self.config).await?;
        let route = self.resolve_route(mer_id, req.trade_type, &req.wx).await?;
        let new = self.new_trade(caller, &req, &route, hash.clone(), now);
        let t = match trades::insert(self.db.conn(), &new, now).await {
            Ok(t) => t,
            Err(StoreError::Duplicate { .. }) => {
                // A concurrent duplicate won the insert: answer what it answers.
                let winner = trades::find_by_req(self.db.conn(), mer_id, req_date, req_seq_id)
                    .await?
                    .ok_or_else(|| {
                        EngineError::Internal("duplicate trade key but no trade found".into())
                    })?;
                return self.replay(winner, &hash).await;
            }
            Err(e) => return Err(e.into()),
        };
        let reply = self.place(&t, &req, route, now).await?;
        let text = Value::Object(reply.clone()).to_string();
        trades::record_first_response(self.db.conn(), &t.nkp_seq_id, &text, Utc::now()).await?;
        Ok(reply)
    }

    fn new_trade(
        &self,
        caller: &Caller,
        req: &JspayRequest,
        route: &Route,
        request_hash: String,
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
            sys_id: caller.sys_id.clone(),
            mer_id: req.mer_id.clone(),
            req_date: req.req_date.clone(),
            req_seq_id: req.req_seq_id.clone(),
            trade_type: req.trade_type,
            channel_account_id: route.channel_account_id,
            trans_amt: req.trans_amt,
            goods_desc: req.goods_desc.clone(),
            notify_url: req.notify_url.clone(),
            remark: req.remark.clone(),
            sub_mch_id: route.sub_mch_id.clone(),
            appid: route.appid.clone(),
            sub_appid,
            openid,
            sub_openid,
            time_expire: req.time_expire,
            next_query_at: Some(now + delta(self.config.query_delay(0))),
            request_hash,
        }
    }

    /// Places the inserted trade at the channel and builds the reply.
    async fn place(
        &self,
        t: &trade::Model,
        req: &JspayRequest,
        route: Route,
        now: DateTime<Utc>,
    ) -> Result<Map<String, Value>, EngineError> {
        let kind = req.trade_type.channel();
        let order = CreateOrder {
            nkp_seq_id: t.nkp_seq_id.clone(),
            trade_type: req.trade_type,
            amount: req.trans_amt,
            description: req.goods_desc.clone(),
            time_expire: req.time_expire,
            client_ip: req.wx.client_ip.clone(),
            payer: route.payer,
            attach: req.wx.attach.clone(),
            merchant: route.merchant,
        };
        let channel = self.channels.get(route.channel_account_id).await?;
        let mut unknown_reason = None;
        match channel.create(&order).await {
            Err(e) => {
                // Nothing was sent: the order cannot be placed as asked, so the trade fails.
                let settlement = closing(
                    TradeStatus::Failed,
                    Some(("NKP_REFUSED".to_owned(), e.to_string())),
                    now,
                );
                self.settle(t, settlement, Utc::now()).await?;
            }
            Ok(recorded) => {
                let outcome = describe_create(&recorded.value);
                self.log_exchanges(Some(&t.nkp_seq_id), kind, &recorded.exchanges, &outcome)
                    .await;
                match recorded.value {
                    CreateResult::Created(prompt) => {
                        let placement = match prompt {
                            PayPrompt::PayInfo(p) => Placement {
                                pay_info: Some(p),
                                ..Placement::default()
                            },
                            PayPrompt::QrCode(q) => Placement {
                                qr_code: Some(q),
                                ..Placement::default()
                            },
                        };
                        trades::record_placement(
                            self.db.conn(),
                            &t.nkp_seq_id,
                            &placement,
                            Utc::now(),
                        )
                        .await?;
                    }
                    CreateResult::Failed { code, message } => {
                        let settlement = closing(TradeStatus::Failed, Some((code, message)), now);
                        self.settle(t, settlement, Utc::now()).await?;
                    }
                    CreateResult::Unknown { reason } => {
                        // The order may exist upstream; the query job finds out.
                        tracing::warn!(nkp_seq_id = %t.nkp_seq_id, %reason, "create outcome unknown");
                        unknown_reason = Some(reason);
                    }
                }
            }
        }
        let current = trades::find_by_nkp_seq_id(self.db.conn(), &t.nkp_seq_id)
            .await?
            .ok_or_else(|| EngineError::Internal(format!("trade {} vanished", t.nkp_seq_id)))?;
        let code = trade_view::jspay_code(&current)?;
        let desc = match (&unknown_reason, code) {
            (Some(_), _) => {
                "通道结果未知，请稍后查询: the channel did not confirm the order; query it later"
            }
            (None, RespCode::Processing) => "下单成功，等待支付",
            (None, c) => c.default_desc(),
        };
        let mut data: Data = trade_view::jspay_data(&current, code, desc)?;
        if let Some(reason) = unknown_reason {
            data.set("bank_message", reason);
        }
        Ok(data.into_map())
    }
}

fn describe_create(r: &CreateResult) -> String {
    match r {
        CreateResult::Created(PayPrompt::PayInfo(_)) => "created (pay_info)".to_owned(),
        CreateResult::Created(PayPrompt::QrCode(_)) => "created (qr_code)".to_owned(),
        CreateResult::Failed { code, message } => format!("refused {code}: {message}"),
        CreateResult::Unknown { reason } => format!("unknown: {reason}"),
    }
}
