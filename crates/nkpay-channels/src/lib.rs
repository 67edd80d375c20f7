//! nkpay-channels: the `Channel` trait and one connector per upstream (WeChat Pay v2 service
//! provider, Alipay ISV): wire types, clients, notify parsing and bill parsing.
//!
//! Not for: deciding what a result means for a trade (nkpay-engine); no channel field name leaves
//! its module.
