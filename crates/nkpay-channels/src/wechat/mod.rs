//! WeChat Pay v2 in service-provider mode: the calls. Wire conversion is in `transformers.rs`,
//! the envelope in `xml.rs`, the bill file in `bill.rs`, sub-merchant development configuration
//! (and the probe's readings) in `sub_dev_config.rs`.

mod bill;
mod sub_dev_config;
mod transformers;
mod xml;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Days, TimeDelta, Utc};
use chrono_tz::Asia::Shanghai;
use flate2::read::GzDecoder;
use nkpay_core::secret::Secret;
use nkpay_core::trade_type::ChannelKind;
pub use nkpay_crypto::wechat_sign::WechatSignType;
use url::Url;

pub use self::sub_dev_config::{SubDevConfig, SubDevConfigList, SubDevConfigResult};
use self::transformers as wire;
use crate::bill::{BillRequest, BillResult};
use crate::channel::Channel;
use crate::client_identity::ClientIdentity;
use crate::error::ChannelError;
use crate::exchange::{Exchange, Recorded};
use crate::notify::{InboundNotify, NotifyAck, NotifyReply, NotifyUrls};
use crate::notify_reference::NotifyReference;
use crate::outcome::{CloseResult, CreateResult, PayResult, ProbeResult, RefundResult};
use crate::request::{CreateOrder, MerchantRoute, RefundOrder, RefundRef, TradeRef};
use crate::transport::{
    Delivery, HttpMethod, HttpSettings, Outbound, TlsSetup, Transport, Verdict,
};

/// One service-provider account at WeChat Pay.
#[derive(Debug, Clone)]
pub struct WechatAccount {
    /// The service provider's appid (the platform's official account).
    pub appid: String,
    /// The service provider's merchant number.
    pub mch_id: String,
    /// The API v2 key (32 characters).
    pub api_key: Secret<String>,
    /// How requests and `pay_info` are signed; replies are verified the same way.
    pub sign_type: WechatSignType,
    /// `https://api.mch.weixin.qq.com/` in production, the sandbox's address in tests.
    pub base_url: Url,
    /// Needed for refunds, sub-merchant development configuration and the probe's certificate
    /// check (mutual TLS on `secapi/`); plain-HTTP sandboxes do without.
    pub client_identity: Option<ClientIdentity>,
    /// Extra trusted CA certificates (PEM), for a sandbox behind TLS.
    pub extra_roots_pem: Option<String>,
    /// Sent as `spbill_create_ip` when the payer's IP is not known.
    pub server_ip: String,
    /// Where WeChat sends payment notifies (`notify_url` of every order) and refund notifies
    /// (`notify_url` of every refund): at most 256 characters, no query string.
    pub notify_urls: NotifyUrls,
    /// How old an order must be before `closeorder` accepts it: 5 minutes at WeChat Pay; tests
    /// against a faster simulator shorten it.
    pub close_min_age: Duration,
    /// Time-outs and re-sends.
    pub http: HttpSettings,
}

/// The WeChat default for [`WechatAccount::close_min_age`]: `closeorder` is refused for the
/// first 5 minutes of an order.
pub const CLOSE_MIN_AGE: Duration = Duration::from_secs(300);

/// How many days before today (Asia/Shanghai) the probe's `downloadbill` asks for: old enough
/// that a new account has no bill, inside the three months WeChat keeps bills (an older date
/// would be refused as `invalid bill_date`, telling nothing about the key).
pub const PROBE_BILL_AGE_DAYS: u64 = 85;

/// The made-up sub-merchant the probe's `querysubdevconfig` names.
const PROBE_SUB_MCH_ID: &str = "1000000000";

/// The connector of one WeChat Pay service-provider account.
pub struct WechatChannel {
    account: WechatAccount,
    transport: Transport,
}

