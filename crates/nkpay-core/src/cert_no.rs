//! A natural person's certificate: its type code as Dougong sends it (`legal_cert_type`,
//! `cert_type` in `card_info`, ...) and the format rule of the number for each type.
//!
//! The codes are Dougong's "自然人证件类型" table (paas.huifu.com, 公共参数编码): `00` to `11` as
//! listed with `legal_cert_type` in its SDKs, `13`–`15` from the onboarding documents, which ask
//! for a foreigner's residence permit with `13` and a Hong Kong/Macao/Taiwan document with `14`
//! and `15`. The documents disagree on whether `14` is a travel permit or a residence permit, so
//! `14` accepts either format. Any other code is refused rather than waved through.

use chrono::NaiveDate;
use thiserror::Error;

use crate::resident_id::{self, ResidentIdError};

/// Longest certificate number Dougong takes (`legal_cert_no`, String(32)).
pub const MAX_LENGTH: usize = 32;

/// A certificate type code of Dougong's "自然人证件类型" table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertType {
    /// `00` resident identity card (居民身份证).
    ResidentId,
    /// `01` passport of the People's Republic of China (护照).
    Passport,
    /// `02` military officer's certificate (军官证).
    MilitaryOfficer,
    /// `03` soldier's certificate (士兵证).
    Soldier,
    /// `04` mainland travel permit for Hong Kong and Macao residents (回乡证).
    HkMacaoTravelPermit,
    /// `05` household register (户口本).
    HouseholdRegister,
    /// `06` foreign passport (外国护照).
    ForeignPassport,
    /// `07` other (其他).
    Other,
    /// `08` temporary residence permit (暂住证).
    TemporaryResidence,
    /// `09` police officer's certificate (警官证).
    PoliceOfficer,
    /// `10` civilian cadre's certificate (文职干部证).
    CivilianCadre,
    /// `11` mainland travel permit for Taiwan residents (台胞证).
    TaiwanTravelPermit,
    /// `13` foreigner's permanent residence identity card (外国人永久居留身份证).
    ForeignPermanentResident,
    /// `14` Hong Kong/Macao/Taiwan residents' document: a travel permit or a residence permit.
    HkMacaoTaiwanDocument,
    /// `15` residence permit for Hong Kong, Macao and Taiwan residents (港澳台居民居住证).
    HkMacaoTaiwanResidencePermit,
}

/// Why a certificate type or number is refused; each message names the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertNoError {
    /// A type code outside [`CertType::ALL`].
    #[error(
        "unknown certificate type {0:?}: expected one of 00-11, 13, 14, 15 (Dougong 自然人证件类型)"
    )]
    UnknownType(String),
    /// A resident-ID-scheme number breaking GB 11643-1999.
    #[error(transparent)]
    ResidentId(#[from] ResidentIdError),
    /// A number not matching its type's format.
    #[error("{cert_type} number must be {rule}")]
    Format {
        /// What the certificate is, in English.
        cert_type: &'static str,
        /// The format rule it broke.
        rule: &'static str,
    },
}

impl CertType {
    /// Every type, in code order.
    pub const ALL: [CertType; 15] = [
        CertType::ResidentId,
        CertType::Passport,
        CertType::MilitaryOfficer,
        CertType::Soldier,
        CertType::HkMacaoTravelPermit,
        CertType::HouseholdRegister,
        CertType::ForeignPassport,
        CertType::Other,
        CertType::TemporaryResidence,
        CertType::PoliceOfficer,
        CertType::CivilianCadre,
        CertType::TaiwanTravelPermit,
        CertType::ForeignPermanentResident,
        CertType::HkMacaoTaiwanDocument,
        CertType::HkMacaoTaiwanResidencePermit,
    ];

    /// The wire code, e.g. `"00"`.
    pub fn code(self) -> &'static str {
        match self {
            CertType::ResidentId => "00",
            CertType::Passport => "01",
            CertType::MilitaryOfficer => "02",
            CertType::Soldier => "03",
            CertType::HkMacaoTravelPermit => "04",
            CertType::HouseholdRegister => "05",
            CertType::ForeignPassport => "06",
            CertType::Other => "07",
            CertType::TemporaryResidence => "08",
            CertType::PoliceOfficer => "09",
            CertType::CivilianCadre => "10",
            CertType::TaiwanTravelPermit => "11",
            CertType::ForeignPermanentResident => "13",
            CertType::HkMacaoTaiwanDocument => "14",
            CertType::HkMacaoTaiwanResidencePermit => "15",
        }
    }

    /// The type for a wire code; anything not in [`CertType::ALL`] is
    /// [`CertNoError::UnknownType`].
    pub fn parse(code: &str) -> Result<CertType, CertNoError> {
        CertType::ALL
            .into_iter()
            .find(|t| t.code() == code)
            .ok_or_else(|| CertNoError::UnknownType(code.to_owned()))
    }
}

