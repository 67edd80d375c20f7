//! The classification codes of a merchant's business: `mcc` (merchant category code) and
//! `district_id` (where it trades). Formats only; whether a code is assigned is the code table's
//! business, which Dougong and the card schemes publish and change.

use thiserror::Error;

/// Why an `mcc` or `district_id` is refused; each message names the rule it broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum BusinessCodeError {
    /// Not 4 ASCII digits (ISO 18245).
    #[error("an mcc is 4 digits (ISO 18245)")]
    Mcc,
    /// Not 6 ASCII digits starting with a province code 11 to 82 (GB/T 2260).
    #[error("a district_id is 6 digits starting with a province code 11 to 82 (GB/T 2260)")]
    DistrictId,
}

/// Checks a merchant category code: 4 ASCII digits (ISO 18245).
pub fn validate_mcc(mcc: &str) -> Result<(), BusinessCodeError> {
    if mcc.len() == 4 && mcc.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(BusinessCodeError::Mcc)
    }
}

/// Checks an administrative division code (GB/T 2260, as Dougong's 地区编码 uses it): 6 ASCII
/// digits whose first two, the province, are 11 to 82 (11 Beijing … 65 Xinjiang, 71 Taiwan,
/// 81 Hong Kong, 82 Macao).
pub fn validate_district_id(district_id: &str) -> Result<(), BusinessCodeError> {
    let ok = district_id.len() == 6
        && district_id.bytes().all(|b| b.is_ascii_digit())
        && (11..=82).contains(&district_id[..2].parse::<u8>().unwrap_or(0));
    if ok {
        Ok(())
    } else {
        Err(BusinessCodeError::DistrictId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcc_is_four_digits() {
        for (mcc, valid) in [
            ("5411", true),
            ("0742", true),
            ("7011", true),
            ("541", false),
            ("54111", false),
            ("54a1", false),
            ("５411", false),
            ("", false),
        ] {
            assert_eq!(validate_mcc(mcc).is_ok(), valid, "{mcc:?}");
        }
        assert_eq!(validate_mcc("541"), Err(BusinessCodeError::Mcc));
    }

    #[test]
    fn district_id_is_six_digits_under_a_province_code() {
        for (district_id, valid) in [
            ("310101", true),
            ("110105", true),
            ("440305", true),
            ("650102", true),
            ("820000", true),
            ("010101", false),
            ("100101", false),
            ("830101", false),
            ("31010", false),
            ("3101011", false),
            ("31010a", false),
            ("3101０1", false),
            ("", false),
        ] {
            assert_eq!(
                validate_district_id(district_id).is_ok(),
                valid,
                "{district_id:?}"
            );
        }
        assert_eq!(
            validate_district_id("31010").unwrap_err().to_string(),
            "a district_id is 6 digits starting with a province code 11 to 82 (GB/T 2260)"
        );
    }
}
