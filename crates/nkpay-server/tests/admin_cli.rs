//! `nkpay admin service-provider …` and `nkpay admin channel-account …` as an operator runs
//! them: the real binary against a fresh SQLite database and, when it answers, a fresh
//! PostgreSQL one. JSON on stdout in the admin API's shapes, secrets read from files and never
//! printed (but a generated private key, once), every write audited as `local:cli:<$USER>`,
//! bad input refused naming what to fix.

mod support;

use std::path::Path;
use std::process::Command;

use nkpay_crypto::rsa_keys::RsaPrivateKey;
use nkpay_store::audit_log;
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;
use support::temp_dir;

const BIN: &str = env!("CARGO_BIN_EXE_nkpay");
const API_KEY: &str = "k3yK3yk3yK3yk3yK3yk3yK3yk3yK3y01";

/// `nkpay admin <line>` over `db_url` (`line` split at white space: no argument here has
/// any); (exit success, stdout, stderr).
fn admin(dir: &Path, db_url: &str, line: &str) -> (bool, String, String) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .env("NKPAY__DATABASE__URL", db_url)
        .env("NKPAY__SANDBOX__ENABLED", "false")
        .env("NKPAY__SECRETS__MASTER_KEY_FILE", dir.join("master.key"))
        .env("NKPAY__LOG__LEVEL", "warn")
        .env("USER", "opal")
        .arg("admin")
        .args(line.split_whitespace())
        .output()
        .expect("run nkpay");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `nkpay admin <line>` that must succeed; its JSON output.
