//! Every key the engine, the dispatcher and the database pool read takes effect: set in a file,
//! overridden from the environment as `NKPAY__SECTION__KEY`, and refused at start — naming the
//! key and the rule — when out of its bounds.

use std::path::PathBuf;
use std::time::Duration;

use nkpay_channels::wechat::WechatSignType;
use nkpay_server::config::{Config, DEFAULT_TOML};
use url::Url;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn secs(list: &[u64]) -> Vec<Duration> {
    list.iter().copied().map(Duration::from_secs).collect()
}

/// The embedded default with `key = value` lines replaced inside their `[section]`.
fn default_with(edits: &[(&str, &str, &str)]) -> String {
    let mut section = String::new();
    let mut done = vec![false; edits.len()];
    let mut out = String::new();
    for line in DEFAULT_TOML.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        }
        let key = line.split('=').next().unwrap_or_default().trim();
        match edits
            .iter()
            .position(|(s, k, _)| *s == section && *k == key && line.contains('='))
        {
            Some(i) => {
                out.push_str(&format!("{key} = {}\n", edits[i].2));
                done[i] = true;
            }
            None => out.push_str(&format!("{line}\n")),
        }
    }
    assert!(
        done.iter().all(|d| *d),
        "every edited key is in default.toml"
    );
    out
}

fn write_temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nkpay-config-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

fn gateways() -> (Url, Url) {
    (
        Url::parse("http://127.0.0.1:1/").unwrap(),
        Url::parse("http://127.0.0.1:1/gateway.do").unwrap(),
    )
}

#[test]
fn every_job_channel_and_notify_key_in_a_file_reaches_the_engine() {
    let file = write_temp(
        "keys.toml",
        &default_with(&[
            ("database", "max_connections", "5"),
            ("channels", "connect_timeout_ms", "1500"),
            ("channels", "request_timeout_ms", "8000"),
            ("channels", "wechat_sign_type", "\"HMAC-SHA256\""),
            ("channels", "wechat_spbill_create_ip", "\"10.0.0.7\""),
            ("notify", "schedule_secs", "[3, 60, 604800]"),
            ("notify", "concurrency", "12"),
            ("notify", "per_host_concurrency", "3"),
            ("notify", "timeout_ms", "2500"),
            ("notify", "poll_interval_ms", "250"),
            ("jobs", "query_delays_secs", "[2, 4, 8]"),
            ("jobs", "query_max_attempts", "7"),
            ("jobs", "expiry_grace_secs", "90"),
            ("jobs", "not_found_grace_secs", "45"),
            ("jobs", "interval_ms", "250"),
            ("jobs", "batch_size", "20"),
            ("jobs", "concurrency", "3"),
            ("jobs", "lease_secs", "75"),
        ]),
    );
    let config = Config::load(Some(&file), env(&[])).expect("valid");
    assert_eq!(config.database.max_connections, 5);

    let (wechat, alipay) = gateways();
    let e = config.engine_config(wechat.clone(), alipay.clone());
    assert_eq!(e.query_delays, secs(&[2, 4, 8]));
    assert_eq!(e.query_delay(5), Duration::from_secs(8));
    assert_eq!(e.query_max_attempts, 7);
    assert_eq!(e.expiry_grace, Duration::from_secs(90));
    assert_eq!(e.not_found_grace, Duration::from_secs(45));
    assert_eq!(e.job_interval, Duration::from_millis(250));
    assert_eq!(e.job_batch, 20);
    assert_eq!(e.job_concurrency, 3);
    assert_eq!(e.job_lease, Duration::from_secs(75));
    assert_eq!(e.channels.wechat_sign_type, WechatSignType::HmacSha256);
    assert_eq!(e.channels.wechat_server_ip, "10.0.0.7");
    assert_eq!(e.channels.http.connect_timeout, Duration::from_millis(1500));
    assert_eq!(e.channels.http.total_timeout, Duration::from_millis(8000));
    assert_eq!(e.channels.wechat_base_url, Some(wechat));
    assert_eq!(e.channels.alipay_gateway_url, Some(alipay));

    let d = config.dispatcher_config();
    assert_eq!(d.schedule, secs(&[3, 60, 604800]));
    assert_eq!(d.concurrency, 12);
    assert_eq!(d.per_host_concurrency, 3);
    assert_eq!(d.timeout, Duration::from_millis(2500));
    assert_eq!(d.poll_interval, Duration::from_millis(250));
    assert!(d.validate().is_ok());
}

