//! The unified social credit code (统一社会信用代码) of a company or organisation, as GB 32100-2015
//! defines it: 18 characters over a 31-character alphabet, the last a check character over the
//! first 17. Used for `license_code` in onboarding.
//!
//! Only the three rules every code obeys are checked (length, alphabet, check character); the
//! registration-authority and organisation-type codes at positions 1–2 are left to the registry.

use thiserror::Error;

/// The code's alphabet in value order (GB 32100-2015, table 1): digits and upper-case letters
/// without I, O, S, V and Z, so that no character reads as another; a character's value is its index.
pub const ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// The weights of positions 1 to 17 (GB 32100-2015, 4.2.1): 3^(i-1) mod 31.
pub const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Length of a code, check character included (GB 32100-2015, 4.1).
pub const LENGTH: usize = 18;

/// Why a string is not a unified social credit code; each message names the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UsccError {
    /// Not exactly 18 characters (GB 32100-2015, 4.1).
    #[error("must be 18 characters (GB 32100-2015), got {0}")]
    Length(usize),
    /// A character outside [`ALPHABET`] (GB 32100-2015, table 1).
    #[error(
        "character {found:?} at position {position} is not allowed: only digits and upper-case \
         letters without I, O, S, V, Z (GB 32100-2015)"
    )]
    Alphabet {
        /// 1-based position of the character.
        position: usize,
        /// The refused character.
        found: char,
    },
    /// The 18th character is not the one computed from the first 17 (GB 32100-2015, 4.2.1).
    #[error("check character must be {expected} (GB 32100-2015), got {found}")]
    CheckCharacter {
        /// The check character the first 17 characters call for.
        expected: char,
        /// The 18th character as given.
        found: char,
    },
}

/// Checks `code` against GB 32100-2015: 18 characters of [`ALPHABET`], the last one the check
/// character of the first 17 ([`check_character`]). Lower case is refused, as the standard
/// writes codes in upper case.
pub fn validate_uscc(code: &str) -> Result<(), UsccError> {
    let count = code.chars().count();
    if count != LENGTH {
        return Err(UsccError::Length(count));
    }
    let values = alphabet_values(code)?;
    let expected = check_character_of(&values[..LENGTH - 1]);
    let found = code.chars().last().unwrap_or_default();
    if found != expected {
        return Err(UsccError::CheckCharacter { expected, found });
    }
    Ok(())
}

/// The check character for the first 17 characters of a code (GB 32100-2015, 4.2.1):
/// `31 - (Σ value × weight mod 31)`, where 31 stands for 0, read back through [`ALPHABET`].
pub fn check_character(first17: &str) -> Result<char, UsccError> {
    let count = first17.chars().count();
    if count != LENGTH - 1 {
        return Err(UsccError::Length(count));
    }
    Ok(check_character_of(&alphabet_values(first17)?))
}

fn alphabet_values(s: &str) -> Result<Vec<u32>, UsccError> {
    s.chars()
        .enumerate()
        .map(|(i, c)| match ALPHABET.find(c) {
            Some(value) => Ok(value as u32),
            None => Err(UsccError::Alphabet {
                position: i + 1,
                found: c,
            }),
        })
        .collect()
}

fn check_character_of(values: &[u32]) -> char {
    let sum: u32 = values.iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
    let value = (31 - sum % 31) % 31;
    ALPHABET.as_bytes()[value as usize] as char
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_powers_of_three_mod_31() {
        let mut w = 1;
        for weight in WEIGHTS {
            assert_eq!(weight, w);
            w = w * 3 % 31;
        }
    }

    // Made-up codes whose check characters were computed with the algorithm, by hand-run script.
    #[test]
    fn codes_with_their_computed_check_character_are_accepted() {
        for (first17, check) in [
            ("91440300MA5F00000", '7'),
            ("92110105MA0000001", 'Y'),
            ("52100000MA0000ABC", 'P'),
            ("1100000000000000A", 'T'),
            ("Y1000000TUWXY0000", 'D'),
            // sum mod 31 = 0: 31 - 0 = 31, which stands for 0.
            ("91440300MA5F00008", '0'),
        ] {
            assert_eq!(check_character(first17), Ok(check), "{first17}");
            let code = format!("{first17}{check}");
            assert_eq!(validate_uscc(&code), Ok(()), "{code}");
        }
    }

    #[test]
    fn codes_breaking_a_rule_are_refused_naming_it() {
        for (code, error) in [
            ("", UsccError::Length(0)),
            ("91440300MA5F00000", UsccError::Length(17)),
            ("91440300MA5F0000077", UsccError::Length(19)),
            (
                "91440300IA5F000007",
                UsccError::Alphabet {
                    position: 9,
                    found: 'I',
                },
            ),
            (
                "91440300MO5F000007",
                UsccError::Alphabet {
                    position: 10,
                    found: 'O',
                },
            ),
            (
                "91440300MA5S000007",
                UsccError::Alphabet {
                    position: 12,
                    found: 'S',
                },
            ),
            (
                "91440300MA5F00V007",
                UsccError::Alphabet {
                    position: 15,
                    found: 'V',
                },
            ),
            (
                "91440300MA5F00000Z",
                UsccError::Alphabet {
                    position: 18,
                    found: 'Z',
                },
            ),
            (
                "91440300ma5f000007",
                UsccError::Alphabet {
                    position: 9,
                    found: 'm',
                },
            ),
            (
                "91440300MA5F000008",
                UsccError::CheckCharacter {
                    expected: '7',
                    found: '8',
                },
            ),
            (
                "92110105MA00000010",
                UsccError::CheckCharacter {
                    expected: 'Y',
                    found: '0',
                },
            ),
        ] {
            assert_eq!(validate_uscc(code), Err(error), "{code}");
        }
    }

    #[test]
    fn a_non_ascii_character_is_an_alphabet_error() {
        assert_eq!(
            validate_uscc("91440300MA5F0000统7"),
            Err(UsccError::Alphabet {
                position: 17,
                found: '统',
            })
        );
    }

    #[test]
    fn messages_name_the_rule() {
        assert_eq!(
            UsccError::Length(17).to_string(),
            "must be 18 characters (GB 32100-2015), got 17"
        );
        assert!(
            UsccError::Alphabet {
                position: 9,
                found: 'I'
            }
            .to_string()
            .contains("without I, O, S, V, Z")
        );
        assert_eq!(
            UsccError::CheckCharacter {
                expected: '7',
                found: '8'
            }
            .to_string(),
            "check character must be 7 (GB 32100-2015), got 8"
        );
    }
}
