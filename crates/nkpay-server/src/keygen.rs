//! `nkpay keygen`: an RSA-2048 pair for a merchant or the platform, in PEM and bare base64.

use std::fmt::Write;

use nkpay_crypto::rsa_keys::RsaPrivateKey;

pub fn run() -> anyhow::Result<String> {
    let private = RsaPrivateKey::generate_2048()?;
    let public = private.public_key();
    let mut out = String::new();
    writeln!(out, "# RSA-2048 key pair (PKCS#8 private, SPKI public)")?;
    writeln!(out, "{}", private.to_pkcs8_pem().trim_end())?;
    writeln!(out, "{}", public.to_spki_pem().trim_end())?;
    writeln!(out, "# bare base64 (the form the Dougong SDK takes)")?;
    writeln!(out, "private_key_base64={}", private.to_pkcs8_base64())?;
    writeln!(out, "public_key_base64={}", public.to_spki_base64())?;
    Ok(out)
}
