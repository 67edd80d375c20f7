//! Shared by the onboarding tests: made-up but valid application samples (never a real
//! person's: numbers are built from made-up prefixes with their check characters computed),
//! admin calls, a local notification receiver, and a log capture.

#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use nkpay_core::bank_account::luhn_valid;
use nkpay_engine::Actor;
use nkpay_engine::notifications::{Dispatcher, DispatcherConfig, UrlPolicy};
use nkpay_store::kinds::AdminRole;
use serde_json::{Value, json};

use crate::support::{Platform, fresh_id, today};

pub const ENT: &str = "/v2/merchant/basicdata/ent";
pub const INDV: &str = "/v2/merchant/basicdata/indv";
pub const QUERY: &str = "/v2/merchant/basicdata/query";
pub const STATUS: &str = "/v2/merchant/basicdata/status/query";

/// A made-up resident ID (GB 11643 check character computed).
pub fn resident_id(seq: &str) -> String {
    let first17 = format!("110105199001{seq}");
    let check = nkpay_core::resident_id::check_character(&first17).expect("17 digits");
    format!("{first17}{check}")
}

/// A made-up USCC (GB 32100 check character computed).
pub fn uscc() -> String {
    let first17 = "91310000MA1FL0T1X";
    let first17: String = first17.chars().take(17).collect();
    let check = nkpay_core::uscc::check_character(&first17).expect("17 characters");
    format!("{first17}{check}")
}

/// A made-up 16-digit card number with a Luhn check digit.
pub fn card_no(prefix15: &str) -> String {
    (0..10)
        .map(|d| format!("{prefix15}{d}"))
        .find(|n| luhn_valid(n))
        .expect("a Luhn digit")
}

/// A made-up corporate account number that fails the Luhn check (corporate accounts have none).
pub fn corporate_account() -> String {
    (0..10)
        .map(|d| format!("3100000000000000000{d}"))
        .find(|n| !luhn_valid(n))
        .expect("a non-Luhn number")
}

pub const MOBILE: &str = "13800138000";
pub const EMAIL: &str = "owner@example.com";
pub const HOLDER_MOBILE: &str = "13900139000";

/// The first 15 digits of the made-up personal card.
pub const CARD_PREFIX: &str = "622202000000123";

/// A valid enterprise application under `upper` (settles to a corporate account).
pub fn ent_data(upper: &str, notify: Option<&str>) -> Value {
    let mut d = json!({
        "req_date": today(),
        "req_seq_id": fresh_id(),
        "upper_huifu_id": upper,
        "reg_name": "上海测试咖啡有限公司",
        "short_name": "测试咖啡",
        "receipt_name": "测试咖啡",
        "ent_type": "1",
        "mcc": "5812",
        "busi_type": "1",
        "scene_type": "OFFLINE",
        "license_pic": "57cc7f00-600a-33ab-b614-6221bbf2e530",
        "license_code": uscc(),
        "license_validity_type": "1",
        "license_begin_date": "20200101",
        "license_end_date": "",
        "found_date": "20200101",
        "reg_capital": "100.00",
        "reg_district_id": "310104",
        "reg_detail": "上海市徐汇区测试路1号",
        "district_id": "310104",
        "detail_addr": "上海市徐汇区测试路1号",
        "legal_name": "张测试",
        "legal_cert_type": "00",
        "legal_cert_no": resident_id("01123"),
        "legal_cert_validity_type": "0",
        "legal_cert_begin_date": "20200101",
        "legal_cert_end_date": "20400101",
        "legal_addr": "上海市徐汇区测试路1号",
        "contact_mobile_no": MOBILE,
        "contact_email": EMAIL,
        "card_info": json!({
            "card_type": "0",
            "card_name": "上海测试咖啡有限公司",
            "card_no": corporate_account(),
            "prov_id": "310000",
            "area_id": "310100",
            "branch_code": "102290000011",
        }).to_string(),
    });
    if let Some(url) = notify {
        d["async_return_url"] = url.into();
    }
    d
}

/// A valid individual application under `upper` (settles to another person's card).
pub fn indv_data(upper: &str, notify: Option<&str>) -> Value {
    let mut d = json!({
        "req_date": today(),
        "req_seq_id": fresh_id(),
        "upper_huifu_id": upper,
        "reg_name": "李测试",
        "mcc": "5812",
        "scene_type": "ONLINE",
        "district_id": "310104",
        // A lower-case x is the same as X (GB 11643).
        "legal_cert_no": resident_id("02456").to_lowercase(),
        "legal_cert_begin_date": "20200101",
        "legal_cert_end_date": "",
        "contact_mobile_no": MOBILE,
        "card_info": json!({
            "card_type": "2",
            "card_name": "王测试",
            "card_no": card_no(CARD_PREFIX),
            "cert_type": "00",
            "cert_no": resident_id("03789"),
            "mp": HOLDER_MOBILE,
            "area_id": "310100",
        }).to_string(),
    });
    if let Some(url) = notify {
        d["async_return_url"] = url.into();
    }
    d
}

