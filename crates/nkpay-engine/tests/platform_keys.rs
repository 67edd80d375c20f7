//! Platform signing keys across nodes (issue 14): the first key is created once however many
//! nodes start at once; a rotation on one node reaches another within its refresh interval;
//! a caller keeps its key until switched or its key's retirement date passes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nkpay_crypto::rsa_keys::RsaPrivateKey;
use nkpay_crypto::sealed::SecretSealer;
use nkpay_engine::platform_keys::{self, PlatformKeys};
use nkpay_engine::service_providers::{NewProvider, ProviderKey};
use nkpay_engine::{Actor, Engine, EngineConfig, EngineError, EngineParts};
use nkpay_store::Db;
use nkpay_store::kinds::KeyStatus;
use nkpay_store::testing::databases;

const REFRESH: Duration = Duration::from_secs(1);
/// How long a test waits for another node to see a change: many refresh intervals.
const DEADLINE: Duration = Duration::from_secs(30);

fn sealer() -> Arc<SecretSealer> {
    Arc::new(SecretSealer::from_key_base64(&SecretSealer::generate_key_base64()).expect("sealer"))
}

async fn node(db: &Db, sealer: &Arc<SecretSealer>, node_id: u16) -> Engine {
    let signer = platform_keys::load_or_create(db, sealer)
        .await
        .expect("keys")
        .with_refresh(REFRESH);
    Engine::new(EngineParts {
        db: db.clone(),
        sealer: sealer.clone(),
        node_id,
        signer,
        public_base_url: "http://127.0.0.1:9".into(),
        config: EngineConfig::default(),
    })
    .expect("engine")
}

