//! Starting and stopping a sandbox: bind (plain HTTP, or TLS with optional client certificates for
//! `secapi/`), serve every route on a few actix workers, and hand back a handle to read state,
//! set faults and shut down.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::{Extensions, ServerHandle};
use actix_web::{App, HttpServer, web};
use tokio::sync::watch;

use crate::accounts::{Accounts, Directory};
use crate::alipay::store::AlipayStore;
use crate::clock::TimeScale;
use crate::config::{SandboxConfig, TlsConfig};
use crate::error::SandboxError;
use crate::faults::{FaultBox, Faults};
use crate::ids::Ids;
use crate::notify::Notifier;
use crate::state::{SandboxState, StateSnapshot};
use crate::wechat::store::WechatStore;
use crate::{alipay, cashier, control, payer, wechat};

/// Whether the TLS peer presented a certificate our client CA verified.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientCert(pub bool);

fn record_client_cert(conn: &dyn std::any::Any, ext: &mut Extensions) {
    use actix_tls::accept::rustls_0_23::TlsStream;
    if let Some(tls) = conn.downcast_ref::<TlsStream<actix_web::rt::net::TcpStream>>() {
        let presented = tls
            .get_ref()
            .1
            .peer_certificates()
            .is_some_and(|c| !c.is_empty());
        ext.insert(ClientCert(presented));
    }
}

fn tls_server_config(tls: &TlsConfig) -> Result<rustls::ServerConfig, SandboxError> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let err = |what: &str, e: &dyn std::fmt::Display| SandboxError::Tls(format!("{what}: {e}"));
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut tls.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| err("server certificate PEM", &e))?;
    if certs.is_empty() {
        return Err(SandboxError::Tls(
            "the server certificate PEM holds no certificate".into(),
        ));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut tls.key_pem.as_bytes())
        .map_err(|e| err("server key PEM", &e))?
        .ok_or_else(|| SandboxError::Tls("the server key PEM holds no private key".into()))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in rustls_pemfile::certs(&mut tls.client_ca_pem.as_bytes()) {
        let ca = ca.map_err(|e| err("client CA PEM", &e))?;
        roots
            .add(ca)
            .map_err(|e| err("client CA certificate", &e))?;
    }
    if roots.is_empty() {
        return Err(SandboxError::Tls(
            "the client CA PEM holds no certificate".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // Certificates are optional at the handshake: only secapi/ calls demand one, like WeChat.
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| err("client certificate verifier", &e))?;
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err("TLS versions", &e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| err("server certificate and key", &e))
}

/// Starts sandboxes.
pub struct Sandbox;

impl Sandbox {
    /// Binds `config.host:config.port` (port 0 picks a free one) and serves until
    /// [`RunningSandbox::shutdown`]. Must be called within a Tokio runtime; notifies and refund
    /// settling run on it.
    pub async fn start(config: SandboxConfig) -> Result<RunningSandbox, SandboxError> {
        config.validate()?;
        let dir = Directory::new(config.accounts.clone())?;
        let addr = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(addr).map_err(|source| SandboxError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let local_addr = listener.local_addr().map_err(|source| SandboxError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let host = match local_addr.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        let base_url = format!("{scheme}://{host}:{}", local_addr.port());

        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let notifier = Arc::new(Notifier::new(
            TimeScale(config.time_scale),
            Duration::from_millis(config.notify_timeout_ms),
            shutdown_rx,
            tokio::runtime::Handle::current(),
        ));
        let state = web::Data::new(SandboxState {
            dir,
            faults: FaultBox::new(config.faults.clone()),
            ids: Ids::default(),
            scale: TimeScale(config.time_scale),
            timings: config.timings.clone(),
            tls: config.tls.is_some(),
            base_url: base_url.clone(),
            wechat: Mutex::new(WechatStore::default()),
            alipay: Mutex::new(AlipayStore::default()),
            notifier,
        });

        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .configure(wechat::routes)
                .configure(alipay::routes)
                .configure(payer::routes)
                .configure(cashier::routes)
                .configure(control::routes)
        })
        .workers(config.workers.max(1))
        .disable_signals()
        .shutdown_timeout(1)
        .on_connect(record_client_cert);
        let server = match &config.tls {
            Some(tls) => server.listen_rustls_0_23(listener, tls_server_config(tls)?),
            None => server.listen(listener),
        }
        .map_err(|source| SandboxError::Bind {
            addr: addr.to_string(),
            source,
        })?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        tracing::info!(%base_url, "nkpay sandbox listening");
        Ok(RunningSandbox {
            state,
            handle,
            shutdown_tx,
            local_addr,
        })
    }
}

/// A sandbox serving in the background. Dropping it stops the server too.
pub struct RunningSandbox {
    state: web::Data<SandboxState>,
    handle: ServerHandle,
    shutdown_tx: watch::Sender<bool>,
    local_addr: SocketAddr,
}

impl RunningSandbox {
    /// `http://127.0.0.1:PORT` (https with TLS), no trailing slash.
    pub fn base_url(&self) -> &str {
        &self.state.base_url
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What WeChat Pay clients take as their API base (`…/`, with the slash).
    pub fn wechat_api_base_url(&self) -> String {
        format!("{}/", self.state.base_url)
    }

    pub fn alipay_gateway_url(&self) -> String {
        format!("{}/gateway.do", self.state.base_url)
    }

    /// The accounts as configured at start. Sub-merchants, appids and grants added while
    /// serving are in [`current_accounts`](Self::current_accounts) and the exported JSON.
    pub fn accounts(&self) -> &Accounts {
        self.state.dir.configured()
    }

    /// The accounts as they are now, with everything added while serving.
    pub fn current_accounts(&self) -> Accounts {
        self.state.dir.current()
    }

    /// Every account with its keys and URLs, the shape `--accounts-out` writes.
    pub fn accounts_json(&self) -> serde_json::Value {
        self.state.dir.export(&self.state.base_url)
    }

    /// Wakes whenever a sub-merchant, appid or grant is added or a token replaced, so an
    /// accounts file can be written again.
    pub fn accounts_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.state.dir.watch_changes()
    }

    pub fn write_accounts(&self, path: &std::path::Path) -> Result<(), SandboxError> {
        let text = serde_json::to_string_pretty(&self.accounts_json())
            .map_err(|e| SandboxError::Config(format!("accounts JSON: {e}")))?;
        // Written aside then renamed, so a reader polling for the file never sees half of it.
        let tmp = path.with_extension("tmp");
        let write_err = |source| SandboxError::WriteFile {
            path: path.display().to_string(),
            source,
        };
        std::fs::write(&tmp, text).map_err(write_err)?;
        std::fs::rename(&tmp, path).map_err(write_err)
    }

    pub fn faults(&self) -> Faults {
        self.state.faults.get()
    }

    pub fn set_faults(&self, faults: Faults) -> Result<(), SandboxError> {
        self.state.faults.set(faults).map_err(SandboxError::Config)
    }

    pub fn state(&self) -> StateSnapshot {
        self.state.snapshot()
    }

    /// Stops serving and abandons pending notifies.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        self.handle.stop(true).await;
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
        // stop() sends the command at once; its future only waits for completion.
        drop(self.handle.stop(false));
    }
}
