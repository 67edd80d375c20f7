//! Yuan amounts as channel files print them ("0.00", "-0.06", and in WeChat's documented sample
//! even "0.0" or "0"), to exact fen: integer arithmetic only, never a float, never rounding.

/// Optional `-`, digits, then optionally `.` and one or two digits.
pub(crate) fn signed_fen(text: &str) -> Result<i64, String> {
    let bad = || format!("amount {text:?} is not a yuan amount with at most 2 decimals");
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    // 13 integer digits keep the fen within i64 with room to spare.
    if int.is_empty() || int.len() > 13 || !all_digits(int) {
        return Err(bad());
    }
    if frac.len() > 2 || !all_digits(frac) || (digits.contains('.') && frac.is_empty()) {
        return Err(bad());
    }
    let cents = format!("{frac:0<2}");
    let fen = format!("{int}{cents}").parse::<i64>().map_err(|_| bad())?;
    Ok(if negative { -fen } else { fen })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bill_amounts_keep_their_sign_and_zero() {
        assert_eq!(signed_fen("0.00"), Ok(0));
        assert_eq!(signed_fen("0.0"), Ok(0));
        assert_eq!(signed_fen("0"), Ok(0));
        assert_eq!(signed_fen("-0.06"), Ok(-6));
        assert_eq!(signed_fen("12.34"), Ok(1234));
        assert_eq!(signed_fen("0.1"), Ok(10));
        assert_eq!(signed_fen("99999999.99"), Ok(9_999_999_999));
    }

    #[test]
    fn loose_bill_amounts_are_refused() {
        for bad in [
            "", "-", "1.", ".5", "1.005", "--1.00", "1,000.00", "¥1.00", " 1.00", "1e3",
        ] {
            assert!(signed_fen(bad).is_err(), "{bad}");
        }
    }
}
