//! Money as whole fen (1/100 yuan) in an `i64`; yuan strings exist only at the edges.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::error::CoreError as MoneyError;

/// An amount of 0 to 99 999 999.99 yuan, held as fen. Arithmetic is checked and stays in range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    /// 0 fen.
    pub const ZERO: Money = Money(0);
    /// 99 999 999.99 yuan: the largest amount the API accepts.
    pub const MAX: Money = Money(9_999_999_999);

    /// Exact fen, as stored and as sent to WeChat (`total_fee`); nothing is rounded or guessed.
    pub fn from_fen(fen: i64) -> Result<Money, MoneyError> {
        if (0..=Self::MAX.0).contains(&fen) {
            Ok(Money(fen))
        } else {
            Err(MoneyError::FenOutOfRange { fen })
        }
    }

    /// The amount in fen (1/100 yuan), 0 to [`Money::MAX`].
    pub fn fen(self) -> i64 {
        self.0
    }

    /// Strict API-edge parsing: `0|[1-9][0-9]{0,7}` then `.` then exactly two digits, at least
    /// 0.01. Signs, spaces, exponents, missing or extra decimals and leading zeros are refused,
    /// because a merchant's amount must mean one thing only.
    pub fn parse_yuan(s: &str) -> Result<Money, MoneyError> {
        let bad = || MoneyError::YuanFormat {
            value: s.to_owned(),
        };
        let (int, frac) = s.split_once('.').ok_or_else(bad)?;
        let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int) || int.len() > 8 || (int.len() > 1 && int.starts_with('0')) {
            return Err(bad());
        }
        if frac.len() != 2 || !all_digits(frac) {
            return Err(bad());
        }
        // At most 8 + 2 digits, so this cannot overflow an i64.
        let fen = int
            .bytes()
            .chain(frac.bytes())
            .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'));
        if fen < 1 {
            return Err(bad());
        }
        Ok(Money(fen))
    }

    /// Yuan with exactly two decimals, the form `parse_yuan` reads back (`ZERO` is "0.00").
    pub fn to_yuan(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }

    /// Any stored fen amount (fees, refunded totals, a remainder that may be negative) as yuan
    /// with two decimals: `-5` is `"-0.05"`. For amounts that may lie outside [`Money`]'s range,
    /// where `Money::from_fen(f)?.to_yuan()` would need an error path.
    pub fn yuan_of_fen(fen: i64) -> String {
        let mut out = String::with_capacity(12);
        Money::push_yuan_of_fen(fen, &mut out);
        out
    }

    /// [`Money::yuan_of_fen`] appended to `out` (no allocation of its own: the statement
    /// writer formats millions of amounts into one reused buffer).
    pub fn push_yuan_of_fen(fen: i64, out: &mut String) {
        use std::fmt::Write as _;
        let sign = if fen < 0 { "-" } else { "" };
        let abs = fen.unsigned_abs();
        // Writing to a String cannot fail.
        let _ = write!(out, "{sign}{}.{:02}", abs / 100, abs % 100);
    }

    /// The sum, or `None` when it would exceed [`Money::MAX`].
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0
            .checked_add(other.0)
            .and_then(|f| Money::from_fen(f).ok())
    }

    /// The difference, or `None` when it would be negative.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0
            .checked_sub(other.0)
            .and_then(|f| Money::from_fen(f).ok())
    }

    /// Whether the amount is 0 fen.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_yuan())
    }
}

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Money::parse_yuan(s)
    }
}

/// Serialized as the yuan string the API uses ("0.01").
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_yuan())
    }
}

/// Deserialized with the strict `parse_yuan` rule.
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Money::parse_yuan(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_fen_amount_reads_as_yuan() {
        assert_eq!(Money::yuan_of_fen(1050), "10.50");
        assert_eq!(Money::yuan_of_fen(0), "0.00");
        assert_eq!(Money::yuan_of_fen(-5), "-0.05");
        assert_eq!(Money::yuan_of_fen(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn valid_yuan_strings_parse_to_fen() {
        assert_eq!(Money::parse_yuan("0.01").unwrap().fen(), 1);
        assert_eq!(Money::parse_yuan("1.00").unwrap().fen(), 100);
        assert_eq!(Money::parse_yuan("10.50").unwrap().fen(), 1050);
        assert_eq!(
            Money::parse_yuan("99999999.99").unwrap().fen(),
            9_999_999_999
        );
    }

    #[test]
    fn malformed_yuan_strings_are_rejected_naming_the_rule() {
        for s in [
            "1",
            "1.0",
            "1.001",
            "-1.00",
            "01.00",
            " 1.00",
            "1.00 ",
            "1e2",
            "NaN",
            "",
            "0.00",
            "+1.00",
            ".50",
            "1.",
            "100000000.00",
            "99999999999999999999.00",
            "1,00",
            "１.００",
            "1.0a",
        ] {
            let err = Money::parse_yuan(s).unwrap_err();
            assert!(
                err.to_string()
                    .contains("must be yuan with exactly two decimals, 0.01 to 99999999.99"),
                "{s:?}: {err}"
            );
        }
    }

    #[test]
    fn yuan_formatting_pads_fen() {
        assert_eq!(Money::from_fen(1).unwrap().to_yuan(), "0.01");
        assert_eq!(Money::from_fen(1050).unwrap().to_string(), "10.50");
        assert_eq!(Money::ZERO.to_yuan(), "0.00");
        assert_eq!(Money::MAX.to_yuan(), "99999999.99");
    }

    #[test]
    fn from_fen_refuses_negative_and_too_large() {
        assert!(Money::from_fen(-1).is_err());
        assert!(Money::from_fen(10_000_000_000).is_err());
        assert_eq!(Money::from_fen(0).unwrap(), Money::ZERO);
    }

    #[test]
    fn arithmetic_is_checked_at_both_ends_of_the_range() {
        let one = Money::from_fen(1).unwrap();
        assert_eq!(Money::MAX.checked_add(one), None);
        assert_eq!(Money::ZERO.checked_sub(one), None);
        assert_eq!(one.checked_add(one).unwrap().fen(), 2);
        assert_eq!(one.checked_sub(one).unwrap(), Money::ZERO);
    }

    #[test]
    fn serde_uses_strict_yuan_strings() {
        #[derive(Deserialize, Serialize)]
        struct Req {
            trans_amt: Money,
        }
        let ok: Req = serde_json::from_str(r#"{"trans_amt":"0.10"}"#).unwrap();
        assert_eq!(ok.trans_amt.fen(), 10);
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"trans_amt":"0.10"}"#
        );
        let err = serde_json::from_str::<Req>(r#"{"trans_amt":"0.1"}"#)
            .err()
            .unwrap();
        assert!(err.to_string().contains("exactly two decimals"));
    }
}
