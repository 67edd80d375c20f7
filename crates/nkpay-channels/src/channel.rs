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
