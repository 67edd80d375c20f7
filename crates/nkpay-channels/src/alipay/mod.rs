//! Alipay open platform in ISV mode: the calls. Wire conversion is in `transformers.rs`, reply
//! verification in `reply.rs`, the bill file in `bill.rs`, third-party app authorization in
//! `app_auth.rs`.

mod app_auth;
mod bill;
mod reply;
mod transformers;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use nkpay_core::secret::Secret;
use nkpay_core::trade_type::ChannelKind;
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use url::Url;

pub use self::app_auth::{AppAuthGrant, AppAuthStatus};
use self::transformers as wire;
use crate::bill::{BillRequest, BillResult};
use crate::channel::Channel;
use crate::error::ChannelError;
use crate::exchange::{Exchange, Recorded};
use crate::notify::{InboundNotify, NotifyAck, NotifyReply, NotifyUrls};
use crate::notify_reference::NotifyReference;
use crate::outcome::{CloseResult, CreateResult, PayResult, ProbeResult, RefundResult};
use crate::request::{CreateOrder, MerchantRoute, RefundOrder, RefundRef, TradeRef};
use crate::transport::{
    Delivery, HttpMethod, HttpSettings, Outbound, TlsSetup, Transport, Verdict,
};

/// One ISV app at the Alipay open platform.
#[derive(Debug, Clone)]
pub struct AlipayAccount {
    /// The ISV app's id (`app_id`).
    pub app_id: String,
    /// PKCS#8 or PKCS#1, PEM or bare base64.
    pub app_private_key: Secret<String>,
    /// Alipay's public key for this app (SPKI or PKCS#1, PEM or bare base64).
    pub alipay_public_key: String,
    /// The ISV's PID, sent as `extend_params.sys_service_provider_id`.
    pub isv_pid: String,
    /// `https://openapi.alipay.com/gateway.do` in production, the sandbox's in tests.
    pub gateway_url: Url,
    /// Extra trusted CA certificates (PEM), for a sandbox behind TLS.
    pub extra_roots_pem: Option<String>,
    /// Where Alipay sends notifies: `payment` is every precreate's `notify_url` (at most 256
    /// characters), and Alipay sends a trade's refund notifies there too; `refund` is not used.
    pub notify_urls: NotifyUrls,
    /// Time-outs and re-sends.
    pub http: HttpSettings,
}

/// The connector of one Alipay ISV app.
pub struct AlipayChannel {
    account: AlipayAccount,
    private_key: RsaPrivateKey,
    public_key: RsaPublicKey,
    transport: Transport,
}

impl AlipayChannel {
    /// Parses the keys and builds the connector and its HTTP client.
    ///
    /// # Errors
    /// [`ChannelError::Config`] for a key that does not parse, a notify URL Alipay would refuse,
    /// or a CA that cannot be used.
    pub fn new(account: AlipayAccount) -> Result<Self, ChannelError> {
        let notify_len = account.notify_urls.payment.chars().count();
        if notify_len == 0 || notify_len > 256 {
            return Err(ChannelError::config(
                "notify_urls.payment",
                format!("must be 1 to 256 characters for Alipay, is {notify_len}"),
            ));
        }
        let private_key = RsaPrivateKey::from_pem_or_base64(account.app_private_key.expose())
            .map_err(|e| ChannelError::config("app_private_key", e.to_string()))?;
        let public_key = RsaPublicKey::from_pem_or_base64(&account.alipay_public_key)
            .map_err(|e| ChannelError::config("alipay_public_key", e.to_string()))?;
        let transport = Transport::new(
            ChannelKind::Alipay,
            account.http.clone(),
            TlsSetup {
                identity_pem: None,
                extra_roots_pem: account.extra_roots_pem.clone(),
            },
        )?;
        Ok(AlipayChannel {
            account,
            private_key,
            public_key,
            transport,
        })
    }

