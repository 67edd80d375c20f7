//! WeChat: the `sub_mch_id` WeChat issued, recorded by the operator or the merchant's service
//! provider; busi/config's bindings, one `secapi/mch/addsubdevconfig` call each, in order
//! (JSAPI directories first, then official accounts, then mini-programs), each with its own
//! state; and busi/config/query with what `querysubdevconfig` reads upstream.

use chrono::{DateTime, Utc};
use nkpay_channels::ChannelError;
use nkpay_channels::wechat::{SubDevConfig, SubDevConfigResult};
use nkpay_core::fee_rate::percent_text;
use nkpay_core::resp_code::RespCode;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::accounts;
use nkpay_store::entity::{merchant_binding, merchant_channel};
use nkpay_store::kinds::NotificationKind;
use nkpay_store::merchant_bindings::{
    self, AskedBinding, BindingKind, BindingOutcome, BusinessState,
};
use nkpay_store::{merchant_channels, notifications};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::open::Claimed;
use super::{BindingView, BusinessView, Businesses, is_open};
use crate::admin_identity::{Actor, audit};
use crate::callers::Scope;
use crate::error::EngineError;
use crate::notifications::resp_data::onboarding_notice;
use crate::request::WriteRequest;

/// WeChat keeps at most 5 JSAPI pay directories per sub-merchant (WeChat Pay service-provider
/// documents, 特约商户配置: 支付授权目录).
pub const MAX_JSAPI_PATHS: usize = 5;

/// The `sub_mch_id` WeChat issued, as the operator or service provider records it.
#[derive(Debug, Clone)]
pub struct RecordSubMchId {
    /// The merchant.
    pub mer_id: String,
    /// 1 to 32 digits.
    pub sub_mch_id: String,
    /// The WeChat account the sub-merchant is under; `None`: the default.
    pub channel_account_id: Option<i64>,
}

/// A busi/config request, read by the api: the items to bind, in call order.
#[derive(Debug, Clone)]
pub struct ConfigureBindings {
    /// Its id and content fingerprint.
    pub request: WriteRequest,
    /// `fee_type` as sent (kept for the record; Dougong's business type code).
    pub fee_type: String,
    /// `wx_woa_path`: JSAPI pay directories (`http(s)://…/`).
    pub jsapi_paths: Vec<String>,
    /// `wx_woa_app_id`: official-account appids (paid in by `T_JSAPI`).
    pub mp_appids: Vec<String>,
    /// `wx_applet_app_id`: mini-program appids (paid in by `T_MINIAPP`).
    pub miniapp_appids: Vec<String>,
}

/// busi/config's answer: each binding of the request with its state after the calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigAnswer {
    /// The merchant.
    pub mer_id: String,
    /// The WeChat sub-merchant the items are bound to.
    pub sub_mch_id: String,
    /// `yyyyMMdd`.
    pub req_date: String,
    /// The request's `req_seq_id`.
    pub req_seq_id: String,
    /// The request's bindings in call order.
    pub bindings: Vec<BindingView>,
}

/// What WeChat's `querysubdevconfig` says is bound, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpstreamConfig {
    /// Read from WeChat.
    Read {
        /// JSAPI pay directories bound upstream.
        jsapi_paths: Vec<String>,
        /// `sub_appid`s bound upstream.
        sub_appids: Vec<String>,
    },
    /// Not read: WeChat's code or the reason.
    Unavailable(String),
}

/// busi/config/query's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigQuery {
    /// The merchant's WeChat business.
    pub business: BusinessView,
    /// Every binding with its state, oldest first.
    pub bindings: Vec<BindingView>,
    /// What WeChat itself reports (only when the business is open).
    pub upstream: Option<UpstreamConfig>,
}

fn binding_kind_field(kind: BindingKind) -> &'static str {
    match kind {
        BindingKind::JsapiPath => "wx_woa_path",
        BindingKind::MpAppid => "wx_woa_app_id",
        BindingKind::MiniappAppid => "wx_applet_app_id",
    }
}

