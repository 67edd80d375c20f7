//! The master key that seals secrets at rest: from `secrets.master_key` (environment) or a file;
//! the embedded default creates its file on first start so a fresh clone runs as it is.

use std::path::Path;

use nkpay_crypto::sealed::SecretSealer;

use crate::config::{ConfigError, SecretsConfig};

pub fn load(secrets: &SecretsConfig) -> Result<SecretSealer, ConfigError> {
    if let Some(key) = &secrets.master_key {
        return SecretSealer::from_key_base64(key.trim()).map_err(|e| ConfigError::Invalid {
            key: "secrets.master_key",
            rule: format!("must be base64 of 32 bytes ({e})"),
        });
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
    SecretSealer::from_key_base64(text.trim()).map_err(|e| ConfigError::Invalid {
        key: "secrets.master_key_file",
        rule: format!("{} must hold base64 of 32 bytes ({e})", path.display()),
    })
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