impl WechatChannel {
    /// Builds the connector and its HTTP client.
    ///
    /// # Errors
    /// [`ChannelError::Config`] for an empty API key, a notify URL WeChat would refuse, or a
    /// client certificate or CA that cannot be used.
    pub fn new(mut account: WechatAccount) -> Result<Self, ChannelError> {
        if account.api_key.expose().is_empty() {
            return Err(ChannelError::config("api_key", "is empty"));
        }
        wire::check_notify_url(&account.notify_urls.payment)
            .map_err(|reason| ChannelError::config("notify_urls.payment", reason))?;
        wire::check_notify_url(&account.notify_urls.refund)
            .map_err(|reason| ChannelError::config("notify_urls.refund", reason))?;
        // Paths are joined onto the base, which therefore must end with a slash.
        if !account.base_url.path().ends_with('/') {
            let path = format!("{}/", account.base_url.path());
            account.base_url.set_path(&path);
        }
        let identity_pem = account
            .client_identity
            .as_ref()
            .map(ClientIdentity::to_pem)
            .transpose()?;
        let transport = Transport::new(
            ChannelKind::Wechat,
            account.http.clone(),
            TlsSetup {
                identity_pem,
                extra_roots_pem: account.extra_roots_pem.clone(),
            },
        )?;
        Ok(WechatChannel { account, transport })
    }

    fn outbound(
        &self,
        call: &'static str,
        fields: wire::Fields,
        bill: bool,
    ) -> Result<Outbound, ChannelError> {
        let body = wire::seal(&self.account, fields)?;
        self.outbound_sealed(call, body, bill)
    }

    fn outbound_sealed(
        &self,
        call: &'static str,
        body: String,
        bill: bool,
    ) -> Result<Outbound, ChannelError> {
        let url = self
            .account
            .base_url
            .join(call)
            .map_err(|e| ChannelError::config("base_url", e.to_string()))?;
        Ok(Outbound {
            call,
            method: HttpMethod::Post,
            url,
            content_type: "text/xml; charset=utf-8",
            // The API key never travels; the body holds nothing secret.
            masked_body: body.clone(),
            body,
            bill,
        })
    }

    /// A sub-merchant development configuration call: MD5-signed, no nonce, client certificate.
    fn sub_dev_config_outbound(
        &self,
        call: &'static str,
        fields: wire::Fields,
    ) -> Result<Outbound, ChannelError> {
        let body = wire::seal_with(&self.account, fields, sub_dev_config::SIGN_TYPE)?;
        self.outbound_sealed(call, body, false)
    }

    /// Binds a JSAPI payment directory or an appid to the sub-merchant
    /// (`secapi/mch/addsubdevconfig`, mutual TLS with the account's client certificate). Binding
    /// the same item again answers [`SubDevConfigResult::Bound`], so after an unknown outcome the
    /// call may simply be sent again.
    ///
    /// # Errors
    /// [`ChannelError::InvalidInput`] before sending (`sub_mch_id` 1-32 characters; `jsapi_path`
    /// an `http(s)://` URL ending with `/`, at most 256 characters; `sub_appid` 1-32
    /// characters); [`ChannelError::Unanswered`] (with the exchanges) when the outcome is unknown:
    /// no reply, a time-out, an unverified reply, `SYSTEMERROR`.
    pub async fn add_sub_dev_config(
        &self,
        sub_mch_id: &str,
        item: &SubDevConfig,
    ) -> Result<Recorded<SubDevConfigResult>, ChannelError> {
        let fields = sub_dev_config::add(&self.account, sub_mch_id, item)?;
        let out = self.sub_dev_config_outbound(sub_dev_config::ADDSUBDEVCONFIG, fields)?;
        let done = self
            .transport
            .call(&out, |d| {
                Verdict::done(sub_dev_config::judge_add(d, &self.account))
            })
            .await;
        settled(sub_dev_config::ADDSUBDEVCONFIG, done)
    }

    /// What is bound to the sub-merchant (`secapi/mch/querysubdevconfig`, mutual TLS).
    ///
    /// # Errors
    /// [`ChannelError::InvalidInput`] for a `sub_mch_id` that is not 1-32 characters;
    /// [`ChannelError::Refused`] when WeChat refuses the query (its `err_code`, e.g. a
    /// `sub_mch_id` not under this service provider); [`ChannelError::Unanswered`] when the
    /// outcome is unknown.
    pub async fn query_sub_dev_config(
        &self,
        sub_mch_id: &str,
    ) -> Result<Recorded<SubDevConfigList>, ChannelError> {
        let fields = sub_dev_config::query(&self.account, sub_mch_id)?;
        let out = self.sub_dev_config_outbound(sub_dev_config::QUERYSUBDEVCONFIG, fields)?;
        let done = self
            .transport
            .call(&out, |d| {
                Verdict::done(sub_dev_config::judge_query(d, &self.account))
            })
            .await;
        let Recorded { value, exchanges } = settled(sub_dev_config::QUERYSUBDEVCONFIG, done)?;
        match value {
            Ok(list) => Ok(Recorded::new(list, exchanges)),
            Err((code, message)) => Err(ChannelError::Refused {
                call: sub_dev_config::QUERYSUBDEVCONFIG,
                code,
                message,
                exchanges,
            }),
        }
    }
}