/// Waits (up to [`DEADLINE`]) until the key that signs for `sys_id` on `keys` is `key_id`.
async fn wait_for_key(keys: &PlatformKeys, sys_id: Option<&str>, key_id: &str) {
    let start = Instant::now();
    loop {
        let signer = keys.signer_for(sys_id).await.expect("signer");
        if signer.key_id() == key_id {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{sys_id:?} still signed with {} after {DEADLINE:?}, expected {key_id}",
            signer.key_id()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn provider(engine: &Engine, sys_id: &str) {
    let key = RsaPrivateKey::generate_2048().expect("key");
    engine
        .service_providers()
        .create(
            &Actor::local("test"),
            NewProvider {
                sys_id: sys_id.into(),
                product_id: "NKPAY".into(),
                name: format!("provider {sys_id}"),
                key: ProviderKey::Registered(key.public_key().to_spki_pem()),
            },
        )
        .await
        .expect("provider");
}

#[tokio::test]
async fn concurrent_first_start_creates_exactly_one_active_key() {
    for t in databases().await {
        let sealer = sealer();
        let mut starts = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (db, sealer) = (t.db.clone(), sealer.clone());
            starts.spawn(async move {
                platform_keys::load_or_create(&db, &sealer)
                    .await
                    .map(|keys| keys.newest().key_id().to_owned())
            });
        }
        let mut ids = Vec::new();
        while let Some(done) = starts.join_next().await {
            ids.push(done.expect("task").expect("load_or_create"));
        }
        let all = nkpay_store::platform_keys::list_keys(t.db.conn())
            .await
            .unwrap();
        assert_eq!(all.len(), 1, "{}: {all:?}", t.label);
        assert_eq!(all[0].status, KeyStatus::Active, "{}", t.label);
        assert!(
            ids.iter().all(|id| *id == all[0].key_id),
            "{}: every node signs with the one key: {ids:?}",
            t.label
        );
    }
}

#[tokio::test]
async fn a_rotation_reaches_the_other_node_and_callers_keep_their_key_until_switched() {
    for t in databases().await {
        let sealer = sealer();
        let a = node(&t.db, &sealer, 1).await;
        let b = node(&t.db, &sealer, 2).await;
        let old = a.signer().newest();
        assert_eq!(b.signer().newest().key_id(), old.key_id(), "{}", t.label);
        // Two callers from before the rotation, each given the key of their time.
        provider(&a, "SPOLD1").await;
        provider(&a, "SPOLD2").await;
        for sys_id in ["SPOLD1", "SPOLD2"] {
            let s = b.signer().signer_for(Some(sys_id)).await.unwrap();
            assert_eq!(s.key_id(), old.key_id(), "{}", t.label);
        }

        let by = Actor::local("test");
        let rotation = a.signing_keys().rotate(&by, 30).await.unwrap();
        let new = rotation.key.key_id.clone();
        assert_ne!(new, old.key_id(), "{}", t.label);
        let replaced = rotation.replaced.expect("replaced");
        assert_eq!(replaced.key_id, old.key_id(), "{}", t.label);
        assert_eq!(replaced.status, KeyStatus::Retiring, "{}", t.label);
        assert_eq!(
            a.signer().newest().key_id(),
            new,
            "{}: at once here",
            t.label
        );

        // The other node: unknown callers and new ones get the new key within the interval.
        wait_for_key(b.signer(), None, &new).await;
        wait_for_key(b.signer(), Some("NOSUCHSYSID"), &new).await;
        provider(&a, "SPNEW").await;
        wait_for_key(b.signer(), Some("SPNEW"), &new).await;

        // A caller that has not switched keeps the old key; its signatures verify with it.
        let s = b.signer().signer_for(Some("SPOLD1")).await.unwrap();
        assert_eq!(s.key_id(), old.key_id(), "{}", t.label);
        assert!(
            s.public_key().to_spki_pem() == old.public_key().to_spki_pem(),
            "{}",
            t.label
        );

        // Switched on node a: node b follows within the interval.
        a.signing_keys().assign(&by, "SPOLD1", &new).await.unwrap();
        wait_for_key(b.signer(), Some("SPOLD1"), &new).await;
        let s = b.signer().signer_for(Some("SPOLD2")).await.unwrap();
        assert_eq!(s.key_id(), old.key_id(), "{}: the other one stays", t.label);

        // Past its retirement date, the old key signs for nobody: SPOLD2 moves to the newest.
        use nkpay_store::sea_orm::{ConnectionTrait, Statement};
        t.db.conn()
            .execute_raw(Statement::from_sql_and_values(
                t.db.backend(),
                match t.label {
                    "postgres" => "UPDATE platform_keys SET retired_at = $1 WHERE key_id = $2",
                    _ => "UPDATE platform_keys SET retired_at = ? WHERE key_id = ?",
                },
                [
                    (chrono::Utc::now() - chrono::Duration::seconds(1)).into(),
                    old.key_id().into(),
                ],
            ))
            .await
            .unwrap();
        wait_for_key(b.signer(), Some("SPOLD2"), &new).await;
        let moved = nkpay_store::platform_keys::assignment(t.db.conn(), "SPOLD2")
            .await
            .unwrap()
            .expect("assignment");
        assert_eq!(moved.key_id, new, "{}: the move is stored", t.label);
        let listed = a.signing_keys().published().await.unwrap();
        let statuses: Vec<_> = listed.iter().map(|k| k.status).collect();
        assert_eq!(
            statuses,
            [KeyStatus::Active, KeyStatus::Retired],
            "{}",
            t.label
        );

        // A switch to a retired or unknown key, or of no caller, is refused naming the field.
        for (sys_id, key_id, field) in [
            ("SPOLD2", old.key_id(), "key_id"),
            ("SPOLD2", "k-nope", "key_id"),
            ("NOSUCHSYSID", new.as_str(), "sys_id"),
        ] {
            match a.signing_keys().assign(&by, sys_id, key_id).await {
                Err(EngineError::Invalid { field: f, .. }) => assert_eq!(f, field, "{}", t.label),
                other => panic!("{}: {sys_id}/{key_id}: {other:?}", t.label),
            }
        }
        match a.signing_keys().rotate(&by, 0).await {
            Err(EngineError::Invalid { field, .. }) => {
                assert_eq!(field, "retire_after_days", "{}", t.label)
            }
            other => panic!("{}: {other:?}", t.label),
        }
    }
}
