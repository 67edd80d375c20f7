//! The payment methods merchants order (`trade_type`) and the channel each one runs on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::CoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TradeType {
    /// WeChat official-account JSAPI.
    TJsapi,
    /// WeChat mini-program.
    TMiniapp,
    /// Alipay QR code (precreate).
    ANative,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelKind {
    Wechat,
    Alipay,
}

impl TradeType {
    pub const ALL: [TradeType; 3] = [TradeType::TJsapi, TradeType::TMiniapp, TradeType::ANative];

    pub fn as_str(self) -> &'static str {
        match self {
            TradeType::TJsapi => "T_JSAPI",
            TradeType::TMiniapp => "T_MINIAPP",
            TradeType::ANative => "A_NATIVE",
        }
    }

    pub fn channel(self) -> ChannelKind {
        match self {
            TradeType::TJsapi | TradeType::TMiniapp => ChannelKind::Wechat,
            TradeType::ANative => ChannelKind::Alipay,
        }
    }
}

impl FromStr for TradeType {
    type Err = CoreError;
    /// Exact, case-sensitive names only: a near miss is a parameter error, not a guess.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TradeType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| CoreError::UnknownTradeType(s.to_owned()))
    }
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 2] = [ChannelKind::Wechat, ChannelKind::Alipay];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Wechat => "wechat",
            ChannelKind::Alipay => "alipay",
        }
    }
}

impl FromStr for ChannelKind {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChannelKind::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| CoreError::UnknownChannel(s.to_owned()))
    }
}

macro_rules! string_enum_impls {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_enum_impls;

string_enum_impls!(TradeType);
string_enum_impls!(ChannelKind);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trade_types_round_trip_and_map_to_their_channel() {
        for t in TradeType::ALL {
            assert_eq!(t.as_str().parse::<TradeType>().unwrap(), t);
        }
        assert_eq!(TradeType::TJsapi.channel(), ChannelKind::Wechat);
        assert_eq!(TradeType::TMiniapp.channel(), ChannelKind::Wechat);
        assert_eq!(TradeType::ANative.channel(), ChannelKind::Alipay);
    }

    #[test]
    fn unknown_trade_type_is_an_error_naming_the_value() {
        for bad in ["t_jsapi", "T_NATIVE", "", " T_JSAPI"] {
            let err = bad.parse::<TradeType>().unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn channel_kinds_round_trip() {
        for c in ChannelKind::ALL {
            assert_eq!(c.as_str().parse::<ChannelKind>().unwrap(), c);
        }
        assert!("WECHAT".parse::<ChannelKind>().is_err());
    }
}