    fn outbound(&self, call: wire::SignedCall) -> Outbound {
        Outbound {
            call: call.method,
            method: HttpMethod::Post,
            url: self.account.gateway_url.clone(),
            content_type: "application/x-www-form-urlencoded;charset=utf-8",
            body: call.form,
            masked_body: call.masked_form,
            bill: false,
        }
    }
}

impl AlipayChannel {
    /// The page the merchant opens to authorize the ISV app, with `app_id`, `redirect_uri`
    /// (URL-encoded here) and `state` (left out when empty). Alipay sends the merchant back to
    /// `redirect_uri` with `app_id`, `app_auth_code` and `state`.
    ///
    /// The page is derived from [`AlipayAccount::gateway_url`]: Alipay's production gateway
    /// (`openapi.alipay.com`) → `https://openauth.alipay.com/oauth2/appToAppAuth.htm`, Alipay's
    /// open-platform sandbox gateways → their `openauth` hosts, any other gateway (the nkpay
    /// sandbox's `…/gateway.do`) → `oauth2/appToAppAuth.htm` beside it.
    pub fn app_to_app_auth_url(&self, redirect_uri: &str, state: &str) -> String {
        app_auth::auth_url(
            &self.account.gateway_url,
            &self.account.app_id,
            redirect_uri,
            state,
        )
    }

    /// Trades the `app_auth_code` the authorization page sent back for the merchant's tokens
    /// (`alipay.open.auth.token.app`, `grant_type=authorization_code`). The code is single use
    /// and short-lived. Tokens never appear in the recorded exchanges (`***`).
    ///
    /// # Errors
    /// [`ChannelError::InvalidInput`] for an empty code; [`ChannelError::Refused`] when Alipay
    /// refuses it (`isv.code-invalid`: unknown, used or expired); [`ChannelError::Unanswered`]
    /// when the outcome is unknown (no reply, unverified reply, system error) — the code may
    /// have been used, so a new authorization may be needed.
    pub async fn exchange_app_auth_code(
        &self,
        code: &str,
    ) -> Result<Recorded<AppAuthGrant>, ChannelError> {
        let call = app_auth::exchange(&self.account, &self.private_key, code, Utc::now())?;
        self.token_call(call).await
    }

    /// A new `app_auth_token` (and refresh token) for the merchant
    /// (`alipay.open.auth.token.app`, `grant_type=refresh_token`); the old token stops working.
    ///
    /// # Errors
    /// As [`exchange_app_auth_code`](Self::exchange_app_auth_code);
    /// `isv.refresh-token-invalid` for an unknown or used refresh token.
    pub async fn refresh_app_auth_token(
        &self,
        refresh_token: &Secret<String>,
    ) -> Result<Recorded<AppAuthGrant>, ChannelError> {
        let call = app_auth::refresh(
            &self.account,
            &self.private_key,
            refresh_token.expose(),
            Utc::now(),
        )?;
        self.token_call(call).await
    }

    /// What Alipay says about a merchant's token (`alipay.open.auth.token.app.query`).
    ///
    /// # Errors
    /// [`ChannelError::InvalidInput`] for an empty token; [`ChannelError::Refused`] when Alipay
    /// refuses the query; [`ChannelError::Unanswered`] when the outcome is unknown.
    pub async fn query_app_auth_token(
        &self,
        app_auth_token: &Secret<String>,
    ) -> Result<Recorded<AppAuthStatus>, ChannelError> {
        let call = app_auth::query(
            &self.account,
            &self.private_key,
            app_auth_token.expose(),
            Utc::now(),
        )?;
        let done = self
            .transport
            .call(&self.outbound(call), |d| {
                Verdict::done(app_auth::judge_query(d, &self.public_key))
            })
            .await;
        settled(app_auth::TOKEN_QUERY, done)
    }

