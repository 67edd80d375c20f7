//! What every engine service shares (database, sealer, id generator, platform signing key,
//! channel connectors, configuration), built once per process, and the lookups several services
//! make (the original trade a request names, a trade's connector, the exchange history).

use std::sync::Arc;

use nkpay_core::seq_id::SeqIdGenerator;
use nkpay_crypto::sealed::SecretSealer;
use nkpay_store::Db;
use url::Url;

use crate::channel_registry::ChannelRegistry;
use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::platform_keys::PlatformSigner;

/// What the engine is built from.
pub struct EngineParts {
    /// The database (SQLite or PostgreSQL).
    pub db: Db,
    /// Opens the channel accounts' sealed secrets.
    pub sealer: Arc<SecretSealer>,
    /// Unique per running node: part of every `nkp_seq_id` and the owner of job claims.
    pub node_id: u16,
    /// The platform key signing responses and notifications
    /// ([`crate::platform_keys::load_or_create`]).
    pub signer: PlatformSigner,
    /// How the channels reach this platform (`public_base_url`): the notify URLs sent upstream
    /// are `{base}/callback/wechat/pay`, `{base}/callback/wechat/refund`, `{base}/callback/alipay`.
    pub public_base_url: String,
    /// Timings, policies and connector settings.
    pub config: EngineConfig,
}

/// The shared context of the engine's services; each service reaches it through `Deref`.
pub struct Context {
    pub(crate) db: Db,
    pub(crate) sealer: Arc<SecretSealer>,
    pub(crate) seq: SeqIdGenerator,
    pub(crate) signer: PlatformSigner,
    pub(crate) callback_base: String,
    pub(crate) config: EngineConfig,
    pub(crate) channels: ChannelRegistry,
    pub(crate) job_owner: String,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("node_id", &self.seq.node_id())
            .field("callback_base", &self.callback_base)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Builds the context: checks `public_base_url` (`10000000`-style error naming it when it is
    /// not an absolute http(s) URL without a query) and prepares the connector registry.
    pub fn new(parts: EngineParts) -> Result<Context, EngineError> {
        let base = parts
            .public_base_url
            .trim()
            .trim_end_matches('/')
            .to_owned();
        let parsed = Url::parse(&base).map_err(|e| {
            EngineError::invalid("public_base_url", format!("must be an absolute URL: {e}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
            return Err(EngineError::invalid(
                "public_base_url",
                "must be an http(s) URL without a query string (channels append callback paths)",
            ));
        }
        let channels = ChannelRegistry::new(
            parts.db.clone(),
            parts.sealer.clone(),
            parts.config.channels.clone(),
            parts.config.wechat_close_min_age,
            &base,
        );
        Ok(Context {
            db: parts.db,
            sealer: parts.sealer,
            seq: SeqIdGenerator::new(parts.node_id),
            signer: parts.signer,
            callback_base: base,
            config: parts.config,
            channels,
            job_owner: format!("node-{}", parts.node_id),
        })
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The platform key signing replies and notifications.
    pub fn signer(&self) -> &PlatformSigner {
        &self.signer
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Seals and opens secrets at rest.
    pub fn sealer(&self) -> &SecretSealer {
        &self.sealer
    }

    /// The channel connectors, one per platform channel account.
    pub fn channels(&self) -> &ChannelRegistry {
        &self.channels
    }
}

/// The channel callback endpoints this platform serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackPath {
    WechatPay,
    WechatRefund,
    Alipay,
}

impl CallbackPath {
    pub const ALL: [CallbackPath; 3] = [
        CallbackPath::WechatPay,
        CallbackPath::WechatRefund,
        CallbackPath::Alipay,
    ];

    pub fn path(self) -> &'static str {
        match self {
            CallbackPath::WechatPay => "/callback/wechat/pay",
            CallbackPath::WechatRefund => "/callback/wechat/refund",
            CallbackPath::Alipay => "/callback/alipay",
        }
    }

    pub fn channel(self) -> nkpay_core::trade_type::ChannelKind {
        use nkpay_core::trade_type::ChannelKind;
        match self {
            CallbackPath::WechatPay | CallbackPath::WechatRefund => ChannelKind::Wechat,
            CallbackPath::Alipay => ChannelKind::Alipay,
        }
    }

    /// What the inbound message log calls a notify that arrived here.
    pub fn kind(self) -> &'static str {
        match self {
            CallbackPath::WechatPay => "pay",
            CallbackPath::WechatRefund => "refund",
            CallbackPath::Alipay => "trade",
        }
    }
}