#[test]
fn the_environment_overrides_every_new_key() {
    let config = Config::load(
        None,
        env(&[
            ("NKPAY__CHANNELS__WECHAT_SIGN_TYPE", "HMAC-SHA256"),
            ("NKPAY__CHANNELS__WECHAT_SPBILL_CREATE_IP", "2001:db8::1"),
            ("NKPAY__JOBS__QUERY_DELAYS_SECS", "[1, 3]"),
            ("NKPAY__JOBS__QUERY_MAX_ATTEMPTS", "9"),
            ("NKPAY__JOBS__EXPIRY_GRACE_SECS", "0"),
            ("NKPAY__JOBS__NOT_FOUND_GRACE_SECS", "600"),
            ("NKPAY__JOBS__INTERVAL_MS", "40"),
            ("NKPAY__JOBS__BATCH_SIZE", "2"),
            ("NKPAY__JOBS__CONCURRENCY", "1"),
            ("NKPAY__JOBS__LEASE_SECS", "3600"),
            ("NKPAY__DATABASE__MAX_CONNECTIONS", "2"),
        ]),
    )
    .expect("valid");
    assert_eq!(config.database.max_connections, 2);
    let (wechat, alipay) = gateways();
    let e = config.engine_config(wechat, alipay);
    assert_eq!(e.channels.wechat_sign_type, WechatSignType::HmacSha256);
    assert_eq!(e.channels.wechat_server_ip, "2001:db8::1");
    assert_eq!(e.query_delays, secs(&[1, 3]));
    assert_eq!(e.query_max_attempts, 9);
    assert_eq!(e.expiry_grace, Duration::ZERO);
    assert_eq!(e.not_found_grace, Duration::from_secs(600));
    assert_eq!(e.job_interval, Duration::from_millis(40));
    assert_eq!(e.job_batch, 2);
    assert_eq!(e.job_concurrency, 1);
    assert_eq!(e.job_lease, Duration::from_secs(3600));

    // The environment also wins over a file.
    let file = write_temp(
        "md5.toml",
        &default_with(&[("channels", "wechat_sign_type", "\"HMAC-SHA256\"")]),
    );
    let config = Config::load(
        Some(&file),
        env(&[("NKPAY__CHANNELS__WECHAT_SIGN_TYPE", "MD5")]),
    )
    .expect("valid");
    let (wechat, alipay) = gateways();
    let e = config.engine_config(wechat, alipay);
    assert_eq!(e.channels.wechat_sign_type, WechatSignType::Md5);
}

#[test]
fn the_node_lease_and_the_clock_offset_are_read_from_a_file_and_the_environment() {
    let config = Config::load(None, env(&[])).expect("default");
    assert_eq!(config.server.node_lease_secs, 30);
    assert_eq!(config.server.clock_offset_secs, 0);
    let (wechat, alipay) = gateways();
    let e = config.engine_config(wechat.clone(), alipay.clone());
    assert_eq!(e.clock_offset, chrono::TimeDelta::zero());

    let file = write_temp(
        "node.toml",
        &default_with(&[
            ("server", "node_lease_secs", "3"),
            ("server", "clock_offset_secs", "86400"),
        ]),
    );
    let config = Config::load(Some(&file), env(&[])).expect("valid");
    assert_eq!(config.server.node_lease_secs, 3);
    let e = config.engine_config(wechat.clone(), alipay.clone());
    assert_eq!(e.clock_offset, chrono::TimeDelta::days(1));

    let config = Config::load(
        Some(&file),
        env(&[
            ("NKPAY__SERVER__NODE_LEASE_SECS", "600"),
            ("NKPAY__SERVER__CLOCK_OFFSET_SECS", "-34560000"),
        ]),
    )
    .expect("valid");
    assert_eq!(config.server.node_lease_secs, 600);
    let e = config.engine_config(wechat, alipay);
    assert_eq!(e.clock_offset, chrono::TimeDelta::days(-400));
}