/// Every personal value the samples carry, in full: none may appear in a reply, listing or log.
pub fn full_personal_values() -> Vec<String> {
    vec![
        resident_id("01123"),
        resident_id("02456"),
        resident_id("02456").to_lowercase(),
        resident_id("03789"),
        card_no(CARD_PREFIX),
        corporate_account(),
        MOBILE.to_owned(),
        HOLDER_MOBILE.to_owned(),
        EMAIL.to_owned(),
    ]
}

/// An admin API token of `role` (an agent admin bound to `sys_id`).
pub async fn token(p: &Platform, role: AdminRole, sys_id: Option<&str>) -> String {
    p.engine
        .admin_identity()
        .create_token(&Actor::local("test"), &fresh_id(), role, sys_id)
        .await
        .expect("token")
        .token
        .into_inner()
}

/// An admin API call: (status, body text).
pub async fn admin(
    p: &Platform,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, String) {
    let http = reqwest::Client::new();
    let url = format!("{}{path}", p.base_url);
    let req = match method {
        "GET" => http.get(url),
        _ => http.post(url),
    }
    .bearer_auth(token);
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let res = req.send().await.expect("admin call");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

/// Collects the bodies POSTed to it.
pub struct Receiver {
    pub url: String,
    pub bodies: Arc<Mutex<Vec<String>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = bodies.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://{}/audit/notify",
            listener.local_addr().expect("addr")
        );
        let server = HttpServer::new(move || {
            let seen = seen.clone();
            App::new().default_service(web::to(move |body: web::Bytes| {
                let seen = seen.clone();
                async move {
                    seen.lock()
                        .expect("lock")
                        .push(String::from_utf8_lossy(&body).into_owned());
                    HttpResponse::Ok().body("RECV_ORD_ID_")
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url,
            bodies,
            handle,
        }
    }

    /// Runs the dispatcher until a delivered body's `resp_data` contains every one of
    /// `needles`; returns the form's (`resp_data`, `sign`).
    pub async fn wait_for(&self, p: &Platform, needles: &[&str]) -> (String, String) {
        let dispatcher = Dispatcher::new(
            p.db.clone(),
            p.signer.clone(),
            DispatcherConfig {
                schedule: vec![Duration::from_millis(50); 3],
                concurrency: 4,
                per_host_concurrency: 2,
                timeout: Duration::from_secs(5),
                lease: Duration::from_secs(10),
                poll_interval: Duration::from_millis(20),
                policy: UrlPolicy::WITH_LOOPBACK,
            },
            "test-node",
        )
        .expect("dispatcher");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let found = self.bodies.lock().expect("lock").iter().find_map(|b| {
                let form: Vec<(String, String)> = serde_urlencoded::from_str(b).unwrap_or_default();
                let get = |k: &str| {
                    form.iter()
                        .find(|(key, _)| key == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let data = get("resp_data");
                needles
                    .iter()
                    .all(|n| data.contains(n))
                    .then(|| (data, get("sign")))
            });
            if let Some(found) = found {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: no notification with {needles:?}; got {:?}",
                p.label,
                self.bodies.lock().expect("lock")
            );
            dispatcher.run_once().await.expect("dispatch round");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// Every log event of this test process, as text (fields and message), from
/// [`capture_logs`] on.
pub fn captured_logs() -> String {
    LOG.get()
        .map(|l| l.lock().expect("lock").clone())
        .unwrap_or_default()
}

static LOG: OnceLock<Mutex<String>> = OnceLock::new();

/// Installs (once per test binary) a subscriber that keeps every event's text.
pub fn capture_logs() {
    use tracing::subscriber::set_global_default;
    if LOG.set(Mutex::new(String::new())).is_ok() {
        let _ = set_global_default(Capture);
    }
}

struct Capture;

struct Text<'a>(&'a mut String);

impl tracing::field::Visit for Text<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut line = String::new();
        span.record(&mut Text(&mut line));
        if let Some(log) = LOG.get() {
            log.lock().expect("lock").push_str(&line);
        }
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut line = String::new();
        values.record(&mut Text(&mut line));
        if let Some(log) = LOG.get() {
            log.lock().expect("lock").push_str(&line);
        }
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = String::new();
        event.record(&mut Text(&mut line));
        line.push('\n');
        if let Some(log) = LOG.get() {
            log.lock().expect("lock").push_str(&line);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
