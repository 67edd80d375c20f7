//! The platform operator's service providers (issue 11, "Platform operator"): register one
//! with its RSA public key — or have a key pair generated, the private key handed back once and
//! never stored —, list and read them, suspend and activate them. A suspended provider's
//! merchant API calls are refused `10000002` by [`crate::Callers`] (its status must be
//! active). Every write is audited in the transaction of the change (who, what, before →
//! after, from which address). Each provider may have a fee-rate floor per payment method
//! (integer basis points), the lowest rate its merchants may be opened at.

use chrono::Utc;
use nkpay_core::secret::Secret;
use nkpay_core::trade_type::TradeType;
use nkpay_crypto::rsa_keys::RsaPrivateKey;
use nkpay_store::entity::{service_provider, service_provider_fee_floor};
use nkpay_store::fee_floors;
use nkpay_store::kinds::{AdminRole, RecordStatus};
use nkpay_store::merchants;
use serde_json::json;

use crate::admin_identity::{Actor, Permission, audit, require};
use crate::engine::service;
use crate::error::EngineError;
use crate::onboarding::{ServiceProviderSetup, checked_service_provider};

/// The key a new service provider verifies its requests with.
#[derive(Debug, Clone)]
pub enum ProviderKey {
    /// Its own RSA public key (PEM or base64 SPKI/PKCS#1).
    Registered(String),
    /// A 2048-bit key pair generated here; the private key is in the answer only.
    Generate,
}

/// A service provider to register.
#[derive(Debug, Clone)]
pub struct NewProvider {
    /// 1 to 32 letters or digits.
    pub sys_id: String,
    /// The product it signs requests for (`product_id`).
    pub product_id: String,
    /// Its name, for the console.
    pub name: String,
    /// Registered or generated.
    pub key: ProviderKey,
}

/// A registered service provider; with a generated key, its private key (PKCS#8 PEM), shown
/// this once and stored nowhere.
#[derive(Debug)]
pub struct CreatedProvider {
    /// The stored row.
    pub provider: service_provider::Model,
    /// The generated private key, when one was asked for.
    pub private_key: Option<Secret<String>>,
}

service!(
    /// Service providers (agents) as the platform operator manages them.
    ServiceProviders
);

impl ServiceProviders {
    /// Registers a service provider and audits it (`service_provider.create`), in one
    /// transaction. [`EngineError::Invalid`] names `sys_id` (shape, or taken), `product_id`,
    /// `name` or `public_key`; [`EngineError::Forbidden`] unless `by` is a platform admin.
    pub async fn create(
        &self,
        by: &Actor,
        new: NewProvider,
    ) -> Result<CreatedProvider, EngineError> {
        require(by, Permission::ManageServiceProviders)?;
        let (public_key, private_key) = match new.key {
            ProviderKey::Registered(pem) => (pem, None),
            ProviderKey::Generate => {
                let key = tokio::task::spawn_blocking(RsaPrivateKey::generate_2048)
                    .await
                    .map_err(|e| EngineError::Internal(format!("key generation task: {e}")))?
                    .map_err(|e| EngineError::Internal(format!("key generation: {e}")))?;
                (
                    key.public_key().to_spki_pem(),
                    Some(Secret::new(key.to_pkcs8_pem())),
                )
            }
        };
        let row = checked_service_provider(&ServiceProviderSetup {
            sys_id: new.sys_id,
            product_id: new.product_id,
            name: new.name,
            public_key,
        })?;
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        let provider = match merchants::insert_service_provider(&tx, &row, now).await {
            Err(e) if e.is_duplicate() => return Err(EngineError::invalid("sys_id", "is taken")),
            other => other?,
        };
        audit(
            &tx,
            by,
            "service_provider.create",
            &target(&provider.sys_id),
            json!({ "before": null, "after": summary(&provider) }),
            now,
        )
        .await?;
        tx.commit().await.map_err(nkpay_store::StoreError::from)?;
        Ok(CreatedProvider {
            provider,
            private_key,
        })
    }

    /// The service providers `by` may see: all of them, or an agent admin's own.
    /// [`EngineError::Forbidden`] for a role that reads none.
    pub async fn list(&self, by: &Actor) -> Result<Vec<service_provider::Model>, EngineError> {
        require(by, Permission::ReadServiceProviders)?;
        let all = merchants::list_service_providers(self.db.conn()).await?;
        Ok(all.into_iter().filter(|p| sees(by, &p.sys_id)).collect())
    }

    /// One service provider; `None` when there is none with `sys_id` or `by` is an agent
    /// admin of another one. [`EngineError::Forbidden`] for a role that reads none.
    pub async fn get(
        &self,
        by: &Actor,
        sys_id: &str,
    ) -> Result<Option<service_provider::Model>, EngineError> {
        require(by, Permission::ReadServiceProviders)?;
        if !sees(by, sys_id) {
            return Ok(None);
        }
        Ok(merchants::find_service_provider(self.db.conn(), sys_id).await?)
    }