    async fn token_call(
        &self,
        call: wire::SignedCall,
    ) -> Result<Recorded<AppAuthGrant>, ChannelError> {
        let done = self
            .transport
            .call(&self.outbound(call), |d| {
                Verdict::done(app_auth::judge_token(d, &self.public_key))
            })
            .await;
        let Recorded {
            value,
            mut exchanges,
        } = done;
        // The reply carries the merchant's tokens: the record keeps none of them.
        if let Ok(Ok(grant)) = &value {
            for secret in [
                grant.app_auth_token.expose(),
                grant.app_refresh_token.expose(),
            ] {
                mask_in_replies(&mut exchanges, secret);
            }
        }
        settled(app_auth::TOKEN, Recorded::new(value, exchanges))
    }
}

/// Replaces `secret` by `***` in every recorded reply body.
fn mask_in_replies(exchanges: &mut [Exchange], secret: &str) {
    if secret.is_empty() {
        return;
    }
    for exchange in exchanges {
        exchange.reply_body = exchange.reply_body.replace(secret, wire::MASK);
    }
}

/// An onboarding call's result; Alipay's refusal as [`ChannelError::Refused`], an unknown
/// outcome as [`ChannelError::Unanswered`], both with the exchanges.
fn settled<T>(
    call: &'static str,
    done: Recorded<app_auth::Judged<T>>,
) -> Result<Recorded<T>, ChannelError> {
    let Recorded { value, exchanges } = done;
    match value {
        Ok(Ok(value)) => Ok(Recorded::new(value, exchanges)),
        Ok(Err((code, message))) => Err(ChannelError::Refused {
            call,
            code,
            message,
            exchanges,
        }),
        Err(reason) => Err(ChannelError::Unanswered {
            call,
            reason,
            exchanges,
        }),
    }
}

