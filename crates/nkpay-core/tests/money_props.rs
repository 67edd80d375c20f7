//! The accepted yuan strings are exactly the canonical forms of 0.01 ..= 99999999.99:
//! every canonical form parses back to its amount, and nothing else parses at all.

use nkpay_core::money::Money;
use proptest::prelude::*;

const RULE: &str = "must be yuan with exactly two decimals, 0.01 to 99999999.99";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_valid_amount_round_trips_through_yuan(fen in 1i64..=9_999_999_999) {
        let m = Money::from_fen(fen).unwrap();
        let s = m.to_yuan();
        prop_assert_eq!(Money::parse_yuan(&s).unwrap(), m);
        prop_assert_eq!(s, m.to_string());
    }

    #[test]
    fn only_canonical_strings_are_accepted(s in prop_oneof![
        "[-+ 0-9.eE]{0,14}",
        // Close to valid, so both acceptance and rejection are exercised.
        "-?0?[0-9]{1,9}\\.[0-9]{1,3}",
    ]) {
        match Money::parse_yuan(&s) {
            Ok(m) => {
                prop_assert!(m.fen() >= 1);
                prop_assert_eq!(m.to_yuan(), s);
            }
            Err(e) => prop_assert!(e.to_string().contains(RULE), "{}", e),
        }
    }

    #[test]
    fn arbitrary_text_never_panics_and_errors_name_the_rule(s in any::<String>()) {
        if let Err(e) = Money::parse_yuan(&s) {
            prop_assert!(e.to_string().contains(RULE));
        }
    }

    #[test]
    fn near_misses_of_valid_amounts_are_rejected(fen in 1i64..=9_999_999_999, edit in 0usize..7) {
        let s = Money::from_fen(fen).unwrap().to_yuan();
        let bad = match edit {
            0 => format!("0{s}"),
            1 => format!("-{s}"),
            2 => format!("{s}0"),
            3 => s[..s.len() - 1].to_string(),
            4 => s.replace('.', ""),
            5 => format!(" {s}"),
            _ => format!("{s}e0"),
        };
        prop_assert!(Money::parse_yuan(&bad).is_err(), "{} accepted", bad);
    }

    #[test]
    fn checked_sum_matches_integer_sum_or_is_none(a in 0i64..=9_999_999_999, b in 0i64..=9_999_999_999) {
        let (ma, mb) = (Money::from_fen(a).unwrap(), Money::from_fen(b).unwrap());
        match ma.checked_add(mb) {
            Some(s) => prop_assert_eq!(s.fen(), a + b),
            None => prop_assert!(a + b > 9_999_999_999),
        }
        match ma.checked_sub(mb) {
            Some(d) => prop_assert_eq!(d.fen(), a - b),
            None => prop_assert!(a < b),
        }
    }
}