    /// Suspends ([`RecordStatus::Disabled`]) or activates a service provider and audits it
    /// (`service_provider.suspend` / `.activate`, before → after status). `None` when there is
    /// no such provider; [`EngineError::Forbidden`] unless `by` is a platform admin.
    pub async fn set_status(
        &self,
        by: &Actor,
        sys_id: &str,
        status: RecordStatus,
    ) -> Result<Option<service_provider::Model>, EngineError> {
        require(by, Permission::ManageServiceProviders)?;
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        let Some(before) = merchants::find_service_provider(&tx, sys_id).await? else {
            return Ok(None);
        };
        merchants::set_service_provider_status(&tx, sys_id, status, now).await?;
        let action = match status {
            RecordStatus::Active => "service_provider.activate",
            RecordStatus::Disabled => "service_provider.suspend",
        };
        audit(
            &tx,
            by,
            action,
            &target(sys_id),
            json!({
                "before": { "status": before.status.as_str() },
                "after": { "status": status.as_str() },
            }),
            now,
        )
        .await?;
        tx.commit().await.map_err(nkpay_store::StoreError::from)?;
        Ok(Some(service_provider::Model {
            status,
            updated_at: now,
            ..before
        }))
    }
}

/// The highest fee rate, in basis points (100%).
pub const MAX_FEE_RATE_BP: i32 = 10_000;

impl ServiceProviders {
    /// `sys_id`'s fee-rate floors, by payment method; `None` when there is no such provider
    /// or `by` is an agent admin of another one. [`EngineError::Forbidden`] for a role that
    /// reads no providers.
    pub async fn fee_floors(
        &self,
        by: &Actor,
        sys_id: &str,
    ) -> Result<Option<Vec<service_provider_fee_floor::Model>>, EngineError> {
        if self.get(by, sys_id).await?.is_none() {
            return Ok(None);
        }
        Ok(Some(fee_floors::of(self.db.conn(), sys_id).await?))
    }

    /// Sets `sys_id`'s floors for the payment methods named (others keep theirs) and audits
    /// it (`service_provider.fee_floors`, before → after in basis points), in one transaction.
    /// Returns all its floors after; `None` when there is no such provider.
    /// [`EngineError::Invalid`] names `fee_floors.<trade_type>` for a rate outside 0 to
    /// [`MAX_FEE_RATE_BP`]; [`EngineError::Forbidden`] unless `by` is a platform admin.
    pub async fn set_fee_floors(
        &self,
        by: &Actor,
        sys_id: &str,
        floors: &[(TradeType, i32)],
    ) -> Result<Option<Vec<service_provider_fee_floor::Model>>, EngineError> {
        require(by, Permission::ManageServiceProviders)?;
        for (trade_type, bp) in floors {
            if !(0..=MAX_FEE_RATE_BP).contains(bp) {
                return Err(EngineError::invalid(
                    format!("fee_floors.{}", trade_type.as_str()),
                    format!("must be 0 to {MAX_FEE_RATE_BP} basis points (0.00 to 100.00%)"),
                ));
            }
        }
        let now = Utc::now();
        let tx = self.db.begin_write().await?;
        if merchants::find_service_provider(&tx, sys_id)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let before = fee_floors::of(&tx, sys_id).await?;
        for (trade_type, bp) in floors {
            fee_floors::set(&tx, sys_id, *trade_type, *bp, now).await?;
        }
        let after = fee_floors::of(&tx, sys_id).await?;
        audit(
            &tx,
            by,
            "service_provider.fee_floors",
            &target(sys_id),
            json!({ "before": floors_json(&before), "after": floors_json(&after) }),
            now,
        )
        .await?;
        tx.commit().await.map_err(nkpay_store::StoreError::from)?;
        Ok(Some(after))
    }
}

fn floors_json(rows: &[service_provider_fee_floor::Model]) -> serde_json::Value {
    rows.iter()
        .map(|r| (r.trade_type.as_str().to_owned(), json!(r.floor_bp)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// An agent admin sees its own service provider only; the other reading roles see all.
fn sees(by: &Actor, sys_id: &str) -> bool {
    by.role != AdminRole::AgentAdmin || by.sys_id.as_deref() == Some(sys_id)
}

fn target(sys_id: &str) -> String {
    format!("service_provider:{sys_id}")
}

/// What the audit log keeps of a provider: never a key.
fn summary(p: &service_provider::Model) -> serde_json::Value {
    json!({
        "sys_id": p.sys_id,
        "product_id": p.product_id,
        "name": p.name,
        "status": p.status.as_str(),
    })
}
