//! The trait the engine calls; it holds one `Arc<dyn Channel>` per channel account. Besides the
//! calls, the trait carries the protocol rules the engine must follow without knowing which
//! channel it talks to (when a close is allowed, how a notify's sub-merchant must match).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use nkpay_core::trade_type::ChannelKind;

use crate::bill::{BillRequest, BillResult};
use crate::error::ChannelError;
use crate::exchange::Recorded;
use crate::notify::InboundNotify;
use crate::outcome::{CloseResult, CreateResult, PayResult, ProbeResult, RefundResult};
use crate::request::{CreateOrder, MerchantRoute, RefundOrder, RefundRef, TradeRef};

/// One upstream account. `Err` means nothing was sent (see the crate doc); every outcome after
/// sending is a typed result with its exchanges.
#[async_trait]
pub trait Channel: Send + Sync {
    /// Which channel this connector speaks.
    fn kind(&self) -> ChannelKind;

    /// Place the trade: WeChat JSAPI prepay → `pay_info`; Alipay precreate → QR code. The
    /// channel's payment notify goes to the account's [`NotifyUrls::payment`](crate::NotifyUrls).
    async fn create(&self, order: &CreateOrder) -> Result<Recorded<CreateResult>, ChannelError>;

    /// Ask the channel where the trade's payment stands.
    async fn query(&self, trade: &TradeRef) -> Result<Recorded<PayResult>, ChannelError>;

    /// Close the unpaid trade at the channel. Call it no earlier than
    /// [`earliest_close`](Channel::earliest_close), or the channel answers `TooEarly`.
    async fn close(&self, trade: &TradeRef) -> Result<Recorded<CloseResult>, ChannelError>;

    /// Re-sending the same `refund_nkp_seq_id` is safe; the connector itself re-sends only on
    /// the channel's system errors and time-outs, within `HttpSettings::resend_limit`. Where the
    /// channel takes a refund notify URL (WeChat), the account's
    /// [`NotifyUrls::refund`](crate::NotifyUrls) is sent.
    async fn refund(&self, refund: &RefundOrder) -> Result<Recorded<RefundResult>, ChannelError>;

    /// Ask the channel where one refund stands.
    async fn refund_query(
        &self,
        refund: &RefundRef,
    ) -> Result<Recorded<RefundResult>, ChannelError>;

    /// The earliest instant (UTC) the channel accepts closing an order placed at `created_at`
    /// (UTC): WeChat Pay refuses `closeorder` for the first 5 minutes (the account's
    /// `close_min_age`); Alipay closes at once.
    fn earliest_close(&self, created_at: DateTime<Utc>) -> DateTime<Utc>;

    /// Whether a verified payment notify belongs to the trade's sub-merchant: `named` is the
    /// notify's [`InboundNotify::Payment::sub_merchant`], `route` the trade's. WeChat: the notify
    /// must name the trade's `sub_mch_id` (absent is a mismatch); Alipay: the seller id must be
    /// the route's when the route knows it.
    ///
    /// # Errors
    /// [`ChannelError::SubMerchantMismatch`] when it does not match;
    /// [`ChannelError::WrongChannel`] when `route` is the other channel's.
    fn check_notify_merchant(
        &self,
        named: Option<&str>,
        route: &MerchantRoute,
    ) -> Result<(), ChannelError>;

    /// Verify an inbound notify's body (signature, or decryption) and that it is addressed to
    /// this account, then parse it. No I/O.
    ///
    /// # Errors
    /// [`ChannelError::NotifyRejected`] for a forged, unreadable or foreign notify.
    fn parse_notify(&self, body: &[u8]) -> Result<InboundNotify, ChannelError>;

    /// Download and parse one day's bill.
    async fn bill(&self, request: &BillRequest) -> Result<Recorded<BillResult>, ChannelError>;

