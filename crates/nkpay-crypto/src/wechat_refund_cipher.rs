//! WeChat Pay v2 refund notifications carry `req_info`: base64 of AES-256-ECB with PKCS#7
//! padding, keyed with the lower-case hex MD5 of the API key (its 32 ASCII bytes). ECB is
//! WeChat's choice, not ours; we only decrypt (and encrypt, for the sandbox).

use aes::Aes256;
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};

use crate::error::{CryptoError, Result};

const WHAT: &str = "req_info";

fn key_bytes(api_key: &str) -> [u8; 32] {
    let hex = hex::encode(Md5::digest(api_key.as_bytes()));
    let mut key = [0u8; 32];
    key.copy_from_slice(hex.as_bytes());
    key
}

/// The XML plaintext (`<root>…</root>`) of a refund notification's `req_info`.
pub fn decrypt_req_info(req_info_b64: &str, api_key: &str) -> Result<String> {
    let ct = STANDARD
        .decode(req_info_b64.trim())
        .map_err(|_| CryptoError::Base64 { what: WHAT })?;
    if ct.is_empty() || ct.len() % 16 != 0 {
        return Err(CryptoError::Cipher {
            what: WHAT,
            reason: "ciphertext is not a whole number of 16-byte blocks",
        });
    }
    let plain = ecb::Decryptor::<Aes256>::new(&key_bytes(api_key).into())
        .decrypt_padded_vec_mut::<Pkcs7>(&ct)
        .map_err(|_| CryptoError::Cipher {
            what: WHAT,
            reason: "bad padding after decryption (wrong API key or corrupted data)",
        })?;
    String::from_utf8(plain).map_err(|_| CryptoError::Cipher {
        what: WHAT,
        reason: "plaintext is not UTF-8 (wrong API key or corrupted data)",
    })
}

/// What WeChat would send for `plain`; used by the sandbox and in tests.
pub fn encrypt_req_info(plain: &str, api_key: &str) -> Result<String> {
    let ct = ecb::Encryptor::<Aes256>::new(&key_bytes(api_key).into())
        .encrypt_padded_vec_mut::<Pkcs7>(plain.as_bytes());
    Ok(STANDARD.encode(ct))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "192006250b4c09247ec02edce69f6a2d";
    const PLAIN: &str = "<root><out_refund_no><![CDATA[R1]]></out_refund_no><refund_status><![CDATA[SUCCESS]]></refund_status></root>";

    #[test]
    fn round_trip() {
        let enc = encrypt_req_info(PLAIN, KEY).unwrap();
        assert_eq!(decrypt_req_info(&enc, KEY).unwrap(), PLAIN);
    }

    /// Made independently of this code: `printf '%s' PLAIN | openssl enc -aes-256-ecb -nosalt
    /// -K <hex of the 32 ASCII bytes "d96eb16afdd491fa1e705096edbc2205" = md5 hex of KEY> | base64`.
    const OPENSSL_REQ_INFO: &str = "WBzGpzQuNpcFxIlFjUUD9BZv+lpBMzd2SHiKCkwfALWid5G8ZvfOussfMIHLbKJmcnxPKdb1ZJEqTAp8ysQv+xa1fj+Eorgndx3fNxf3KAYa3LPgsjvZgxaeYyrhV05Kbjkj6ywg27cEyTTaPZFYNg==";

    #[test]
    fn matches_openssl_with_the_md5_hex_key() {
        assert_eq!(&key_bytes(KEY), b"d96eb16afdd491fa1e705096edbc2205");
        assert_eq!(encrypt_req_info(PLAIN, KEY).unwrap(), OPENSSL_REQ_INFO);
        assert_eq!(decrypt_req_info(OPENSSL_REQ_INFO, KEY).unwrap(), PLAIN);
    }

    #[test]
    fn bad_base64_is_an_error() {
        assert_eq!(
            decrypt_req_info("not base64!", KEY).unwrap_err(),
            CryptoError::Base64 { what: "req_info" }
        );
    }

    #[test]
    fn wrong_key_or_bad_padding_is_an_error() {
        let enc = encrypt_req_info(PLAIN, KEY).unwrap();
        assert!(decrypt_req_info(&enc, "another key").is_err());
        // 16 zero bytes decrypt to a block whose last byte is almost surely not valid padding;
        // a truncated ciphertext is not whole blocks.
        assert!(decrypt_req_info(&STANDARD.encode([0u8; 15]), KEY).is_err());
        assert!(decrypt_req_info("", KEY).is_err());
    }
}
