//! WeChat Pay v2's envelope: one flat `<xml>` element whose children are the fields.

use std::collections::BTreeMap;

/// Field name → value, byte-sorted as the signature wants them.
pub(super) type Fields = BTreeMap<String, String>;

pub(super) fn encode(fields: &Fields) -> Result<String, String> {
    quick_xml::se::to_string_with_root("xml", fields).map_err(|e| format!("cannot write XML: {e}"))
}

/// Reads the flat envelope. Nested elements, text outside fields and non-UTF-8 are refused; XML
/// entities other than the predefined ones are never expanded.
pub(super) fn decode(body: &[u8]) -> Result<Fields, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())?;
    quick_xml::de::from_str::<Fields>(text).map_err(|e| format!("body is not WeChat XML: {e}"))
}

/// The reply WeChat expects from a notify handler.
pub(super) fn notify_answer(code: &str, message: &str) -> String {
    format!(
        "<xml><return_code><![CDATA[{code}]]></return_code><return_msg><![CDATA[{message}]]></return_msg></xml>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdata_and_plain_fields_decode_alike() {
        let f = decode(
            b"<xml><return_code><![CDATA[SUCCESS]]></return_code>\n<total_fee>1</total_fee><empty></empty></xml>",
        )
        .unwrap();
        assert_eq!(f["return_code"], "SUCCESS");
        assert_eq!(f["total_fee"], "1");
        assert_eq!(f.get("empty").map(String::as_str), Some(""));
    }

    #[test]
    fn encoded_fields_escape_markup_and_read_back() {
        let mut f = Fields::new();
        f.insert("body".into(), "a<b>&c ]]> 中文".into());
        f.insert("appid".into(), "wx1".into());
        let xml = encode(&f).unwrap();
        assert!(xml.starts_with("<xml><appid>wx1</appid><body>"));
        assert_eq!(decode(xml.as_bytes()).unwrap(), f);
    }

    #[test]
    fn nested_or_broken_xml_is_refused() {
        assert!(decode(b"<xml><a><b>1</b></a></xml>").is_err());
        assert!(decode(b"<xml><a>1</xml>").is_err());
        assert!(decode(b"not xml at all").is_err());
        assert!(decode(&[0xff, 0xfe]).is_err());
    }
}
