//! The platform's channel accounts as the operator runs them (issue 11, "Platform operator"):
//! register a WeChat Pay service-provider account or an Alipay ISV app (secrets sealed at rest
//! by the store, checked by [`crate::onboarding`]'s rules), list and read them, disable and
//! enable them, replace their credentials. A WeChat client certificate comes as a PEM pair or a
//! PKCS#12 bundle; either way its key must be the certificate's, an expired one is refused, and
//! its `notAfter` is stored to be shown. Every write is audited in its transaction (actor,
//! address, before → after), never with a secret, and bumps the row's `version` so every
//! node's connector cache drops what changed ([`crate::config::ChannelSettings::account_refresh`]).

use chrono::{DateTime, Utc};
use nkpay_channels::ChannelError;
pub use nkpay_channels::{ClientIdentity, ProbeResult};
use nkpay_core::secret::Secret;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::StoreError;
use nkpay_store::accounts::{self, NewAlipayAccount, NewWechatAccount};
use nkpay_store::entity::channel_account;
use nkpay_store::kinds::RecordStatus;
use serde_json::{Value, json};

use crate::admin_identity::{Actor, Permission, audit, require};
use crate::engine::service;
use crate::error::EngineError;
use crate::onboarding;

service!(
    /// Channel accounts (WeChat Pay service provider, Alipay ISV app) as the operator manages
    /// them.
    ChannelAccounts
);

/// A WeChat Pay service-provider account to register, or the new definition of one whose
/// credentials are replaced.
#[derive(Debug, Clone)]
pub struct WechatAccountSetup {
    /// Display name (required).
    pub name: String,
    /// Base URL of WeChat Pay's API (the production host or the sandbox); empty: the
    /// configured `channels.wechat_base_url`.
    pub gateway_url: String,
    /// Whether it serves merchants whose business names no account.
    pub is_default: bool,
    /// The service provider's own appid (required).
    pub appid: String,
    /// The service provider's `mch_id` (required).
    pub mch_id: String,
    /// The API v2 key: 32 characters.
    pub api_key: Secret<String>,
    /// The API client certificate (`apiclient_cert`) for mutual-TLS calls (`secapi/...`:
    /// refunds, sub-merchant configuration), as a PEM pair or a PKCS#12 bundle; `None`: none.
    pub client_certificate: Option<ClientIdentity>,
}

/// What replaces an account's credentials: the same fields as its registration, for its own
/// channel.
#[derive(Debug, Clone)]
pub enum AccountCredentials {
    /// For a WeChat account.
    Wechat(WechatAccountSetup),
    /// For an Alipay account.
    Alipay(NewAlipayAccount),
}

/// Days from `now` until `not_after`, rounded down (negative once expired): what the console
/// shows beside a client certificate as `cert_expires_in_days`.
pub fn days_until(not_after: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (not_after - now).num_days()
}

/// A PKCS#12 client identity from the base64 of `apiclient_cert.p12` and its password (not
/// opened yet: [`ChannelAccounts::create_wechat`] does). [`EngineError::Invalid`] naming
/// `client_cert_p12` when the text is not base64.
pub fn pkcs12_identity(
    base64_text: &str,
    password: Secret<String>,
) -> Result<ClientIdentity, EngineError> {
    ClientIdentity::pkcs12_from_base64(base64_text, password).map_err(config_field)
}

/// A connector configuration error (a certificate that does not open, a key that is not the
/// certificate's) as the field refusal it is.
fn config_field(e: ChannelError) -> EngineError {
    match e {
        ChannelError::Config { field, reason } => EngineError::invalid(field, reason),
        other => EngineError::from(other),
    }
}

