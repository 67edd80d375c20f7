//! The console API over one test database: an engine (no channels needed), the app serving
//! `nkpay_api::admin`, and users and API tokens of each role made through the engine.

#![allow(dead_code)]

use std::sync::Arc;

use actix_web::{App, web};
use nkpay_api::ApiState;
use nkpay_core::secret::Secret;
use nkpay_crypto::sealed::SecretSealer;
use nkpay_engine::admin_identity::{Actor, NewUser};
use nkpay_engine::{Engine, EngineConfig, EngineParts, platform_keys};
use nkpay_store::Db;
use nkpay_store::kinds::AdminRole;

/// Every test user's password.
pub const PASSWORD: &str = "console-password-1234";

pub struct Console {
    pub engine: Arc<Engine>,
}

impl Console {
    pub async fn new(db: &Db) -> Console {
        Console::with_config(db, EngineConfig::default()).await
    }

    /// A console whose engine has `config` (e.g. login throttling, token lifetimes).
    pub async fn with_config(db: &Db, config: EngineConfig) -> Console {
        let sealer = Arc::new(
            SecretSealer::from_key_base64(&SecretSealer::generate_key_base64()).expect("sealer"),
        );
        let signer = platform_keys::load_or_create(db, &sealer)
            .await
            .expect("platform key");
        let engine = Engine::new(EngineParts {
            db: db.clone(),
            sealer,
            node_id: 1,
            signer,
            public_base_url: "http://127.0.0.1:9".into(),
            config,
        })
        .expect("engine");
        Console {
            engine: Arc::new(engine),
        }
    }

    /// Another engine over the same database with its own (random) access-token key: a
    /// platform that does not share our `admin.jwt_secret`.
    pub fn foreign(&self) -> Engine {
        self.node(2, EngineConfig::default())
    }

    /// Another node over the same database and platform keys, with `config` (node id
    /// `node_id`; its own sealer, so it opens no sealed secret of this one).
    pub fn other_node(&self, node_id: u16, config: EngineConfig) -> Arc<Engine> {
        Arc::new(self.node(node_id, config))
    }

    fn node(&self, node_id: u16, config: EngineConfig) -> Engine {
        Engine::new(EngineParts {
            db: self.engine.db().clone(),
            sealer: Arc::new(
                SecretSealer::from_key_base64(&SecretSealer::generate_key_base64())
                    .expect("sealer"),
            ),
            node_id,
            signer: self.engine.signer().clone(),
            public_base_url: "http://127.0.0.1:9".into(),
            config,
        })
        .expect("engine")
    }

    /// A platform admin's API token, made anew.
    pub async fn admin_token(&self) -> String {
        self.token(AdminRole::PlatformAdmin).await
    }

    /// A new API token with `role`, named after it (plus a counter, so several may exist).
    pub async fn token(&self, role: AdminRole) -> String {
        let name = format!("{role}-{}", rand_suffix());
        self.engine
            .admin_identity()
            .create_token(&Actor::local("test"), &name, role, None)
            .await
            .expect("token")
            .token
            .into_inner()
    }

    /// A new user `username` with `role` and [`PASSWORD`].
    pub async fn user(&self, username: &str, role: AdminRole, sys_id: Option<&str>) {
        self.engine
            .admin_identity()
            .create_user(
                &Actor::local("test"),
                NewUser {
                    username: username.into(),
                    role,
                    sys_id: sys_id.map(str::to_owned),
                    password: Some(Secret::new(PASSWORD.into())),
                },
            )
            .await
            .expect("user");
    }
}

/// The admin API as the server mounts it, over `engine`.
pub fn app(
    engine: Arc<Engine>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(ApiState::new(engine)))
        .configure(nkpay_api::admin::configure)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
