//! `Secret<T>`: a value that must never reach logs or responses (API keys, private keys, tokens).
//! It prints as `***`, cannot be serialized, and is read only through an explicit `expose()`.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A value that must never reach logs or responses: `Debug` prints `***`, there is no `Serialize`.
#[derive(Clone, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The secret itself; every call site is a place where it may leak, so keep them few.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the secret; the same care as [`Secret::expose`] applies.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Transparent: configuration files hold the plain value.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("192006250b4c09247ec02edce69f6a2d".to_string());
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Config {
            api_key: Secret<String>,
        }
        let c = Config { api_key: s.clone() };
        assert!(!format!("{c:?}").contains("1920"));
        assert_eq!(s.expose(), "192006250b4c09247ec02edce69f6a2d");
    }

    #[test]
    fn secret_deserializes_transparently() {
        let s: Secret<String> = serde_json::from_str(r#""k""#).unwrap();
        assert_eq!(s.expose(), "k");
    }
}
