//! The engine: one value per process holding the services a reader finds by name —
//! [`Callers`], [`Payments`], [`Refunds`], [`ChannelNotifies`], [`AdminIdentity`],
//! [`ServiceProviders`], [`ChannelAccounts`] — over one
//! shared [`Context`].

use std::ops::Deref;
use std::sync::Arc;

use crate::admin_identity::AdminIdentity;
use crate::businesses::Businesses;
use crate::callers::Callers;
use crate::channel_accounts::ChannelAccounts;
use crate::channel_notifies::ChannelNotifies;
use crate::console::Console;
use crate::context::{Context, EngineParts};
use crate::error::EngineError;
use crate::merchants::Merchants;
use crate::payments::Payments;
use crate::reconciliation::Reconciliation;
use crate::refunds::Refunds;
use crate::service_providers::ServiceProviders;
use crate::signing_keys::SigningKeys;
use crate::statements::Statements;

/// The engine's services over their shared context.
#[derive(Debug)]
pub struct Engine {
    ctx: Arc<Context>,
    callers: Callers,
    payments: Payments,
    refunds: Refunds,
    channel_notifies: ChannelNotifies,
    admin_identity: AdminIdentity,
    service_providers: ServiceProviders,
    channel_accounts: ChannelAccounts,
    merchants: Merchants,
    businesses: Businesses,
    statements: Statements,
    reconciliation: Reconciliation,
    console: Console,
    signing_keys: SigningKeys,
}

impl Engine {
    /// Builds the context and its services. Fails with [`EngineError::Invalid`] (`10000000`
    /// at an API edge) naming `public_base_url` when that is not an absolute http(s) URL
    /// without a query: the channels' notify URLs are built from it.
    pub fn new(parts: EngineParts) -> Result<Engine, EngineError> {
        let ctx = Arc::new(Context::new(parts)?);
        let payments = Payments::new(ctx.clone());
        let refunds = Refunds::new(ctx.clone());
        Ok(Engine {
            callers: Callers::new(ctx.clone()),
            channel_notifies: ChannelNotifies::new(ctx.clone(), payments.clone(), refunds.clone()),
            admin_identity: AdminIdentity::new(ctx.clone()),
            service_providers: ServiceProviders::new(ctx.clone()),
            channel_accounts: ChannelAccounts::new(ctx.clone()),
            merchants: Merchants::new(ctx.clone()),
            businesses: Businesses::new(ctx.clone()),
            statements: Statements::new(ctx.clone()),
            reconciliation: Reconciliation::new(ctx.clone()),
            console: Console::new(ctx.clone()),
            signing_keys: SigningKeys::new(ctx.clone()),
            payments,
            refunds,
            ctx,
        })
    }

    /// Who calls the merchant API, and for which merchant.
    pub fn callers(&self) -> &Callers {
        &self.callers
    }

    /// Trades: create, query, close, and every channel result about a payment.
    pub fn payments(&self) -> &Payments {
        &self.payments
    }

    /// Refunds: create, query, and every channel result about a refund.
    pub fn refunds(&self) -> &Refunds {
        &self.refunds
    }

    /// The channels' asynchronous notifies.
    pub fn channel_notifies(&self) -> &ChannelNotifies {
        &self.channel_notifies
    }

    /// Admin users, API tokens, who a bearer token is, and the audit log.
    pub fn admin_identity(&self) -> &AdminIdentity {
        &self.admin_identity
    }

    /// Service providers as the platform operator manages them.
    pub fn service_providers(&self) -> &ServiceProviders {
        &self.service_providers
    }

    /// The platform's channel accounts as the operator manages them.
    pub fn channel_accounts(&self) -> &ChannelAccounts {
        &self.channel_accounts
    }

    /// The reverse proxies whose `X-Forwarded-For` the admin API believes
    /// (`admin.trusted_proxies`).
    pub fn trusted_proxies(&self) -> &crate::config::TrustedProxies {
        &self.ctx.config.admin_trusted_proxies
    }

    /// Merchants and their onboarding applications: apply, review, freeze, read.
    pub fn merchants(&self) -> &Merchants {
        &self.merchants
    }

    /// A merchant's businesses (busi/open, busi/config) and their WeChat bindings.
    pub fn businesses(&self) -> &Businesses {
        &self.businesses
    }

    /// Statement (对账单) files: generate a day, find them for `filequery`, signed links.
    pub fn statements(&self) -> &Statements {
        &self.statements
    }

    /// Reconciliation with the channels' bills: runs, differences, healing, incidents.
    pub fn reconciliation(&self) -> &Reconciliation {
        &self.reconciliation
    }

    /// The console's reads (trades, refunds, timelines, dashboard, users, tokens, audit log)
    /// and its operator refund.
    pub fn console(&self) -> &Console {
        &self.console
    }

    /// The platform's signing keys: rotation, a caller's key switched, the listings.
    pub fn signing_keys(&self) -> &SigningKeys {
        &self.signing_keys
    }
}

impl Deref for Engine {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.ctx
    }
}

/// Declares a service type over the shared [`Context`]: `Clone`, built with `new(ctx)`, and
/// reaching the context's fields and lookups through `Deref`.
macro_rules! service {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name {
            ctx: std::sync::Arc<$crate::context::Context>,
        }

        impl $name {
            /// The service over `ctx`; built once by [`crate::Engine::new`].
            pub(crate) fn new(ctx: std::sync::Arc<$crate::context::Context>) -> Self {
                $name { ctx }
            }
        }

        impl std::ops::Deref for $name {
            type Target = $crate::context::Context;

            fn deref(&self) -> &$crate::context::Context {
                &self.ctx
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}
pub(crate) use service;
