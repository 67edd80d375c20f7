//! Setting the platform up: service providers and their merchants, each merchant's business on
//! WeChat Pay and Alipay, and the platform's own channel accounts. Plain functions over the
//! database; secrets are sealed by the store. The account rules (`check_*_account`) serve
//! [`crate::ChannelAccounts`], `checked_service_provider` serves [`crate::ServiceProviders`].
//! The rest — a merchant made without an application, a business opened without busi/open,
//! the sub_mch_id or the Alipay authorization — is a side door kept only for tests that set
//! fixtures up directly (`crates/nkpay-api/tests/support`); the platform itself, `nkpay demo`
//! included, onboards through [`crate::Merchants`] and [`crate::businesses::Businesses`].

use chrono::Utc;
use nkpay_core::secret::Secret;
use nkpay_core::trade_type::ChannelKind;
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use nkpay_crypto::sealed::SecretSealer;
use nkpay_store::Db;
use nkpay_store::accounts;
pub use nkpay_store::accounts::{NewAlipayAccount, NewWechatAccount};
use nkpay_store::entity::{channel_account, merchant, merchant_channel, service_provider};
pub use nkpay_store::kinds::{AppidKind, MerchantKind};
pub use nkpay_store::merchant_channels::BoundAppid;
use nkpay_store::merchant_channels::{self, MerchantChannelSetup};
use nkpay_store::merchants::{self, NewMerchant, NewServiceProvider};

use crate::error::EngineError;

/// A service provider (agent, 渠道商) to register: a `sys_id` that signs requests for the
/// merchants it onboards (API.md "Parties and identifiers").
#[derive(Debug, Clone)]
pub struct ServiceProviderSetup {
    /// Its `sys_id`: 1 to 32 letters or digits.
    pub sys_id: String,
    /// The product it signed for (`NKPAY`); every request's `product_id` must match it.
    pub product_id: String,
    /// Its name, for the console.
    pub name: String,
    /// The service provider's RSA public key (PEM or base64 SPKI/PKCS#1) verifying its requests.
    pub public_key: String,
}

/// A sub-merchant to register under a service provider.
#[derive(Debug, Clone)]
pub struct MerchantSetup {
    /// 16 digits.
    pub mer_id: String,
    /// The service provider that onboards it.
    pub sys_id: String,
    /// Its registered name.
    pub name: String,
    /// A short name (简称), when it has one.
    pub short_name: Option<String>,
    /// Enterprise or individual (`basicdata/ent` / `basicdata/indv`).
    pub kind: MerchantKind,
    /// Set when the merchant will call the API itself (its `sys_id` is then its `mer_id`).
    pub public_key: Option<String>,
}

/// A merchant's WeChat Pay business: its sub-merchant under the platform's service-provider
/// account and the appids it may be paid in.
#[derive(Debug, Clone)]
pub struct WechatBusiness {
    /// The merchant.
    pub mer_id: String,
    /// The sub-merchant number (特约商户号) under the platform's service-provider account.
    pub sub_mch_id: String,
    /// Official accounts (`T_JSAPI`) and mini-programs (`T_MINIAPP`) bound to the sub-merchant.
    pub appids: Vec<BoundAppid>,
    /// `None`: the default WeChat account.
    pub channel_account_id: Option<i64>,
    /// Basis points (38 = 0.38%).
    pub fee_rate_bp: i32,
}

/// A merchant's Alipay business: its grant (`app_auth_token`) to the platform's ISV app.
#[derive(Debug, Clone)]
pub struct AlipayBusiness {
    /// The merchant.
    pub mer_id: String,
    /// The merchant's grant, sent as `app_auth_token` with every call made for it (Alipay ISV
    /// mode); sealed at rest.
    pub app_auth_token: Secret<String>,
    /// The merchant's app that granted `app_auth_token`.
    pub auth_app_id: String,
    /// The seller's Alipay user id (PID, `2088…`), compared with every notify.
    pub seller_id: String,
    /// Alipay secondary-merchant id (`smid`), when the merchant has one.
    pub smid: Option<String>,
    /// `None`: the default Alipay account.
    pub channel_account_id: Option<i64>,
    /// Basis points (38 = 0.38%).
    pub fee_rate_bp: i32,
}

fn required(field: &'static str, value: &str) -> Result<(), EngineError> {
    if value.trim().is_empty() {
        return Err(EngineError::invalid(field, "must not be empty"));
    }
    Ok(())
}

fn public_key(field: &'static str, text: &str) -> Result<(), EngineError> {
    RsaPublicKey::from_pem_or_base64(text)
        .map(|_| ())
        .map_err(|e| EngineError::invalid(field, format!("must be an RSA public key: {e}")))
}

fn fee_rate(bp: i32) -> Result<(), EngineError> {
    if !(0..=10_000).contains(&bp) {
        return Err(EngineError::invalid(
            "fee_rate_bp",
            "must be 0 to 10000 basis points",
        ));
    }
    Ok(())
}

/// `true` when `id` is 16 ASCII digits, the shape of a `mer_id`.
fn is_mer_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_digit())
}