/// The notification subject of a busi/config request's result: `BC` + 30 hex of SHA-256 over
/// the merchant, the request id and the moment, so a later result after a retry is a new one.
fn config_subject(mer_id: &str, req_date: &str, req_seq_id: &str, at: DateTime<Utc>) -> String {
    let digest = Sha256::digest(format!(
        "{mer_id}|{req_date}|{req_seq_id}|{}",
        at.timestamp_millis()
    ));
    format!("BC{}", &hex::encode(digest)[..30])
}

/// The notification row of a business's result (`BUSINESS`, subject `BO<id><state><unix s>`).
pub(crate) fn business_notice(
    b: &merchant_channel::Model,
    now: DateTime<Utc>,
) -> Result<Option<nkpay_store::notifications::NewNotification>, EngineError> {
    let subject = format!("BO{}{}{}", b.id, b.state.as_str(), now.timestamp());
    onboarding_notice(
        NotificationKind::Business,
        &b.mer_id,
        &subject,
        b.busi_notify_url.as_deref(),
        &[
            ("busi_type", b.channel.as_str()),
            ("busi_stat", b.state.as_str()),
            ("req_date", b.open_req_date.as_deref().unwrap_or_default()),
            (
                "req_seq_id",
                b.open_req_seq_id.as_deref().unwrap_or_default(),
            ),
            ("sub_mch_id", b.sub_mch_id.as_deref().unwrap_or_default()),
            (
                "auth_app_id",
                b.ali_auth_app_id.as_deref().unwrap_or_default(),
            ),
            ("fee_rate", &percent_text(b.fee_rate_bp)),
            ("reason", b.state_reason.as_deref().unwrap_or_default()),
        ],
        now,
    )
}

