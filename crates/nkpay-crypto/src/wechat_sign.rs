//! WeChat Pay v2 signatures (MD5 or HMAC-SHA256) over a field map: non-empty fields except
//! `sign`, sorted by key bytes, `k=v` joined by `&`, then `&key=<API key>`, upper-case hex.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{CryptoError, Result};
use crate::sorted_pairs::join_sorted_pairs;

/// The `sign_type` of a WeChat Pay v2 merchant (WeChat Pay v2 docs, "安全规范").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WechatSignType {
    /// `MD5`: what WeChat assumes when a request names no `sign_type`.
    Md5,
    /// `HMAC-SHA256`, keyed with the API key.
    HmacSha256,
}

impl WechatSignType {
    /// The wire name: `MD5` or `HMAC-SHA256`.
    pub fn as_str(self) -> &'static str {
        match self {
            WechatSignType::Md5 => "MD5",
            WechatSignType::HmacSha256 => "HMAC-SHA256",
        }
    }
}

impl fmt::Display for WechatSignType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WechatSignType {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "MD5" => Ok(WechatSignType::Md5),
            "HMAC-SHA256" => Ok(WechatSignType::HmacSha256),
            _ => Err(CryptoError::UnknownSignType(s.to_owned())),
        }
    }
}

/// `k=v&…` of every non-empty field but `sign`; the BTreeMap already orders keys by bytes.
pub fn string_to_sign(fields: &BTreeMap<String, String>) -> String {
    join_sorted_pairs(fields, &["sign"])
}

/// The upper-case hex signature WeChat expects in `sign` (and `paySign`).
pub fn sign(fields: &BTreeMap<String, String>, api_key: &str, t: WechatSignType) -> String {
    let s = format!("{}&key={}", string_to_sign(fields), api_key);
    match t {
        WechatSignType::Md5 => hex::encode_upper(Md5::digest(s.as_bytes())),
        WechatSignType::HmacSha256 => {
            // HMAC accepts keys of any length, so this cannot fail; the fallback keeps it total.
            match Hmac::<Sha256>::new_from_slice(api_key.as_bytes()) {
                Ok(mut mac) => {
                    mac.update(s.as_bytes());
                    hex::encode_upper(mac.finalize().into_bytes())
                }
                Err(_) => String::new(),
            }
        }
    }
}

/// Checks `fields["sign"]` in constant time. Case-sensitive: WeChat signs upper-case hex, so a
/// lower-case sign did not come from WeChat.
pub fn verify(fields: &BTreeMap<String, String>, api_key: &str, t: WechatSignType) -> Result<()> {
    let given = fields
        .get("sign")
        .filter(|s| !s.is_empty())
        .ok_or(CryptoError::MissingField("sign"))?;
    let expected = sign(fields, api_key, t);
    if !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        Ok(())
    } else {
        Err(CryptoError::BadSignature {
            what: "WeChat Pay sign",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    fn official() -> BTreeMap<String, String> {
        fields(&[
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ])
    }

    #[test]
    fn official_md5_vector() {
        assert_eq!(
            string_to_sign(&official()),
            "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA"
        );
        assert_eq!(
            sign(&official(), KEY, WechatSignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
    }

    #[test]
    fn official_hmac_sha256_vector() {
        assert_eq!(
            sign(&official(), KEY, WechatSignType::HmacSha256),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
    }

    #[test]
    fn official_pay_sign_vector() {
        let f = fields(&[
            ("appId", "wxd678efh567hg6787"),
            ("nonceStr", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
            ("package", "prepay_id=wx2017033010242291fcfe0db70013231072"),
            ("signType", "MD5"),
            ("timeStamp", "1490840662"),
        ]);
        assert_eq!(
            sign(&f, "qazwsxedcrfvtgbyhnujmikolp111111", WechatSignType::Md5),
            "22D9B4E54AB1950F51E0649E8810ACD6"
        );
    }

    #[test]
    fn signing_without_the_key_suffix_would_give_a_different_value() {
        // The trap: MD5 of the string without "&key=…" equals the key upper-cased, so a
        // forgotten suffix can look right. Our sign must not be that value.
        let without_key = hex::encode_upper(Md5::digest(string_to_sign(&official()).as_bytes()));
        assert_eq!(without_key, KEY.to_uppercase());
        assert_ne!(sign(&official(), KEY, WechatSignType::Md5), without_key);
    }

    #[test]
    fn empty_fields_and_sign_are_left_out() {
        let mut f = official();
        f.insert("attach".into(), String::new());
        f.insert("sign".into(), "WHATEVER".into());
        assert_eq!(
            sign(&f, KEY, WechatSignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
    }

    #[test]
    fn verify_accepts_the_right_sign_and_refuses_others() {
        let mut f = official();
        f.insert("sign".into(), "9A0A8659F005D6984697E2CA0A9CF3B7".into());
        assert!(verify(&f, KEY, WechatSignType::Md5).is_ok());
        assert!(verify(&f, "wrong", WechatSignType::Md5).is_err());
        assert!(verify(&f, KEY, WechatSignType::HmacSha256).is_err());
        f.insert("sign".into(), "9a0a8659f005d6984697e2ca0a9cf3b7".into());
        assert!(verify(&f, KEY, WechatSignType::Md5).is_err(), "lower case");
        f.insert("body".into(), "tampered".into());
        f.insert("sign".into(), "9A0A8659F005D6984697E2CA0A9CF3B7".into());
        assert!(verify(&f, KEY, WechatSignType::Md5).is_err());
    }

    #[test]
    fn verify_without_sign_names_the_field() {
        let err = verify(&official(), KEY, WechatSignType::Md5).unwrap_err();
        assert_eq!(err, CryptoError::MissingField("sign"));
    }

    #[test]
    fn sign_type_names_round_trip() {
        for t in [WechatSignType::Md5, WechatSignType::HmacSha256] {
            assert_eq!(t.as_str().parse::<WechatSignType>().unwrap(), t);
        }
        assert!("md5".parse::<WechatSignType>().is_err());
    }
}
