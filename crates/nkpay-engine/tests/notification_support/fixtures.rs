//! Outbox fixtures for the notification tests: a platform signer, realistic `resp_data`,
//! rows inserted through the store, fast test configurations and polling helpers.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::Utc;
use nkpay_crypto::rsa_keys::RsaPrivateKey;
use nkpay_engine::notifications::{DispatcherConfig, UrlPolicy};
use nkpay_engine::platform_keys::PlatformSigner;
use nkpay_store::Db;
use nkpay_store::entity::{notification, notification_attempt};
use nkpay_store::kinds::{MerchantKind, NotificationKind};
use nkpay_store::merchants::{self, NewMerchant, NewServiceProvider};
use nkpay_store::notifications::{self, NewNotification};
use nkpay_store::sea_orm::{ConnectionTrait, Statement};
use nkpay_store::testing::TestDb;

pub const MER_ID: &str = "6666000000000001";
pub const KEY_ID: &str = "k-test-1";

/// One platform key for the whole test binary (generating one takes a moment).
pub fn signer() -> PlatformSigner {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    let key = KEY.get_or_init(|| RsaPrivateKey::generate_2048().expect("generate a test key"));
    PlatformSigner::new(KEY_ID, key.clone())
}

/// A `resp_data` like the payments code writes: compact JSON, top-level keys sorted, raw UTF-8.
pub fn resp_data(mer_id: &str, nkp_seq_id: &str) -> String {
    let req_seq_id = format!("r{nkp_seq_id}");
    let fields: BTreeMap<&str, &str> = [
        ("notify_type", "TRADE"),
        ("mer_id", mer_id),
        ("req_date", "20261122"),
        ("req_seq_id", &req_seq_id),
        ("nkp_seq_id", nkp_seq_id),
        ("trade_type", "T_JSAPI"),
        ("trans_amt", "0.01"),
        ("trans_stat", "S"),
        ("party_order_id", "4200002999202611221234567890"),
        ("end_time", "20261122120000"),
        ("fee_amt", "0.00"),
        ("remark", "测试 a&b=c+d"),
    ]
    .into_iter()
    .collect();
    serde_json::to_string(&fields).expect("serialize resp_data")
}

/// Inserts a trade notification due now and returns its id.
pub async fn enqueue(db: &Db, mer_id: &str, nkp_seq_id: &str, notify_url: &str) -> i64 {
    let now = Utc::now();
    let new = NewNotification {
        mer_id: mer_id.to_string(),
        kind: NotificationKind::Trade,
        subject_nkp_seq_id: nkp_seq_id.to_string(),
        notify_url: notify_url.to_string(),
        resp_data: resp_data(mer_id, nkp_seq_id),
        first_attempt_at: now,
    };
    assert!(
        notifications::enqueue(db.conn(), &new, now)
            .await
            .expect("enqueue")
    );
    notifications::list_for_subject(db.conn(), NotificationKind::Trade, nkp_seq_id)
        .await
        .expect("find the new row")[0]
        .id
}

/// A service provider and a merchant, with its own retry schedule when given.
pub async fn merchant(db: &Db, mer_id: &str, schedule: Option<&str>) {
    let now = Utc::now();
    let sp = NewServiceProvider {
        sys_id: format!("sp{mer_id}"),
        product_id: "NKPAY".into(),
        name: "test provider".into(),
        rsa_public_key: signer().public_key().to_spki_pem(),
    };
    merchants::insert_service_provider(db.conn(), &sp, now)
        .await
        .expect("insert provider");
    let m = NewMerchant {
        mer_id: mer_id.into(),
        sys_id: sp.sys_id,
        name: "test merchant".into(),
        short_name: None,
        kind: MerchantKind::Ent,
        rsa_public_key: None,
        notify_schedule: schedule.map(str::to_string),
    };
    merchants::insert_merchant(db.conn(), &m, now)
        .await
        .expect("insert merchant");
}

pub fn ms(list: &[u64]) -> Vec<Duration> {
    list.iter().map(|m| Duration::from_millis(*m)).collect()
}

/// Milliseconds instead of minutes, loopback receivers allowed.
pub fn config(schedule_ms: &[u64]) -> DispatcherConfig {
    DispatcherConfig {
        schedule: ms(schedule_ms),
        concurrency: 8,
        per_host_concurrency: 4,
        timeout: Duration::from_millis(1000),
        lease: Duration::from_millis(3000),
        poll_interval: Duration::from_millis(20),
        policy: UrlPolicy::WITH_LOOPBACK,
    }
}

pub async fn row(db: &Db, id: i64) -> notification::Model {
    notifications::find(db.conn(), id)
        .await
        .expect("read notification")
        .expect("notification exists")
}

pub async fn attempts(db: &Db, id: i64) -> Vec<notification_attempt::Model> {
    notifications::list_attempts(db.conn(), id)
        .await
        .expect("read attempts")
}

/// Polls `check` until it holds; fails the test with `what` after `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A URL another process can open to reach the same test database.
pub async fn database_url(t: &TestDb) -> String {
    let conn = t.db.conn();
    let backend = conn.get_database_backend();
    if t.label == "postgres" {
        let row = conn
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT current_database() AS name",
            ))
            .await
            .expect("current_database")
            .expect("a row");
        let name: String = row.try_get("", "name").expect("name");
        let server = std::env::var("NKPAY_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let (base, query) = match server.split_once('?') {
            Some((b, q)) => (b.to_string(), format!("?{q}")),
            None => (server.clone(), String::new()),
        };
        let root = base.rsplit_once('/').map_or(base.as_str(), |(r, _)| r);
        format!("{root}/{name}{query}")
    } else {
        let row = conn
            .query_one_raw(Statement::from_string(backend, "PRAGMA database_list"))
            .await
            .expect("database_list")
            .expect("a row");
        let file: String = row.try_get("", "file").expect("file");
        format!("sqlite://{file}")
    }
}