impl ChannelAccounts {
    /// Registers a WeChat Pay service-provider account and audits it
    /// (`channel_account.create`), in one transaction. [`EngineError::Invalid`] as
    /// [`onboarding::register_wechat_account`] says, or naming the certificate field
    /// (`client_cert_pem`, `client_key_pem`, `client_cert_p12`, `client_cert_p12_password`)
    /// when the certificate does not open, its key is not the certificate's, or it has expired;
    /// [`EngineError::Forbidden`] unless `by` is a platform admin.
    pub async fn create_wechat(
        &self,
        by: &Actor,
        setup: WechatAccountSetup,
    ) -> Result<channel_account::Model, EngineError> {
        require(by, Permission::ManageChannelAccounts)?;
        let now = Utc::now();
        let (account, cert_not_after) = checked_wechat(setup, now)?;
        let tx = self.db.begin_write().await?;
        let row = accounts::insert_wechat_account_with_expiry(
            &tx,
            &self.sealer,
            &account,
            cert_not_after,
            now,
        )
        .await?;
        self.audit_in(&tx, by, "channel_account.create", &row, Value::Null, now)
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.merchant_setup_changed();
        Ok(row)
    }

    /// Registers an Alipay ISV app and audits it (`channel_account.create`), in one
    /// transaction. [`EngineError::Invalid`] as [`onboarding::register_alipay_account`] says;
    /// [`EngineError::Forbidden`] unless `by` is a platform admin.
    pub async fn create_alipay(
        &self,
        by: &Actor,
        account: NewAlipayAccount,
    ) -> Result<channel_account::Model, EngineError> {
        require(by, Permission::ManageChannelAccounts)?;
        onboarding::check_alipay_account(&account)?;
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        let row = accounts::insert_alipay_account(&tx, &self.sealer, &account, now).await?;
        self.audit_in(&tx, by, "channel_account.create", &row, Value::Null, now)
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.merchant_setup_changed();
        Ok(row)
    }

    /// Every channel account, oldest first (rows with sealed secrets: the caller shows none).
    /// [`EngineError::Forbidden`] for a role that reads none.
    pub async fn list(&self, by: &Actor) -> Result<Vec<channel_account::Model>, EngineError> {
        require(by, Permission::ReadChannelAccounts)?;
        Ok(accounts::list_channel_accounts(self.db.conn()).await?)
    }

    /// One page of the channel accounts, oldest first: skipping `offset`, at most `limit`,
    /// with how many there are in all. [`EngineError::Forbidden`] for a role that reads none.
    pub async fn page(
        &self,
        by: &Actor,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<channel_account::Model>, u64), EngineError> {
        require(by, Permission::ReadChannelAccounts)?;
        Ok(accounts::page_channel_accounts(self.db.conn(), offset, limit).await?)
    }

    /// One channel account; `None` when there is none with `id`.
    /// [`EngineError::Forbidden`] for a role that reads none.
    pub async fn get(
        &self,
        by: &Actor,
        id: i64,
    ) -> Result<Option<channel_account::Model>, EngineError> {
        require(by, Permission::ReadChannelAccounts)?;
        Ok(accounts::find_channel_account(self.db.conn(), id).await?)
    }

    /// Disables (`enabled == false`) or enables account `id` and audits it
    /// (`channel_account.disable` / `channel_account.enable`, status before → after), in one
    /// transaction; the version goes up, so every node drops its connector within
    /// `channels.account_refresh_secs` (this node at once). A disabled account takes no new
    /// trades (routing answers `22000001` naming it); its trades already placed are still
    /// queried, refunded and their notifies accepted. Asking for the status it already has
    /// changes and audits nothing. `None` when there is no account `id`;
    /// [`EngineError::Forbidden`] unless `by` is a platform admin.
    pub async fn set_enabled(
        &self,
        by: &Actor,
        id: i64,
        enabled: bool,
    ) -> Result<Option<channel_account::Model>, EngineError> {
        require(by, Permission::ManageChannelAccounts)?;
        let status = if enabled {
            RecordStatus::Active
        } else {
            RecordStatus::Disabled
        };
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        let Some(before) = accounts::find_channel_account(&tx, id).await? else {
            return Ok(None);
        };
        if before.status == status {
            return Ok(Some(before));
        }
        accounts::set_channel_account_status(&tx, id, status, now).await?;
        let after = accounts::find_channel_account(&tx, id)
            .await?
            .ok_or_else(|| EngineError::Internal(format!("channel account {id} vanished")))?;
        let action = if enabled {
            "channel_account.enable"
        } else {
            "channel_account.disable"
        };
        self.audit_in(&tx, by, action, &after, public_view(&before), now)
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.merchant_setup_changed();
        self.channels.forget(id);
        Ok(Some(after))
    }

