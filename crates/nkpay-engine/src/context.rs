//! What every engine service shares (database, sealer, id generator, platform signing key,
//! channel connectors, configuration), built once per process, and the lookups several services
//! make (the original trade a request names, a trade's connector, the exchange history).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nkpay_core::seq_id::SeqIdGenerator;
use nkpay_crypto::sealed::SecretSealer;
use nkpay_store::Db;
use url::Url;

use crate::channel_registry::ChannelRegistry;
use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::platform_keys::PlatformKeys;

/// What the engine is built from.
pub struct EngineParts {
    /// The database (SQLite or PostgreSQL).
    pub db: Db,
    /// Opens the channel accounts' sealed secrets.
    pub sealer: Arc<SecretSealer>,
    /// Unique per running node: part of every `nkp_seq_id` and the owner of job claims.
    pub node_id: u16,
    /// The platform's key ring, signing each caller's responses and notifications with its
    /// key ([`crate::platform_keys::load_or_create`]; [`PlatformKeys::fixed`] for one key).
    pub signer: PlatformKeys,
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
    pub(crate) signer: PlatformKeys,
    pub(crate) callback_base: String,
    pub(crate) config: EngineConfig,
    pub(crate) channels: ChannelRegistry,
    /// Callers' public keys as parsed, by their stored text (see [`crate::callers`]).
    pub(crate) caller_keys: crate::callers::ParsedKeys,
    /// Callers and their merchants as read, reused for `config.merchant_refresh` (see
    /// [`crate::Callers::verify_caller_for`]).
    pub(crate) caller_cache: crate::callers::CallerCache,
    /// The rows new trades' routes were resolved from, reused for `config.merchant_refresh`
    /// (see `payments/routing.rs`, `Context::resolve_route`).
    pub(crate) route_cache: crate::payments::routing::RouteCache,
    /// The channel exchange history's batch writer (`exchange_log.rs`).
    pub(crate) exchange_log: crate::exchange_log::ExchangeLog,
    pub(crate) job_owner: String,
    instance_id: String,
    stopping: AtomicBool,
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
    /// Builds the context: refuses a `public_base_url` that is not an absolute http(s) URL
    /// without a query ([`EngineError::Invalid`] naming it), since the channels append the
    /// callback paths to it, and prepares the connector registry.
    pub(crate) fn new(parts: EngineParts) -> Result<Context, EngineError> {
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
        // Random per process: a restarted node is a new instance, so it never takes the claims
        // its previous run left for its own.
        let instance_id = hex::encode(rand::random::<[u8; 8]>());
        let channels = ChannelRegistry::new(
            parts.db.clone(),
            parts.sealer.clone(),
            parts.config.channels.clone(),
            parts.config.wechat_close_min_age,
            &base,
        );
        let exchange_log = crate::exchange_log::ExchangeLog::start(parts.db.clone());
        let caller_cache = crate::callers::CallerCache::new(
            parts.config.merchant_refresh,
            crate::callers::CALLER_CACHE_MAX,
        );
        let route_cache = crate::payments::routing::RouteCache::new(
            parts.config.merchant_refresh,
            crate::payments::routing::ROUTE_CACHE_MAX,
        );
        Ok(Context {
            db: parts.db,
            exchange_log,
            sealer: parts.sealer,
            seq: SeqIdGenerator::new(parts.node_id),
            signer: parts.signer,
            callback_base: base,
            config: parts.config,
            channels,
            caller_keys: crate::callers::ParsedKeys::default(),
            caller_cache,
            route_cache,
            job_owner: format!("node-{}-{instance_id}", parts.node_id),
            instance_id,
            stopping: AtomicBool::new(false),
        })
    }

    /// The database (the api's admin console and health check share it).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// This process's instance id (16 hex digits, random per process): it holds the node's
    /// `node_leases` row ([`crate::node_identity::register`]) and is part of [`Self::job_owner`].
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The owner this node stamps on the rows it claims (trades and refunds to query,
    /// notifications to deliver): `node-<node_id>-<instance_id>`, so a restarted node never
    /// mistakes its previous run's claims for its own.
    pub fn job_owner(&self) -> &str {
        &self.job_owner
    }

    /// Stops this node taking work: job rounds claim nothing more and give back the claimed
    /// rows they have not started on (graceful shutdown, or a lost node identity).
    pub fn stop_taking_work(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether [`Self::stop_taking_work`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Empties this node's caches of a merchant's setup — merchant API callers and their
    /// merchants ([`crate::Callers::verify_caller_for`]) and the rows of new trades' routes
    /// (`payments/routing.rs`): every engine write that changes them (a provider's status or
    /// keys; a merchant's review or freeze; a business opened, refused, authorized or given its
    /// `sub_mch_id`; an appid binding's outcome; a channel account added, disabled or given new
    /// credentials) calls this once it has committed, so the change takes effect on this node
    /// at once (on the others within [`crate::EngineConfig::merchant_refresh`]).
    pub(crate) fn merchant_setup_changed(&self) {
        self.caller_cache.forget_all();
        self.route_cache.forget_all();
    }
    /// The platform's key ring: [`PlatformKeys::signer_for`] gives the key that signs a
    /// caller's merchant API replies and notifications (its id goes out as `X-Nkp-Key-Id`).
    pub fn signer(&self) -> &PlatformKeys {
        &self.signer
    }
}

/// The channel callback endpoints this platform serves; their URLs go upstream with every
/// order and refund, so the channel knows where to send its notifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackPath {
    /// WeChat Pay payment results (`notify_url` of `unifiedorder`, WeChat Pay v2).
    WechatPay,
    /// WeChat Pay refund results (`notify_url` of `refund`; WeChat Pay v2 encrypts their
    /// `req_info` with AES-256-ECB under the MD5 of the account's API key).
    WechatRefund,
    /// Alipay trade notifies, payments and refunds alike: Alipay sends a trade's refund
    /// notifies to its payment `notify_url`.
    Alipay,
}

impl CallbackPath {
    /// The route, relative to `public_base_url`.
    pub fn path(self) -> &'static str {
        match self {
            CallbackPath::WechatPay => "/callback/wechat/pay",
            CallbackPath::WechatRefund => "/callback/wechat/refund",
            CallbackPath::Alipay => "/callback/alipay",
        }
    }

    /// The channel that posts here.
    pub(crate) fn channel(self) -> nkpay_core::trade_type::ChannelKind {
        use nkpay_core::trade_type::ChannelKind;
        match self {
            CallbackPath::WechatPay | CallbackPath::WechatRefund => ChannelKind::Wechat,
            CallbackPath::Alipay => ChannelKind::Alipay,
        }
    }

    /// What the inbound message log calls a notify that arrived here.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            CallbackPath::WechatPay => "pay",
            CallbackPath::WechatRefund => "refund",
            CallbackPath::Alipay => "trade",
        }
    }
}
