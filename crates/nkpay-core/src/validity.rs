//! The validity period of a licence or certificate as Dougong sends it: a validity type
//! (`license_validity_type`, `legal_cert_validity_type`, ...: `0` fixed term, `1` long-term), a
//! begin date and an end date, each `yyyyMMdd`; a long-term validity has an empty end date.

use chrono::NaiveDate;
use thiserror::Error;

/// The validity type: `0` fixed term, `1` long-term (Dougong "1:长期有效 0:非长期有效").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValidityType {
    /// `0`: valid from the begin date until the end date.
    FixedTerm,
    /// `1`: valid from the begin date with no end (长期有效).
    LongTerm,
}

/// A checked validity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// First day of validity.
    pub begin: NaiveDate,
    /// Last day of validity; `None` when long-term.
    pub end: Option<NaiveDate>,
}

/// Why a validity period is refused; each message names the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidityError {
    /// A validity type other than `0` or `1`.
    #[error("unknown validity type {0:?}: expected 0 (fixed term) or 1 (long-term)")]
    UnknownType(String),
    /// A date that is not a calendar day written `yyyyMMdd`.
    #[error("{0:?} must be a date yyyyMMdd")]
    Date(String),
    /// A long-term validity with an end date.
    #[error("a long-term validity (type 1) must have an empty end date")]
    EndDateOnLongTerm,
    /// A fixed-term validity without an end date.
    #[error("a fixed-term validity (type 0) needs an end date")]
    MissingEndDate,
    /// The begin date is not before the end date.
    #[error("the begin date {begin} must be before the end date {end}")]
    Order {
        /// The begin date as given.
        begin: String,
        /// The end date as given.
        end: String,
    },
}

impl ValidityType {
    /// The type for a wire code `0` or `1`.
    pub fn parse(code: &str) -> Result<ValidityType, ValidityError> {
        match code {
            "0" => Ok(ValidityType::FixedTerm),
            "1" => Ok(ValidityType::LongTerm),
            _ => Err(ValidityError::UnknownType(code.to_owned())),
        }
    }

    /// The wire code: "0" or "1".
    pub fn code(self) -> &'static str {
        match self {
            ValidityType::FixedTerm => "0",
            ValidityType::LongTerm => "1",
        }
    }
}

/// A date written `yyyyMMdd` (Dougong's date format): exactly 8 ASCII digits forming a calendar
/// day, so 19900229 (1990 is not a leap year) is `None`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().ok();
    NaiveDate::from_ymd_opt(
        i32::try_from(number(0..4)?).ok()?,
        number(4..6)?,
        number(6..8)?,
    )
}

/// Checks a validity period: the type is `0` or `1`, the begin date is a `yyyyMMdd` day, a
/// long-term period (`1`) has an empty end date, and a fixed-term one (`0`) has an end date
/// after its begin date.
pub fn validate_validity(
    validity_type: &str,
    begin: &str,
    end: &str,
) -> Result<Validity, ValidityError> {
    let validity_type = ValidityType::parse(validity_type)?;
    let date = |text: &str| parse_date(text).ok_or_else(|| ValidityError::Date(text.to_owned()));
    let begin_date = date(begin)?;
    match validity_type {
        ValidityType::LongTerm if end.is_empty() => Ok(Validity {
            begin: begin_date,
            end: None,
        }),
        ValidityType::LongTerm => Err(ValidityError::EndDateOnLongTerm),
        ValidityType::FixedTerm if end.is_empty() => Err(ValidityError::MissingEndDate),
        ValidityType::FixedTerm => {
            let end_date = date(end)?;
            if begin_date >= end_date {
                return Err(ValidityError::Order {
                    begin: begin.to_owned(),
                    end: end.to_owned(),
                });
            }
            Ok(Validity {
                begin: begin_date,
                end: Some(end_date),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn dates_are_eight_digits_forming_a_calendar_day() {
        for (text, expected) in [
            ("20220905", Some(day(2022, 9, 5))),
            ("20000229", Some(day(2000, 2, 29))),
            ("20240229", Some(day(2024, 2, 29))),
            ("19900229", None),
            ("19000229", None),
            ("20221301", None),
            ("20220431", None),
            ("20220100", None),
            ("2022095", None),
            ("2022-09-05", None),
            ("+2022095", None),
            ("2022090５", None),
            ("", None),
        ] {
            assert_eq!(parse_date(text), expected, "{text:?}");
        }
    }

    #[test]
    fn validity_types_parse_from_0_and_1_only() {
        assert_eq!(ValidityType::parse("0"), Ok(ValidityType::FixedTerm));
        assert_eq!(ValidityType::parse("1"), Ok(ValidityType::LongTerm));
        for t in [ValidityType::FixedTerm, ValidityType::LongTerm] {
            assert_eq!(ValidityType::parse(t.code()), Ok(t));
        }
        for code in ["", "2", "00", "Y"] {
            assert_eq!(
                ValidityType::parse(code),
                Err(ValidityError::UnknownType(code.to_owned()))
            );
        }
    }

    #[test]
    fn valid_periods_are_accepted() {
        for (validity_type, begin, end, expected) in [
            ("1", "20220905", "", (day(2022, 9, 5), None)),
            (
                "0",
                "20220905",
                "20420905",
                (day(2022, 9, 5), Some(day(2042, 9, 5))),
            ),
            (
                "0",
                "20240228",
                "20240229",
                (day(2024, 2, 28), Some(day(2024, 2, 29))),
            ),
        ] {
            let (begin_date, end_date) = expected;
            assert_eq!(
                validate_validity(validity_type, begin, end),
                Ok(Validity {
                    begin: begin_date,
                    end: end_date
                })
            );
        }
    }

    #[test]
    fn periods_breaking_a_rule_are_refused_naming_it() {
        use ValidityError::*;
        let order = |begin: &str, end: &str| Order {
            begin: begin.into(),
            end: end.into(),
        };
        for (validity_type, begin, end, error) in [
            ("2", "20220905", "", UnknownType("2".into())),
            ("", "20220905", "", UnknownType("".into())),
            ("1", "20220905", "20420905", EndDateOnLongTerm),
            ("0", "20220905", "", MissingEndDate),
            ("1", "", "", Date("".into())),
            ("0", "19900229", "20200101", Date("19900229".into())),
            ("0", "20220905", "20230229", Date("20230229".into())),
            ("0", "20420905", "20220905", order("20420905", "20220905")),
            ("0", "20220905", "20220905", order("20220905", "20220905")),
        ] {
            assert_eq!(
                validate_validity(validity_type, begin, end),
                Err(error),
                "{validity_type} {begin} {end}"
            );
        }
    }

    #[test]
    fn messages_name_the_rule() {
        assert_eq!(
            ValidityError::EndDateOnLongTerm.to_string(),
            "a long-term validity (type 1) must have an empty end date"
        );
        assert_eq!(
            ValidityError::Order {
                begin: "20420905".into(),
                end: "20220905".into()
            }
            .to_string(),
            "the begin date 20420905 must be before the end date 20220905"
        );
    }
}
