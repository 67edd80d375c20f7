//! One delivery attempt: POST the signed form to the receiver and describe what happened, as
//! the attempt row stores it. 2xx within the time-out is delivered; any other status, a
//! redirect (never followed), a time-out or a connection failure is not.

use nkpay_crypto::envelope::KEY_ID_HEADER;
use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use nkpay_store::notifications::{AttemptRecord, RESPONSE_BODY_LIMIT};
use reqwest::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use reqwest::redirect;
use url::Host;

use super::guarded_resolver::GuardedResolver;
use super::url_guard::{UrlPolicy, UrlRefusal, check_ip, parse_notify_url};
use crate::error::EngineError;

/// The notification's content type (API.md "Asynchronous notifications to merchants").
pub(crate) const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded;charset=UTF-8";

/// The HTTP client deliveries share: vetted DNS, no proxy, no redirects.
pub(crate) fn build_client(
    policy: UrlPolicy,
    timeout: Duration,
) -> Result<reqwest::Client, EngineError> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        // A proxy would resolve the host itself, out of the guard's sight.
        .no_proxy()
        .redirect(redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .user_agent(concat!("nkpay-notify/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| EngineError::Internal(format!("building the notification HTTP client: {e}")))
}

/// The form a receiver gets: `resp_code`, `resp_desc`, `resp_data`, `sign`.
pub(crate) fn form_body(resp_code: &str, resp_desc: &str, resp_data: &str, sign: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("resp_code", resp_code)
        .append_pair("resp_desc", resp_desc)
        .append_pair("resp_data", resp_data)
        .append_pair("sign", sign)
        .finish()
}

/// Posts `body` to `notify_url`; the whole attempt (resolution, connection, answer, the first
/// [`RESPONSE_BODY_LIMIT`] bytes of the body) is bounded by `timeout`.
pub(crate) async fn attempt(
    client: &reqwest::Client,
    policy: &UrlPolicy,
    timeout: Duration,
    notify_url: &str,
    key_id: &str,
    body: String,
) -> AttemptRecord {
    let started_at = Utc::now();
    let start = Instant::now();
    let deadline = tokio::time::Instant::from_std(start + timeout);
    let outcome = post(client, policy, timeout, deadline, notify_url, key_id, body).await;
    let duration_ms = i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX);
    match outcome {
        Ok(answer) => AttemptRecord {
            started_at,
            duration_ms,
            http_status: Some(i32::from(answer.status)),
            delivered: (200..300).contains(&answer.status),
            error: answer.note,
            response_body: answer.body,
        },
        Err(error) => AttemptRecord {
            started_at,
            duration_ms,
            http_status: None,
            error: Some(error),
            response_body: None,
            delivered: false,
        },
    }
}

struct Answer {
    status: u16,
    body: Option<String>,
    note: Option<String>,
}

async fn post(
    client: &reqwest::Client,
    policy: &UrlPolicy,
    timeout: Duration,
    deadline: tokio::time::Instant,
    notify_url: &str,
    key_id: &str,
    body: String,
) -> Result<Answer, String> {
    let url = parse_notify_url(notify_url).map_err(|e| e.to_string())?;
    // Literal addresses never reach the resolver, so they are checked here.
    match url.host() {
        Some(Host::Ipv4(ip)) => check_ip(ip.into(), policy).map_err(|e| e.to_string())?,
        Some(Host::Ipv6(ip)) => check_ip(ip.into(), policy).map_err(|e| e.to_string())?,
        _ => {}
    }
    let key_id = HeaderValue::from_str(key_id)
        .map_err(|_| "platform key id is not a valid header value".to_string())?;
    let request = client
        .post(url)
        .header(CONTENT_TYPE, FORM_CONTENT_TYPE)
        .header(KEY_ID_HEADER, key_id)
        .body(body)
        .send();
    let timed_out = || format!("no answer within {} ms", timeout.as_millis());
    let mut response = match tokio::time::timeout_at(deadline, request).await {
        Err(_) => return Err(timed_out()),
        Ok(Err(e)) if e.is_timeout() => return Err(timed_out()),
        Ok(Err(e)) => return Err(describe_send_error(&e)),
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    let note = if status.is_redirection() {
        let to = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?");
        Some(format!("redirect to {to} not followed"))
    } else {
        None
    };
    // The status decides; the body is kept for the console, as much as arrives in time.
    let mut bytes = Vec::new();
    while bytes.len() < RESPONSE_BODY_LIMIT {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(RESPONSE_BODY_LIMIT);
    Ok(Answer {
        status: status.as_u16(),
        body: Some(String::from_utf8_lossy(&bytes).into_owned()),
        note,
    })
}

/// A failed request in words: the guard's refusal when that is the cause, else the error
/// chain (refused connection, TLS failure …).
fn describe_send_error(e: &reqwest::Error) -> String {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(refusal) = s.downcast_ref::<UrlRefusal>() {
            return refusal.to_string();
        }
        source = s.source();
    }
    let mut text = if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_body_encodes_every_field_so_the_receiver_gets_resp_data_byte_for_byte() {
        let data = r#"{"mer_id":"6666000000000001","remark":"a&b=c 好+"}"#;
        let body = form_body("00000000", "交易成功", data, "ab+/=");
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(
            fields,
            vec![
                ("resp_code".into(), "00000000".into()),
                ("resp_desc".into(), "交易成功".into()),
                ("resp_data".into(), data.into()),
                ("sign".into(), "ab+/=".into()),
            ]
        );
    }
}
