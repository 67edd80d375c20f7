//! The master key that seals secrets at rest: from `secrets.master_key` (environment) or a file;
//! the embedded default creates its file on first start so a fresh clone runs as it is.

use std::path::Path;

use nkpay_core::secret::Secret;
use nkpay_crypto::sealed::SecretSealer;

use crate::config::{ConfigError, SecretsConfig};

pub fn load(secrets: &SecretsConfig) -> Result<SecretSealer, ConfigError> {
    let (key, text) = key_text(secrets)?;
    SecretSealer::from_key_base64(&text).map_err(|e| ConfigError::Invalid {
        key,
        rule: format!("must hold base64 of 32 bytes ({e})"),
    })
}

/// The admin access tokens' HS256 key when `admin.jwt_secret` is not set: SHA-256 of a fixed
/// label and the master key, so every node sharing the master key shares it, and it reveals
/// nothing about the master key.
pub fn derived_jwt_secret(secrets: &SecretsConfig) -> Result<Secret<Vec<u8>>, ConfigError> {
    use sha2::{Digest, Sha256};
    // Loading first refuses a malformed key with the same message as at start.
    load(secrets)?;
    let (_, text) = key_text(secrets)?;
    let mut h = Sha256::new();
    h.update(b"nkpay admin access token HS256 key v1\0");
    h.update(text.as_bytes());
    Ok(Secret::new(h.finalize().to_vec()))
}

/// The configured master key's base64 text and the key it came from.
fn key_text(secrets: &SecretsConfig) -> Result<(&'static str, String), ConfigError> {
    if let Some(key) = &secrets.master_key {
        return Ok(("secrets.master_key", key.trim().to_owned()));
    }
    let Some(path) = &secrets.master_key_file else {
        return Err(ConfigError::Invalid {
            key: "secrets.master_key_file",
            rule: "set secrets.master_key or secrets.master_key_file".into(),
        });
    };
    if !path.exists() && secrets.create_master_key_if_missing {
        create(path)?;
    }
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
        key: "secrets.master_key_file",
        rule: format!("cannot read {}: {e}", path.display()),
    })?;
    Ok(("secrets.master_key_file", text.trim().to_owned()))
}

fn create(path: &Path) -> Result<(), ConfigError> {
    let fail = |e: std::io::Error| ConfigError::Invalid {
        key: "secrets.master_key_file",
        rule: format!("cannot create {}: {e}", path.display()),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(SecretSealer::generate_key_base64().as_bytes())
        .map_err(fail)?;
    tracing::info!(path = %path.display(), "created a new master key for secrets at rest");
    Ok(())
}