#[async_trait]
impl Channel for AlipayChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Alipay
    }

    async fn create(&self, order: &CreateOrder) -> Result<Recorded<CreateResult>, ChannelError> {
        order.check_channel(ChannelKind::Alipay)?;
        let call = wire::precreate(&self.account, &self.private_key, order, Utc::now())?;
        Ok(self
            .transport
            .call(&self.outbound(call), |d| {
                Verdict::done(wire::judge_create(d, &self.public_key))
            })
            .await)
    }

    async fn query(&self, trade: &TradeRef) -> Result<Recorded<PayResult>, ChannelError> {
        let call = wire::query(&self.account, &self.private_key, trade, Utc::now())?;
        Ok(self
            .transport
            .call(&self.outbound(call), |d| {
                Verdict::done(wire::judge_query(d, &self.public_key, &trade.nkp_seq_id))
            })
            .await)
    }

    async fn close(&self, trade: &TradeRef) -> Result<Recorded<CloseResult>, ChannelError> {
        let call = wire::close(&self.account, &self.private_key, trade, Utc::now())?;
        Ok(self
            .transport
            .call(&self.outbound(call), |d| {
                Verdict::done(wire::judge_close(d, &self.public_key))
            })
            .await)
    }

    async fn refund(&self, refund: &RefundOrder) -> Result<Recorded<RefundResult>, ChannelError> {
        let call = wire::refund(&self.account, &self.private_key, refund, Utc::now())?;
        Ok(self
            .transport
            .call(&self.outbound(call), |d| {
                wire::judge_refund(d, &self.public_key)
            })
            .await)
    }

    async fn refund_query(
        &self,
        refund: &RefundRef,
    ) -> Result<Recorded<RefundResult>, ChannelError> {
        let call = wire::refund_query(&self.account, &self.private_key, refund, Utc::now())?;
        Ok(self
            .transport
            .call(&self.outbound(call), |d| {
                Verdict::done(wire::judge_refund_query(
                    d,
                    &self.public_key,
                    &refund.refund_nkp_seq_id,
                ))
            })
            .await)
    }

    /// Alipay closes a waiting trade at any time.
    fn earliest_close(&self, created_at: DateTime<Utc>) -> DateTime<Utc> {
        created_at
    }

    fn check_notify_merchant(
        &self,
        named: Option<&str>,
        route: &MerchantRoute,
    ) -> Result<(), ChannelError> {
        let (_, seller_id) = route.alipay()?;
        match seller_id {
            Some(expected) if named != Some(expected) => Err(ChannelError::SubMerchantMismatch {
                named: named.map(str::to_owned),
                expected: expected.to_owned(),
            }),
            // A route without a known seller has nothing to compare with.
            _ => Ok(()),
        }
    }

    fn parse_notify(&self, body: &[u8]) -> Result<InboundNotify, ChannelError> {
        wire::parse_notify(body, &self.account, &self.public_key)
    }

    /// Two exchanges: the signed URL query, then the download from that URL.
    async fn bill(&self, request: &BillRequest) -> Result<Recorded<BillResult>, ChannelError> {
        let call = wire::bill_url(&self.account, &self.private_key, request, Utc::now())?;
        let asked = self
            .transport
            .call(&self.outbound(call), |d| {
                Verdict::done(wire::judge_bill_url(d, &self.public_key))
            })
            .await;
        let mut exchanges = asked.exchanges;
        let url = match asked.value {
            Ok(url) => url,
            Err(result) => return Ok(Recorded::new(result, exchanges)),
        };
        let url = match Url::parse(&url) {
            Ok(url) => url,
            Err(e) => {
                let reason = format!("bill_download_url {url:?}: {e}");
                return Ok(Recorded::new(BillResult::Unknown { reason }, exchanges));
            }
        };
        let download = Outbound {
            call: "bill download",
            method: HttpMethod::Get,
            url,
            content_type: "",
            body: String::new(),
            masked_body: String::new(),
            bill: true,
        };
        let fetched = self
            .transport
            .call(&download, |d| Verdict::done(judge_download(d)))
            .await;
        exchanges.extend(fetched.exchanges);
        Ok(Recorded::new(fetched.value, exchanges))
    }

    async fn probe(&self) -> Result<Recorded<ProbeResult>, ChannelError> {
        let call = wire::probe_query(
            &self.account,
            &self.private_key,
            &probe_trade_no(),
            Utc::now(),
        )?;
        Ok(self
            .transport
            .call(&self.outbound(call), |d| {
                Verdict::done(wire::judge_probe(d, &self.public_key))
            })
            .await)
    }
}

/// The probe's `out_trade_no`: shaped like ours, never used by a trade.
fn probe_trade_no() -> String {
    use rand::Rng as _;
    let n: u64 = rand::thread_rng().r#gen();
    format!("NKPPROBE{n:016x}")
}

/// What an Alipay notify claims (see [`crate::read_notify_reference`]).
pub(crate) fn notify_reference(body: &[u8]) -> Result<NotifyReference, ChannelError> {
    wire::notify_reference(body)
}

/// The answer Alipay expects to a notify: exactly `success`, anything else makes it retry.
pub(crate) fn notify_reply(ack: NotifyAck) -> NotifyReply {
    let body: &[u8] = match ack {
        NotifyAck::Accepted => b"success",
        NotifyAck::Rejected => b"fail",
    };
    NotifyReply {
        content_type: "text/plain; charset=utf-8",
        body: body.to_vec(),
    }
}

fn judge_download(delivery: &Delivery) -> BillResult {
    match delivery {
        Delivery::NoReply { reason } => BillResult::Unknown {
            reason: format!("bill download: {reason}"),
        },
        Delivery::Reply { status, .. } if *status != 200 => BillResult::Unknown {
            reason: format!("bill download: HTTP {status}"),
        },
        Delivery::Reply { body, .. } => match bill::parse_zip(body) {
            Ok(bill) => BillResult::Ready(bill),
            Err(reason) => BillResult::Unknown { reason },
        },
    }
}
