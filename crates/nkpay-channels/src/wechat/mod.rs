//! WeChat Pay v2 in service-provider mode: the calls. Wire conversion is in `transformers.rs`,
//! the envelope in `xml.rs`, the bill file in `bill.rs`.

mod bill;
mod transformers;
mod xml;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use flate2::read::GzDecoder;
use nkpay_core::secret::Secret;
use nkpay_core::trade_type::ChannelKind;
pub use nkpay_crypto::wechat_sign::WechatSignType;
use url::Url;

use self::transformers as wire;
use crate::bill::{BillRequest, BillResult};
use crate::channel::Channel;
use crate::client_identity::ClientIdentity;
use crate::error::ChannelError;
use crate::exchange::Recorded;
use crate::notify::{InboundNotify, NotifyAck, NotifyReply, NotifyUrls};
use crate::notify_reference::NotifyReference;
use crate::outcome::{CloseResult, CreateResult, PayResult, RefundResult};
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
    /// Needed for refunds (mutual TLS on `secapi/`); plain-HTTP sandboxes do without.
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
        let url = self
            .account
            .base_url
            .join(call)
            .map_err(|e| ChannelError::config("base_url", e.to_string()))?;
        let body = wire::seal(&self.account, fields)?;
        Ok(Outbound {
            call: call.to_owned(),
            method: HttpMethod::Post,
            url,
            content_type: "text/xml; charset=utf-8",
            // The API key never travels; the body holds nothing secret.
            masked_body: body.clone(),
            body,
            bill,
        })
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