/// Checks `cert_no` against the format of `cert_type` and returns it normalised (letters
/// upper-cased where the format has letters). `today` bounds birth dates. The rules:
/// - `00`, `05`: GB 11643-1999 ([`resident_id::validate_resident_id`]); the household
///   register carries the same citizen identity number.
/// - `15`: GB 11643-1999 with address code 810000, 820000 or 830000 (Hong Kong, Macao, Taiwan),
///   as the 2018 residence permits are numbered.
/// - `01`: a letter and 8 letters or digits (E12345678, EA1234567, G12345678).
/// - `04`: H or M and 8 or 10 digits (card and booklet editions).
/// - `11`: 8 digits (card edition since 2015) or 10 digits (booklet edition).
/// - `13`: 3 letters and 12 digits (2017 edition), or 18 characters starting with 9 under
///   GB 11643-1999 (2023 edition).
/// - `14`: any of the `04`, `11` or `15` formats.
/// - `06`: 5 to 20 letters or digits (ICAO 9303 document numbers, with room for long ones).
/// - `02`, `03`, `07`–`10`: 1 to 32 characters without white space or control characters;
///   these certificates carry Chinese characters and have no published number scheme.
pub fn validate_cert_no(
    cert_type: CertType,
    cert_no: &str,
    today: NaiveDate,
) -> Result<String, CertNoError> {
    let upper = cert_no.to_ascii_uppercase();
    match cert_type {
        CertType::ResidentId | CertType::HouseholdRegister => {
            Ok(resident_id::validate_resident_id(cert_no, today)?)
        }
        CertType::HkMacaoTaiwanResidencePermit => residence_permit(cert_no, today),
        CertType::Passport => format_rule(
            shape(&upper, &[Letter, LetterOrDigit], &[1, 8]),
            "passport",
            "a letter followed by 8 letters or digits",
            upper,
        ),
        CertType::HkMacaoTravelPermit => format_rule(
            hk_macao_travel_permit(&upper),
            "Hong Kong/Macao travel permit",
            "H or M followed by 8 or 10 digits",
            upper,
        ),
        CertType::TaiwanTravelPermit => format_rule(
            taiwan_travel_permit(&upper),
            "Taiwan travel permit",
            "8 or 10 digits",
            upper,
        ),
        CertType::ForeignPermanentResident => {
            if shape(&upper, &[Letter, Digit], &[3, 12]) {
                return Ok(upper);
            }
            if upper.starts_with('9') && upper.len() == resident_id::LENGTH {
                return Ok(resident_id::validate_resident_id(cert_no, today)?);
            }
            Err(CertNoError::Format {
                cert_type: "foreigner's permanent residence card",
                rule: "3 letters and 12 digits, or 18 characters starting with 9 (GB 11643-1999)",
            })
        }
        CertType::HkMacaoTaiwanDocument => {
            if hk_macao_travel_permit(&upper) || taiwan_travel_permit(&upper) {
                return Ok(upper);
            }
            residence_permit(cert_no, today).map_err(|_| CertNoError::Format {
                cert_type: "Hong Kong/Macao/Taiwan permit",
                rule: "a travel permit number (H/M and 8 or 10 digits, or 8 or 10 digits) \
                       or a residence permit number (GB 11643-1999, 81/82/830000)",
            })
        }
        CertType::ForeignPassport => format_rule(
            (5..=20).contains(&upper.len()) && upper.bytes().all(|b| b.is_ascii_alphanumeric()),
            "foreign passport",
            "5 to 20 letters or digits",
            upper,
        ),
        CertType::MilitaryOfficer
        | CertType::Soldier
        | CertType::Other
        | CertType::TemporaryResidence
        | CertType::PoliceOfficer
        | CertType::CivilianCadre => format_rule(
            (1..=MAX_LENGTH).contains(&cert_no.chars().count())
                && !cert_no.chars().any(|c| c.is_whitespace() || c.is_control()),
            "certificate",
            "1 to 32 characters without spaces",
            cert_no.to_owned(),
        ),
    }
}

/// `normalized` when the format rule holds, else the rule as a [`CertNoError::Format`].
fn format_rule(
    ok: bool,
    cert_type: &'static str,
    rule: &'static str,
    normalized: String,
) -> Result<String, CertNoError> {
    if ok {
        Ok(normalized)
    } else {
        Err(CertNoError::Format { cert_type, rule })
    }
}

fn residence_permit(cert_no: &str, today: NaiveDate) -> Result<String, CertNoError> {
    let normalized = resident_id::validate_resident_id(cert_no, today)?;
    if ["810000", "820000", "830000"]
        .iter()
        .any(|prefix| normalized.starts_with(prefix))
    {
        Ok(normalized)
    } else {
        Err(CertNoError::Format {
            cert_type: "Hong Kong/Macao/Taiwan residence permit",
            rule: "18 characters starting with 810000, 820000 or 830000 (GB 11643-1999)",
        })
    }
}

fn hk_macao_travel_permit(s: &str) -> bool {
    (s.starts_with('H') || s.starts_with('M'))
        && (shape(s, &[Letter, Digit], &[1, 8]) || shape(s, &[Letter, Digit], &[1, 10]))
}

fn taiwan_travel_permit(s: &str) -> bool {
    shape(s, &[Digit], &[8]) || shape(s, &[Digit], &[10])
}

