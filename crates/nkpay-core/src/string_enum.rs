//! The closed sets of wire strings (`trade_type`, `trans_stat`, `resp_code` …) share one shape:
//! an `ALL` list and `as_str()`; this macro derives Display, exact FromStr and serde from them.

/// `string_enum!(Type, CoreError::Variant)`: the type needs `const ALL` and `fn as_str(self)`;
/// parsing is exact and case-sensitive, and an unknown string becomes `Variant(value)`.
macro_rules! string_enum {
    ($t:ty, $err:path) => {
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl ::std::str::FromStr for $t {
            type Err = $crate::error::CoreError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$t>::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $err(s.to_owned()))
            }
        }
        impl ::serde::Serialize for $t {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> ::serde::Deserialize<'de> for $t {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_enum;
