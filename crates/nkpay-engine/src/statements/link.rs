//! Signed download links: `{public_base_url}/statements/download/{file_id}?expires=<unix
//! seconds>&sign=<hex>`, where `sign` = lower-case hex HMAC-SHA256, keyed with
//! `statements.link_key`, over `"{file_id}\n{expires}"`. The link is its own credential: a
//! holder downloads the file until `expires` (UTC, exclusive); an altered id, expiry or
//! signature, or a past expiry, is refused (403 at the API).

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The download route, relative to `public_base_url`; `{file_id}` follows.
pub const DOWNLOAD_PATH: &str = "/statements/download/";

fn mac(key: &[u8], file_id: &str, expires: i64) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    mac.update(file_id.as_bytes());
    mac.update(b"\n");
    mac.update(expires.to_string().as_bytes());
    Some(mac)
}

/// The hex signature of `file_id` until `expires` (unix seconds); empty if the key cannot key
/// an HMAC (never: HMAC takes any key length).
pub fn sign(key: &[u8], file_id: &str, expires: i64) -> String {
    mac(key, file_id, expires)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Why a link is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// `expires` lies in the past.
    Expired,
    /// The signature does not match the id and expiry (altered, or another key).
    BadSignature,
}

/// Checks a link's `sign` over `file_id` and `expires` at `now`, in constant time.
pub fn verify(
    key: &[u8],
    file_id: &str,
    expires: i64,
    sign_hex: &str,
    now: DateTime<Utc>,
) -> Result<(), LinkRefusal> {
    let given = hex::decode(sign_hex).map_err(|_| LinkRefusal::BadSignature)?;
    let mac = mac(key, file_id, expires).ok_or(LinkRefusal::BadSignature)?;
    mac.verify_slice(&given)
        .map_err(|_| LinkRefusal::BadSignature)?;
    if now.timestamp() >= expires {
        return Err(LinkRefusal::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_link_verifies_until_it_expires_and_not_once_altered() {
        let key = b"k".repeat(32);
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap();
        let exp = now.timestamp() + 60;
        let s = sign(&key, "F1", exp);
        assert_eq!(verify(&key, "F1", exp, &s, now), Ok(()));
        assert_eq!(
            verify(&key, "F2", exp, &s, now),
            Err(LinkRefusal::BadSignature)
        );
        assert_eq!(
            verify(&key, "F1", exp + 1, &s, now),
            Err(LinkRefusal::BadSignature)
        );
        assert_eq!(
            verify(b"other", "F1", exp, &s, now),
            Err(LinkRefusal::BadSignature)
        );
        let later = now + chrono::TimeDelta::seconds(60);
        assert_eq!(
            verify(&key, "F1", exp, &s, later),
            Err(LinkRefusal::Expired)
        );
    }
}
