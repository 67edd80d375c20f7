//! A fee rate as people and the merchant API write it: a percent with at most two decimals
//! (`"0.38"` is 0.38 % — 38 basis points), from 0 to 100 %. Stored and computed as integer basis
//! points (1 bp = 0.01 %), never as a float. Dougong's `busi/open` (`wx_conf_list[].fee_rate`,
//! `ali_conf_list[].fee_rate`) and the service providers' fee floors use this form.

/// 100 % in basis points: the highest rate there is.
pub const MAX_BASIS_POINTS: i32 = 10_000;

/// `"0.38"` → `Some(38)`: a percent with 1 to 3 integer digits and at most 2 decimals, at most
/// `100.00`, as basis points. `None` for anything else: empty, a sign, an exponent, spaces, a
/// comma, a trailing or leading dot, a third decimal, above 100 %.
pub fn parse_percent(text: &str) -> Option<i32> {
    let (whole, frac) = match text.split_once('.') {
        Some((_, "")) => return None,
        Some((whole, frac)) => (whole, frac),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 3 || frac.len() > 2 || !digits(whole) || !digits(frac) {
        return None;
    }
    let whole: i32 = whole.parse().ok()?;
    let frac: i32 = format!("{frac:0<2}").parse().ok()?;
    let bp = whole * 100 + frac;
    (bp <= MAX_BASIS_POINTS).then_some(bp)
}

/// Basis points as a percent with two decimals: 38 → `"0.38"`, 600 → `"6.00"`.
pub fn percent_text(bp: i32) -> String {
    let sign = if bp < 0 { "-" } else { "" };
    let bp = bp.unsigned_abs();
    format!("{sign}{}.{:02}", bp / 100, bp % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percent_with_two_decimals_becomes_basis_points() {
        for (text, bp) in [
            ("0.38", 38),
            ("0.6", 60),
            ("6", 600),
            ("0", 0),
            ("0.05", 5),
            ("100", 10_000),
            ("100.00", 10_000),
        ] {
            assert_eq!(parse_percent(text), Some(bp), "{text}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for text in [
            "", ".5", "1.", "0.385", "-1", "+1", "1e2", "1000", "100.01", "0,38", " 1", "1 ",
            "abc", "0x10", "１",
        ] {
            assert_eq!(parse_percent(text), None, "{text:?}");
        }
    }

    #[test]
    fn basis_points_print_with_two_decimals_and_read_back() {
        for (bp, text) in [
            (38, "0.38"),
            (600, "6.00"),
            (10_000, "100.00"),
            (5, "0.05"),
            (0, "0.00"),
        ] {
            assert_eq!(percent_text(bp), text);
            assert_eq!(parse_percent(text), Some(bp));
        }
        assert_eq!(percent_text(-38), "-0.38");
    }
}