/// Registers a service provider. [`EngineError::Invalid`] names the field that breaks its
/// rule (`sys_id`, `product_id`, `name`, `public_key`); a taken `sys_id` is
/// [`EngineError::Store`] (`Duplicate`).
pub async fn create_service_provider(
    db: &Db,
    setup: &ServiceProviderSetup,
) -> Result<service_provider::Model, EngineError> {
    let new = checked_service_provider(setup)?;
    Ok(merchants::insert_service_provider(db.conn(), &new, Utc::now()).await?)
}

/// `setup` checked field by field ([`EngineError::Invalid`] naming `sys_id`, `product_id`,
/// `name` or `public_key`) and turned into the row to insert.
pub(crate) fn checked_service_provider(
    setup: &ServiceProviderSetup,
) -> Result<NewServiceProvider, EngineError> {
    let id_ok = !setup.sys_id.is_empty()
        && setup.sys_id.len() <= 32
        && setup.sys_id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !id_ok {
        return Err(EngineError::invalid(
            "sys_id",
            "must be 1 to 32 letters or digits",
        ));
    }
    required("product_id", &setup.product_id)?;
    required("name", &setup.name)?;
    public_key("public_key", &setup.public_key)?;
    let new = NewServiceProvider {
        sys_id: setup.sys_id.clone(),
        product_id: setup.product_id.clone(),
        name: setup.name.clone(),
        rsa_public_key: setup.public_key.trim().to_owned(),
    };
    Ok(new)
}

/// Registers a merchant under an existing service provider. [`EngineError::Invalid`] names the
/// field (`mer_id` not 16 digits, empty `name`, unusable `public_key`, unknown `sys_id`); a
/// taken `mer_id` is [`EngineError::Store`] (`Duplicate`).
pub async fn create_merchant(
    db: &Db,
    setup: &MerchantSetup,
) -> Result<merchant::Model, EngineError> {
    if !is_mer_id(&setup.mer_id) {
        return Err(EngineError::invalid("mer_id", "must be 16 digits"));
    }
    required("name", &setup.name)?;
    if let Some(key) = &setup.public_key {
        public_key("public_key", key)?;
    }
    if merchants::find_service_provider(db.conn(), &setup.sys_id)
        .await?
        .is_none()
    {
        return Err(EngineError::invalid(
            "sys_id",
            format!("{} is not a registered service provider", setup.sys_id),
        ));
    }
    let new = NewMerchant {
        mer_id: setup.mer_id.clone(),
        sys_id: setup.sys_id.clone(),
        name: setup.name.clone(),
        short_name: setup.short_name.clone(),
        kind: setup.kind,
        rsa_public_key: setup.public_key.as_ref().map(|k| k.trim().to_owned()),
        notify_schedule: None,
    };
    Ok(merchants::insert_merchant(db.conn(), &new, Utc::now()).await?)
}

async fn existing_merchant(db: &Db, mer_id: &str) -> Result<(), EngineError> {
    match merchants::find_merchant(db.conn(), mer_id).await? {
        Some(_) => Ok(()),
        None => Err(EngineError::invalid(
            "mer_id",
            format!("{mer_id} is not an onboarded merchant"),
        )),
    }
}

async fn account_of(db: &Db, id: Option<i64>, channel: ChannelKind) -> Result<(), EngineError> {
    let Some(id) = id else { return Ok(()) };
    match accounts::find_channel_account(db.conn(), id).await? {
        Some(a) if a.channel == channel => Ok(()),
        _ => Err(EngineError::invalid(
            "channel_account_id",
            format!("{id} is not a {} channel account", channel.as_str()),
        )),
    }
}

/// Opens (or replaces) the merchant's WeChat Pay business. [`EngineError::Invalid`] when the
/// merchant is not onboarded, `sub_mch_id` is not 1 to 32 digits, an appid is empty,
/// `fee_rate_bp` is outside 0 to 10000 or `channel_account_id` is not a WeChat account.
pub async fn open_wechat_business(
    db: &Db,
    sealer: &SecretSealer,
    business: &WechatBusiness,
) -> Result<merchant_channel::Model, EngineError> {
    existing_merchant(db, &business.mer_id).await?;
    let sub_ok = !business.sub_mch_id.is_empty()
        && business.sub_mch_id.len() <= 32
        && business.sub_mch_id.bytes().all(|b| b.is_ascii_digit());
    if !sub_ok {
        return Err(EngineError::invalid("sub_mch_id", "must be 1 to 32 digits"));
    }
    for bound in &business.appids {
        required("appids.appid", &bound.appid)?;
    }
    fee_rate(business.fee_rate_bp)?;
    account_of(db, business.channel_account_id, ChannelKind::Wechat).await?;
    let setup = MerchantChannelSetup {
        mer_id: business.mer_id.clone(),
        channel: ChannelKind::Wechat,
        channel_account_id: business.channel_account_id,
        sub_mch_id: Some(business.sub_mch_id.clone()),
        appids: business.appids.clone(),
        jsapi_pay_dirs: Vec::new(),
        ali_app_auth_token: None,
        ali_auth_app_id: None,
        ali_seller_id: None,
        ali_smid: None,
        fee_rate_bp: business.fee_rate_bp,
    };
    Ok(merchant_channels::open_business(db, sealer, &setup, Utc::now()).await?)
}