impl Businesses {
    /// Records the `sub_mch_id` WeChat issued for the merchant and opens its WeChat business
    /// (`S`), audited (`business.wechat.sub_mch_id`, before → after) and notified to its
    /// `busi_async_return_url`, in one transaction. `None` when there is no such merchant (or
    /// it is another service provider's, for an agent admin). [`EngineError::Invalid`] names
    /// `sub_mch_id` (1 to 32 digits), `channel_account_id` (not an active WeChat account) or
    /// `channel` (busi/open did not ask for WeChat); [`EngineError::Forbidden`] for finance and
    /// read-only.
    pub async fn record_sub_mch_id(
        &self,
        by: &Actor,
        cmd: RecordSubMchId,
    ) -> Result<Option<BusinessView>, EngineError> {
        if self.managed_merchant(by, &cmd.mer_id).await?.is_none() {
            return Ok(None);
        }
        let ok = !cmd.sub_mch_id.is_empty()
            && cmd.sub_mch_id.len() <= 32
            && cmd.sub_mch_id.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            return Err(EngineError::invalid("sub_mch_id", "must be 1 to 32 digits"));
        }
        if let Some(id) = cmd.channel_account_id {
            match accounts::find_channel_account(self.db.conn(), id).await? {
                Some(a) if a.channel == ChannelKind::Wechat => {}
                _ => {
                    return Err(EngineError::invalid(
                        "channel_account_id",
                        format!("{id} is not a WeChat channel account"),
                    ));
                }
            }
        }
        self.business_of(&cmd.mer_id, ChannelKind::Wechat).await?;
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        let Some((before, after)) = merchant_channels::record_sub_mch_id(
            &tx,
            &cmd.mer_id,
            &cmd.sub_mch_id,
            cmd.channel_account_id,
            now,
        )
        .await?
        else {
            return Ok(None);
        };
        audit(
            &tx,
            by,
            "business.wechat.sub_mch_id",
            &format!("merchant:{}", cmd.mer_id),
            json!({
                "before": {"state": before.state.as_str(), "sub_mch_id": before.sub_mch_id, "channel_account_id": before.channel_account_id},
                "after": {"state": after.state.as_str(), "sub_mch_id": after.sub_mch_id, "channel_account_id": after.channel_account_id},
            }),
            now,
        )
        .await?;
        if let Some(n) = business_notice(&after, now)? {
            notifications::enqueue(&tx, &n, now).await?;
        }
        tx.commit().await.map_err(nkpay_store::StoreError::from)?;
        self.merchant_setup_changed();
        Ok(Some(BusinessView::from(&after)))
    }

    /// Records that the channel refused to open the merchant's `channel` business — WeChat
    /// did not issue a sub-merchant number after its own review, the merchant declined the
    /// Alipay authorization —: state `F` with `reason`, audited (`business.refused`, before →
    /// after) and notified to its `busi_async_return_url` (`busi_stat` `F`, `reason`), in one
    /// transaction. A later `sub_mch_id` or authorization still opens it (`S`). An open
    /// business is never refused: [`EngineError::Invalid`] naming `channel`. `None` when there
    /// is no such merchant (or it is another service provider's, for an agent admin);
    /// [`EngineError::Invalid`] naming `reason` (1 to 256 characters) or `channel` (busi/open
    /// did not ask for it); [`EngineError::Forbidden`] for finance and read-only.
    pub async fn record_refusal(
        &self,
        by: &Actor,
        mer_id: &str,
        channel: ChannelKind,
        reason: &str,
    ) -> Result<Option<BusinessView>, EngineError> {
        if self.managed_merchant(by, mer_id).await?.is_none() {
            return Ok(None);
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 256 {
            return Err(EngineError::invalid(
                "reason",
                "must be 1 to 256 characters",
            ));
        }
        self.business_of(mer_id, channel).await?;
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        let Some((before, after)) =
            merchant_channels::record_refusal(&tx, mer_id, channel, reason, now).await?
        else {
            return Ok(None);
        };
        if is_open(&after) {
            return Err(EngineError::invalid(
                "channel",
                format!(
                    "the {} business of {mer_id} is open (S) and cannot be refused",
                    channel.as_str()
                ),
            ));
        }
        audit(
            &tx,
            by,
            "business.refused",
            &format!("merchant:{mer_id}"),
            json!({
                "channel": channel.as_str(),
                "before": {"state": before.state.as_str(), "reason": before.state_reason},
                "after": {"state": after.state.as_str(), "reason": after.state_reason},
            }),
            now,
        )
        .await?;
        if let Some(n) = business_notice(&after, now)? {
            notifications::enqueue(&tx, &n, now).await?;
        }
        tx.commit().await.map_err(nkpay_store::StoreError::from)?;
        self.merchant_setup_changed();
        Ok(Some(BusinessView::from(&after)))
    }

    /// `/v2/merchant/busi/config`: the merchant's WeChat business must be open (`22000001`
    /// otherwise). Each item becomes a binding (`P`), then one `addsubdevconfig` call per
    /// binding in order: bound → `S`, refused → `F` with WeChat's code and message, unknown
    /// outcome → stays `P` for the job. An item already bound stays `S` without a call; one
    /// `F` before is tried again. At most [`MAX_JSAPI_PATHS`] directories per sub-merchant
    /// (`10000000` naming `wx_woa_path`). When every binding of the request is final, its
    /// result goes to the business's `busi_async_return_url`. Idempotent on (`sys_id`,
    /// `req_date`, `req_seq_id`): a replay gets the first answer; a new request with the same
    /// items tries the failed ones again.
    pub async fn configure(
        &self,
        scope: &Scope,
        cmd: ConfigureBindings,
    ) -> Result<ConfigAnswer, EngineError> {
        if cmd.jsapi_paths.is_empty() && cmd.mp_appids.is_empty() && cmd.miniapp_appids.is_empty() {
            return Err(EngineError::invalid(
                "wx_woa_app_id",
                "give at least one of wx_woa_app_id, wx_woa_path, wx_applet_app_id",
            ));
        }
        let business = self.open_wechat_business(scope.mer_id()).await?;
        let known: Vec<String> =
            merchant_bindings::list_for_merchant(self.db.conn(), scope.mer_id())
                .await?
                .into_iter()
                .filter(|b| b.kind == BindingKind::JsapiPath && b.state != BusinessState::Failed)
                .map(|b| b.value)
                .collect();
        let mut paths = known.clone();
        for p in &cmd.jsapi_paths {
            if !paths.contains(p) {
                paths.push(p.clone());
            }
        }
        if paths.len() > MAX_JSAPI_PATHS {
            return Err(EngineError::invalid(
                "wx_woa_path",
                format!(
                    "a sub_mch_id has at most {MAX_JSAPI_PATHS} JSAPI pay directories ({} bound or pending, {} asked)",
                    known.len(),
                    cmd.jsapi_paths.len()
                ),
            ));
        }
        let id = match self.claim(scope, "busi_config", &cmd.request).await? {
            Claimed::Answer(a) => return Ok(a),
            Claimed::New(id) => id,
        };
        let result = self.configure_new(scope, &business, &cmd).await;
        self.settle_claim(id, result).await
    }

    async fn open_wechat_business(
        &self,
        mer_id: &str,
    ) -> Result<merchant_channel::Model, EngineError> {
        match merchant_channels::find_business(self.db.conn(), mer_id, ChannelKind::Wechat).await? {
            Some(b) if is_open(&b) && b.sub_mch_id.is_some() => Ok(b),
            _ => Err(EngineError::refused(
                RespCode::PaymentMethodNotOpened,
                format!(
                    "商户未开通微信支付 (WeChat Pay): mer_id {mer_id} has no open WeChat business (busi/open, then the sub_mch_id recorded)"
                ),
            )),
        }
    }

    async fn configure_new(
        &self,
        scope: &Scope,
        business: &merchant_channel::Model,
        cmd: &ConfigureBindings,
    ) -> Result<ConfigAnswer, EngineError> {
        let now = Utc::now();
        let req_date = cmd.request.id.date_text();
        let items = cmd
            .jsapi_paths
            .iter()
            .map(|v| (BindingKind::JsapiPath, v))
            .chain(cmd.mp_appids.iter().map(|v| (BindingKind::MpAppid, v)))
            .chain(
                cmd.miniapp_appids
                    .iter()
                    .map(|v| (BindingKind::MiniappAppid, v)),
            );
        let tx = self.db.begin_write().await?;
        let mut asked = Vec::new();
        for (position, (kind, value)) in (0i32..).zip(items) {
            let row = merchant_bindings::ask(
                &tx,
                &AskedBinding {
                    merchant_channel_id: business.id,
                    mer_id: scope.mer_id().to_owned(),
                    kind,
                    value: value.clone(),
                    req_date: Some(req_date.clone()),
                    req_seq_id: Some(cmd.request.id.req_seq_id.clone()),
                    position,
                },
                now,
            )
            .await?;
            asked.push(row);
        }
        tx.commit().await.map_err(nkpay_store::StoreError::from)?;
        self.merchant_setup_changed();
        self.bind_in_order(business, asked).await?;
        let bindings = merchant_bindings::list_for_request(
            self.db.conn(),
            scope.mer_id(),
            &req_date,
            &cmd.request.id.req_seq_id,
        )
        .await?;
        Ok(ConfigAnswer {
            mer_id: scope.mer_id().to_owned(),
            sub_mch_id: business.sub_mch_id.clone().unwrap_or_default(),
            req_date,
            req_seq_id: cmd.request.id.req_seq_id.clone(),
            bindings: bindings.iter().map(BindingView::from).collect(),
        })
    }

    /// Calls `addsubdevconfig` for each `P` binding in order and records each outcome; then
    /// notifies each request whose bindings all became final.
    async fn bind_in_order(
        &self,
        business: &merchant_channel::Model,
        rows: Vec<merchant_binding::Model>,
    ) -> Result<(), EngineError> {
        let pending: Vec<_> = rows
            .into_iter()
            .filter(|r| r.state == BusinessState::Processing)
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let sub_mch_id = business.sub_mch_id.clone().unwrap_or_default();
        let connector = self.wechat_connector_of(business).await?;
        let mut requests = Vec::new();
        for row in pending {
            let item = match row.kind {
                BindingKind::JsapiPath => SubDevConfig::JsapiPath(row.value.clone()),
                BindingKind::MpAppid | BindingKind::MiniappAppid => {
                    SubDevConfig::SubAppid(row.value.clone())
                }
            };
            let outcome = match connector.add_sub_dev_config(&sub_mch_id, &item).await {
                Ok(rec) => match rec.value {
                    SubDevConfigResult::Bound => BindingOutcome::Bound,
                    SubDevConfigResult::Refused { code, message } => {
                        BindingOutcome::Refused { code, message }
                    }
                },
                Err(ChannelError::Refused { code, message, .. }) => {
                    BindingOutcome::Refused { code, message }
                }
                Err(ChannelError::InvalidInput { .. }) => BindingOutcome::Refused {
                    code: "INVALID_INPUT".into(),
                    message: format!(
                        "{} is not a value WeChat takes",
                        binding_kind_field(row.kind)
                    ),
                },
                Err(e) => BindingOutcome::Unknown(e.to_string()),
            };
            tracing::info!(
                mer_id = %row.mer_id,
                binding = row.id,
                kind = row.kind.as_str(),
                outcome = ?outcome,
                "addsubdevconfig"
            );
            merchant_bindings::record_outcome(&self.db, row.id, &outcome, Utc::now()).await?;
            self.merchant_setup_changed();
            let key = (row.req_date.clone(), row.req_seq_id.clone());
            if !requests.contains(&key) {
                requests.push(key);
            }
        }
        for (req_date, req_seq_id) in requests {
            if let (Some(d), Some(s)) = (req_date, req_seq_id) {
                self.notify_if_final(business, &d, &s).await?;
            }
        }
        Ok(())
    }

    /// When every binding the request (`req_date`, `req_seq_id`) last asked for is final,
    /// enqueues its result (`BUSINESS`, `busi_type` `wechat_config`, `busi_stat` `S` when all
    /// are bound, else `F`, `bind_list` the items with their states as a JSON string).
    async fn notify_if_final(
        &self,
        business: &merchant_channel::Model,
        req_date: &str,
        req_seq_id: &str,
    ) -> Result<(), EngineError> {
        let rows = merchant_bindings::list_for_request(
            self.db.conn(),
            &business.mer_id,
            req_date,
            req_seq_id,
        )
        .await?;
        if rows.is_empty() || rows.iter().any(|r| !r.state.is_final()) {
            return Ok(());
        }
        let all_bound = rows.iter().all(|r| r.state == BusinessState::Succeeded);
        let list: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "type": binding_kind_field(r.kind),
                    "value": r.value,
                    "stat": r.state.as_str(),
                    "err_code": r.err_code,
                    "err_msg": r.err_msg,
                })
            })
            .collect();
        let list_text = serde_json::Value::from(list).to_string();
        let now = Utc::now();
        let subject = config_subject(&business.mer_id, req_date, req_seq_id, now);
        let notice = onboarding_notice(
            NotificationKind::Business,
            &business.mer_id,
            &subject,
            business.busi_notify_url.as_deref(),
            &[
                ("busi_type", "wechat_config"),
                ("busi_stat", if all_bound { "S" } else { "F" }),
                ("req_date", req_date),
                ("req_seq_id", req_seq_id),
                (
                    "sub_mch_id",
                    business.sub_mch_id.as_deref().unwrap_or_default(),
                ),
                ("bind_list", &list_text),
            ],
            now,
        )?;
        if let Some(n) = notice {
            notifications::enqueue(self.db.conn(), &n, now).await?;
        }
        Ok(())
    }

    /// Retries binding `id` of `mer_id` (admin API): an `F` binding goes back to `P` and is
    /// sent again; a `P` one is sent again (the call is harmless to repeat). Audited
    /// (`business.wechat.binding_retry`). `None` when the merchant or binding is unknown (or
    /// another provider's, for an agent admin). [`EngineError::Invalid`] naming `id` when the
    /// binding is already bound; [`EngineError::Forbidden`] for finance and read-only.
    pub async fn retry_binding(
        &self,
        by: &Actor,
        mer_id: &str,
        id: i64,
    ) -> Result<Option<BindingView>, EngineError> {
        if self.managed_merchant(by, mer_id).await?.is_none() {
            return Ok(None);
        }
        let Some(row) = merchant_bindings::find(self.db.conn(), id).await? else {
            return Ok(None);
        };
        if row.mer_id != mer_id {
            return Ok(None);
        }
        if row.state == BusinessState::Succeeded {
            return Err(EngineError::invalid(
                "id",
                format!("binding {id} is already bound"),
            ));
        }
        let business = self.open_wechat_business(mer_id).await.map_err(|_| {
            EngineError::invalid("channel", "the merchant's WeChat business is not open")
        })?;
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        let reopened = match row.state {
            BusinessState::Failed => merchant_bindings::reopen_failed(&tx, id, now).await?,
            _ => Some(row.clone()),
        };
        audit(
            &tx,
            by,
            "business.wechat.binding_retry",
            &format!("merchant:{mer_id}"),
            json!({"binding": id, "kind": row.kind.as_str(), "value": row.value, "before": row.state.as_str(), "after": "P"}),
            now,
        )
        .await?;
        tx.commit().await.map_err(nkpay_store::StoreError::from)?;
        self.merchant_setup_changed();
        if let Some(r) = reopened {
            self.bind_in_order(&business, vec![r]).await?;
        }
        Ok(merchant_bindings::find(self.db.conn(), id)
            .await?
            .map(|r| BindingView::from(&r)))
    }

    /// The job's round: asks WeChat again for every binding still `P` whose last change is
    /// older than `settle` (an unknown outcome; `addsubdevconfig` is harmless to repeat), at
    /// most `limit`. Answers how many it sent.
    pub async fn retry_pending(
        &self,
        now: DateTime<Utc>,
        settle: chrono::Duration,
        limit: u64,
    ) -> Result<usize, EngineError> {
        let rows = merchant_bindings::pending_before(self.db.conn(), now - settle, limit).await?;
        let n = rows.len();
        for row in rows {
            let Some(business) =
                merchant_channels::find_business_by_id(self.db.conn(), row.merchant_channel_id)
                    .await?
            else {
                continue;
            };
            if !is_open(&business) {
                continue;
            }
            if let Err(e) = self.bind_in_order(&business, vec![row]).await {
                tracing::warn!(error = %e, "binding retry failed");
            }
        }
        Ok(n)
    }

    /// `/v2/merchant/busi/config/query`: the merchant's WeChat business, its bindings with
    /// their states, and — when the business is open — what WeChat's `querysubdevconfig`
    /// reports (marked as upstream). `22000001` when busi/open never asked for WeChat.
    pub async fn config_query(&self, scope: &Scope) -> Result<ConfigQuery, EngineError> {
        let mer_id = scope.mer_id();
        let business = merchant_channels::find_business(
            self.db.conn(),
            mer_id,
            ChannelKind::Wechat,
        )
        .await?
        .ok_or_else(|| {
            EngineError::refused(
                RespCode::PaymentMethodNotOpened,
                format!("商户未开通微信支付 (WeChat Pay): mer_id {mer_id} has no WeChat business"),
            )
        })?;
        let bindings = merchant_bindings::list_for_merchant(self.db.conn(), mer_id).await?;
        let upstream = match (&business.sub_mch_id, is_open(&business)) {
            (Some(sub), true) => Some(self.upstream_config(&business, sub).await),
            _ => None,
        };
        Ok(ConfigQuery {
            business: BusinessView::from(&business),
            bindings: bindings.iter().map(BindingView::from).collect(),
            upstream,
        })
    }

    async fn upstream_config(
        &self,
        business: &merchant_channel::Model,
        sub: &str,
    ) -> UpstreamConfig {
        let connector = match self.wechat_connector_of(business).await {
            Ok(c) => c,
            Err(e) => return UpstreamConfig::Unavailable(e.to_string()),
        };
        match connector.query_sub_dev_config(sub).await {
            Ok(rec) => UpstreamConfig::Read {
                jsapi_paths: rec.value.jsapi_paths,
                sub_appids: rec.value.sub_appids,
            },
            Err(ChannelError::Refused { code, message, .. }) => {
                UpstreamConfig::Unavailable(format!("{code}: {message}"))
            }
            Err(e) => UpstreamConfig::Unavailable(e.to_string()),
        }
    }
}
