//! Fuzz target `config` (docs/fuzzing.md): configuration files from the committed corpus
//! `fuzz/corpus/config` (the embedded default and the production example), mutated, and random
//! bytes, plus random `NKPAY__…` overrides of the default. Properties: loading never panics; a
//! refusal names what is wrong; whatever loads turns into an engine configuration.

#[path = "../../../fuzz/fuzzing.rs"]
#[allow(dead_code)]
mod fuzzing;

use nkpay_server::config::Config;
use proptest::prelude::*;

fn seeds() -> Vec<Vec<u8>> {
    fuzzing::seeds(&fuzzing::corpus_dir(env!("CARGO_MANIFEST_DIR"), "config"))
}

fn keys() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("NKPAY__SERVER__PORT".to_owned()),
        Just("NKPAY__SERVER__NODE_ID".to_owned()),
        Just("NKPAY__DATABASE__URL".to_owned()),
        Just("NKPAY__JOBS__QUERY_DELAYS_SECS".to_owned()),
        Just("NKPAY__JOBS__LEASE_SECS".to_owned()),
        Just("NKPAY__LIMITS__MAX_TRANS_AMT_FEN".to_owned()),
        Just("NKPAY__NOTIFY__SCHEDULE_SECS".to_owned()),
        Just("NKPAY__SANDBOX__TIME_SCALE".to_owned()),
        Just("NKPAY__CHANNELS__WECHAT_SIGN_TYPE".to_owned()),
        "NKPAY__[A-Z_]{1,12}__[A-Z_]{1,16}",
    ]
}

fn check(loaded: Result<Config, nkpay_server::config::ConfigError>) -> Result<(), TestCaseError> {
    match loaded {
        Ok(config) => {
            let url = url::Url::parse("http://127.0.0.1:1/").unwrap();
            let _ = config.engine_config(url.clone(), url);
        }
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(fuzzing::config())]

    #[test]
    fn fuzz_config(file in fuzzing::inputs(seeds()), overrides in proptest::collection::vec((keys(), "[ -~]{0,24}"), 0..4)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nkpay.toml");
        std::fs::write(&path, &file).unwrap();
        check(Config::load(Some(&path), Vec::<(String, String)>::new()))?;
        check(Config::load(None, overrides))?;
    }
}
