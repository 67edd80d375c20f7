//! A whole platform for end-to-end tests, over real HTTP on loopback: a migrated test database,
//! the embedded channel simulators, the engine seeded with channel accounts, service providers
//! and merchants, and the API served by actix on 127.0.0.1:0. Requests are signed the way a
//! merchant's SDK signs them; every reply's signature is checked.

#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use chrono::Utc;
use nkpay_api::ApiState;
use nkpay_core::secret::Secret;
use nkpay_crypto::envelope::{self, KeyOrder};
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use nkpay_crypto::sealed::SecretSealer;
use nkpay_engine::notifications::url_guard::UrlPolicy;
use nkpay_engine::onboarding::{
    self, AlipayBusiness, AppidKind, BoundAppid, MerchantKind, MerchantSetup, NewAlipayAccount,
    NewWechatAccount, ServiceProviderSetup, WechatBusiness,
};
use nkpay_engine::{Engine, EngineConfig, EngineParts, platform_keys};
use nkpay_sandbox::{Faults, RunningSandbox, Sandbox, SandboxConfig, StateSnapshot};
use nkpay_store::Db;
use nkpay_store::entity::trade;
use nkpay_store::kinds::RecordStatus;
use nkpay_store::testing::{TestDb, databases};
use serde_json::{Map, Value, json};

pub const SP: &str = "NKSP0001";
pub const OTHER_SP: &str = "NKSP0002";
pub const PRODUCT: &str = "NKPAY";
/// Coffee shop: WeChat (official account + mini-program bound) and Alipay.
pub const MER_A: &str = "6666000100000001";
/// Book shop: WeChat only; calls the API itself with its own key.
pub const MER_B: &str = "6666000100000002";
/// Disabled.
pub const MER_OFF: &str = "6666000100000003";
/// Onboarded, nothing opened.
pub const MER_BARE: &str = "6666000100000004";
/// Belongs to the other service provider.
pub const MER_OTHER: &str = "6666000200000001";

pub const MP_APPID: &str = "wx1a2b3c4d5e6f7a81";
pub const MINI_APPID: &str = "wx1a2b3c4d5e6f7a82";
pub const NOTIFY_URL: &str = "http://127.0.0.1:9/merchant/notify";

/// Channel time runs 100x faster in the simulators: WeChat's 5-minute close rule takes 3 s.
pub const TIME_SCALE: f64 = 0.01;

struct Keys {
    sp: RsaPrivateKey,
    other_sp: RsaPrivateKey,
    mer_b: RsaPrivateKey,
}

/// Key generation is slow; every platform of a test binary shares one set.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        sp: RsaPrivateKey::generate_2048().expect("key"),
        other_sp: RsaPrivateKey::generate_2048().expect("key"),
        mer_b: RsaPrivateKey::generate_2048().expect("key"),
    })
}

pub fn test_config() -> EngineConfig {
    EngineConfig {
        query_delays: vec![Duration::from_secs(5), Duration::from_secs(10)],
        notify_url_policy: UrlPolicy::WITH_LOOPBACK,
        wechat_close_min_age: Duration::from_secs(1),
        replay_wait: Duration::from_secs(10),
        ..EngineConfig::default()
    }
}

/// A caller of the merchant API.
#[derive(Clone)]
pub struct Client {
    pub base_url: String,
    pub sys_id: String,
    pub product_id: String,
    pub key: RsaPrivateKey,
    pub platform_key: RsaPublicKey,
    pub key_id: String,
    http: reqwest::Client,
}

