//! The record of one HTTP request and reply, kept in the trade's history. Connectors mask secrets
//! in the request before it gets here; the reply body is bounded so a bill file does not bloat it.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Recorded reply bodies keep at most this many bytes.
pub(crate) const MAX_RECORDED_BODY: usize = 16 * 1024;

/// One HTTP request to a channel and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The channel's name for the call (`pay/unifiedorder`, `alipay.trade.precreate`, …).
    pub call: String,
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Where it was sent.
    pub url: String,
    /// The request body as sent, with secrets replaced by `***`.
    pub request_body: String,
    /// HTTP status, when a reply arrived.
    pub status: Option<u16>,
    /// The reply body (UTF-8, at most 16 KiB, cut marked), or a note for binary bodies.
    pub reply_body: String,
    /// Why no reply arrived (time-out, refused connection, TLS failure).
    pub error: Option<String>,
    /// When the request left (UTC).
    pub started_at: DateTime<Utc>,
    /// From sending to the end of the reply, or to the failure.
    pub duration: Duration,
}

/// A result together with every exchange made to reach it, in order (a permitted re-send or a
/// bill download adds one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded<T> {
    /// The typed result.
    pub value: T,
    /// The exchanges that led to it, oldest first.
    pub exchanges: Vec<Exchange>,
}

impl<T> Recorded<T> {
    pub(crate) fn new(value: T, exchanges: Vec<Exchange>) -> Self {
        Recorded { value, exchanges }
    }
}

/// A bounded, readable copy of a reply body.
pub(crate) fn recorded_body(body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(text) if text.len() <= MAX_RECORDED_BODY => text.to_owned(),
        Ok(text) => {
            let mut cut = MAX_RECORDED_BODY;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}…[cut, {} bytes in all]", &text[..cut], body.len())
        }
        Err(_) => format!("[binary, {} bytes]", body.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bodies_are_cut_on_a_character_boundary() {
        let body = "账".repeat(MAX_RECORDED_BODY);
        let kept = recorded_body(body.as_bytes());
        assert!(kept.ends_with(&format!("…[cut, {} bytes in all]", body.len())));
        assert!(kept.len() < MAX_RECORDED_BODY + 64);
    }

    #[test]
    fn binary_bodies_are_recorded_by_size() {
        assert_eq!(
            recorded_body(&[0x50, 0x4b, 0x03, 0xff]),
            "[binary, 4 bytes]"
        );
    }

    #[test]
    fn short_text_bodies_are_kept_whole() {
        assert_eq!(recorded_body(b"<xml></xml>"), "<xml></xml>");
    }
}