/// Opens (or replaces) the merchant's Alipay business under its grant to the ISV app.
/// [`EngineError::Invalid`] when the merchant is not onboarded, a grant field is empty,
/// `fee_rate_bp` is outside 0 to 10000 or `channel_account_id` is not an Alipay account.
pub async fn open_alipay_business(
    db: &Db,
    sealer: &SecretSealer,
    business: &AlipayBusiness,
) -> Result<merchant_channel::Model, EngineError> {
    existing_merchant(db, &business.mer_id).await?;
    required("app_auth_token", business.app_auth_token.expose())?;
    required("auth_app_id", &business.auth_app_id)?;
    required("seller_id", &business.seller_id)?;
    fee_rate(business.fee_rate_bp)?;
    account_of(db, business.channel_account_id, ChannelKind::Alipay).await?;
    let setup = MerchantChannelSetup {
        mer_id: business.mer_id.clone(),
        channel: ChannelKind::Alipay,
        channel_account_id: business.channel_account_id,
        sub_mch_id: None,
        appids: Vec::new(),
        jsapi_pay_dirs: Vec::new(),
        ali_app_auth_token: Some(business.app_auth_token.clone()),
        ali_auth_app_id: Some(business.auth_app_id.clone()),
        ali_seller_id: Some(business.seller_id.clone()),
        ali_smid: business.smid.clone(),
        fee_rate_bp: business.fee_rate_bp,
    };
    Ok(merchant_channels::open_business(db, sealer, &setup, Utc::now()).await?)
}

/// Registers a WeChat Pay service-provider account (API v2 key and optional client
/// certificate sealed at rest). [`EngineError::Invalid`] when a required field is empty, the
/// API key is not the 32-character v2 key, a certificate comes without its key (refunds need
/// both: mutual TLS, WeChat Pay v2 `secapi/pay/refund`) or `gateway_url` is not a URL.
pub async fn register_wechat_account(
    db: &Db,
    sealer: &SecretSealer,
    account: &NewWechatAccount,
) -> Result<channel_account::Model, EngineError> {
    check_wechat_account(account)?;
    Ok(accounts::insert_wechat_account(db.conn(), sealer, account, Utc::now()).await?)
}

/// The rules of [`register_wechat_account`], for a registration or a credential replacement.
pub(crate) fn check_wechat_account(account: &NewWechatAccount) -> Result<(), EngineError> {
    required("name", &account.name)?;
    required("appid", &account.appid)?;
    required("mch_id", &account.mch_id)?;
    if account.api_key.expose().len() != 32 {
        return Err(EngineError::invalid(
            "api_key",
            "must be the 32-character API v2 key",
        ));
    }
    if account.client_cert_pem.is_some() != account.client_key_pem.is_some() {
        return Err(EngineError::invalid(
            "client_cert_pem",
            "certificate and private key go together",
        ));
    }
    url_or_empty("gateway_url", &account.gateway_url)
}

/// Registers an Alipay ISV app (app private key sealed at rest). [`EngineError::Invalid`] when
/// a key does not parse, the ISV's PID is missing (every order names it as
/// `extend_params.sys_service_provider_id`) or `gateway_url` is not a URL.
pub async fn register_alipay_account(
    db: &Db,
    sealer: &SecretSealer,
    account: &NewAlipayAccount,
) -> Result<channel_account::Model, EngineError> {
    check_alipay_account(account)?;
    Ok(accounts::insert_alipay_account(db.conn(), sealer, account, Utc::now()).await?)
}

/// The rules of [`register_alipay_account`], for a registration or a credential replacement.
pub(crate) fn check_alipay_account(account: &NewAlipayAccount) -> Result<(), EngineError> {
    required("name", &account.name)?;
    required("app_id", &account.app_id)?;
    RsaPrivateKey::from_pem_or_base64(account.app_private_key.expose()).map_err(|e| {
        EngineError::invalid(
            "app_private_key",
            format!("must be an RSA private key: {e}"),
        )
    })?;
    public_key("alipay_public_key", &account.alipay_public_key)?;
    match account.isv_pid.as_deref() {
        Some(pid) if !pid.trim().is_empty() => {}
        _ => {
            return Err(EngineError::invalid(
                "isv_pid",
                "the ISV's PID (sys_service_provider_id) is required",
            ));
        }
    }
    url_or_empty("gateway_url", &account.gateway_url)
}

fn url_or_empty(field: &'static str, value: &str) -> Result<(), EngineError> {
    if value.trim().is_empty() {
        return Ok(());
    }
    url::Url::parse(value.trim())
        .map(|_| ())
        .map_err(|e| EngineError::invalid(field, format!("must be an absolute URL: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mer_id_is_sixteen_digits() {
        assert!(is_mer_id("6666000100000001"));
        assert!(!is_mer_id("666600010000000"));
        assert!(!is_mer_id("666600010000000a"));
        assert!(!is_mer_id("66660001000000011"));
    }
}