    /// Prove the account's credentials with harmless signed calls that change nothing at the
    /// channel (the admin "test call").
    ///
    /// WeChat: `pay/downloadbill` of the service provider (no `sub_mch_id`) for a day
    /// [`PROBE_BILL_AGE_DAYS`](crate::wechat::PROBE_BILL_AGE_DAYS) ago — `No Bill Exist` or a bill
    /// is ok, a signature or appid refusal is not; with a client certificate configured, also
    /// `secapi/mch/querysubdevconfig` for a made-up `sub_mch_id` — any signed reply (WeChat
    /// answers the business error only after accepting the certificate) is ok, a certificate
    /// refusal or a failed TLS handshake is not.
    /// Alipay: `alipay.trade.query` of an `out_trade_no` that does not exist, without an
    /// `app_auth_token` (the ISV app's own account) — `ACQ.TRADE_NOT_EXIST` with a verified reply
    /// signature is ok; `isv.invalid-signature`, `isv.invalid-app-id`, an unverified reply or no
    /// reply is not.
    ///
    /// Every exchange is recorded, oldest first. `Err` only for a call that cannot be built.
    async fn probe(&self) -> Result<Recorded<ProbeResult>, ChannelError>;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use nkpay_core::secret::Secret;

    use chrono::TimeZone;

    use super::*;
    use crate::alipay::{AlipayAccount, AlipayChannel};
    use crate::notify::NotifyUrls;
    use crate::transport::HttpSettings;
    use crate::wechat::{CLOSE_MIN_AGE, WechatAccount, WechatChannel, WechatSignType};

