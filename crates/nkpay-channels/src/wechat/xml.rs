//! WeChat Pay v2's envelope: one flat `<xml>` element whose children are the fields.

use std::collections::BTreeMap;

/// Field name → value, byte-sorted as the signature wants them.
pub(super) type Fields = BTreeMap<String, String>;

pub(super) fn encode(fields: &Fields) -> Result<String, String> {
    quick_xml::se::to_string_with_root("xml", fields).map_err(|e| format!("cannot write XML: {e}"))
}

/// Reads the flat envelope: `<xml>` (`<root>` inside a refund notify's `req_info`) whose children each hold text (CDATA or escaped, the
/// predefined entities and character references decoded); a repeated field keeps its last
/// value. Nested elements, attributes' meaning, text outside fields, a DOCTYPE (so no entity is
/// ever declared, let alone expanded), other entities and non-UTF-8 are refused.
///
/// Read event by event rather than through serde: quick-xml's deserializer panics on some
/// malformed input (found by the `wechat_notify` fuzz target, issue 15), and this reader runs
/// on what anyone may post to the callback.
pub(super) fn decode(body: &[u8]) -> Result<Fields, String> {
    use quick_xml::events::Event;
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())?;
    let bad = |why: &str| format!("body is not WeChat XML: {why}");
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut fields = Fields::new();
    // Where we are: before the root, inside it, inside field `name` with its text so far.
    let mut root_seen = false;
    let mut root_open = false;
    let mut field: Option<(String, String)> = None;
    loop {
        let event = reader.read_event().map_err(|e| bad(&e.to_string()))?;
        match event {
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::DocType(_) => return Err(bad("a DOCTYPE is not allowed")),
            Event::Start(e) if !root_open => {
                if root_seen || !matches!(e.name().as_ref(), b"xml" | b"root") {
                    return Err(bad("the document must be one <xml> (or <root>) element"));
                }
                (root_seen, root_open) = (true, true);
            }
            // `<xml/>`: an envelope without fields.
            Event::Empty(e) if !root_open => {
                if root_seen || !matches!(e.name().as_ref(), b"xml" | b"root") {
                    return Err(bad("the document must be one <xml> (or <root>) element"));
                }
                root_seen = true;
            }
            Event::Start(e) => {
                if field.is_some() {
                    return Err(bad("fields do not nest"));
                }
                let name = std::str::from_utf8(e.name().as_ref())
                    .map_err(|_| bad("a field name is not UTF-8"))?
                    .to_owned();
                field = Some((name, String::new()));
            }
            Event::Empty(e) => {
                if field.is_some() {
                    return Err(bad("fields do not nest"));
                }
                let name = std::str::from_utf8(e.name().as_ref())
                    .map_err(|_| bad("a field name is not UTF-8"))?
                    .to_owned();
                fields.insert(name, String::new());
            }
            Event::End(_) => match field.take() {
                Some((name, value)) => {
                    fields.insert(name, value);
                }
                None if root_open => root_open = false,
                None => return Err(bad("an end tag without its start")),
            },
            Event::Text(t) => {
                let piece = t.decode().map_err(|e| bad(&e.to_string()))?;
                match field.as_mut() {
                    Some((_, value)) => value.push_str(&piece),
                    None if piece.trim().is_empty() => {}
                    None => return Err(bad("text outside the fields")),
                }
            }
            Event::CData(c) => {
                let piece = c.decode().map_err(|e| bad(&e.to_string()))?;
                match field.as_mut() {
                    Some((_, value)) => value.push_str(&piece),
                    None => return Err(bad("text outside the fields")),
                }
            }
            Event::GeneralRef(r) => {
                let Some((_, value)) = field.as_mut() else {
                    return Err(bad("text outside the fields"));
                };
                if let Some(c) = r.resolve_char_ref().map_err(|e| bad(&e.to_string()))? {
                    value.push(c);
                } else {
                    let name = r.decode().map_err(|e| bad(&e.to_string()))?;
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| bad(&format!("entity &{name}; is not allowed")))?;
                    value.push_str(resolved);
                }
            }
            Event::Eof => {
                if !root_seen || root_open || field.is_some() {
                    return Err(bad("the document ends early"));
                }
                return Ok(fields);
            }
        }
    }
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
    fn entities_are_decoded_and_doctypes_refused() {
        let f = decode(b"<xml><a>x &amp; &lt;y&gt; &#20013;&#x6587;</a><b/></xml>").unwrap();
        assert_eq!(f["a"], "x & <y> 中文");
        assert_eq!(f["b"], "");
        assert!(decode(b"<xml><a>&custom;</a></xml>").is_err());
        assert!(decode(b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml><a>&x;</a></xml>").is_err());
        assert!(decode(b"<xml><a>1</a></xml><xml></xml>").is_err());
        assert!(decode(b"<xml>text<a>1</a></xml>").is_err());
    }

    /// The input the `wechat_notify` fuzz target found: quick-xml's deserializer panicked on
    /// it (an unreachable!); the event reader refuses it.
    #[test]
    fn the_input_that_panicked_the_deserializer_is_refused() {
        let body = b"<xml><r<return_code>r<!DOCTYPE x [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>n_code><appid><![CDATA";
        assert!(decode(body).is_err());
    }

    #[test]
    fn nested_or_broken_xml_is_refused() {
        assert!(decode(b"<xml><a><b>1</b></a></xml>").is_err());
        assert!(decode(b"<xml><a>1</xml>").is_err());
        assert!(decode(b"not xml at all").is_err());
        assert!(decode(&[0xff, 0xfe]).is_err());
    }
}
