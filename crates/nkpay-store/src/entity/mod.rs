//! sea-orm entities, one per table, matching `nkpay-migration`. Columns hold plain strings for
//! states and kinds; the query modules convert from the `nkpay_core` types.

pub mod admin_user;
pub mod audit_log;
pub mod channel_account;
pub mod channel_exchange;
pub mod channel_inbound_message;
pub mod incident;
pub mod merchant;
pub mod merchant_appid;
pub mod merchant_channel;
pub mod notification;
pub mod notification_attempt;
pub mod platform_key;
pub mod refund;
pub mod service_provider;
pub mod statement_file;
pub mod trade;
