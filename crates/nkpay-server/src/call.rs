//! `nkpay call`: the merchant developer's debugging tool. Signs `data` exactly as the contract
//! says, posts it, verifies the reply's signature and prints the reply; `--explain` shows the
//! string signed on each side, so a merchant whose own signing fails can see why.

use std::fmt::Write;
use std::path::Path;

use anyhow::Context;
use nkpay_crypto::envelope::{self, KeyOrder};
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use serde_json::Value;
use serde_json::value::RawValue;

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
    let signed = envelope::sign_request_data(args.data, KeyOrder::TopLevel, &key)
        .context("signing the data argument (it must be a JSON object)")?;
    let body = request_body(&args, &signed.sign)?;
    let url = format!(
        "{}/{}",
        args.base_url.trim_end_matches('/'),
        args.path.trim_start_matches('/')
    );
    let reply = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(body)
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
        writeln!(
            out,
            "request string signed by you:\n{}\n",
            signed.signing_string
        )?;
    }
    let reply = envelope::parse_reply(&text)
        .with_context(|| format!("HTTP {status}: the reply is not a signed envelope: {text}"))?;
    let reply_data: Value = serde_json::from_str(&reply.data_text)?;
    if args.explain {
        writeln!(
            out,
            "reply string signed by the platform (key id {key_id}):\n{}\n",
            reply.signing_string
        )?;
    }
    let verified = match &platform_key {
        Some(pk) => {
            let ok = reply.verify(pk).is_ok();
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

/// The request envelope with `data` exactly as given: the platform rebuilds the signed string
/// from it, so nested key order and number text must survive (a `serde_json::Value` would sort
/// nested keys and rewrite numbers).
fn request_body(args: &CallArgs<'_>, sign: &str) -> anyhow::Result<String> {
    #[derive(serde::Serialize)]
    struct Envelope<'a> {
        sys_id: &'a str,
        product_id: &'a str,
        data: &'a RawValue,
        sign: &'a str,
    }
    let data: &RawValue =
        serde_json::from_str(args.data).context("the data argument must be a JSON object")?;
    Ok(serde_json::to_string(&Envelope {
        sys_id: args.sys_id,
        product_id: args.product_id,
        data,
        sign,
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_posted_exactly_as_given() {
        let data =
            r#"{"trans_amt":"0.10","wx_data":{"sub_openid":"o1","sub_appid":"wx1"},"n":1.50}"#;
        let args = CallArgs {
            base_url: "http://127.0.0.1:1",
            path: "/v2/trade/payment/jspay",
            sys_id: "NKSP0001",
            product_id: "NKPAY",
            key_file: Path::new("unused"),
            platform_key_file: None,
            data,
            explain: false,
        };
        let key = RsaPrivateKey::generate_2048().unwrap();
        let signed = envelope::sign_request_data(data, KeyOrder::TopLevel, &key).unwrap();
        let body = request_body(&args, &signed.sign).unwrap();
        assert!(body.contains(&format!(r#""data":{data}"#)), "{body}");
        // What the platform does with it: nested order and `1.50` survive, so the sign holds.
        let parsed = envelope::parse(body.as_bytes()).unwrap();
        assert_eq!(parsed.data_text, data);
        assert_eq!(parsed.sys_id, "NKSP0001");
        assert!(envelope::verify(&parsed, &key.public_key()));
    }
}