    /// A loopback port nothing listens on (just freed): every call is refused at once.
    fn nowhere() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", listener.local_addr().unwrap())
    }

    fn settings() -> HttpSettings {
        HttpSettings {
            connect_timeout: Duration::from_millis(500),
            total_timeout: Duration::from_secs(1),
            bill_timeout: Duration::from_secs(1),
            resend_limit: 2,
            resend_delay: Duration::from_millis(1),
        }
    }

    fn notify_urls(path: &str) -> NotifyUrls {
        NotifyUrls {
            payment: format!("https://pay.example.com/callback/{path}"),
            refund: format!("https://pay.example.com/callback/{path}/refund"),
        }
    }

    fn channels() -> Vec<Arc<dyn Channel>> {
        let nowhere = nowhere();
        let wechat = WechatChannel::new(WechatAccount {
            appid: "wx2421b1c4370ec43b".into(),
            mch_id: "10000100".into(),
            api_key: Secret::new("192006250b4c09247ec02edce69f6a2d".into()),
            sign_type: WechatSignType::Md5,
            base_url: url::Url::parse(&nowhere).unwrap(),
            client_identity: None,
            extra_roots_pem: None,
            server_ip: "127.0.0.1".into(),
            notify_urls: notify_urls("wechat"),
            close_min_age: CLOSE_MIN_AGE,
            http: settings(),
        })
        .unwrap();
        let alipay = AlipayChannel::new(AlipayAccount {
            app_id: "2021000122671080".into(),
            app_private_key: Secret::new(
                include_str!("../testdata/alipay/app-private-key.pem").into(),
            ),
            alipay_public_key: include_str!("../testdata/alipay/alipay-public-key.pem").into(),
            isv_pid: "2088000000000001".into(),
            gateway_url: url::Url::parse(&format!("{nowhere}gateway.do")).unwrap(),
            extra_roots_pem: None,
            notify_urls: notify_urls("alipay"),
            http: settings(),
        })
        .unwrap();
        vec![Arc::new(wechat), Arc::new(alipay)]
    }

    fn trade(kind: ChannelKind) -> TradeRef {
        TradeRef {
            nkp_seq_id: "NKP0001".into(),
            merchant: match kind {
                ChannelKind::Wechat => MerchantRoute::Wechat {
                    sub_mch_id: "1900000109".into(),
                },
                ChannelKind::Alipay => MerchantRoute::Alipay {
                    app_auth_token: Secret::new("token".into()),
                    seller_id: None,
                },
            },
        }
    }

    #[tokio::test]
    async fn refused_connection_is_unknown_recorded_and_not_resent_for_a_query() {
        for ch in channels() {
            let queried = ch.query(&trade(ch.kind())).await.unwrap();
            assert!(
                matches!(queried.value, PayResult::Unknown { .. }),
                "{:?}",
                queried.value
            );
            assert_eq!(queried.exchanges.len(), 1, "{}", ch.kind());
            assert_eq!(queried.exchanges[0].status, None);
            assert!(queried.exchanges[0].error.is_some());
        }
    }

    #[tokio::test]
    async fn refund_whose_fate_is_unknown_is_resent_up_to_the_limit() {
        for ch in channels() {
            let refund = RefundOrder {
                trade: trade(ch.kind()),
                refund_nkp_seq_id: "R1".into(),
                trade_amount: nkpay_core::money::Money::from_fen(100).unwrap(),
                amount: nkpay_core::money::Money::from_fen(100).unwrap(),
                reason: None,
            };
            let asked = ch.refund(&refund).await.unwrap();
            assert!(matches!(asked.value, RefundResult::Unknown { .. }));
            assert_eq!(
                asked.exchanges.len(),
                3,
                "one send and two re-sends, {}",
                ch.kind()
            );
        }
    }

    #[tokio::test]
    async fn trade_of_the_other_channel_is_refused_before_anything_is_sent() {
        for ch in channels() {
            let other = match ch.kind() {
                ChannelKind::Wechat => ChannelKind::Alipay,
                ChannelKind::Alipay => ChannelKind::Wechat,
            };
            let err = ch.query(&trade(other)).await.unwrap_err();
            assert!(matches!(err, ChannelError::WrongChannel { .. }), "{err}");
        }
    }

    #[test]
    fn wechat_closes_five_minutes_after_the_order_and_alipay_at_once() {
        let [wechat, alipay] = channels().try_into().ok().unwrap();
        let created = Utc.with_ymd_and_hms(2024, 3, 1, 2, 0, 0).unwrap();
        assert_eq!(
            wechat.earliest_close(created),
            Utc.with_ymd_and_hms(2024, 3, 1, 2, 5, 0).unwrap()
        );
        assert_eq!(alipay.earliest_close(created), created);
    }

    #[test]
    fn a_wechat_notify_must_name_the_trades_sub_merchant() {
        let [wechat, _] = channels().try_into().ok().unwrap();
        let route = trade(ChannelKind::Wechat).merchant;
        assert!(
            wechat
                .check_notify_merchant(Some("1900000109"), &route)
                .is_ok()
        );
        for named in [Some("1900000202"), None] {
            let err = wechat.check_notify_merchant(named, &route).unwrap_err();
            assert!(
                matches!(&err, ChannelError::SubMerchantMismatch { expected, .. } if expected == "1900000109"),
                "{err}"
            );
        }
        let err = wechat
            .check_notify_merchant(Some("x"), &trade(ChannelKind::Alipay).merchant)
            .unwrap_err();
        assert!(matches!(err, ChannelError::WrongChannel { .. }), "{err}");
    }

    #[test]
    fn an_alipay_notify_must_name_the_seller_when_the_route_knows_it() {
        let [_, alipay] = channels().try_into().ok().unwrap();
        let unknown_seller = trade(ChannelKind::Alipay).merchant;
        assert!(alipay.check_notify_merchant(None, &unknown_seller).is_ok());
        assert!(
            alipay
                .check_notify_merchant(Some("2088"), &unknown_seller)
                .is_ok()
        );
        let known = MerchantRoute::Alipay {
            app_auth_token: Secret::new("token".into()),
            seller_id: Some("2088000000000101".into()),
        };
        assert!(
            alipay
                .check_notify_merchant(Some("2088000000000101"), &known)
                .is_ok()
        );
        for named in [Some("2088000000000102"), None] {
            assert!(matches!(
                alipay.check_notify_merchant(named, &known),
                Err(ChannelError::SubMerchantMismatch { .. })
            ));
        }
    }
}
