//! nkpay-sandbox: simulators of WeChat Pay v2 (service provider) and the Alipay gateway, with a
//! payer side and fault injection, for development, demos and tests.
//!
//! Not for: production. It shares no code with the connectors beyond nkpay-core and nkpay-crypto.
