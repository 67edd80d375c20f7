//! The payment methods merchants order (`trade_type`) and the channel each one runs on.

use crate::error::CoreError;
use crate::string_enum::string_enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "sea-orm",
    derive(sea_orm::DeriveValueType),
    sea_orm(value_type = "String")
)]
/// A payment method a merchant orders, as sent in `trade_type`.
pub enum TradeType {
    /// WeChat official-account JSAPI.
    TJsapi,
    /// WeChat mini-program.
    TMiniapp,
    /// Alipay QR code (precreate).
    ANative,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "sea-orm",
    derive(sea_orm::DeriveValueType),
    sea_orm(value_type = "String")
)]
/// An upstream channel; stored and configured as "wechat" or "alipay".
pub enum ChannelKind {
    /// WeChat Pay, as service provider (`sub_mch_id`, `sub_appid`).
    Wechat,
    /// Alipay, as ISV (`app_auth_token`).
    Alipay,
}

impl TradeType {
    /// Every trade type.
    pub const ALL: [TradeType; 3] = [TradeType::TJsapi, TradeType::TMiniapp, TradeType::ANative];

    /// The wire string: "T_JSAPI", "T_MINIAPP" or "A_NATIVE".
    pub fn as_str(self) -> &'static str {
        match self {
            TradeType::TJsapi => "T_JSAPI",
            TradeType::TMiniapp => "T_MINIAPP",
            TradeType::ANative => "A_NATIVE",
        }
    }

    /// The channel that runs this payment method.
    pub fn channel(self) -> ChannelKind {
        match self {
            TradeType::TJsapi | TradeType::TMiniapp => ChannelKind::Wechat,
            TradeType::ANative => ChannelKind::Alipay,
        }
    }
}

impl ChannelKind {
    /// Every channel.
    pub const ALL: [ChannelKind; 2] = [ChannelKind::Wechat, ChannelKind::Alipay];

    /// The stored string: "wechat" or "alipay".
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Wechat => "wechat",
            ChannelKind::Alipay => "alipay",
        }
    }

    /// The largest amount of one trade or refund the channel's API carries, in fen. WeChat Pay
    /// v2: `total_fee`/`refund_fee` are `Int` (32-bit signed) fen, so 2147483647 fen
    /// (21474836.47 yuan). Alipay: `total_amount`/`refund_amount` are yuan in `[0.01,100000000]`,
    /// so 10000000000 fen. A larger amount is refused before anything is sent (issue 15,
    /// fault 5).
    pub fn max_amount_fen(self) -> i64 {
        match self {
            ChannelKind::Wechat => i64::from(i32::MAX),
            ChannelKind::Alipay => 10_000_000_000,
        }
    }
}

string_enum!(TradeType, CoreError::UnknownTradeType);
string_enum!(ChannelKind, CoreError::UnknownChannel);

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
