//! The trait the engine calls; it holds one `Arc<dyn Channel>` per channel account.

use async_trait::async_trait;
use nkpay_core::trade_type::ChannelKind;

use crate::bill::{BillRequest, BillResult};
use crate::error::ChannelError;
use crate::exchange::Recorded;
use crate::notify::{InboundNotify, NotifyAck, NotifyReply};
use crate::outcome::{CloseResult, CreateResult, PayResult, RefundResult};
use crate::request::{CreateOrder, RefundOrder, RefundRef, TradeRef};

/// One upstream account. `Err` means nothing was sent (see the crate doc); every outcome after
/// sending is a typed result with its exchanges.
#[async_trait]
pub trait Channel: Send + Sync {
    fn kind(&self) -> ChannelKind;

    /// Place the trade: WeChat JSAPI prepay → `pay_info`; Alipay precreate → QR code.
    async fn create(&self, order: &CreateOrder) -> Result<Recorded<CreateResult>, ChannelError>;

    async fn query(&self, trade: &TradeRef) -> Result<Recorded<PayResult>, ChannelError>;

    async fn close(&self, trade: &TradeRef) -> Result<Recorded<CloseResult>, ChannelError>;

    /// Re-sending the same `refund_nkp_seq_id` is safe; the connector itself re-sends only on
    /// the channel's system errors and time-outs, within `HttpSettings::resend_limit`.
    async fn refund(&self, refund: &RefundOrder) -> Result<Recorded<RefundResult>, ChannelError>;

    async fn refund_query(
        &self,
        refund: &RefundRef,
    ) -> Result<Recorded<RefundResult>, ChannelError>;

    /// Verify an inbound notify's body (signature, or decryption) and that it is addressed to
    /// this account, then parse it. No I/O.
    fn parse_notify(&self, body: &[u8]) -> Result<InboundNotify, ChannelError>;

    /// The bytes the callback answers a notify with.
    fn notify_reply(&self, ack: NotifyAck) -> NotifyReply;

    /// Download and parse one day's bill.
    async fn bill(&self, request: &BillRequest) -> Result<Recorded<BillResult>, ChannelError>;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use nkpay_core::secret::Secret;

    use super::*;
    use crate::alipay::{AlipayAccount, AlipayChannel};
    use crate::request::MerchantRoute;
    use crate::transport::HttpSettings;
    use crate::wechat::{WechatAccount, WechatChannel, WechatSignType};

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
                notify_url: None,
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
    fn notify_replies_are_the_channels_exact_bytes() {
        let [wechat, alipay] = channels().try_into().ok().unwrap();
        assert_eq!(
            wechat.notify_reply(NotifyAck::Accepted).body,
            b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
        );
        assert_eq!(alipay.notify_reply(NotifyAck::Accepted).body, b"success");
        assert_eq!(alipay.notify_reply(NotifyAck::Rejected).body, b"fail");
    }
}
