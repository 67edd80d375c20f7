//! Masking of personal data — identity and certificate numbers, bank card and account numbers,
//! mobile numbers, e-mail addresses — for replies, log lines and admin listings (issue 11: "masked
//! in every reply, log line and admin listing"). The full value is shown only by the audited
//! admin "reveal" action, never by these functions.
//!
//! The rule, one for all numbers ([`mask_middle`]): a value of 9 or more characters keeps its
//! first 4 and last 4, enough to tell two values apart and to match a card or certificate the
//! holder has in hand; a shorter value keeps `len / 4` characters at each end, so that at least
//! half of it is always hidden (8 → 2 and 2, 4 to 7 → 1 and 1, under 4 → nothing). Each hidden
//! character becomes one `*`, so the length stays visible, as on a printed receipt.

/// Characters kept at each end of a value of [`LONG_VALUE`] characters or more.
pub const KEPT_AT_EACH_END: usize = 4;

/// Length from which a value keeps [`KEPT_AT_EACH_END`] at each end: 8 kept, at least 1 hidden.
pub const LONG_VALUE: usize = 9;

/// Masks the middle of `value` by the rule of this module:
/// `440301199001011234` → `4403**********1234`, `12345678` → `12****78`, `abc` → `***`.
pub fn mask_middle(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    let kept = if n >= LONG_VALUE {
        KEPT_AT_EACH_END
    } else {
        n / 4
    };
    let mut masked: String = chars[..kept].iter().collect();
    masked.extend(std::iter::repeat_n('*', n - 2 * kept));
    masked.extend(&chars[n - kept..]);
    masked
}

/// Masks a mainland mobile number as the carriers print it: the 3-digit network prefix and the
/// last 4 digits, `13812345678` → `138****5678`. Anything not 11 characters long falls back to
/// [`mask_middle`].
pub fn mask_mobile(mobile: &str) -> String {
    let chars: Vec<char> = mobile.chars().collect();
    if chars.len() != 11 {
        return mask_middle(mobile);
    }
    let mut masked: String = chars[..3].iter().collect();
    masked.push_str("****");
    masked.extend(&chars[7..]);
    masked
}

/// Masks an e-mail address: the first character of the local part, then `***` whatever its
/// length, then the domain, which names a mail provider rather than a person:
/// `alice@example.com` → `a***@example.com`. A one-character local part shows nothing of it
/// (`a@example.com` → `***@example.com`); a value without `@` falls back to [`mask_middle`].
pub fn mask_email(email: &str) -> String {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return mask_middle(email);
    };
    let mut chars = local.chars();
    let first = chars.next().filter(|_| chars.next().is_some());
    let mut masked: String = first.into_iter().collect();
    masked.push_str("***@");
    masked.push_str(domain);
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made-up values only.
    #[test]
    fn numbers_keep_4_and_4_and_short_ones_keep_at_most_a_quarter_each_end() {
        for (value, masked) in [
            ("440301199001011234", "4403**********1234"),
            ("44030119900101104X", "4403**********104X"),
            ("6200000000000005", "6200********0005"),
            ("310066000000000001", "3100**********0001"),
            ("E12345678", "E123*5678"),
            ("12345678", "12****78"),
            ("1234567", "1*****7"),
            ("1234", "1**4"),
            ("123", "***"),
            ("1", "*"),
            ("", ""),
            ("南字第000001号", "南字第0**001号"),
        ] {
            assert_eq!(mask_middle(value), masked, "{value}");
        }
    }

    #[test]
    fn at_least_half_of_any_value_is_hidden() {
        for n in 0..40 {
            let value = "7".repeat(n);
            let hidden = mask_middle(&value).matches('*').count();
            assert!(2 * hidden >= n || n >= LONG_VALUE, "{n}");
            assert_eq!(mask_middle(&value).chars().count(), n);
        }
    }

    #[test]
    fn mobiles_keep_the_network_prefix_and_last_4() {
        for (mobile, masked) in [
            ("13812345678", "138****5678"),
            ("19900000009", "199****0009"),
            ("1381234567", "1381**4567"),
            ("123", "***"),
        ] {
            assert_eq!(mask_mobile(mobile), masked, "{mobile}");
        }
    }

    #[test]
    fn emails_keep_the_first_character_and_the_domain() {
        for (email, masked) in [
            ("alice@example.com", "a***@example.com"),
            ("ab@example.com", "a***@example.com"),
            ("a@example.com", "***@example.com"),
            ("张三@example.cn", "张***@example.cn"),
            ("@example.com", "***@example.com"),
            ("not-an-email", "not-****mail"),
        ] {
            assert_eq!(mask_email(email), masked, "{email}");
        }
    }
}
