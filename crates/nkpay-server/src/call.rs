//! `nkpay call`: the merchant developer's debugging tool. Signs `data` exactly as the contract
//! says, posts it, verifies the reply's signature and prints the reply; `--explain` shows the
//! string signed on each side, so a merchant whose own signing fails can see why.

use std::fmt::Write;
use std::path::Path;

use anyhow::{Context, bail};
use nkpay_crypto::canonical_json::canonical_top_sorted;
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use serde_json::Value;

pub struct CallArgs<'a> {
    pub base_url: &'a str,
    pub path: &'a str,
    pub sys_id: &'a str,
    pub product_id: &'a str,
    pub key_file: &'a Path,
    pub platform_key_file: Option<&'a Path>,
    pub data: &'a str,
    pub explain: bool,
}

/// Returns what to print, and whether the reply's signature verified.
pub async fn run(args: CallArgs<'_>) -> anyhow::Result<(String, bool)> {
    let key_text = std::fs::read_to_string(args.key_file)
        .with_context(|| format!("reading --key {}", args.key_file.display()))?;
    let key = RsaPrivateKey::from_pem_or_base64(&key_text).context("--key")?;
    let platform_key = match args.platform_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --platform-key {}", path.display()))?;
            Some(RsaPublicKey::from_pem_or_base64(&text).context("--platform-key")?)
        }
        None => None,
    };
    let data: Value =
        serde_json::from_str(args.data).context("the data argument must be a JSON object")?;
    if !data.is_object() {
        bail!("the data argument must be a JSON object");
    }
    let signed_string = canonical_top_sorted(args.data).context("canonical form of data")?;
    let sign = key.sign_sha256_base64(signed_string.as_bytes())?;
    let body = serde_json::json!({
        "sys_id": args.sys_id,
        "product_id": args.product_id,
        "data": data,
        "sign": sign,
    });
    let url = format!(
        "{}/{}",
        args.base_url.trim_end_matches('/'),
        args.path.trim_start_matches('/')
    );
    let reply = reqwest::Client::new()
        .post(&url)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = reply.status();
    let key_id = reply
        .headers()
        .get("x-nkp-key-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = reply.text().await?;
    let mut out = String::new();
    if args.explain {
        writeln!(out, "request string signed by you:\n{signed_string}\n")?;
    }
    #[derive(serde::Deserialize)]
    struct Reply {
        data: Box<serde_json::value::RawValue>,
        #[serde(default)]
        sign: String,
    }
    // Keep `data` as received so nested key order survives into the canonical string.
    let reply: Reply = serde_json::from_str(&text)
        .with_context(|| format!("HTTP {status}: the reply is not a signed envelope: {text}"))?;
    let reply_sign = reply.sign.as_str();
    let reply_string = canonical_top_sorted(reply.data.get()).unwrap_or_default();
    let reply_data: Value = serde_json::from_str(reply.data.get())?;
    if args.explain {
        writeln!(
            out,
            "reply string signed by the platform (key id {key_id}):\n{reply_string}\n"
        )?;
    }
    let verified = match &platform_key {
        Some(pk) => {
            let ok = pk
                .verify_sha256_base64(reply_string.as_bytes(), reply_sign)
                .is_ok();
            writeln!(
                out,
                "reply signature: {}",
                if ok { "verified" } else { "INVALID" }
            )?;
            ok
        }
        None => {
            writeln!(out, "reply signature: not checked (no --platform-key)")?;
            false
        }
    };
    writeln!(out, "{}", serde_json::to_string_pretty(&reply_data)?)?;
    Ok((out, verified || platform_key.is_none()))
}
