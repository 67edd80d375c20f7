//! WeChat Pay's XML: one root (`<xml>`, or `<root>` inside a refund notify's req_info) holding
//! flat fields whose text is plain, entity-escaped or CDATA. Anything else — nesting, a DOCTYPE,
//! repeated fields, stray text — is rejected rather than guessed at.

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::events::Event;

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct XmlError(pub String);

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(msg: impl Into<String>) -> XmlError {
    XmlError(msg.into())
}

fn resolve_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

/// Parses `<root><k>v</k>…</root>` into its fields.
pub(crate) fn parse(text: &str, root: &str) -> Result<BTreeMap<String, String>, XmlError> {
    let mut reader = Reader::from_str(text);
    let mut fields = BTreeMap::new();
    // Where we are: before the root, inside it, inside one of its fields, after it.
    let mut in_root = false;
    let mut done = false;
    let mut field: Option<(String, String)> = None;
    loop {
        let event = reader.read_event().map_err(|e| {
            err(format!(
                "malformed XML at byte {}: {e}",
                reader.error_position()
            ))
        })?;
        match event {
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) => {}
            Event::PI(_) => return Err(err("processing instructions are not allowed")),
            Event::DocType(_) => return Err(err("a DOCTYPE is not allowed")),
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if done {
                    return Err(err(format!("element <{name}> after the root element")));
                }
                if !in_root {
                    if name != root {
                        return Err(err(format!(
                            "the root element must be <{root}>, not <{name}>"
                        )));
                    }
                    in_root = true;
                } else if field.is_some() {
                    return Err(err(format!("nested element <{name}>: fields must be flat")));
                } else {
                    field = Some((name, String::new()));
                }
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if !in_root || field.is_some() || done {
                    return Err(err(format!("unexpected empty element <{name}/>")));
                }
                if fields.insert(name.clone(), String::new()).is_some() {
                    return Err(err(format!("field <{name}> appears twice")));
                }
            }
            Event::End(_) => match field.take() {
                Some((name, value)) => {
                    if fields.insert(name.clone(), value).is_some() {
                        return Err(err(format!("field <{name}> appears twice")));
                    }
                }
                None => {
                    in_root = false;
                    done = true;
                }
            },
            Event::Text(t) => {
                let s = t
                    .decode()
                    .map_err(|e| err(format!("text is not valid UTF-8: {e}")))?;
                match field.as_mut() {
                    Some((_, value)) => value.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err(err("text outside of a field")),
                }
            }
            Event::CData(t) => {
                let s = t
                    .decode()
                    .map_err(|e| err(format!("CDATA is not valid UTF-8: {e}")))?;
                match field.as_mut() {
                    Some((_, value)) => value.push_str(&s),
                    None => return Err(err("CDATA outside of a field")),
                }
            }
            Event::GeneralRef(r) => {
                let Some((_, value)) = field.as_mut() else {
                    return Err(err("entity reference outside of a field"));
                };
                let c = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| err(format!("bad character reference: {e}")))?
                } else {
                    let name = r
                        .decode()
                        .map_err(|e| err(format!("bad entity reference: {e}")))?;
                    resolve_entity(&name)
                };
                match c {
                    Some(c) => value.push(c),
                    None => return Err(err("unknown entity reference")),
                }
            }
        }
    }
    if !done {
        return Err(err(format!("missing or unclosed <{root}> element")));
    }
    Ok(fields)
}

/// Writes fields in the given order, text in CDATA and all-digit values bare, as WeChat does.
pub(crate) fn write<'a>(
    root: &str,
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut out = format!("<{root}>");
    for (k, v) in fields {
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("<{k}>{v}</{k}>"));
        } else {
            // "]]>" cannot sit inside one CDATA section: close and reopen around it.
            let v = v.replace("]]>", "]]]]><![CDATA[>");
            out.push_str(&format!("<{k}><![CDATA[{v}]]></{k}>"));
        }
    }
    out.push_str(&format!("</{root}>"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdata_plain_and_escaped_values_parse() {
        let f = parse(
            "<?xml version=\"1.0\"?>\n<xml>\n <a><![CDATA[x<y]]></a>\n <b>12</b><c>a&amp;b&#x4e2d;</c><d/><e></e></xml>\n",
            "xml",
        )
        .unwrap();
        assert_eq!(f["a"], "x<y");
        assert_eq!(f["b"], "12");
        assert_eq!(f["c"], "a&b中");
        assert_eq!(f["d"], "");
        assert_eq!(f["e"], "");
    }

    /// A unifiedorder body exactly as wechatpy 1.8.18's dict_to_xml wrote it (captured), signed
    /// with the demo API key.
    const WECHATPY_BODY: &str = "<xml>\n<appid><![CDATA[wx5f6d2c8a9b0e1f37]]></appid>\n<body><![CDATA[咖啡 coffee & <cake>]]></body>\n<fee_type><![CDATA[CNY]]></fee_type>\n<mch_id>1900000109</mch_id>\n<nonce_str><![CDATA[Q3yJd0kBzvWm8TfX2pLc6HnRa9SgVe1u]]></nonce_str>\n<notify_url><![CDATA[http://127.0.0.1:9/wx/pay]]></notify_url>\n<out_trade_no><![CDATA[WX20251122001]]></out_trade_no>\n<spbill_create_ip><![CDATA[127.0.0.1]]></spbill_create_ip>\n<sub_appid><![CDATA[wx1a2b3c4d5e6f7a81]]></sub_appid>\n<sub_mch_id>1900000201</sub_mch_id>\n<sub_openid><![CDATA[oSubUser0001]]></sub_openid>\n<time_expire>20251122140000</time_expire>\n<time_start>20251122120000</time_start>\n<total_fee>88</total_fee>\n<trade_type><![CDATA[JSAPI]]></trade_type>\n<sign><![CDATA[DA903800CCC5BB38E4B0D0D7DBF756E9]]></sign>\n</xml>";

    #[test]
    fn a_body_captured_from_wechatpy_parses_and_its_signature_verifies() {
        let f = parse(WECHATPY_BODY, "xml").unwrap();
        assert_eq!(f.len(), 16);
        assert_eq!(f["body"], "咖啡 coffee & <cake>");
        assert_eq!(f["total_fee"], "88");
        nkpay_crypto::wechat_sign::verify(
            &f,
            "nkpaySandboxDemoKey0000000000001",
            nkpay_crypto::wechat_sign::WechatSignType::Md5,
        )
        .unwrap();
    }

    #[test]
    fn malformed_documents_are_rejected() {
        for bad in [
            "",
            "not xml",
            "<xml><a>1</a>",
            "<xml><a><b>1</b></a></xml>",
            "<xml><a>1</a><a>2</a></xml>",
            "<other><a>1</a></other>",
            "<xml>stray<a>1</a></xml>",
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><xml><a>&e;</a></xml>",
            "<xml><a>1</b></xml>",
            "<xml></xml><xml></xml>",
        ] {
            assert!(parse(bad, "xml").is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn written_documents_parse_back_even_with_cdata_terminators() {
        let text = write("xml", [("a", "1"), ("b", "x]]>y<z>"), ("c", "")]);
        let f = parse(&text, "xml").unwrap();
        assert_eq!(f["a"], "1");
        assert_eq!(f["b"], "x]]>y<z>");
        assert_eq!(f["c"], "");
    }
}
