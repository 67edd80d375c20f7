//! The platform's channel accounts as the operator manages them (issue 11, "Platform
//! operator"): register a WeChat Pay service-provider account or an Alipay ISV app (secrets
//! sealed at rest by the store, checked by [`crate::onboarding`]'s rules), list and read them.
//! Every registration is audited, never with a secret. Enabling/disabling, certificate expiry
//! and the test call are not here yet.

use nkpay_store::accounts::{self, NewAlipayAccount, NewWechatAccount};
use nkpay_store::entity::channel_account;
use serde_json::json;

use crate::admin_identity::{Actor, Permission, audit, require};
use crate::engine::service;
use crate::error::EngineError;
use crate::onboarding;

service!(
    /// Channel accounts (WeChat Pay service provider, Alipay ISV app) as the operator manages
    /// them.
    ChannelAccounts
);

impl ChannelAccounts {
    /// Registers a WeChat Pay service-provider account and audits it
    /// (`channel_account.create`). [`EngineError::Invalid`] as
    /// [`onboarding::register_wechat_account`] says; [`EngineError::Forbidden`] unless `by` is
    /// a platform admin.
    pub async fn create_wechat(
        &self,
        by: &Actor,
        account: NewWechatAccount,
    ) -> Result<channel_account::Model, EngineError> {
        require(by, Permission::ManageChannelAccounts)?;
        let row = onboarding::register_wechat_account(&self.db, &self.sealer, &account).await?;
        self.audit_created(by, &row).await?;
        Ok(row)
    }

    /// Registers an Alipay ISV app and audits it (`channel_account.create`).
    /// [`EngineError::Invalid`] as [`onboarding::register_alipay_account`] says;
    /// [`EngineError::Forbidden`] unless `by` is a platform admin.
    pub async fn create_alipay(
        &self,
        by: &Actor,
        account: NewAlipayAccount,
    ) -> Result<channel_account::Model, EngineError> {
        require(by, Permission::ManageChannelAccounts)?;
        let row = onboarding::register_alipay_account(&self.db, &self.sealer, &account).await?;
        self.audit_created(by, &row).await?;
        Ok(row)
    }

    /// Every channel account, oldest first (rows with sealed secrets: the caller shows none).
    /// [`EngineError::Forbidden`] for a role that reads none.
    pub async fn list(&self, by: &Actor) -> Result<Vec<channel_account::Model>, EngineError> {
        require(by, Permission::ReadChannelAccounts)?;
        Ok(accounts::list_channel_accounts(self.db.conn()).await?)
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

    // Audited after the insert, not in its transaction: the onboarding functions the demo
    // seeding shares write on their own connection.
    async fn audit_created(
        &self,
        by: &Actor,
        row: &channel_account::Model,
    ) -> Result<(), EngineError> {
        audit(
            self.db.conn(),
            by,
            "channel_account.create",
            &format!("channel_account:{}", row.id),
            json!({
                "before": null,
                "after": {
                    "channel": row.channel.as_str(),
                    "name": row.name,
                    "wx_mch_id": row.wx_mch_id,
                    "wx_appid": row.wx_appid,
                    "ali_app_id": row.ali_app_id,
                    "status": row.status.as_str(),
                },
            }),
            chrono::Utc::now(),
        )
        .await
    }
}