fn ok(dir: &Path, db_url: &str, line: &str) -> Value {
    let (success, stdout, stderr) = admin(dir, db_url, line);
    assert!(success, "nkpay admin {line} failed: {stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// `nkpay admin <line>` that must fail; its standard error.
fn refused(dir: &Path, db_url: &str, line: &str) -> String {
    let (success, stdout, stderr) = admin(dir, db_url, line);
    assert!(!success, "nkpay admin {line} succeeded: {stdout}");
    stderr
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write file");
    path.display().to_string()
}

/// A made-up client certificate valid until 2099 and its key, as PKCS#12 under `password`.
fn pkcs12(password: &str) -> Vec<u8> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["1900000109".to_string()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2099, 12, 31);
    let cert = params.self_signed(&key).unwrap();
    let entry = PrivateKeyChain::new(
        b"1".to_vec(),
        PrivateKey::from_der(&key.serialize_der()).unwrap(),
        [Certificate::from_der(cert.der()).unwrap()],
    );
    let mut store = KeyStore::new();
    store.add_entry("apiclient", KeyStoreEntry::PrivateKeyChain(entry));
    store.writer(password).write().unwrap()
}

fn operator_session(db_url: &str, label: &str) {
    let dir = temp_dir("admin-cli", label);
    let d = dir.as_path();

    // Service providers.
    let generated = ok(
        d,
        db_url,
        "service-provider create --sys-id NKSPCLI1 --product-id NKPAY --name CLI-agent --generate",
    );
    assert_eq!(generated["sys_id"], "NKSPCLI1", "{label}");
    assert_eq!(generated["status"], "active");
    assert!(
        generated["private_key"]
            .as_str()
            .unwrap()
            .contains("PRIVATE KEY")
    );
    let own_key = RsaPrivateKey::generate_2048().unwrap();
    let public_key_file = write(d, "sp.pub.pem", own_key.public_key().to_spki_pem());
    let registered = ok(
        d,
        db_url,
        &format!(
            "service-provider create --sys-id NKSPCLI2 --product-id NKPAY --name Own-key --public-key-file {public_key_file}"
        ),
    );
    assert!(registered.get("private_key").is_none(), "{registered}");
    let list = ok(d, db_url, "service-provider list");
    let listed = list.to_string();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        2,
        "{label}: {list}"
    );
    assert!(
        !listed.contains("PRIVATE KEY"),
        "a private key is shown once only"
    );
    let suspended = ok(d, db_url, "service-provider suspend --sys-id NKSPCLI1");
    assert_eq!(suspended["status"], "suspended");
    let active = ok(d, db_url, "service-provider activate --sys-id NKSPCLI1");
    assert_eq!(active["status"], "active");
    let floors = ok(
        d,
        db_url,
        "service-provider fee-floors --sys-id NKSPCLI1 --set T_JSAPI=0.38 A_NATIVE=0.6",
    );
    assert_eq!(
        floors["fee_floors"]["T_JSAPI"]["fee_rate_bp"], 38,
        "{floors}"
    );
    assert_eq!(floors["fee_floors"]["A_NATIVE"]["fee_rate"], "0.60");
    let shown = ok(d, db_url, "service-provider fee-floors --sys-id NKSPCLI1");
    assert_eq!(shown, floors);
    let err = refused(
        d,
        db_url,
        "service-provider fee-floors --sys-id NKSPCLI1 --set T_JSAPI=0.385",
    );
    assert!(
        err.contains("T_JSAPI") && err.contains("2 decimals"),
        "{err}"
    );
    let err = refused(d, db_url, "service-provider suspend --sys-id NOSUCH");
    assert!(err.contains("no service provider NOSUCH"), "{err}");
    let err = refused(
        d,
        db_url,
        "service-provider create --sys-id bad-id! --product-id NKPAY --name x --generate",
    );
    assert!(err.contains("sys_id"), "{err}");

    // Channel accounts: secrets from files.
    let api_key_file = write(d, "api_key", format!("{API_KEY}\n"));
    let p12_file = write(d, "apiclient_cert.p12", pkcs12("1900000109"));
    let p12_password_file = write(d, "p12_password", "1900000109\n");
    let wechat = ok(
        d,
        db_url,
        &format!(
            "channel-account add-wechat --name SP-account --appid wx00000000000000a1 --mch-id 1900000109 --api-key-file {api_key_file} --p12-file {p12_file} --p12-password-file {p12_password_file} --gateway-url http://127.0.0.1:9/ --default"
        ),
    );
    assert_eq!(wechat["channel"], "wechat", "{label}");
    assert_eq!(wechat["api_key"], "set");
    assert_eq!(wechat["client_certificate"], "set");
    assert_eq!(wechat["cert_not_after"], "2099-12-31T00:00:00Z");
    assert_eq!(wechat["is_default"], true);
    let app_key = RsaPrivateKey::generate_2048().unwrap();
    let private_key_file = write(d, "app_private_key.pem", app_key.to_pkcs8_pem());
    let alipay_public_file = write(
        d,
        "alipay_public_key.pem",
        RsaPrivateKey::generate_2048()
            .unwrap()
            .public_key()
            .to_spki_pem(),
    );
    let alipay = ok(
        d,
        db_url,
        &format!(
            "channel-account add-alipay --name ISV-app --app-id 2021000000000001 --private-key-file {private_key_file} --alipay-public-key-file {alipay_public_file} --isv-pid 2088000000000001"
        ),
    );
    assert_eq!(alipay["app_private_key"], "set", "{alipay}");
    let list = ok(d, db_url, "channel-account list");
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{label}");
    let listed = list.to_string();
    assert!(
        !listed.contains(API_KEY) && !listed.contains("PRIVATE"),
        "{listed}"
    );
    let id = wechat["id"].as_i64().unwrap().to_string();
    let disabled = ok(d, db_url, &format!("channel-account disable --id {id}"));
    assert_eq!(
        (disabled["status"].as_str(), disabled["version"].as_i64()),
        (Some("disabled"), Some(2))
    );
    let enabled = ok(d, db_url, &format!("channel-account enable --id {id}"));
    assert_eq!(enabled["status"], "active");
    // The test call answers even when the channel does not (nothing listens on port 9).
    let tested = ok(d, db_url, &format!("channel-account test --id {id}"));
    assert_eq!(tested["ok"], false, "{tested}");
    assert!(
        tested["code"].is_string() && tested["message"].is_string(),
        "{tested}"
    );
    let err = refused(d, db_url, "channel-account disable --id 99999");
    assert!(err.contains("no channel account 99999"), "{err}");

    // A bad certificate password names the field; a secret never goes on the command line.
    let wrong_password = write(d, "wrong", "nope");
    let err = refused(
        d,
        db_url,
        &format!(
            "channel-account add-wechat --name x --appid wx1 --mch-id 1 --api-key-file {api_key_file} --p12-file {p12_file} --p12-password-file {wrong_password}"
        ),
    );
    assert!(err.contains("client_cert_p12_password"), "{err}");
    let err = refused(
        d,
        db_url,
        &format!("channel-account add-wechat --name x --appid wx1 --mch-id 1 --api-key {API_KEY}"),
    );
    assert!(err.contains("--api-key"), "{err}");

    // Every write audited as the CLI user, without secrets.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let entries = rt.block_on(async {
        let db = nkpay_store::connect(db_url).await.expect("connect");
        audit_log::page(db.conn(), i64::MAX, 100)
            .await
            .expect("audit log")
    });
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    for action in [
        "service_provider.create",
        "service_provider.suspend",
        "service_provider.activate",
        "service_provider.fee_floors",
        "channel_account.create",
        "channel_account.disable",
        "channel_account.enable",
    ] {
        assert!(
            actions.contains(&action),
            "{label}: {action} not in {actions:?}"
        );
    }
    for e in &entries {
        assert_eq!(e.actor, "local:cli:opal", "{label}: {}", e.action);
        let detail = e.detail.to_string();
        assert!(
            !detail.contains(API_KEY) && !detail.contains("PRIVATE"),
            "{detail}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_operator_sets_up_providers_and_channel_accounts_on_sqlite() {
    let dir = temp_dir("admin-cli", "sqlite-db");
    operator_session(
        &format!("sqlite://{}/nkpay.db?mode=rwc", dir.display()),
        "sqlite",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_operator_sets_up_providers_and_channel_accounts_on_postgres() {
    let configured = std::env::var("NKPAY_TEST_DATABASE_URL").ok();
    let server = configured
        .clone()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let name = format!(
        "nkpay_t_{}_admincli{}",
        chrono::Utc::now().timestamp(),
        std::process::id()
    );
    let pg = match rt.block_on(Database::connect(&server)) {
        Ok(c) => c,
        Err(e) => {
            assert!(
                configured.is_none() && std::env::var("CI").as_deref() != Ok("true"),
                "PostgreSQL {server} is required: {e}"
            );
            eprintln!("!!! PostgreSQL unreachable ({e}): the PostgreSQL half was SKIPPED");
            return;
        }
    };
    rt.block_on(pg.execute_unprepared(&format!("CREATE DATABASE {name}")))
        .expect("create database");
    let url = match server.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("unexpected URL {server}"),
    };
    operator_session(&url, "postgres");
    let _ =
        rt.block_on(pg.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")));
}
