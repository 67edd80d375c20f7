//! The settlement account of `card_info`: its `card_type` and the number rule for each.
//!
//! A personal card (`card_type` 1 or 2) is a bank card: 13 to 19 digits (ISO/IEC 7812-1 primary
//! account number) whose last digit is a Luhn check digit. A corporate account (`card_type` 0) is
//! an account number a bank assigns, not a card: digits only, up to 32 (Dougong `card_no`), and no
//! Luhn check — banks do not number corporate accounts with one, and refusing a valid corporate
//! account is as wrong as accepting a mistyped card.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Shortest and longest personal card number (ISO/IEC 7812-1 PAN; UnionPay cards are 16–19).
pub const CARD_DIGITS: std::ops::RangeInclusive<usize> = 13..=19;

/// Longest corporate account number Dougong takes (`card_no`, String(32)).
pub const MAX_CORPORATE_DIGITS: usize = 32;

/// `card_type` of `card_info` (Dougong): who holds the settlement account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardType {
    /// `0`: the merchant's corporate account (对公).
    Corporate,
    /// `1`: the legal person's personal card (对私法人).
    LegalPerson,
    /// `2`: another person's personal card (对私非法人).
    OtherPerson,
}

/// Why a `card_type` or account number is refused; each message names the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BankAccountError {
    /// A `card_type` other than 0, 1 or 2.
    #[error(
        "unknown card_type {0:?}: expected 0 (corporate), 1 (legal person) or 2 (other person)"
    )]
    UnknownCardType(String),
    /// A personal card number not of 13 to 19 digits.
    #[error("a personal card number must be 13 to 19 digits, got {0} characters")]
    CardLength(usize),
    /// A personal card number whose Luhn check digit is wrong ([`luhn_valid`]).
    #[error("a personal card number must pass the Luhn check (ISO/IEC 7812-1)")]
    Luhn,
    /// A corporate account number not of 1 to 32 digits.
    #[error("a corporate account number must be 1 to 32 digits, got {0} characters")]
    CorporateLength(usize),
    /// A character other than an ASCII digit.
    #[error("an account number must be digits only: {found:?} at position {position}")]
    NotDigit {
        /// 1-based position of the character.
        position: usize,
        /// The refused character.
        found: char,
    },
}

impl CardType {
    /// Every card type, in code order.
    pub const ALL: [CardType; 3] = [
        CardType::Corporate,
        CardType::LegalPerson,
        CardType::OtherPerson,
    ];

    /// The wire code: "0", "1" or "2".
    pub fn code(self) -> &'static str {
        match self {
            CardType::Corporate => "0",
            CardType::LegalPerson => "1",
            CardType::OtherPerson => "2",
        }
    }

    /// Whether the account is a person's bank card (1 or 2), numbered with a Luhn digit.
    pub fn is_personal(self) -> bool {
        self != CardType::Corporate
    }
}

impl FromStr for CardType {
    type Err = BankAccountError;

    fn from_str(code: &str) -> Result<CardType, BankAccountError> {
        CardType::ALL
            .into_iter()
            .find(|t| t.code() == code)
            .ok_or_else(|| BankAccountError::UnknownCardType(code.to_owned()))
    }
}

impl fmt::Display for CardType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Checks `card_no` for `card_type`: a personal card is 13–19 digits passing [`luhn_valid`]; a
/// corporate account is 1–32 digits, with no Luhn check.
pub fn validate_card_no(card_type: CardType, card_no: &str) -> Result<(), BankAccountError> {
    if let Some((i, found)) = card_no
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_digit())
    {
        return Err(BankAccountError::NotDigit {
            position: i + 1,
            found,
        });
    }
    let len = card_no.len();
    if !card_type.is_personal() {
        return match len {
            1..=MAX_CORPORATE_DIGITS => Ok(()),
            _ => Err(BankAccountError::CorporateLength(len)),
        };
    }
    if !CARD_DIGITS.contains(&len) {
        return Err(BankAccountError::CardLength(len));
    }
    if !luhn_valid(card_no) {
        return Err(BankAccountError::Luhn);
    }
    Ok(())
}