    /// Replaces account `id`'s definition and credentials with `new` (the same fields as its
    /// registration, checked by the same rules, secrets sealed) and audits it
    /// (`channel_account.credentials`: public fields before → after and which secrets were
    /// replaced, never their values), in one transaction; its status is kept and its version
    /// goes up, so every node builds its connector anew. `None` when there is no account `id`;
    /// [`EngineError::Invalid`] naming `channel` when `new` is for the other channel, or the
    /// field at fault; [`EngineError::Forbidden`] unless `by` is a platform admin.
    pub async fn replace_credentials(
        &self,
        by: &Actor,
        id: i64,
        new: AccountCredentials,
    ) -> Result<Option<channel_account::Model>, EngineError> {
        require(by, Permission::ManageChannelAccounts)?;
        let now = Utc::now();
        let Some(before) = accounts::find_channel_account(self.db.conn(), id).await? else {
            return Ok(None);
        };
        let given = match &new {
            AccountCredentials::Wechat(_) => ChannelKind::Wechat,
            AccountCredentials::Alipay(_) => ChannelKind::Alipay,
        };
        if given != before.channel {
            return Err(EngineError::invalid(
                "channel",
                format!(
                    "account {id} is a {} account; its credentials are {}'s",
                    before.channel.as_str(),
                    before.channel.as_str()
                ),
            ));
        }
        let tx = self.db.begin_write().await?;
        let (replaced, secrets) = match new {
            AccountCredentials::Wechat(setup) => {
                let (account, cert_not_after) = checked_wechat(setup, now)?;
                let mut secrets = vec!["api_key"];
                if account.client_cert_pem.is_some() {
                    secrets.push("client_certificate");
                }
                let replaced = accounts::replace_wechat_credentials(
                    &tx,
                    &self.sealer,
                    id,
                    &account,
                    cert_not_after,
                    now,
                )
                .await?;
                (replaced, secrets)
            }
            AccountCredentials::Alipay(account) => {
                onboarding::check_alipay_account(&account)?;
                let replaced =
                    accounts::replace_alipay_credentials(&tx, &self.sealer, id, &account, now)
                        .await?;
                (replaced, vec!["app_private_key"])
            }
        };
        if !replaced {
            return Ok(None);
        }
        let after = accounts::find_channel_account(&tx, id)
            .await?
            .ok_or_else(|| EngineError::Internal(format!("channel account {id} vanished")))?;
        let mut detail = public_view(&before);
        if let Value::Object(map) = &mut detail {
            map.insert("secrets_replaced".to_owned(), json!(secrets));
        }
        self.audit_in(&tx, by, "channel_account.credentials", &after, detail, now)
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.merchant_setup_changed();
        self.channels.forget(id);
        Ok(Some(after))
    }