/// An onboarding call's result, or [`ChannelError::Unanswered`] with its exchanges.
fn settled<T>(
    call: &'static str,
    done: Recorded<Result<T, String>>,
) -> Result<Recorded<T>, ChannelError> {
    let Recorded { value, exchanges } = done;
    match value {
        Ok(value) => Ok(Recorded::new(value, exchanges)),
        Err(reason) => Err(ChannelError::Unanswered {
            call,
            reason,
            exchanges,
        }),
    }
}

#[async_trait]
impl Channel for WechatChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Wechat
    }

    async fn create(&self, order: &CreateOrder) -> Result<Recorded<CreateResult>, ChannelError> {
        order.check_channel(ChannelKind::Wechat)?;
        let now = Utc::now();
        let (fields, payer) = wire::unifiedorder(&self.account, order, now)?;
        let out = self.outbound(wire::UNIFIEDORDER, fields, false)?;
        Ok(self
            .transport
            .call(&out, |d| wire::judge_create(d, &self.account, payer, now))
            .await)
    }

    async fn query(&self, trade: &TradeRef) -> Result<Recorded<PayResult>, ChannelError> {
        let out = self.outbound(
            wire::ORDERQUERY,
            wire::orderquery(&self.account, trade)?,
            false,
        )?;
        Ok(self
            .transport
            .call(&out, |d| {
                Verdict::done(wire::judge_query(d, &self.account, &trade.nkp_seq_id))
            })
            .await)
    }

    async fn close(&self, trade: &TradeRef) -> Result<Recorded<CloseResult>, ChannelError> {
        let out = self.outbound(
            wire::CLOSEORDER,
            wire::closeorder(&self.account, trade)?,
            false,
        )?;
        Ok(self
            .transport
            .call(&out, |d| Verdict::done(wire::judge_close(d, &self.account)))
            .await)
    }

    async fn refund(&self, refund: &RefundOrder) -> Result<Recorded<RefundResult>, ChannelError> {
        let out = self.outbound(wire::REFUND, wire::refund(&self.account, refund)?, false)?;
        Ok(self
            .transport
            .call(&out, |d| wire::judge_refund(d, &self.account))
            .await)
    }

    async fn refund_query(
        &self,
        refund: &RefundRef,
    ) -> Result<Recorded<RefundResult>, ChannelError> {
        let out = self.outbound(
            wire::REFUNDQUERY,
            wire::refundquery(&self.account, refund)?,
            false,
        )?;
        Ok(self
            .transport
            .call(&out, |d| {
                Verdict::done(wire::judge_refund_query(
                    d,
                    &self.account,
                    &refund.refund_nkp_seq_id,
                ))
            })
            .await)
    }

    fn earliest_close(&self, created_at: DateTime<Utc>) -> DateTime<Utc> {
        // A huge configured age means "never": saturate instead of overflowing.
        TimeDelta::from_std(self.account.close_min_age)
            .ok()
            .and_then(|age| created_at.checked_add_signed(age))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn check_notify_merchant(
        &self,
        named: Option<&str>,
        route: &MerchantRoute,
    ) -> Result<(), ChannelError> {
        // Every service-provider notify names the sub-merchant; one that does not cannot be
        // tied to the trade's.
        let expected = route.wechat()?;
        if named == Some(expected) {
            return Ok(());
        }
        Err(ChannelError::SubMerchantMismatch {
            named: named.map(str::to_owned),
            expected: expected.to_owned(),
        })
    }

    fn parse_notify(&self, body: &[u8]) -> Result<InboundNotify, ChannelError> {
        wire::parse_notify(body, &self.account)
    }

    async fn bill(&self, request: &BillRequest) -> Result<Recorded<BillResult>, ChannelError> {
        let out = self.outbound(
            wire::DOWNLOADBILL,
            wire::downloadbill(&self.account, request)?,
            true,
        )?;
        Ok(self
            .transport
            .call(&out, |d| Verdict::done(judge_bill(d)))
            .await)
    }

    async fn probe(&self) -> Result<Recorded<ProbeResult>, ChannelError> {
        let request = BillRequest {
            date: probe_bill_day(Utc::now()),
            merchant: None,
        };
        let out = self.outbound(
            wire::DOWNLOADBILL,
            wire::downloadbill(&self.account, &request)?,
            true,
        )?;
        let key = self
            .transport
            .call(&out, |d| Verdict::done(sub_dev_config::judge_probe_bill(d)))
            .await;
        if !key.value.ok || self.account.client_identity.is_none() {
            return Ok(key);
        }
        let mut exchanges: Vec<Exchange> = key.exchanges;
        let fields = sub_dev_config::query(&self.account, PROBE_SUB_MCH_ID)?;
        let out = self.sub_dev_config_outbound(sub_dev_config::QUERYSUBDEVCONFIG, fields)?;
        let cert = self
            .transport
            .call(&out, |d| {
                Verdict::done(sub_dev_config::judge_probe_certificate(d, &self.account))
            })
            .await;
        exchanges.extend(cert.exchanges);
        let value = if cert.value.ok {
            ProbeResult::ok(
                key.value.code,
                format!("{}; {}", key.value.message, cert.value.message),
            )
        } else {
            cert.value
        };
        Ok(Recorded::new(value, exchanges))
    }
}

