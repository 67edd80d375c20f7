//! The 18-character citizen identity number (公民身份号码) of the resident identity card, as
//! GB 11643-1999 defines it: a 6-digit address code, an 8-digit birth date, a 3-digit sequence
//! code and a check character (ISO 7064 MOD 11-2) over the first 17 digits.
//!
//! The same number scheme is printed on the household register and on the residence permits of
//! Hong Kong, Macao and Taiwan residents; [`crate::cert_no`] reuses it for those types.

use chrono::NaiveDate;
use thiserror::Error;

use crate::validity::parse_date;

/// The weights of digits 1 to 17 (GB 11643-1999, 7.2): 2^(18-i) mod 11.
pub const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The check character for each weighted sum mod 11 (GB 11643-1999, 7.2); `X` stands for 10.
pub const CHECK_CHARACTERS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// Length of a number, check character included (GB 11643-1999, 4).
pub const LENGTH: usize = 18;

/// The earliest birth date accepted: nobody born before it holds a card today.
pub const EARLIEST_BIRTH_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(date) => date,
    None => panic!("1900-01-01 is a date"),
};

/// Why a string is not a citizen identity number; each message names the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResidentIdError {
    /// Not exactly 18 characters (GB 11643-1999, 4).
    #[error("must be 18 characters (GB 11643-1999), got {0}")]
    Length(usize),
    /// A non-digit among the first 17, or a last character neither a digit nor X.
    #[error(
        "character {found:?} at position {position} is not allowed: 17 digits then a digit or X \
         (GB 11643-1999)"
    )]
    Character {
        /// 1-based position of the character.
        position: usize,
        /// The refused character.
        found: char,
    },
    /// Positions 7–14 are not a calendar date yyyyMMdd (GB 11643-1999, 5.2).
    #[error("positions 7-14 must be a birth date yyyyMMdd (GB 11643-1999), got {0}")]
    BirthDate(String),
    /// The birth date is after today or before [`EARLIEST_BIRTH_DATE`].
    #[error("birth date {0} must be between 19000101 and today (GB 11643-1999)")]
    BirthDateOutOfRange(String),
    /// The 18th character is not the one computed from the first 17 (GB 11643-1999, 7.2).
    #[error("check character must be {expected} (GB 11643-1999), got {found}")]
    CheckCharacter {
        /// The check character the first 17 digits call for.
        expected: char,
        /// The 18th character as given (upper-cased).
        found: char,
    },
}

/// Checks `id` against GB 11643-1999 and returns it normalised: 17 digits, a birth date at
/// positions 7–14 that is a real day between [`EARLIEST_BIRTH_DATE`] and `today`, and the check
/// character of the first 17 digits ([`check_character`]). A lower-case `x` is the same as `X`
/// and comes back upper-case, so that one person's number is stored and compared one way.
pub fn validate_resident_id(id: &str, today: NaiveDate) -> Result<String, ResidentIdError> {
    let count = id.chars().count();
    if count != LENGTH {
        return Err(ResidentIdError::Length(count));
    }
    for (i, c) in id.chars().enumerate() {
        let last = i == LENGTH - 1;
        if !(c.is_ascii_digit() || last && (c == 'X' || c == 'x')) {
            return Err(ResidentIdError::Character {
                position: i + 1,
                found: c,
            });
        }
    }
    // All ASCII from here on, so byte slicing cannot split a character.
    let normalized = id.to_ascii_uppercase();
    birth_date(&normalized, today)?;
    let expected = check_character(&normalized[..LENGTH - 1])?;
    let found = char::from(normalized.as_bytes()[LENGTH - 1]);
    if found != expected {
        return Err(ResidentIdError::CheckCharacter { expected, found });
    }
    Ok(normalized)
}

/// The birth date at positions 7–14 of a 17- or 18-digit number, refused when it is not a
/// calendar day or lies outside [`EARLIEST_BIRTH_DATE`]..=`today` (GB 11643-1999, 5.2).
pub fn birth_date(id: &str, today: NaiveDate) -> Result<NaiveDate, ResidentIdError> {
    let text = id.get(6..14).unwrap_or_default();
    let date = parse_date(text).ok_or_else(|| ResidentIdError::BirthDate(text.to_owned()))?;
    if date > today || date < EARLIEST_BIRTH_DATE {
        return Err(ResidentIdError::BirthDateOutOfRange(text.to_owned()));
    }
    Ok(date)
}

