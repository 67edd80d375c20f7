//! A small JSON reader and writer for signing: it keeps object key order and the exact text of
//! numbers (serde_json would need workspace-wide features for that), and writes strings the way
//! Python's `json.dumps(ensure_ascii=False)` does, which is what the merchant SDKs sign.
//!
//! Strict RFC 8259: no comments, no trailing commas, no lone surrogates (they cannot be signed
//! as UTF-8), no duplicate keys (two readers could pick different values), nesting limited to
//! `MAX_DEPTH` so hostile input cannot exhaust the stack.

use std::ops::Range;

use crate::error::{CryptoError, Result};

/// How deep arrays and objects may nest (the document itself is level 1): deeper than any payment
/// payload, shallow enough to fail fast on hostile input.
pub const MAX_DEPTH: usize = 64;

/// One parsed JSON value (RFC 8259), keeping what signing needs: member order and number text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonValue {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// The number exactly as written (`1.50` stays `1.50`).
    Number(String),
    /// A string, escapes decoded.
    String(String),
    /// Items in the order received.
    Array(Vec<JsonValue>),
    /// Members in the order received.
    Object(Vec<(String, JsonValue)>),
}

impl JsonValue {
    /// `null`, `""`, `{}` or `[]`: what the SDKs leave out before signing.
    pub(crate) fn is_empty_value(&self) -> bool {
        match self {
            JsonValue::Null => true,
            JsonValue::String(s) => s.is_empty(),
            JsonValue::Array(a) => a.is_empty(),
            JsonValue::Object(o) => o.is_empty(),
            JsonValue::Bool(_) | JsonValue::Number(_) => false,
        }
    }

    /// Compact JSON (`,` and `:` with no spaces), raw UTF-8, Python's escapes: the text Python's
    /// `json.dumps(v, ensure_ascii=False, separators=(',', ':'))` writes for the same value.
    pub fn to_compact(&self) -> String {
        self.to_compact_escaping(&[])
    }

    /// As [`to_compact`](Self::to_compact), but every character of `escaped` is also written
    /// `\uXXXX` (lowercase hex), as other encoders do: Go's `encoding/json` for U+2028, U+2029
    /// and `<` `>` `&`, PHP's `json_encode` for U+2028 and U+2029, Newtonsoft for U+0085 too.
    pub(crate) fn to_compact_escaping(&self, escaped: &[char]) -> String {
        let mut out = String::new();
        write_value(self, escaped, &mut out);
        out
    }
}

/// Parses one JSON value filling the whole text (surrounding whitespace allowed).
///
/// Errors: [`CryptoError::Json`] with the byte offset and the rule broken, or
/// [`CryptoError::JsonTooDeep`] past [`MAX_DEPTH`].
pub fn parse(text: &str) -> Result<JsonValue> {
    let mut p = Parser::new(text);
    p.skip_ws();
    let v = p.value(0)?;
    p.finish()?;
    Ok(v)
}

/// One member of a top-level object: its key, its parsed value, and the exact text of the value.
#[derive(Debug)]
pub(crate) struct Member<'a> {
    pub(crate) key: String,
    pub(crate) value: JsonValue,
    pub(crate) raw: &'a str,
}

/// Parses a top-level object and returns each member with its value both parsed and as the exact
/// text received, for signatures computed over bytes as received (Alipay's sync replies) and for
/// envelopes whose `data` is checked against a signature.
pub(crate) fn members(text: &str) -> Result<Vec<Member<'_>>> {
    let mut p = Parser::new(text);
    p.skip_ws();
    let mut spans: Vec<(String, Range<usize>)> = Vec::new();
    if p.peek() != Some(b'{') {
        return Err(CryptoError::JsonNotObject { what: "document" });
    }
    let JsonValue::Object(values) = p.object(0, Some(&mut spans))? else {
        return Err(CryptoError::JsonNotObject { what: "document" });
    };
    p.finish()?;
    Ok(values
        .into_iter()
        .zip(spans)
        .map(|((key, value), (_, r))| Member {
            key,
            value,
            raw: &text[r],
        })
        .collect())
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    fn err(&self, reason: &'static str) -> CryptoError {
        CryptoError::Json {
            offset: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn finish(&mut self) -> Result<()> {
        self.skip_ws();
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(self.err("unexpected text after the value"))
        }
    }

    fn expect(&mut self, b: u8, reason: &'static str) -> Result<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(reason))
        }
    }

    fn value(&mut self, depth: usize) -> Result<JsonValue> {
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(b'{') => self.object(depth, None),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(JsonValue::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", JsonValue::Bool(true)),
            Some(b'f') => self.literal("false", JsonValue::Bool(false)),
            Some(b'n') => self.literal("null", JsonValue::Null),
            Some(_) => Err(self.err("expected a value")),
        }
    }

    fn literal(&mut self, word: &'static str, v: JsonValue) -> Result<JsonValue> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.err("expected true, false or null"))
        }
    }

    fn enter(&self, depth: usize) -> Result<usize> {
        if depth >= MAX_DEPTH {
            Err(CryptoError::JsonTooDeep { max: MAX_DEPTH })
        } else {
            Ok(depth + 1)
        }
    }

    /// `spans`, when given, receives each member's key and the byte range of its value.
    fn object(
        &mut self,
        depth: usize,
        mut spans: Option<&mut Vec<(String, Range<usize>)>>,
    ) -> Result<JsonValue> {
        let depth = self.enter(depth)?;
        self.pos += 1; // '{'
        let mut members: Vec<(String, JsonValue)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(JsonValue::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let key_pos = self.pos;
            let key = self.string()?;
            if members.iter().any(|(k, _)| *k == key) {
                return Err(CryptoError::JsonDuplicateKey {
                    offset: key_pos,
                    key: key.chars().take(64).collect(),
                });
            }
            self.skip_ws();
            self.expect(b':', "expected ':' after a key")?;
            self.skip_ws();
            let start = self.pos;
            let v = self.value(depth)?;
            if let Some(spans) = spans.as_deref_mut() {
                spans.push((key.clone(), start..self.pos));
            }
            members.push((key, v));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(JsonValue::Object(members));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<JsonValue> {
        let depth = self.enter(depth)?;
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(JsonValue::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(JsonValue::Array(items));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<JsonValue> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("expected a digit after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("expected a digit in the exponent"));
            }
        }
        Ok(JsonValue::Number(self.text[start..self.pos].to_owned()))
    }

    fn hex4(&mut self) -> Result<u32> {
        let chunk = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("unexpected end of input in \\u escape"))?;
        let mut v = 0u32;
        for &b in chunk {
            let d = (b as char)
                .to_digit(16)
                .ok_or_else(|| self.err("expected four hex digits after \\u"))?;
            v = v * 16 + d;
        }
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            // Copy the run of plain characters in one go; the input is already valid UTF-8 and
            // we only stop on ASCII bytes, so the slice boundaries are char boundaries.
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run_start..self.pos]);
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => return Err(self.err("control character in string must be escaped")),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<()> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                let hi = self.hex4()?;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    if !self.bytes[self.pos..].starts_with(b"\\u") {
                        return Err(self.err("lone high surrogate in \\u escape"));
                    }
                    self.pos += 2;
                    let lo = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(self.err("high surrogate not followed by a low surrogate"));
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else if (0xDC00..0xE000).contains(&hi) {
                    return Err(self.err("lone low surrogate in \\u escape"));
                } else {
                    hi
                };
                let ch = char::from_u32(cp).ok_or_else(|| self.err("invalid \\u escape"))?;
                out.push(ch);
                return Ok(());
            }
            _ => return Err(self.err("invalid escape")),
        };
        self.pos += 1;
        out.push(c);
        Ok(())
    }
}

