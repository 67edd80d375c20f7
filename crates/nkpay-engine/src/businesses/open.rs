//! `/v2/merchant/busi/open`: the service provider asks to open the merchant's WeChat and/or
//! Alipay business, each entry of `wx_conf_list` / `ali_conf_list` with its pay scene and fee
//! rate (percent, at least the provider's floor for the method); and the idempotency of busi/open
//! and busi/config under (`sys_id`, `req_date`, `req_seq_id`).

use std::time::Duration;

use chrono::Utc;
use nkpay_core::resp_code::RespCode;
use nkpay_core::trade_type::{ChannelKind, TradeType};
use nkpay_store::fee_floors;
use nkpay_store::kinds::ApplyStatus;
use nkpay_store::merchant_bindings::{self, NewBusinessRequest, RequestClaim};
use nkpay_store::merchant_channels::{self, RequestedBusiness};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use nkpay_core::fee_rate::percent_text;

use super::{BusinessView, Businesses};
use crate::callers::{CallerKind, Scope};
use crate::error::EngineError;
use crate::payments::replay::same_content;
use crate::request::WriteRequest;

/// One entry of `wx_conf_list` / `ali_conf_list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfEntry {
    /// `pay_scene` as sent (Dougong's scene code).
    pub pay_scene: String,
    /// `fee_rate` in basis points (the API reads percent with 2 decimals: `"0.38"` → 38).
    pub fee_rate_bp: i32,
}

/// A busi/open request, read by the api.
#[derive(Debug, Clone)]
pub struct OpenBusinesses {
    /// Its id and content fingerprint.
    pub request: WriteRequest,
    /// `upper_huifu_id`: must be the calling service provider's own `sys_id`.
    pub upper_huifu_id: String,
    /// `wx_conf_list`; empty: WeChat not asked for.
    pub wx_conf: Vec<ConfEntry>,
    /// `ali_conf_list`; empty: Alipay not asked for.
    pub ali_conf: Vec<ConfEntry>,
    /// `busi_async_return_url`: where each business's result goes.
    pub notify_url: Option<String>,
}

/// busi/open's answer: the merchant and the state of each business asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenedBusinesses {
    /// The merchant (`huifu_id`).
    pub mer_id: String,
    /// The request's `req_date` (`yyyyMMdd`).
    pub req_date: String,
    /// The request's `req_seq_id`.
    pub req_seq_id: String,
    /// The businesses asked for, WeChat first.
    pub businesses: Vec<BusinessView>,
}

/// How long a replay waits for the first request's answer, polling.
const POLL: Duration = Duration::from_millis(100);

/// What claiming a request id found.
pub(crate) enum Claimed<A> {
    /// A new request: run it, then store its answer on row `id`.
    New(i64),
    /// The first answer under this id, to give again.
    Answer(A),
}

