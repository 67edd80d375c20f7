//! `nkpay bill generate --date yyyyMMdd` as an operator runs it, and the `[statements]`
//! configuration keys: a day made through the engine prints its JSON report (a day without
//! trades: no files, the run recorded); today is partial; a malformed or future date is refused
//! naming `--date`; bad `[statements]` values are refused naming the key.

mod support;

use std::path::Path;
use std::process::Command;

use chrono::Utc;
use nkpay_server::config::Config;
use serde_json::Value;
use support::temp_dir;

const BIN: &str = env!("CARGO_BIN_EXE_nkpay");

fn bill(dir: &Path, date: &str) -> (bool, String, String) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .env("NKPAY__DATABASE__URL", "sqlite://nkpay.db?mode=rwc")
        .env("NKPAY__SANDBOX__ENABLED", "false")
        .env("NKPAY__SECRETS__MASTER_KEY_FILE", dir.join("master.key"))
        .args(["bill", "generate", "--date", date])
        .output()
        .expect("run nkpay");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn shanghai_day(offset_days: i64) -> String {
    (Utc::now().with_timezone(&chrono_tz::Asia::Shanghai) + chrono::TimeDelta::days(offset_days))
        .format("%Y%m%d")
        .to_string()
}

#[test]
fn bill_generate_makes_a_day_and_refuses_bad_dates() {
    let dir = temp_dir("bill", "generate");
    let (ok, out, err) = bill(&dir, "20261120");
    assert!(ok, "{out}{err}");
    let report: Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(report["data_date"], "20261120");
    assert_eq!(report["partial"], false);
    assert_eq!(
        report["files"],
        serde_json::json!([]),
        "no trades, no files"
    );

    let (ok, out, err) = bill(&dir, &shanghai_day(0));
    assert!(ok, "{out}{err}");
    let report: Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(report["partial"], true, "today is made partial");

    for bad in ["2026-11-20", "20261131", &shanghai_day(1)] {
        let (ok, out, err) = bill(&dir, bad);
        assert!(!ok, "{bad}: {out}");
        assert!(err.contains("--date"), "{bad}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn load(pairs: &[(&str, &str)]) -> Result<Config, String> {
    let env = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect::<Vec<_>>();
    Config::load(None, env).map_err(|e| e.to_string())
}

#[test]
fn statements_keys_reach_the_settings_and_bad_values_name_the_key() {
    let c = load(&[
        ("NKPAY__STATEMENTS__GENERATE_AT", "02:30"),
        ("NKPAY__STATEMENTS__LINK_KEY", &"k".repeat(32)),
        ("NKPAY__STATEMENTS__LINK_TTL_SECS", "600"),
        ("NKPAY__STATEMENTS__STORAGE", "directory"),
        ("NKPAY__STATEMENTS__DIRECTORY", "/srv/statements"),
        ("NKPAY__STATEMENTS__COMPRESSION_LEVEL", "0"),
    ])
    .expect("config");
    let s = c.statement_settings().expect("settings");
    assert_eq!(s.generate_at.format("%H:%M").to_string(), "02:30");
    assert_eq!(s.link_key.expose(), &b"k".repeat(32));
    assert_eq!(s.link_ttl.as_secs(), 600);
    assert_eq!(
        s.storage,
        nkpay_engine::statements::StatementStorage::Directory("/srv/statements".into())
    );
    assert_eq!(
        s.compression,
        nkpay_engine::statements::writer::Compression::Stored
    );
    for (key, value, named) in [
        (
            "NKPAY__STATEMENTS__GENERATE_AT",
            "25:00",
            "statements.generate_at",
        ),
        (
            "NKPAY__STATEMENTS__LINK_KEY",
            "short",
            "statements.link_key",
        ),
        (
            "NKPAY__STATEMENTS__LINK_TTL_SECS",
            "5",
            "statements.link_ttl_secs",
        ),
        ("NKPAY__STATEMENTS__STORAGE", "s3", "statements.storage"),
        (
            "NKPAY__STATEMENTS__STORAGE",
            "directory",
            "statements.directory",
        ),
        (
            "NKPAY__STATEMENTS__COMPRESSION_LEVEL",
            "10",
            "statements.compression_level",
        ),
    ] {
        let err = load(&[(key, value)]).expect_err(value);
        assert!(err.contains(named), "{key}={value}: {err}");
    }
}
