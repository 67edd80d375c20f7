//! Alipay: the ISV authorization (Alipay open platform, 第三方应用授权): the authorization link
//! with a random single-use `state`, the callback that trades the `app_auth_code` for the
//! merchant's `app_auth_token` (`alipay.open.auth.token.app`), and the refresh of tokens about
//! to expire.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use nkpay_channels::alipay::AppAuthGrant;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::merchant_channels::{self, AlipayGrant};
use nkpay_store::notifications;
use rand::Rng;
use serde_json::json;

use super::wechat::business_notice;
use super::{BusinessView, Businesses};
use crate::admin_identity::{Actor, audit, token_hash};
use crate::error::EngineError;

/// The callback route the authorization page sends the merchant back to, relative to
/// `public_base_url`.
pub const ALIPAY_APP_AUTH_CALLBACK: &str = "/callback/alipay/app-auth";

/// How long an authorization link works, in seconds (24 hours): long enough for the merchant
/// to open it, short enough that a forgotten or leaked link cannot bind an Alipay account later.
pub const AUTH_LINK_TTL_SECS: i64 = 24 * 3600;

/// What one refresh round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshReport {
    /// Grants renewed.
    pub refreshed: usize,
    /// Grants Alipay did not renew (logged; the business keeps its current token until it
    /// expires).
    pub failed: usize,
}

fn grant_of(g: AppAuthGrant, now: DateTime<Utc>) -> AlipayGrant {
    AlipayGrant {
        app_auth_token: g.app_auth_token,
        app_refresh_token: g.app_refresh_token,
        auth_app_id: g.auth_app_id,
        seller_id: g.user_id,
        expires_at: now + ChronoDuration::seconds(g.expires_in_secs.max(0)),
        refresh_expires_at: now + ChronoDuration::seconds(g.re_expires_in_secs.max(0)),
    }
}