fn write_value(v: &JsonValue, escaped: &[char], out: &mut String) {
    match v {
        JsonValue::Null => out.push_str("null"),
        JsonValue::Bool(true) => out.push_str("true"),
        JsonValue::Bool(false) => out.push_str("false"),
        JsonValue::Number(n) => out.push_str(n),
        JsonValue::String(s) => write_string(s, escaped, out),
        JsonValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, escaped, out);
            }
            out.push(']');
        }
        JsonValue::Object(members) => {
            out.push('{');
            for (i, (k, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, escaped, out);
                out.push(':');
                write_value(item, escaped, out);
            }
            out.push('}');
        }
    }
}

/// Python `json.dumps(ensure_ascii=False)`: escape `"` `\` and the C0 controls, nothing else
/// but the characters of `escaped`.
fn write_string(s: &str, escaped: &[char], out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || escaped.contains(&c) => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_text() {
        let v = parse(r#"{"a":1.50,"b":-0,"c":1E+2,"d":12345678901234567890123}"#).unwrap();
        assert_eq!(
            v.to_compact(),
            r#"{"a":1.50,"b":-0,"c":1E+2,"d":12345678901234567890123}"#
        );
    }

    #[test]
    fn escapes_are_decoded_and_reemitted_like_python() {
        // Python: json.dumps(json.loads(s), ensure_ascii=False, separators=(',', ':'))
        let v = parse(
            r#"["\u4e2d\u6587", "\ud83d\ude00", "a\/b", "\u0001\u001f\u007f", "\"\\\n\r\t\b\f"]"#,
        )
        .unwrap();
        assert_eq!(
            v.to_compact(),
            "[\"中文\",\"😀\",\"a/b\",\"\\u0001\\u001f\u{7f}\",\"\\\"\\\\\\n\\r\\t\\b\\f\"]"
        );
    }

    #[test]
    fn lone_surrogates_are_rejected() {
        assert!(parse(r#""\ud800""#).is_err());
        assert!(parse(r#""\udc00""#).is_err());
        assert!(parse(r#""\ud800\u0041""#).is_err());
    }

    #[test]
    fn malformed_json_is_rejected_with_an_offset() {
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "{\"a\":1,}",
            "[1,]",
            "01",
            "1.",
            "-",
            "1e",
            "tru",
            "\"a",
            "{\"a\":1}x",
            "{'a':1}",
            "\"\t\"",
            "\"\\x\"",
            "NaN",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                matches!(err, CryptoError::Json { .. }),
                "{bad:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn a_duplicate_key_is_refused_by_name() {
        let err = parse("{\"a\":1,\"a\":2}").unwrap_err();
        assert_eq!(
            err,
            CryptoError::JsonDuplicateKey {
                offset: 7,
                key: "a".into()
            }
        );
        assert!(err.to_string().ends_with("duplicate key \"a\""), "{err}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(
            parse(&deep).unwrap_err(),
            CryptoError::JsonTooDeep { max: MAX_DEPTH }
        );
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn members_give_the_exact_bytes_of_each_value() {
        let text = r#"{ "x_response" : {"b":"1",  "a":2.0} , "sign":"abc"}"#;
        let got = members(text).unwrap();
        assert_eq!(got[0].key, "x_response");
        assert_eq!(got[0].raw, r#"{"b":"1",  "a":2.0}"#);
        assert_eq!(got[1].key, "sign");
        assert_eq!(got[1].raw, r#""abc""#);
        assert_eq!(got[1].value, JsonValue::String("abc".into()));
        assert!(matches!(
            members("[1]").unwrap_err(),
            CryptoError::JsonNotObject { .. }
        ));
    }
}
