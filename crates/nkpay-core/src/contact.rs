//! A merchant contact's mainland mobile number and e-mail address (`contact_mobile_no`,
//! `contact_email`, ...): formats only; whether anyone answers is for an SMS or a mail to tell.

use thiserror::Error;

/// Longest address that fits an SMTP path (RFC 5321, 4.5.3.1.3: 256 with the angle brackets).
pub const MAX_EMAIL_LENGTH: usize = 254;

/// Longest local part, before the `@` (RFC 5321, 4.5.3.1.1).
pub const MAX_LOCAL_PART_LENGTH: usize = 64;

/// Longest domain label (RFC 1035, 2.3.4).
pub const MAX_LABEL_LENGTH: usize = 63;

/// Why a mobile number or e-mail address is refused; each message names the rule it broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ContactError {
    /// Not 11 digits starting 13 to 19 (the mainland numbering plan's mobile blocks).
    #[error("a mainland mobile number is 11 digits starting with 13 to 19")]
    Mobile,
    /// An e-mail address breaking the named rule.
    #[error("an e-mail address {0}")]
    Email(EmailRule),
}

/// The e-mail rule an address broke: a pragmatic subset of RFC 5321/5322 (dot-atom local part,
/// DNS host name domain; no quoted local parts, comments or address literals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EmailRule {
    /// More than [`MAX_EMAIL_LENGTH`] characters.
    #[error("must be at most 254 characters")]
    Length,
    /// No `@`, or more than one.
    #[error("must contain exactly one @")]
    At,
    /// An empty local part, or one over [`MAX_LOCAL_PART_LENGTH`].
    #[error("must have 1 to 64 characters before the @")]
    LocalPartLength,
    /// A local part that is not a dot-atom.
    #[error(
        "may have before the @ only letters, digits, !#$%&'*+/=?^_`{{|}}~- and dots that are not \
         first, last or doubled"
    )]
    LocalPartCharacters,
    /// A domain label that is empty, too long, or holds other than letters, digits and inner
    /// hyphens.
    #[error(
        "must have after the @ dot-separated labels of 1 to 63 letters, digits and hyphens, \
         not starting or ending with a hyphen"
    )]
    DomainLabel,
    /// A domain without a top-level domain of at least two letters.
    #[error("must end in a top-level domain of at least 2 letters")]
    TopLevelDomain,
}

/// Checks a mainland mobile number: 11 ASCII digits, the first `1`, the second 3 to 9.
pub fn validate_mobile(mobile: &str) -> Result<(), ContactError> {
    let bytes = mobile.as_bytes();
    let ok = bytes.len() == 11
        && bytes.iter().all(u8::is_ascii_digit)
        && bytes[0] == b'1'
        && (b'3'..=b'9').contains(&bytes[1]);
    if ok {
        Ok(())
    } else {
        Err(ContactError::Mobile)
    }
}

/// Checks an e-mail address against [`EmailRule`]'s subset of RFC 5321/5322: at most 254
/// characters, exactly one `@`, a dot-atom local part of 1 to 64 characters, and a domain of at
/// least two dot-separated labels (letters, digits, inner hyphens; 1 to 63 each) whose last
/// label, the top-level domain, is 2 or more letters.
pub fn validate_email(email: &str) -> Result<(), ContactError> {
    email_rule(email).map_err(ContactError::Email)
}