/// A verified reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub data: Map<String, Value>,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.data["resp_code"].as_str().unwrap_or_default()
    }

    pub fn desc(&self) -> &str {
        self.data
            .get("resp_desc")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn get(&self, key: &str) -> &str {
        self.data
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

impl Client {
    /// Posts `data` signed as dg-sdk signs it (top-level sorted, compact, raw UTF-8).
    pub async fn call(&self, path: &str, data: Value) -> Reply {
        let signed = envelope::sign_request_data(&data.to_string(), KeyOrder::TopLevel, &self.key)
            .expect("sign");
        self.post_envelope(path, &json!({"sys_id": self.sys_id, "product_id": self.product_id, "data": data, "sign": signed.sign}).to_string())
            .await
    }

    /// Posts a raw body and verifies the signed reply.
    pub async fn post_envelope(&self, path: &str, body: &str) -> Reply {
        self.post_raw(path, body.as_bytes().to_vec()).await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> Reply {
        let resp = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("content-type", "application/json;charset=utf-8")
            .body(body)
            .send()
            .await
            .expect("POST");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/json;charset=utf-8"),
            "{text}"
        );
        assert_eq!(
            headers.get("x-nkp-key-id").and_then(|v| v.to_str().ok()),
            Some(self.key_id.as_str())
        );
        let mut reply = verify_reply(&text, &self.platform_key);
        reply.status = status;
        reply
    }
}

/// Serves every route of `engine`'s platform on `listener` (2 workers) until the handle stops
/// it: a node.
pub fn serve_on(listener: TcpListener, engine: Arc<Engine>) -> ServerHandle {
    serve_with(listener, ApiState::new(engine))
}

/// [`serve_on`] with the API state given (limits, body limit).
pub fn serve_with(listener: TcpListener, state: ApiState) -> ServerHandle {
    let state = web::Data::new(state);
    // As `nkpay serve` mounts it: metrics, request ids (docs/observability.md).
    let metrics = web::Data::new(nkpay_api::observability::MetricsEndpoint {
        handle: nkpay_api::observability::install_recorder().expect("metrics recorder"),
        token: None,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(metrics.clone())
            .configure(nkpay_api::configure)
            .wrap(from_fn(nkpay_api::observability::track))
            .wrap(from_fn(nkpay_api::request_id::propagate))
    })
    .workers(2)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    handle
}

/// Verifies a reply as a merchant does (parse, rebuild the canonical `data`, verify) and returns
/// its data.
pub fn verify_reply(text: &str, key: &RsaPublicKey) -> Reply {
    let reply = envelope::parse_reply(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    reply
        .verify(key)
        .unwrap_or_else(|e| panic!("reply signature does not verify ({e}): {text}"));
    let data: Map<String, Value> = serde_json::from_str(&reply.data_text).expect("data object");
    Reply { status: 200, data }
}

pub struct Platform {
    pub label: &'static str,
    pub db: Db,
    pub engine: Arc<Engine>,
    pub sandbox: RunningSandbox,
    pub base_url: String,
    /// The service provider acting for its merchants.
    pub sp: Client,
    pub other_sp: Client,
    /// MER_B calling for itself.
    pub mer_b: Client,
    pub wechat_api_key: String,
    pub wechat_sp_appid: String,
    pub wechat_mch_id: String,
    pub sealer: Arc<SecretSealer>,
    pub signer: platform_keys::PlatformKeys,
    pub config: EngineConfig,
    http: reqwest::Client,
    server: ServerHandle,
    _test_db: TestDb,
}

impl Platform {
    /// One platform per test database (SQLite, and PostgreSQL when it answers).
    pub async fn all() -> Vec<Platform> {
        Self::all_with(test_config()).await
    }

    pub async fn all_with(config: EngineConfig) -> Vec<Platform> {
        Self::all_with_limits(config, nkpay_api::limits::LimitsConfig::off()).await
    }

    /// Platforms whose API counts with `limits` (issue 15).
    pub async fn all_with_limits(
        config: EngineConfig,
        limits: nkpay_api::limits::LimitsConfig,
    ) -> Vec<Platform> {
        let mut out = Vec::new();
        for db in databases().await {
            out.push(Platform::start(db, config.clone(), limits).await);
        }
        out
    }

    async fn start(
        test_db: TestDb,
        config: EngineConfig,
        limits: nkpay_api::limits::LimitsConfig,
    ) -> Platform {
        let sandbox = Sandbox::start(SandboxConfig {
            time_scale: TIME_SCALE,
            ..SandboxConfig::demo()
        })
        .await
        .expect("sandbox");
        let db = test_db.db.clone();
        let sealer = Arc::new(
            SecretSealer::from_key_base64(&SecretSealer::generate_key_base64()).expect("sealer"),
        );
        let signer = platform_keys::load_or_create(&db, &sealer)
            .await
            .expect("platform key");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let engine = Arc::new(
            Engine::new(EngineParts {
                db: db.clone(),
                sealer: sealer.clone(),
                node_id: 1,
                signer: signer.clone(),
                public_base_url: base_url.clone(),
                config: config.clone(),
            })
            .expect("engine"),
        );
        let accounts = sandbox.accounts().clone();
        let wx = &accounts.wechat.service_providers[0];
        seed(&db, &sealer, &sandbox).await;

        let handle = serve_with(listener, ApiState::new(engine.clone()).with_limits(limits));

        let http = reqwest::Client::new();
        let client = |sys_id: &str, key: &RsaPrivateKey| Client {
            base_url: base_url.clone(),
            sys_id: sys_id.to_owned(),
            product_id: PRODUCT.to_owned(),
            key: key.clone(),
            platform_key: signer.newest().public_key(),
            key_id: signer.newest().key_id().to_owned(),
            http: http.clone(),
        };
        Platform {
            label: test_db.label,
            sp: client(SP, &keys().sp),
            other_sp: client(OTHER_SP, &keys().other_sp),
            mer_b: client(MER_B, &keys().mer_b),
            db,
            engine,
            wechat_api_key: wx.api_key.clone(),
            wechat_sp_appid: wx.appid.clone(),
            wechat_mch_id: wx.mch_id.clone(),
            sealer,
            signer,
            config,
            sandbox,
            base_url,
            http,
            server: handle,
            _test_db: test_db,
        }
    }

    /// Another node over the same database (its own id, its own job claims).
    pub fn second_engine(&self, node_id: u16) -> Engine {
        Engine::new(EngineParts {
            db: self.db.clone(),
            sealer: self.sealer.clone(),
            node_id,
            signer: self.signer.clone(),
            public_base_url: self.base_url.clone(),
            config: self.config.clone(),
        })
        .expect("engine")
    }

    pub async fn stop(self) {
        self.server.stop(false).await;
        self.sandbox.shutdown().await;
    }

    /// PostgreSQL: another session holding a job's advisory lock `key` until the returned
    /// transaction ends (roll it back to release).
    pub async fn hold_advisory_lock(&self, key: i64) -> sea_orm::DatabaseTransaction {
        use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
        let holder = self.db.conn().begin().await.expect("tx");
        holder
            .execute_raw(Statement::from_sql_and_values(
                self.db.backend(),
                "SELECT pg_advisory_xact_lock($1)",
                [key.into()],
            ))
            .await
            .expect("lock");
        holder
    }

    pub fn state(&self) -> StateSnapshot {
        self.sandbox.state()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.sandbox.set_faults(faults).expect("faults");
    }

    pub async fn trade(&self, nkp_seq_id: &str) -> trade::Model {
        nkpay_store::trades::find_by_nkp_seq_id(self.db.conn(), nkp_seq_id)
            .await
            .expect("db")
            .unwrap_or_else(|| panic!("{}: no trade {nkp_seq_id}", self.label))
    }

    /// How the inbound log recorded the channel notifies about trade or refund `id`:
    /// (verified, outcome), oldest first; read after the history's writer stored what it was
    /// handed.
    pub async fn inbound(&self, id: &str) -> Vec<(bool, String)> {
        self.engine.flush_channel_history().await;
        nkpay_store::channel_records::list_inbound_for(self.db.conn(), id)
            .await
            .expect("inbound")
            .into_iter()
            .map(|m| (m.verified, m.outcome.unwrap_or_default()))
            .collect()
    }

    /// How many merchant notifications of `kind` were enqueued about `id`.
    pub async fn notifications(
        &self,
        kind: nkpay_store::kinds::NotificationKind,
        id: &str,
    ) -> usize {
        nkpay_store::notifications::list_for_subject(self.db.conn(), kind, id)
            .await
            .expect("notifications")
            .len()
    }

    /// Waits until the trade leaves `P`; fails only after a generous 60 s, so a loaded 2-core
    /// machine does not flake it.
    pub async fn wait_final(&self, nkp_seq_id: &str) -> trade::Model {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let t = self.trade(nkp_seq_id).await;
            if t.status != nkpay_core::state::TradeStatus::Processing {
                return t;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: trade {nkp_seq_id} still processing after 60 s",
                self.label
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Pays a WeChat trade at the simulator, as the payer's WeChat client would.
    pub async fn pay_wechat(&self, pay_info: &str) {
        let info: Value = serde_json::from_str(pay_info).expect("pay_info JSON");
        let prepay_id = info["package"]
            .as_str()
            .and_then(|p| p.strip_prefix("prepay_id="))
            .expect("package=prepay_id=…")
            .to_owned();
        self.sandbox_post("/sandbox/wechat/pay", json!({ "prepay_id": prepay_id }))
            .await;
    }

    /// Pays an Alipay QR code at the simulator, as the payer's Alipay app would.
    pub async fn pay_alipay(&self, qr_code: &str) {
        self.sandbox_post("/sandbox/alipay/pay", json!({ "qr_code": qr_code }))
            .await;
    }

    pub async fn sandbox_post(&self, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}{path}", self.sandbox.base_url()))
            .json(&body)
            .send()
            .await
            .expect("sandbox POST");
        let status = resp.status();
        let v: Value = resp.json().await.expect("sandbox JSON");
        assert!(status.is_success(), "sandbox {path}: {status} {v}");
        v
    }

    pub async fn post_callback(&self, path: &str, content_type: &str, body: String) -> String {
        self.http
            .post(format!("{}{path}", self.base_url))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("callback POST")
            .text()
            .await
            .expect("callback reply")
    }

    /// A jspay request body with today's date and a fresh request id.
    pub fn jspay_data(&self, mer_id: &str, trade_type: &str, extra: Value) -> Value {
        let mut data = json!({
            "req_date": today(),
            "req_seq_id": fresh_id(),
            "mer_id": mer_id,
            "trade_type": trade_type,
            "trans_amt": "0.10",
            "goods_desc": "拿铁 Latte",
            "notify_url": NOTIFY_URL,
            "remark": "桌号 7",
        });
        if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
            d.extend(e);
        }
        data
    }
}

pub fn today() -> String {
    Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y%m%d")
        .to_string()
}

pub fn fresh_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "t{}_{}",
        Utc::now().timestamp_micros(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The platform's channel accounts (the simulators' own), two service providers and their
/// merchants.
async fn seed(db: &Db, sealer: &SecretSealer, sandbox: &RunningSandbox) {
    let accounts = sandbox.accounts().clone();
    let exported = sandbox.accounts_json();
    let wx = &accounts.wechat.service_providers[0];
    let ali = &accounts.alipay.isv_apps[0];
    onboarding::register_wechat_account(
        db,
        sealer,
        &NewWechatAccount {
            name: "sandbox SP".into(),
            gateway_url: sandbox.wechat_api_base_url(),
            is_default: true,
            appid: wx.appid.clone(),
            mch_id: wx.mch_id.clone(),
            api_key: Secret::new(wx.api_key.clone()),
            client_cert_pem: None,
            client_key_pem: None,
        },
    )
    .await
    .expect("wechat account");
    onboarding::register_alipay_account(
        db,
        sealer,
        &NewAlipayAccount {
            name: "sandbox ISV".into(),
            gateway_url: sandbox.alipay_gateway_url(),
            is_default: true,
            app_id: ali.app_id.clone(),
            app_private_key: Secret::new(ali.app_private_key.clone().expect("demo private key")),
            alipay_public_key: exported["alipay"]["alipay_public_key"]
                .as_str()
                .expect("gateway key")
                .to_owned(),
            isv_pid: Some(ali.pid.clone()),
        },
    )
    .await
    .expect("alipay account");

    for (sys_id, key) in [(SP, &keys().sp), (OTHER_SP, &keys().other_sp)] {
        onboarding::create_service_provider(
            db,
            &ServiceProviderSetup {
                sys_id: sys_id.into(),
                product_id: PRODUCT.into(),
                name: format!("service provider {sys_id}"),
                public_key: key.public_key().to_spki_pem(),
            },
        )
        .await
        .expect("service provider");
    }
    let merchant = |mer_id: &str, sys_id: &str, key: Option<String>| MerchantSetup {
        mer_id: mer_id.into(),
        sys_id: sys_id.into(),
        name: format!("merchant {mer_id}"),
        short_name: None,
        kind: MerchantKind::Ent,
        public_key: key,
    };
    for setup in [
        merchant(MER_A, SP, None),
        merchant(MER_B, SP, Some(keys().mer_b.public_key().to_spki_base64())),
        merchant(MER_OFF, SP, None),
        merchant(MER_BARE, SP, None),
        merchant(MER_OTHER, OTHER_SP, None),
    ] {
        onboarding::create_merchant(db, &setup)
            .await
            .expect("merchant");
    }
    nkpay_store::merchants::set_merchant_status(
        db.conn(),
        MER_OFF,
        RecordStatus::Disabled,
        Utc::now(),
    )
    .await
    .expect("disable");

    let subs = &wx.sub_merchants;
    let bound = |b: &nkpay_sandbox::BoundAppid| BoundAppid {
        appid: b.appid.clone(),
        kind: match b.kind {
            nkpay_sandbox::AppKind::Mp => AppidKind::Mp,
            nkpay_sandbox::AppKind::Miniapp => AppidKind::Miniapp,
        },
    };
    for (mer_id, sub) in [(MER_A, &subs[0]), (MER_B, &subs[1]), (MER_OFF, &subs[0])] {
        onboarding::open_wechat_business(
            db,
            sealer,
            &WechatBusiness {
                mer_id: mer_id.into(),
                sub_mch_id: sub.sub_mch_id.clone(),
                appids: sub.appids.iter().map(bound).collect(),
                channel_account_id: None,
                fee_rate_bp: 38,
            },
        )
        .await
        .expect("wechat business");
    }
    let grant = &ali.grants[0];
    onboarding::open_alipay_business(
        db,
        sealer,
        &AlipayBusiness {
            mer_id: MER_A.into(),
            app_auth_token: Secret::new(grant.app_auth_token.clone()),
            auth_app_id: grant.auth_app_id.clone(),
            seller_id: grant.user_id.clone(),
            smid: None,
            channel_account_id: None,
            fee_rate_bp: 60,
        },
    )
    .await
    .expect("alipay business");
}

/// An Alipay asynchronous notify as the gateway posts it: `fields` signed RSA2 with `key` over
/// the notify's string to sign (`sign` and `sign_type` left out), form-encoded.
pub fn signed_alipay_form(fields: &[(&str, &str)], key: &RsaPrivateKey) -> String {
    let mut params: std::collections::BTreeMap<String, String> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let signed = nkpay_crypto::alipay_sign::notify_string_to_sign(&params);
    let sign = key.sign_sha256_base64(signed.as_bytes()).expect("sign");
    params.insert("sign_type".into(), "RSA2".into());
    params.insert("sign".into(), sign);
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish()
}
