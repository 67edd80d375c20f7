//! sea-orm entities, one per table, matching `nkpay-migration`. State, channel, trade-type and
//! kind columns are typed: the `nkpay_core` enums (`TradeStatus`, `RefundStatus`, `ChannelKind`,
//! `TradeType`, with nkpay-core's `sea-orm` feature) and this crate's [`crate::kinds`], each
//! stored as its wire string. A stored string that is none of the enum's values fails the read
//! with [`crate::StoreError::Corrupt`]; it is never defaulted.

pub mod admin_api_token;
pub mod admin_login_failure;
pub mod admin_refresh_token;
pub mod admin_user;
pub mod audit_log;
pub mod business_request;
pub mod channel_account;
pub mod channel_exchange;
pub mod channel_inbound_message;
pub mod incident;
pub mod merchant;
pub mod merchant_appid;
pub mod merchant_application;
pub mod merchant_binding;
pub mod merchant_channel;
pub mod node_lease;
pub mod notification;
pub mod notification_attempt;
pub mod platform_key;
pub mod platform_key_assignment;
pub mod reconciliation_difference;
pub mod reconciliation_run;
pub mod refund;
pub mod service_provider;
pub mod service_provider_fee_floor;
pub mod statement_detached_content;
pub mod statement_file;
pub mod statement_file_chunk;
pub mod statement_run;
pub mod trade;
pub mod trade_close_request;
