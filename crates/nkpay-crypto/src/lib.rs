//! nkpay-crypto: every signature and cipher the platform uses — the merchant envelope's canonical
//! form and RSA-SHA256, WeChat Pay v2 MD5/HMAC-SHA256, Alipay RSA2 strings, the WeChat refund-notify
//! AES, sealing of secrets at rest, key parsing and generation.
//!
//! Not for: wire formats, HTTP or storage; callers hand it strings and field maps.

#![warn(missing_docs)]

pub mod alipay_sign;
pub mod canonical_json;
pub mod envelope;
pub mod error;
pub mod json_text;
pub mod merchant_notify;
pub mod rsa_keys;
pub mod sealed;
mod sorted_pairs;
pub mod wechat_refund_cipher;
pub mod wechat_sign;

pub use error::CryptoError;