impl Businesses {
    /// Claims (`sys_id`, `req_date`, `req_seq_id`) for `endpoint`: new → [`Claimed::New`]
    /// (after `req_date` is checked to be today, Asia/Shanghai); taken with the same content →
    /// the first answer (waiting up to `replay_wait` while it runs); other content or another
    /// endpoint → `20000000`.
    pub(crate) async fn claim<A: DeserializeOwned>(
        &self,
        scope: &Scope,
        endpoint: &'static str,
        request: &WriteRequest,
    ) -> Result<Claimed<A>, EngineError> {
        let req_date = request.id.date_text();
        let new = NewBusinessRequest {
            sys_id: &scope.caller.sys_id,
            req_date: &req_date,
            req_seq_id: &request.id.req_seq_id,
            endpoint,
            mer_id: scope.mer_id(),
            content_hash: &request.content_hash,
        };
        let taken = match merchant_bindings::claim_request(self.db.conn(), &new, Utc::now()).await?
        {
            RequestClaim::New(row) => {
                if let Err(e) = request.id.check_current(
                    "req_date",
                    Utc::now(),
                    self.config.req_date_tolerance_days,
                ) {
                    merchant_bindings::forget_request(self.db.conn(), row.id).await?;
                    return Err(e);
                }
                return Ok(Claimed::New(row.id));
            }
            RequestClaim::Taken(row) => row,
        };
        let hash_or_endpoint = if taken.endpoint == endpoint && taken.mer_id == scope.mer_id() {
            request.content_hash.as_str()
        } else {
            ""
        };
        same_content(
            &taken.content_hash,
            hash_or_endpoint,
            &req_date,
            &request.id.req_seq_id,
        )?;
        let deadline = tokio::time::Instant::now() + self.config.replay_wait;
        let mut row = taken;
        loop {
            if let Some(answer) = &row.answer {
                let parsed = serde_json::from_str(answer).map_err(|e| {
                    EngineError::Internal(format!("stored {endpoint} answer unreadable: {e}"))
                })?;
                return Ok(Claimed::Answer(parsed));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EngineError::refused(
                    RespCode::DuplicateRequest,
                    format!(
                        "重复请求: req_seq_id {} of req_date {req_date} is still being handled; ask again later",
                        request.id.req_seq_id
                    ),
                ));
            }
            tokio::time::sleep(POLL).await;
            row = merchant_bindings::find_request(
                self.db.conn(),
                &scope.caller.sys_id,
                &req_date,
                &request.id.req_seq_id,
            )
            .await?
            .ok_or_else(|| EngineError::Internal("claimed request disappeared".into()))?;
        }
    }

    /// Stores the first `answer` of request row `id`, or forgets the row when the run failed
    /// (so the caller may send the same id again), and hands the run's result back.
    pub(crate) async fn settle_claim<A: Serialize>(
        &self,
        id: i64,
        result: Result<A, EngineError>,
    ) -> Result<A, EngineError> {
        match &result {
            Ok(answer) => {
                let text = serde_json::to_string(answer)
                    .map_err(|e| EngineError::Internal(format!("answer to JSON: {e}")))?;
                merchant_bindings::store_answer(self.db.conn(), id, &text).await?;
            }
            Err(_) => merchant_bindings::forget_request(self.db.conn(), id).await?,
        }
        result
    }

    /// `/v2/merchant/busi/open`. The caller must be the merchant's service provider, naming
    /// itself as `upper_huifu_id`, and the merchant approved (`apply_status` Y) — `22000000`
    /// otherwise; at least one of `wx_conf_list` /
    /// `ali_conf_list`; each `fee_rate` at least the provider's floor for the method (WeChat:
    /// the higher of its `T_JSAPI` and `T_MINIAPP` floors; Alipay: `A_NATIVE`) and at most
    /// 100% (`10000000` naming `wx_conf_list.fee_rate` / `ali_conf_list.fee_rate`). A new
    /// business is `P`; one already open stays `S` with the new rate. The business keeps the
    /// first entry's fee rate (the rate its trades are charged). Idempotent on (`sys_id`,
    /// `req_date`, `req_seq_id`).
    pub async fn open(
        &self,
        scope: &Scope,
        cmd: OpenBusinesses,
    ) -> Result<OpenedBusinesses, EngineError> {
        let caller = &scope.caller;
        if caller.kind != CallerKind::ServiceProvider || cmd.upper_huifu_id != caller.sys_id {
            return Err(EngineError::refused(
                RespCode::MerchantNotAllowed,
                format!(
                    "upper_huifu_id {} 无权操作: busi/open is sent by the merchant's service provider, naming itself as upper_huifu_id",
                    cmd.upper_huifu_id
                ),
            ));
        }
        if scope.merchant.apply_status != ApplyStatus::Approved {
            return Err(EngineError::refused(
                RespCode::MerchantNotAllowed,
                format!(
                    "商户 {} 进件未审核通过，不能开通业务: the merchant's application is {} (only an approved merchant, Y, may open businesses)",
                    scope.mer_id(),
                    scope.merchant.apply_status.as_str()
                ),
            ));
        }
        if cmd.wx_conf.is_empty() && cmd.ali_conf.is_empty() {
            return Err(EngineError::invalid(
                "wx_conf_list",
                "give wx_conf_list or ali_conf_list (or both)",
            ));
        }
        self.check_floors(&caller.sys_id, &cmd).await?;
        let id = match self.claim(scope, "busi_open", &cmd.request).await? {
            Claimed::Answer(a) => return Ok(a),
            Claimed::New(id) => id,
        };
        let result = self.open_new(scope, &cmd).await;
        self.settle_claim(id, result).await
    }

    async fn open_new(
        &self,
        scope: &Scope,
        cmd: &OpenBusinesses,
    ) -> Result<OpenedBusinesses, EngineError> {
        let now = Utc::now();
        let req_date = cmd.request.id.date_text();
        let tx = self.db.begin_write().await?;
        let mut businesses = Vec::new();
        for (channel, conf) in [
            (ChannelKind::Wechat, &cmd.wx_conf),
            (ChannelKind::Alipay, &cmd.ali_conf),
        ] {
            let Some(first) = conf.first() else { continue };
            let conf_list: Vec<serde_json::Value> = conf
                .iter()
                .map(
                    |e| serde_json::json!({"pay_scene": e.pay_scene, "fee_rate_bp": e.fee_rate_bp}),
                )
                .collect();
            let asked = RequestedBusiness {
                mer_id: scope.mer_id().to_owned(),
                channel,
                fee_rate_bp: first.fee_rate_bp,
                conf_list: conf_list.into(),
                notify_url: cmd.notify_url.clone(),
                req_date: req_date.clone(),
                req_seq_id: cmd.request.id.req_seq_id.clone(),
            };
            let row = merchant_channels::request_business(&tx, &asked, now).await?;
            businesses.push(BusinessView::from(&row));
        }
        tx.commit().await.map_err(nkpay_store::StoreError::from)?;
        self.merchant_setup_changed();
        Ok(OpenedBusinesses {
            mer_id: scope.mer_id().to_owned(),
            req_date,
            req_seq_id: cmd.request.id.req_seq_id.clone(),
            businesses,
        })
    }

    async fn check_floors(&self, sys_id: &str, cmd: &OpenBusinesses) -> Result<(), EngineError> {
        let floors = fee_floors::of(self.db.conn(), sys_id).await?;
        let floor_of = |types: &[TradeType]| {
            floors
                .iter()
                .filter(|f| types.contains(&f.trade_type))
                .map(|f| f.floor_bp)
                .max()
                .unwrap_or(0)
        };
        for (field, conf, floor, what) in [
            (
                "wx_conf_list.fee_rate",
                &cmd.wx_conf,
                floor_of(&[TradeType::TJsapi, TradeType::TMiniapp]),
                "T_JSAPI/T_MINIAPP",
            ),
            (
                "ali_conf_list.fee_rate",
                &cmd.ali_conf,
                floor_of(&[TradeType::ANative]),
                "A_NATIVE",
            ),
        ] {
            for entry in conf {
                if entry.fee_rate_bp < floor {
                    return Err(EngineError::invalid(
                        field,
                        format!(
                            "{}% is below the service provider's floor of {}% for {what}",
                            percent_text(entry.fee_rate_bp),
                            percent_text(floor)
                        ),
                    ));
                }
                if entry.fee_rate_bp > super::super::service_providers::MAX_FEE_RATE_BP {
                    return Err(EngineError::invalid(field, "must be at most 100.00%"));
                }
            }
        }
        Ok(())
    }
}