#[test]
fn out_of_bounds_values_are_refused_naming_the_key_and_the_rule() {
    // Each key with a value outside its bounds, set from the environment.
    let cases: &[(&str, &str)] = &[
        ("server.body_limit_bytes", "1000000000"),
        ("server.node_lease_secs", "2"),
        ("server.node_lease_secs", "601"),
        ("server.clock_offset_secs", "34560001"),
        ("server.clock_offset_secs", "-34560001"),
        ("database.max_connections", "0"),
        ("database.max_connections", "100000"),
        ("channels.connect_timeout_ms", "0"),
        ("channels.connect_timeout_ms", "600000"),
        ("channels.request_timeout_ms", "0"),
        ("channels.request_timeout_ms", "86400000"),
        ("channels.wechat_sign_type", "SHA1"),
        ("channels.wechat_spbill_create_ip", "localhost"),
        ("sandbox.time_scale", "0"),
        ("sandbox.time_scale", "-1"),
        ("sandbox.time_scale", "5000.0"),
        ("notify.schedule_secs", "[]"),
        ("notify.schedule_secs", "[15, 0]"),
        ("notify.schedule_secs", "[15, 604801]"),
        ("notify.concurrency", "0"),
        ("notify.concurrency", "1000000000"),
        ("notify.per_host_concurrency", "0"),
        ("notify.per_host_concurrency", "33"),
        ("notify.timeout_ms", "0"),
        ("notify.timeout_ms", "3600000"),
        ("notify.poll_interval_ms", "0"),
        ("notify.poll_interval_ms", "86400000"),
        ("jobs.query_delays_secs", "[]"),
        ("jobs.query_delays_secs", "[5, 0]"),
        ("jobs.query_delays_secs", "[5, 604801]"),
        ("jobs.query_max_attempts", "0"),
        ("jobs.query_max_attempts", "200000"),
        ("jobs.expiry_grace_secs", "604801"),
        ("jobs.not_found_grace_secs", "5"),
        ("jobs.not_found_grace_secs", "604801"),
        ("jobs.interval_ms", "0"),
        ("jobs.interval_ms", "86400000"),
        ("jobs.batch_size", "0"),
        ("jobs.batch_size", "1000000"),
        ("jobs.concurrency", "0"),
        ("jobs.concurrency", "100000"),
        ("jobs.lease_secs", "15"),
        ("jobs.lease_secs", "604800"),
    ];
    for (key, value) in cases {
        let var = format!("NKPAY__{}", key.to_ascii_uppercase().replace('.', "__"));
        let err = Config::load(None, env(&[(&var, value)]))
            .expect_err(&format!("{var}={value} is refused"));
        let text = err.to_string();
        assert!(text.contains(&format!("`{key}`")), "{var}={value}: {text}");
        assert!(text.contains("must"), "{var}={value}: the rule: {text}");
    }
    // The bounds that depend on another key follow it.
    Config::load(
        None,
        env(&[
            ("NKPAY__CHANNELS__REQUEST_TIMEOUT_MS", "2000"),
            ("NKPAY__JOBS__NOT_FOUND_GRACE_SECS", "5"),
            ("NKPAY__JOBS__LEASE_SECS", "15"),
        ]),
    )
    .expect("a shorter request time-out allows a shorter grace and lease");
    Config::load(
        None,
        env(&[
            ("NKPAY__SANDBOX__ENABLED", "false"),
            ("NKPAY__SANDBOX__TIME_SCALE", "0"),
        ]),
    )
    .expect("the time scale of a simulator that does not run is not checked");
}

#[tokio::test]
async fn database_max_connections_sizes_the_pool() {
    let dir = std::env::temp_dir().join(format!("nkpay-config-pool-{}", std::process::id()));
    let config = Config::load(
        None,
        env(&[
            (
                "NKPAY__DATABASE__URL",
                &format!("sqlite://{}/pool.db?mode=rwc", dir.display()),
            ),
            ("NKPAY__DATABASE__MAX_CONNECTIONS", "3"),
        ]),
    )
    .expect("valid");
    let db = nkpay_server::serve::open_database(&config)
        .await
        .expect("open");
    assert_eq!(db.max_connections(), Some(3));
    db.close().await.expect("close");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_abuse_limits_reach_the_api_and_are_bounded() {
    let file = write_temp(
        "limits.toml",
        &default_with(&[
            ("limits", "per_sys_id_per_sec", "7"),
            ("limits", "per_sys_id_burst", "9"),
            ("limits", "callback_per_addr_per_sec", "3"),
        ]),
    );
    let config = Config::load(
        Some(&file),
        env(&[
            ("NKPAY__LIMITS__CALLBACK_BURST", "4"),
            ("NKPAY__LIMITS__CALLBACK_BODY_LIMIT_BYTES", "4096"),
        ]),
    )
    .expect("valid");
    assert_eq!(
        config.limits.limits_config(),
        nkpay_api::limits::LimitsConfig {
            per_sys_id_per_sec: 7,
            per_sys_id_burst: 9,
            callback_per_addr_per_sec: 3,
            callback_burst: 4,
            callback_body_limit_bytes: 4096,
        }
    );
    for (key, value) in [
        ("limits.per_sys_id_per_sec", "100001"),
        ("limits.per_sys_id_burst", "1000001"),
        ("limits.callback_per_addr_per_sec", "100001"),
        ("limits.callback_burst", "1000001"),
        ("limits.callback_body_limit_bytes", "100"),
    ] {
        let var = format!("NKPAY__{}", key.to_ascii_uppercase().replace('.', "__"));
        let err = Config::load(None, env(&[(&var, value)])).expect_err(&var);
        assert!(
            err.to_string().contains(&format!("`{key}`")),
            "{var}: {err}"
        );
    }
}