#[derive(Clone, Copy)]
enum Class {
    Letter,
    Digit,
    LetterOrDigit,
}
use Class::{Digit, Letter, LetterOrDigit};

/// Whether `s` is exactly `counts[i]` characters of `classes[i]`, one run after another.
fn shape(s: &str, classes: &[Class], counts: &[usize]) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() != counts.iter().sum::<usize>() {
        return false;
    }
    let mut at = 0;
    for (&class, &count) in classes.iter().zip(counts) {
        let run = &bytes[at..at + count];
        let ok = run.iter().all(|b| match class {
            Letter => b.is_ascii_uppercase(),
            Digit => b.is_ascii_digit(),
            LetterOrDigit => b.is_ascii_uppercase() || b.is_ascii_digit(),
        });
        if !ok {
            return false;
        }
        at += count;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
    }

    #[test]
    fn every_code_parses_back_to_its_type() {
        for t in CertType::ALL {
            assert_eq!(CertType::parse(t.code()), Ok(t));
        }
    }

    #[test]
    fn unknown_codes_are_refused() {
        for code in ["", "0", "000", "12", "16", "99", "AA", " 00"] {
            assert_eq!(
                CertType::parse(code),
                Err(CertNoError::UnknownType(code.to_owned())),
                "{code:?}"
            );
        }
    }

    // Made-up numbers; GB 11643 check characters computed with the algorithm by a script.
    #[test]
    fn numbers_in_their_types_format_are_accepted_and_normalised() {
        for (code, number, normalized) in [
            ("00", "440301199001011234", "440301199001011234"),
            ("00", "44030119900101104x", "44030119900101104X"),
            ("05", "110101200002290018", "110101200002290018"),
            ("01", "E12345678", "E12345678"),
            ("01", "ea1234567", "EA1234567"),
            ("01", "G00000001", "G00000001"),
            ("02", "南字第000001号", "南字第000001号"),
            ("03", "士字0000001", "士字0000001"),
            ("04", "H00000001", "H00000001"),
            ("04", "m0000000001", "M0000000001"),
            ("06", "X0000001", "X0000001"),
            ("06", "ab12345", "AB12345"),
            ("07", "OTHER-0001", "OTHER-0001"),
            ("08", "0000001", "0000001"),
            ("09", "警00000001", "警00000001"),
            ("10", "文00000001", "文00000001"),
            ("11", "00000001", "00000001"),
            ("11", "0000000001", "0000000001"),
            ("13", "ABC000000000001", "ABC000000000001"),
            ("13", "abc000000000001", "ABC000000000001"),
            ("14", "H00000001", "H00000001"),
            ("14", "00000001", "00000001"),
            ("14", "810000199001010043", "810000199001010043"),
            ("15", "810000199001010043", "810000199001010043"),
            ("15", "820000199001010053", "820000199001010053"),
            ("15", "830000199001010063", "830000199001010063"),
        ] {
            let cert_type = CertType::parse(code).unwrap();
            assert_eq!(
                validate_cert_no(cert_type, number, today()).as_deref(),
                Ok(normalized),
                "{code} {number}"
            );
        }
    }

    #[test]
    fn numbers_out_of_their_types_format_are_refused() {
        for (code, number) in [
            ("00", "440301199001011235"),
            ("00", "440301199002290011"),
            ("05", "E12345678"),
            ("01", "E1234567"),
            ("01", "123456789"),
            ("01", "E1234567８"),
            ("02", ""),
            ("02", "南字 000001"),
            ("07", "0123456789012345678901234567890123"),
            ("04", "A00000001"),
            ("04", "H000000001"),
            ("06", "X001"),
            ("06", "X00-0001"),
            ("11", "0000001"),
            ("11", "T00000001"),
            ("13", "AB0000000000001"),
            ("13", "900000199001010011"),
            ("14", "440301199001011234"),
            ("15", "440301199001011234"),
            ("15", "810000199001010044"),
        ] {
            let cert_type = CertType::parse(code).unwrap();
            assert!(
                validate_cert_no(cert_type, number, today()).is_err(),
                "{code} {number}"
            );
        }
    }

    #[test]
    fn errors_name_the_rule() {
        assert_eq!(
            validate_cert_no(CertType::Passport, "E1234567", today())
                .unwrap_err()
                .to_string(),
            "passport number must be a letter followed by 8 letters or digits"
        );
        assert_eq!(
            validate_cert_no(CertType::ResidentId, "440301199001011235", today())
                .unwrap_err()
                .to_string(),
            "check character must be 4 (GB 11643-1999), got 5"
        );
        assert_eq!(
            validate_cert_no(
                CertType::HkMacaoTaiwanResidencePermit,
                "440301199001011234",
                today()
            ),
            Err(CertNoError::Format {
                cert_type: "Hong Kong/Macao/Taiwan residence permit",
                rule: "18 characters starting with 810000, 820000 or 830000 (GB 11643-1999)",
            })
        );
        assert!(
            CertNoError::UnknownType("12".into())
                .to_string()
                .starts_with("unknown certificate type \"12\"")
        );
    }
}
