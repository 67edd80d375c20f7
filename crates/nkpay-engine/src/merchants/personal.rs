//! Personal data of an application — ID numbers, bank card and account numbers, mobile
//! numbers, e-mail addresses (issue 11 "Rules") —: sealed at rest as one JSON object, masked
//! (`nkpay_core::masking`) in every other place it appears.

use nkpay_core::masking::{mask_email, mask_middle, mask_mobile};
use nkpay_core::secret::Secret;
use nkpay_crypto::sealed::SecretSealer;
use nkpay_store::sealing;
use serde_json::{Map, Value};

use crate::error::EngineError;

/// What a personal value is, for its mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalKind {
    /// A certificate (ID) number: `4403**********1234`.
    CertNo,
    /// A bank card or account number: `6222*********1234`.
    AccountNo,
    /// A mobile number: `138****5678`.
    Mobile,
    /// An e-mail address: `a***@example.com`.
    Email,
}

/// One personal value of an application, under its wire name (`legal_cert_no`,
/// `contact_mobile_no`, `card_info.card_no`, `card_info.cert_no`, …; a dotted name is a field
/// of a nested object).
#[derive(Debug, Clone)]
pub struct PersonalField {
    /// The wire name, dotted for a nested object's field.
    pub field: String,
    /// How it is masked.
    pub kind: PersonalKind,
    /// The value (normalised by its rule, e.g. an ID's `x` upper-cased).
    pub value: Secret<String>,
}

impl PersonalField {
    /// The value masked by its kind's rule.
    pub fn masked(&self) -> String {
        mask(self.kind, self.value.expose())
    }
}

/// `value` masked by `kind`'s rule.
pub fn mask(kind: PersonalKind, value: &str) -> String {
    match kind {
        PersonalKind::CertNo | PersonalKind::AccountNo => mask_middle(value),
        PersonalKind::Mobile => mask_mobile(value),
        PersonalKind::Email => mask_email(value),
    }
}

/// Writes each field's masked value into `details` (a dotted name into its nested object).
pub(crate) fn mask_into(details: &mut Map<String, Value>, fields: &[PersonalField]) {
    for f in fields {
        let masked = Value::String(f.masked());
        match f.field.split_once('.') {
            None => {
                details.insert(f.field.clone(), masked);
            }
            Some((outer, inner)) => {
                let entry = details
                    .entry(outer.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = entry {
                    m.insert(inner.to_owned(), masked);
                }
            }
        }
    }
}

/// The fields as one sealed JSON object `{name: value}`.
pub(crate) fn seal(sealer: &SecretSealer, fields: &[PersonalField]) -> Result<String, EngineError> {
    let map: Map<String, Value> = fields
        .iter()
        .map(|f| (f.field.clone(), Value::String(f.value.expose().clone())))
        .collect();
    let text = Secret::new(Value::Object(map).to_string());
    Ok(sealing::seal(sealer, "personal data", &text)?)
}

/// One field's full value from a sealed object; `None` when the application has no such field.
pub(crate) fn reveal(
    sealer: &SecretSealer,
    sealed: &str,
    field: &str,
) -> Result<Option<Secret<String>>, EngineError> {
    let text = sealing::open(sealer, "personal data", sealed)?;
    let map: Map<String, Value> = serde_json::from_str(text.expose())
        .map_err(|e| EngineError::Internal(format!("sealed personal data is not JSON: {e}")))?;
    Ok(map
        .get(field)
        .and_then(Value::as_str)
        .map(|v| Secret::new(v.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, kind: PersonalKind, value: &str) -> PersonalField {
        PersonalField {
            field: name.into(),
            kind,
            value: Secret::new(value.into()),
        }
    }

    // Made-up values only.
    #[test]
    fn masks_go_into_nested_objects_and_sealed_values_come_back_one_at_a_time() {
        let fields = [
            field("legal_cert_no", PersonalKind::CertNo, "11010519491231002X"),
            field("contact_mobile_no", PersonalKind::Mobile, "13800000000"),
            field(
                "card_info.card_no",
                PersonalKind::AccountNo,
                "6222000000000000000",
            ),
        ];
        let mut details = Map::new();
        details.insert("card_info".into(), serde_json::json!({"card_type": "1"}));
        mask_into(&mut details, &fields);
        assert_eq!(details["legal_cert_no"], "1101**********002X");
        assert_eq!(details["contact_mobile_no"], "138****0000");
        assert_eq!(details["card_info"]["card_no"], "6222***********0000");
        assert_eq!(details["card_info"]["card_type"], "1");
        let sealer = SecretSealer::from_key_base64(&SecretSealer::generate_key_base64()).unwrap();
        let sealed = seal(&sealer, &fields).unwrap();
        assert!(!sealed.contains("13800000000"));
        let v = reveal(&sealer, &sealed, "card_info.card_no")
            .unwrap()
            .unwrap();
        assert_eq!(v.expose(), "6222000000000000000");
        assert!(reveal(&sealer, &sealed, "nope").unwrap().is_none());
    }
}
