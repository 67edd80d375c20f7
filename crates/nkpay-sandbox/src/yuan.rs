//! Amounts as the channels write them: fen inside, yuan text (`12.30`) on Alipay's wire and in
//! both channels' bills.

/// `1230` → `"12.30"`, `-5` → `"-0.05"`.
pub(crate) fn from_fen(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// The channels' service fee in the bills: 0.6%, rounded half up to the fen.
pub(crate) fn service_fee(fen: i64) -> i64 {
    (fen * 6 + 500) / 1000
}

/// Alipay amounts: digits with at most two decimals, 0.01 to 100000000.00. None otherwise.
pub(crate) fn parse_alipay_amount(text: &str) -> Option<i64> {
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 9 || !digits(int) || frac.len() > 2 || !digits(frac) {
        return None;
    }
    if text.ends_with('.') {
        return None;
    }
    let yuan: i64 = int.parse().ok()?;
    let cents: i64 = format!("{frac:0<2}").parse().ok()?;
    let fen = yuan.checked_mul(100)?.checked_add(cents)?;
    (1..=10_000_000_000).contains(&fen).then_some(fen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_prints_as_yuan_with_two_decimals() {
        assert_eq!(from_fen(0), "0.00");
        assert_eq!(from_fen(1), "0.01");
        assert_eq!(from_fen(1230), "12.30");
        assert_eq!(from_fen(-5), "-0.05");
    }

    #[test]
    fn service_fee_is_six_per_mille_rounded_half_up() {
        assert_eq!(service_fee(100), 1);
        assert_eq!(service_fee(83), 0);
        assert_eq!(service_fee(84), 1);
        assert_eq!(service_fee(10_000), 60);
    }

    #[test]
    fn alipay_amounts_accept_up_to_two_decimals_within_limits() {
        assert_eq!(parse_alipay_amount("0.01"), Some(1));
        assert_eq!(parse_alipay_amount("12.3"), Some(1230));
        assert_eq!(parse_alipay_amount("88"), Some(8800));
        assert_eq!(parse_alipay_amount("100000000.00"), Some(10_000_000_000));
        for bad in [
            "",
            "0",
            "0.00",
            "1.234",
            "-1",
            "1.",
            ".5",
            "1e3",
            "100000000.01",
            " 1",
        ] {
            assert_eq!(parse_alipay_amount(bad), None, "{bad:?}");
        }
    }
}