    /// The test call: proves account `id`'s credentials with the channel's harmless signed
    /// calls ([`nkpay_channels::Channel::probe`]: WeChat `downloadbill` of an old day, plus
    /// `querysubdevconfig` over mutual TLS with a client certificate; Alipay
    /// `alipay.trade.query` of a trade that does not exist), through the connector trades use,
    /// disabled accounts included. The exchanges go to the channel exchange log (no trade).
    /// A connector that cannot be built (a broken stored key or certificate) answers `ok:
    /// false` with code `NKP_CONFIG` rather than an error. `None` when there is no account
    /// `id`; [`EngineError::Forbidden`] unless `by` is a platform admin.
    pub async fn test(&self, by: &Actor, id: i64) -> Result<Option<ProbeResult>, EngineError> {
        require(by, Permission::ManageChannelAccounts)?;
        let Some(account) = accounts::find_channel_account(self.db.conn(), id).await? else {
            return Ok(None);
        };
        let config_failure = |e: &dyn std::fmt::Display| ProbeResult {
            ok: false,
            code: "NKP_CONFIG".to_owned(),
            message: format!("the account's connector cannot be built: {e}"),
        };
        let channel = match self.channels.get(id).await {
            Ok(channel) => channel,
            Err(e) => return Ok(Some(config_failure(&e))),
        };
        let recorded = match channel.probe().await {
            Ok(recorded) => recorded,
            Err(e) => return Ok(Some(config_failure(&e))),
        };
        let result = recorded.value;
        let outcome = format!(
            "test call: {} {}",
            if result.ok { "ok" } else { "not ok" },
            result.code
        );
        self.log_exchanges(None, account.channel, &recorded.exchanges, &outcome)
            .await;
        Ok(Some(result))
    }

    /// Appends `by`'s write on `row` to the audit log in `tx`: `before` (the row's public
    /// fields before, or null) → the row's public fields now.
    async fn audit_in(
        &self,
        tx: &impl sea_orm::ConnectionTrait,
        by: &Actor,
        action: &str,
        row: &channel_account::Model,
        before: Value,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        audit(
            tx,
            by,
            action,
            &format!("channel_account:{}", row.id),
            json!({ "before": before, "after": public_view(row) }),
            now,
        )
        .await
    }
}

/// The public fields of an account, as the audit log records them (never a secret).
fn public_view(row: &channel_account::Model) -> Value {
    json!({
        "channel": row.channel.as_str(),
        "name": row.name,
        "gateway_url": row.gateway_url,
        "is_default": row.is_default,
        "wx_mch_id": row.wx_mch_id,
        "wx_appid": row.wx_appid,
        "ali_app_id": row.ali_app_id,
        "ali_isv_pid": row.ali_isv_pid,
        "status": row.status.as_str(),
        "version": row.version,
        "cert_not_after": row.cert_not_after,
    })
}

/// `setup` as the store takes it, checked: onboarding's rules, and the client certificate
/// opened, its key proven to be the certificate's, and unexpired at `now`; with the
/// certificate's `notAfter`.
fn checked_wechat(
    setup: WechatAccountSetup,
    now: DateTime<Utc>,
) -> Result<(NewWechatAccount, Option<DateTime<Utc>>), EngineError> {
    let (cert_pem, key_pem, not_after) = match &setup.client_certificate {
        None => (None, None, None),
        Some(identity) => {
            let checked = identity.checked().map_err(config_field)?;
            if checked.facts.not_after <= now {
                let field = match identity {
                    ClientIdentity::Pem { .. } => "client_cert_pem",
                    ClientIdentity::Pkcs12 { .. } => "client_cert_p12",
                };
                return Err(EngineError::invalid(
                    field,
                    format!(
                        "the certificate expired at {} (notAfter, UTC); upload a current one",
                        checked.facts.not_after.to_rfc3339()
                    ),
                ));
            }
            (
                Some(Secret::new(checked.cert_pem)),
                Some(checked.key_pem),
                Some(checked.facts.not_after),
            )
        }
    };
    let account = NewWechatAccount {
        name: setup.name,
        gateway_url: setup.gateway_url,
        is_default: setup.is_default,
        appid: setup.appid,
        mch_id: setup.mch_id,
        api_key: setup.api_key,
        client_cert_pem: cert_pem,
        client_key_pem: key_pem,
    };
    onboarding::check_wechat_account(&account)?;
    Ok((account, not_after))
}