fn email_rule(email: &str) -> Result<(), EmailRule> {
    if email.chars().count() > MAX_EMAIL_LENGTH {
        return Err(EmailRule::Length);
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(EmailRule::At);
    };
    if domain.contains('@') {
        return Err(EmailRule::At);
    }
    if local.is_empty() || local.chars().count() > MAX_LOCAL_PART_LENGTH {
        return Err(EmailRule::LocalPartLength);
    }
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    if !local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atext))
    {
        return Err(EmailRule::LocalPartCharacters);
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        (1..=MAX_LABEL_LENGTH).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if !labels.iter().all(label_ok) {
        return Err(EmailRule::DomainLabel);
    }
    let tld = labels[labels.len() - 1];
    if labels.len() < 2 || tld.len() < 2 || !tld.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(EmailRule::TopLevelDomain);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainland_mobile_numbers_are_11_digits_from_13_to_19() {
        for (mobile, valid) in [
            ("13000000000", true),
            ("13800005678", true),
            ("15900000001", true),
            ("19900000009", true),
            ("12000000000", false),
            ("10000000000", false),
            ("23800005678", false),
            ("1380000567", false),
            ("138000056789", false),
            ("1380000567a", false),
            ("138 0000 5678", false),
            ("+8613800005678", false),
            ("1380000567８", false),
            ("", false),
        ] {
            assert_eq!(validate_mobile(mobile).is_ok(), valid, "{mobile:?}");
        }
        assert_eq!(validate_mobile("12000000000"), Err(ContactError::Mobile));
    }

    #[test]
    fn pragmatic_email_addresses_are_accepted() {
        for email in [
            "a@example.com",
            "merchant.contact@example.com",
            "first.last+tag@mail.example.cn",
            "o'brien@example.org",
            "user_1-2@sub-domain.example.co",
            "x@a1.example.museum",
            "UPPER@EXAMPLE.COM",
            &format!("{}@example.com", "l".repeat(64)),
            // 254 characters, the most allowed.
            &format!("a@{0}.{0}.{0}.{1}.com", "b".repeat(63), "c".repeat(56)),
        ] {
            assert_eq!(validate_email(email), Ok(()), "{email}");
        }
    }

    #[test]
    fn email_addresses_breaking_a_rule_are_refused_naming_it() {
        use EmailRule::*;
        for (email, rule) in [
            (
                format!("a@{0}.{0}.{0}.{1}.com", "b".repeat(63), "c".repeat(57)),
                Length,
            ),
            ("example.com".into(), At),
            ("a@b@example.com".into(), At),
            ("".into(), At),
            ("@example.com".into(), LocalPartLength),
            (format!("{}@example.com", "l".repeat(65)), LocalPartLength),
            (".a@example.com".into(), LocalPartCharacters),
            ("a.@example.com".into(), LocalPartCharacters),
            ("a..b@example.com".into(), LocalPartCharacters),
            ("a b@example.com".into(), LocalPartCharacters),
            ("\"a\"@example.com".into(), LocalPartCharacters),
            ("张三@example.com".into(), LocalPartCharacters),
            ("a@".into(), DomainLabel),
            ("a@example..com".into(), DomainLabel),
            ("a@.example.com".into(), DomainLabel),
            ("a@example.com.".into(), DomainLabel),
            ("a@-example.com".into(), DomainLabel),
            ("a@example-.com".into(), DomainLabel),
            ("a@exa_mple.com".into(), DomainLabel),
            ("a@[192.0.2.1]".into(), DomainLabel),
            (format!("a@{}.com", "b".repeat(64)), DomainLabel),
            ("a@localhost".into(), TopLevelDomain),
            ("a@example.c".into(), TopLevelDomain),
            ("a@example.c0m".into(), TopLevelDomain),
            ("a@192.0.2.1".into(), TopLevelDomain),
        ] {
            assert_eq!(
                validate_email(&email),
                Err(ContactError::Email(rule)),
                "{email}"
            );
        }
    }

    #[test]
    fn messages_name_the_rule() {
        assert_eq!(
            ContactError::Mobile.to_string(),
            "a mainland mobile number is 11 digits starting with 13 to 19"
        );
        assert_eq!(
            ContactError::Email(EmailRule::At).to_string(),
            "an e-mail address must contain exactly one @"
        );
        assert!(
            ContactError::Email(EmailRule::LocalPartCharacters)
                .to_string()
                .contains("{|}~-")
        );
    }
}