/// The check character for the first 17 digits (GB 11643-1999, 7.2):
/// [`CHECK_CHARACTERS`]`[Σ digit × weight mod 11]`.
pub fn check_character(first17: &str) -> Result<char, ResidentIdError> {
    let count = first17.chars().count();
    if count != LENGTH - 1 {
        return Err(ResidentIdError::Length(count));
    }
    let mut sum = 0;
    for ((i, c), weight) in first17.chars().enumerate().zip(WEIGHTS) {
        let digit = c.to_digit(10).ok_or(ResidentIdError::Character {
            position: i + 1,
            found: c,
        })?;
        sum += digit * weight;
    }
    Ok(CHECK_CHARACTERS[(sum % 11) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
    }

    #[test]
    fn weights_are_powers_of_two_mod_11() {
        for (i, weight) in WEIGHTS.into_iter().enumerate() {
            assert_eq!(weight, (1u32 << (17 - i)) % 11);
        }
    }

    // Made-up numbers; each check character computed with the algorithm by a hand-run script.
    // The birth-date cases further down carry a right check character too, so only the date fails.
    #[test]
    fn numbers_with_their_computed_check_character_are_accepted() {
        for (first17, check) in [
            ("44030119900101123", '4'),
            ("11010120000229001", '8'),
            ("11010119960229002", '4'),
            ("32010219850315003", '5'),
            ("11010119880808008", '7'),
            ("44030119900101104", 'X'),
            ("11010120261129009", '8'),
        ] {
            assert_eq!(check_character(first17), Ok(check), "{first17}");
            let id = format!("{first17}{check}");
            assert_eq!(validate_resident_id(&id, today()), Ok(id.clone()));
        }
    }

    #[test]
    fn a_lower_case_x_is_the_same_as_upper_case_and_comes_back_upper_case() {
        assert_eq!(
            validate_resident_id("44030119900101104x", today()),
            Ok("44030119900101104X".to_owned())
        );
    }

    #[test]
    fn numbers_breaking_a_rule_are_refused_naming_it() {
        use ResidentIdError::*;
        for (id, error) in [
            ("", Length(0)),
            ("44030119900101123", Length(17)),
            ("4403011990010112344", Length(19)),
            (
                "44030119900101123４",
                Character {
                    position: 18,
                    found: '４',
                },
            ),
            // A 3-byte character inside the first 17 must not split a byte slice.
            (
                "4403011990010112３4",
                Character {
                    position: 17,
                    found: '３',
                },
            ),
            (
                "4403011990010112A4",
                Character {
                    position: 17,
                    found: 'A',
                },
            ),
            (
                "44030119900101123Y",
                Character {
                    position: 18,
                    found: 'Y',
                },
            ),
            (
                "x40301199001011234",
                Character {
                    position: 1,
                    found: 'x',
                },
            ),
            // 1990 is not a leap year: there is no 29 February.
            ("44030119900229001X", BirthDate("19900229".into())),
            // 1900 is not a leap year either (divisible by 100, not by 400).
            ("440301190002290019", BirthDate("19000229".into())),
            ("440301199013010011", BirthDate("19901301".into())),
            ("440301199004310011", BirthDate("19900431".into())),
            ("440301199001000011", BirthDate("19900100".into())),
            // Born tomorrow, and born in 2027: in the future.
            ("110101202611300014", BirthDateOutOfRange("20261130".into())),
            ("110101202703010073", BirthDateOutOfRange("20270301".into())),
            ("11010118991231001X", BirthDateOutOfRange("18991231".into())),
            (
                "440301199001011235",
                CheckCharacter {
                    expected: '4',
                    found: '5',
                },
            ),
            (
                "440301199001011040",
                CheckCharacter {
                    expected: 'X',
                    found: '0',
                },
            ),
            (
                "44030119900101123X",
                CheckCharacter {
                    expected: '4',
                    found: 'X',
                },
            ),
        ] {
            assert_eq!(validate_resident_id(id, today()), Err(error), "{id}");
        }
    }

    #[test]
    fn messages_name_the_rule() {
        assert_eq!(
            ResidentIdError::BirthDate("19900229".into()).to_string(),
            "positions 7-14 must be a birth date yyyyMMdd (GB 11643-1999), got 19900229"
        );
        assert_eq!(
            ResidentIdError::CheckCharacter {
                expected: 'X',
                found: '0'
            }
            .to_string(),
            "check character must be X (GB 11643-1999), got 0"
        );
    }
}
