//! The pre-signed request pool: every body a run sends is built and signed before the timed loop,
//! the way a merchant's SDK signs it (nkpay-crypto's envelope, [`KeyOrder::TopLevel`]), so the
//! harness's own RSA cost never lands inside a measured latency.

use std::num::NonZeroUsize;

use anyhow::Context;
use bytes::Bytes;
use nkpay_crypto::envelope::{self, KeyOrder};
use nkpay_crypto::rsa_keys::RsaPrivateKey;
use serde_json::{Map, Value, json};

/// Who signs: the envelope's `sys_id` and `product_id` and the caller's RSA private key.
pub struct Signer {
    /// The caller's `sys_id` (the demo service provider's).
    pub sys_id: String,
    /// Its `product_id`.
    pub product_id: String,
    /// Its RSA-2048 private key.
    pub key: RsaPrivateKey,
}

/// The request `data` of one pool entry, as a JSON object.
pub type Data = Map<String, Value>;

/// Signs every `data` into a full request body `{"sys_id","product_id","data","sign"}`, in the
/// order given, on all cores (RSA-2048 signing is ~1 ms per body).
///
/// Errors: a `data` the envelope code refuses to sign (it is always a JSON object here), or the
/// signer failing.
pub fn sign_all(signer: &Signer, datas: Vec<Data>) -> anyhow::Result<Vec<Bytes>> {
    let threads = std::thread::available_parallelism()
        .map(NonZeroUsize::get)
        .unwrap_or(1);
    let chunk = datas.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = datas
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|d| sign_one(signer, d)).collect()))
            .collect();
        let mut out = Vec::with_capacity(datas.len());
        for h in handles {
            let part: anyhow::Result<Vec<Bytes>> = h
                .join()
                .map_err(|_| anyhow::anyhow!("a signing thread panicked"))?;
            out.extend(part?);
        }
        Ok(out)
    })
}

/// One signed body: `data` is sent exactly as it was signed.
fn sign_one(signer: &Signer, data: &Data) -> anyhow::Result<Bytes> {
    let text = serde_json::to_string(data)?;
    let signed = envelope::sign_request_data(&text, KeyOrder::TopLevel, &signer.key)
        .context("signing a pool request")?;
    let body = json!({
        "sys_id": signer.sys_id,
        "product_id": signer.product_id,
        "data": data,
        "sign": signed.sign,
    });
    Ok(Bytes::from(serde_json::to_vec(&body)?))
}

/// Unique request ids of one run: `req_seq_id` = `bn` + the run's stamp + a tag + the index, at
/// most 64 characters of `[0-9A-Za-z]` (API.md), so no two requests of a run, nor of two runs
/// started in different milliseconds, ever collide.
#[derive(Debug, Clone)]
pub struct SeqIds {
    stamp: String,
}

impl SeqIds {
    /// Ids stamped with the given instant (milliseconds since the Unix epoch).
    pub fn new(unix_millis: i64) -> SeqIds {
        SeqIds {
            stamp: format!("{unix_millis:x}"),
        }
    }

    /// The `index`th id under `tag` (a few letters naming the mode).
    pub fn id(&self, tag: &str, index: usize) -> String {
        format!("{}{index:08}", self.prefix(tag))
    }

    /// What every id under `tag` starts with.
    pub fn prefix(&self, tag: &str) -> String {
        format!("bn{}{tag}", self.stamp)
    }
}

/// Today in Asia/Shanghai as `yyyyMMdd`: the `req_date` the API checks against its clock.
pub fn shanghai_today() -> String {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y%m%d")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn signer() -> Signer {
        Signer {
            sys_id: "6666000100000000".into(),
            product_id: "NKPAY".into(),
            key: RsaPrivateKey::generate_2048().unwrap(),
        }
    }

    #[test]
    fn every_body_verifies_with_the_callers_public_key_and_keeps_its_order() {
        let s = signer();
        let ids = SeqIds::new(1_700_000_000_000);
        let datas: Vec<Data> = (0..7)
            .map(|i| {
                let mut d = Data::new();
                d.insert("req_seq_id".into(), ids.id("js", i).into());
                d.insert("goods_desc".into(), "测试".into());
                d.insert("trans_amt".into(), "0.01".into());
                d
            })
            .collect();
        let bodies = sign_all(&s, datas).unwrap();
        assert_eq!(bodies.len(), 7);
        let public = s.key.public_key();
        for (i, body) in bodies.iter().enumerate() {
            let req = envelope::parse(body).unwrap();
            assert!(envelope::verify(&req, &public), "body {i} verifies");
            assert_eq!(req.sys_id, "6666000100000000");
            assert_eq!(req.data["req_seq_id"], ids.id("js", i).as_str());
        }
        let other = RsaPrivateKey::generate_2048().unwrap().public_key();
        assert!(!envelope::verify(
            &envelope::parse(&bodies[0]).unwrap(),
            &other
        ));
    }

    #[test]
    fn an_empty_pool_signs_nothing() {
        assert!(sign_all(&signer(), Vec::new()).unwrap().is_empty());
    }

    #[test]
    fn request_ids_are_unique_and_of_the_apis_form() {
        let a = SeqIds::new(1_700_000_000_000);
        let b = SeqIds::new(1_700_000_000_001);
        let mut seen = HashSet::new();
        for i in 0..1000 {
            for id in [a.id("js", i), a.id("rf", i), b.id("js", i)] {
                assert!(id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric()));
                assert!(id.starts_with("bn"));
                assert!(seen.insert(id), "unique");
            }
        }
        assert_eq!(shanghai_today().len(), 8);
    }
}