/// The day the probe's `downloadbill` asks for: [`PROBE_BILL_AGE_DAYS`] before today in
/// Asia/Shanghai.
fn probe_bill_day(now: DateTime<Utc>) -> chrono::NaiveDate {
    let today = now.with_timezone(&Shanghai).date_naive();
    today
        .checked_sub_days(Days::new(PROBE_BILL_AGE_DAYS))
        .unwrap_or(today)
}

/// What a WeChat notify claims (see [`crate::read_notify_reference`]).
pub(crate) fn notify_reference(body: &[u8]) -> Result<NotifyReference, ChannelError> {
    wire::notify_reference(body)
}

/// The answer WeChat expects to a notify.
pub(crate) fn notify_reply(ack: NotifyAck) -> NotifyReply {
    NotifyReply {
        content_type: "text/xml; charset=utf-8",
        body: wire::notify_answer(ack == NotifyAck::Accepted).into_bytes(),
    }
}

fn judge_bill(delivery: &Delivery) -> BillResult {
    let body = match delivery {
        Delivery::NoReply { reason } => {
            return BillResult::Unknown {
                reason: format!("no reply: {reason}"),
            };
        }
        Delivery::Reply { status, .. } if *status != 200 => {
            return BillResult::Unknown {
                reason: format!("HTTP {status} from WeChat Pay"),
            };
        }
        Delivery::Reply { body, .. } => body,
    };
    if let Some(failure) = wire::bill_failure(body) {
        return match failure {
            wire::BillFailureKind::NoBill(message) => BillResult::NoBill { message },
            wire::BillFailureKind::Busy(reason) => BillResult::Unknown { reason },
            wire::BillFailureKind::Failed { code, message } => BillResult::Failed { code, message },
        };
    }
    let text = match gunzip_if_needed(body) {
        Ok(text) => text,
        Err(reason) => return BillResult::Unknown { reason },
    };
    match bill::parse(&text) {
        Ok(bill) => BillResult::Ready(bill),
        Err(reason) => BillResult::Unknown { reason },
    }
}

/// A bill asked for with `tar_type=GZIP`, or sent compressed by a proxy, starts with the gzip
/// magic bytes.
fn gunzip_if_needed(body: &[u8]) -> Result<String, String> {
    use std::io::Read as _;
    if body.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        GzDecoder::new(body)
            .read_to_string(&mut text)
            .map_err(|e| format!("gzip bill: {e}"))?;
        Ok(text)
    } else {
        String::from_utf8(body.to_vec()).map_err(|_| "bill is not UTF-8".to_string())
    }
}