impl Businesses {
    /// The app-to-app authorization page for the merchant's Alipay business (its connector's
    /// `app_to_app_auth_url`, `redirect_uri` = `<public_base_url>/callback/alipay/app-auth`,
    /// `state` 64 random hex characters stored hashed, valid [`AUTH_LINK_TTL_SECS`]; a newer
    /// link replaces an unused one),
    /// audited (`business.alipay.auth_link`, no state). `None` when the merchant is unknown
    /// (or another provider's, for an agent admin). [`EngineError::Invalid`] naming `channel`
    /// when busi/open did not ask for Alipay; [`EngineError::Forbidden`] for finance and
    /// read-only.
    pub async fn alipay_auth_link(
        &self,
        by: &Actor,
        mer_id: &str,
    ) -> Result<Option<String>, EngineError> {
        if self.managed_merchant(by, mer_id).await?.is_none() {
            return Ok(None);
        }
        let business = self.business_of(mer_id, ChannelKind::Alipay).await?;
        let account = self.business_account(&business).await?;
        let connector = self.alipay_connector(&account)?;
        let state = hex::encode(rand::thread_rng().r#gen::<[u8; 32]>());
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        let expires_at = now + ChronoDuration::seconds(AUTH_LINK_TTL_SECS);
        merchant_channels::set_auth_state(&tx, business.id, &token_hash(&state), expires_at, now)
            .await?;
        audit(
            &tx,
            by,
            "business.alipay.auth_link",
            &format!("merchant:{mer_id}"),
            json!({"channel_account_id": account.id}),
            now,
        )
        .await?;
        tx.commit().await.map_err(nkpay_store::StoreError::from)?;
        self.merchant_setup_changed();
        let redirect_uri = format!("{}{ALIPAY_APP_AUTH_CALLBACK}", self.callback_base);
        Ok(Some(connector.app_to_app_auth_url(&redirect_uri, &state)))
    }

    /// The authorization callback: `state` must be a link's unused, unexpired state (used up
    /// here, so a second callback with it is refused), `app_id` the ISV app the link was for.
    /// The `app_auth_code` is traded for the merchant's grant; its tokens are stored sealed,
    /// `user_id` as the seller id, the expiries, and the business becomes `S` and is notified.
    /// [`EngineError::Invalid`] naming `state` (unknown, used or expired) or `app_id`; a refused
    /// or unanswered exchange is [`EngineError::Channel`] (the business stays as it was, its
    /// reason noted; a new link is needed).
    pub async fn alipay_authorized(
        &self,
        app_id: &str,
        app_auth_code: &str,
        state: &str,
    ) -> Result<BusinessView, EngineError> {
        if state.is_empty() || app_auth_code.is_empty() {
            return Err(EngineError::invalid(
                "state",
                "the authorization callback needs state and app_auth_code",
            ));
        }
        let now = Utc::now();
        let business = merchant_channels::take_auth_state(self.db.conn(), &token_hash(state), now)
            .await?
            .ok_or_else(|| {
                EngineError::invalid(
                    "state",
                    "unknown, already used or expired authorization state",
                )
            })?;
        let account = self.business_account(&business).await?;
        if account.ali_app_id.as_deref() != Some(app_id) {
            return Err(EngineError::invalid(
                "app_id",
                "is not the ISV app the authorization link was made for",
            ));
        }
        let connector = self.alipay_connector(&account)?;
        let grant = match connector.exchange_app_auth_code(app_auth_code).await {
            Ok(rec) => rec.value,
            Err(e) => {
                tracing::warn!(mer_id = %business.mer_id, error = %e, "app_auth_code exchange failed");
                let reason = format!("authorization not completed: {e}");
                merchant_channels::set_state_reason(
                    self.db.conn(),
                    business.id,
                    &reason,
                    Utc::now(),
                )
                .await?;
                self.merchant_setup_changed();
                return Err(EngineError::Channel(e));
            }
        };
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        let after = merchant_channels::store_alipay_grant(
            &tx,
            &self.sealer,
            business.id,
            &grant_of(grant, now),
            now,
        )
        .await?
        .ok_or_else(|| EngineError::Internal("authorized business disappeared".into()))?;
        audit(
            &tx,
            &Actor::local("alipay-app-auth"),
            "business.alipay.authorized",
            &format!("merchant:{}", after.mer_id),
            json!({
                "before": {"state": business.state.as_str(), "auth_app_id": business.ali_auth_app_id},
                "after": {"state": after.state.as_str(), "auth_app_id": after.ali_auth_app_id, "seller_id": after.ali_seller_id},
            }),
            now,
        )
        .await?;
        if let Some(n) = business_notice(&after, now)? {
            notifications::enqueue(&tx, &n, now).await?;
        }
        tx.commit().await.map_err(nkpay_store::StoreError::from)?;
        self.merchant_setup_changed();
        Ok(BusinessView::from(&after))
    }

    /// Renews every open Alipay grant whose `app_auth_token` expires before `now + within`
    /// (`alipay.open.auth.token.app`, `grant_type=refresh_token`); the new tokens replace the
    /// old ones sealed. Cheap when nothing is due (one indexed read). A failure is logged and
    /// counted; the next round tries again.
    pub async fn refresh_due(
        &self,
        now: DateTime<Utc>,
        within: ChronoDuration,
    ) -> Result<RefreshReport, EngineError> {
        let due = merchant_channels::alipay_grants_expiring(self.db.conn(), now + within).await?;
        let mut report = RefreshReport::default();
        for business in due {
            let result = async {
                let refresh = merchant_channels::open_app_refresh_token(&self.sealer, &business)?
                    .ok_or_else(|| EngineError::Internal("no refresh token".into()))?;
                let account = self.business_account(&business).await?;
                let connector = self.alipay_connector(&account)?;
                let grant = connector
                    .refresh_app_auth_token(&refresh)
                    .await
                    .map_err(EngineError::Channel)?
                    .value;
                let at = Utc::now();
                merchant_channels::store_alipay_grant(
                    self.db.conn(),
                    &self.sealer,
                    business.id,
                    &grant_of(grant, at),
                    at,
                )
                .await?;
                self.merchant_setup_changed();
                Ok::<(), EngineError>(())
            }
            .await;
            match result {
                Ok(()) => report.refreshed += 1,
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(mer_id = %business.mer_id, error = %e, "app_auth_token refresh failed");
                }
            }
        }
        Ok(report)
    }
}