/// The Luhn (mod 10) check of ISO/IEC 7812-1 annex B: from the right, double every second
/// digit, subtract 9 from doubles over 9, and the sum must end in 0. False for an empty string
/// or any non-digit.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let d = u32::from(b - b'0');
        sum += match (i % 2 == 1, d * 2) {
            (true, doubled) if doubled > 9 => doubled - 9,
            (true, doubled) => doubled,
            (false, _) => d,
        };
    }
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use BankAccountError::*;

    #[test]
    fn card_types_parse_from_their_codes_only() {
        for t in CardType::ALL {
            assert_eq!(t.code().parse::<CardType>(), Ok(t));
            assert_eq!(t.to_string(), t.code());
        }
        for code in ["", "3", "00", "01", " 1", "a", "-1"] {
            assert_eq!(
                code.parse::<CardType>(),
                Err(UnknownCardType(code.to_owned())),
                "{code:?}"
            );
        }
        assert!(!CardType::Corporate.is_personal());
        assert!(CardType::LegalPerson.is_personal());
        assert!(CardType::OtherPerson.is_personal());
    }

    #[test]
    fn luhn_check_matches_the_standards_worked_example_and_edge_cases() {
        // ISO/IEC 7812-1 annex B's worked example, 7992739871 with check digit 3.
        for (digits, valid) in [
            ("79927398713", true),
            ("79927398710", false),
            ("79927398714", false),
            ("0", true),
            ("00", true),
            ("18", true),
            ("19", false),
            ("", false),
            ("1a8", false),
        ] {
            assert_eq!(luhn_valid(digits), valid, "{digits:?}");
        }
    }

    // Made-up numbers; the check digits of the valid cards were computed with the Luhn rule.
    #[test]
    fn personal_cards_need_13_to_19_digits_and_a_luhn_digit() {
        for card_type in [CardType::LegalPerson, CardType::OtherPerson] {
            for (card_no, expected) in [
                ("6200000000000005", Ok(())),
                ("6200000000000000042", Ok(())),
                ("4000000000006", Ok(())),
                ("6200000000000006", Err(Luhn)),
                ("6200000000000000048", Err(Luhn)),
                ("400000000006", Err(CardLength(12))),
                ("62000000000000000000", Err(CardLength(20))),
                ("", Err(CardLength(0))),
                (
                    "6200 0000 0000 0005",
                    Err(NotDigit {
                        position: 5,
                        found: ' ',
                    }),
                ),
                (
                    "620000000000000５",
                    Err(NotDigit {
                        position: 16,
                        found: '５',
                    }),
                ),
            ] {
                assert_eq!(
                    validate_card_no(card_type, card_no),
                    expected,
                    "{card_type} {card_no}"
                );
            }
        }
    }

    #[test]
    fn a_corporate_account_failing_luhn_is_accepted() {
        let account = "310066000000000001";
        assert!(!luhn_valid(account));
        assert_eq!(validate_card_no(CardType::Corporate, account), Ok(()));
        // The same number as a personal card is a mistyped card.
        assert_eq!(validate_card_no(CardType::LegalPerson, account), Err(Luhn));
    }

    #[test]
    fn corporate_accounts_are_1_to_32_digits_of_any_length() {
        for (account, expected) in [
            ("1", Ok(())),
            ("1234567890", Ok(())),
            ("0000000000000000000000", Ok(())),
            ("12345678901234567890123456789012", Ok(())),
            ("", Err(CorporateLength(0))),
            (
                "123456789012345678901234567890123",
                Err(CorporateLength(33)),
            ),
            (
                "3100-6600-0001",
                Err(NotDigit {
                    position: 5,
                    found: '-',
                }),
            ),
        ] {
            assert_eq!(
                validate_card_no(CardType::Corporate, account),
                expected,
                "{account}"
            );
        }
    }

    #[test]
    fn messages_name_the_rule() {
        assert_eq!(
            CardLength(12).to_string(),
            "a personal card number must be 13 to 19 digits, got 12 characters"
        );
        assert_eq!(
            Luhn.to_string(),
            "a personal card number must pass the Luhn check (ISO/IEC 7812-1)"
        );
        assert_eq!(
            CorporateLength(33).to_string(),
            "a corporate account number must be 1 to 32 digits, got 33 characters"
        );
    }
}
