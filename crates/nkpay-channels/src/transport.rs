//! HTTP for the connectors: one pooled client per account with the configured time-outs, and
//! every exchange recorded. It never re-sends on its own: connectors decide where the protocol
//! allows a re-send.

use std::error::Error as _;
use std::time::{Duration, Instant};

use chrono::Utc;
use nkpay_core::trade_type::ChannelKind;
use url::Url;

use crate::call_metrics::{self, CallEnd};
use crate::error::ChannelError;
use crate::exchange::{Exchange, Recorded, recorded_body};

/// Time-outs and re-sends of one account's HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// For establishing the connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// For one call, from sending to the last byte of the reply.
    pub total_timeout: Duration,
    /// For a bill download, which may be large.
    pub bill_timeout: Duration,
    /// How many times a call is re-sent with the same parameters where the protocol says so
    /// (WeChat `SYSTEMERROR` on unified order; a refund under the same refund number).
    pub resend_limit: u32,
    /// The pause before each such re-send.
    pub resend_delay: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(3),
            total_timeout: Duration::from_secs(10),
            bill_timeout: Duration::from_secs(120),
            resend_limit: 1,
            resend_delay: Duration::from_millis(500),
        }
    }
}

/// TLS material a connector adds to its client.
#[derive(Default)]
pub(crate) struct TlsSetup {
    /// Client certificate and key as one PEM (WeChat's `secapi` calls need it).
    pub identity_pem: Option<Vec<u8>>,
    /// Extra trusted roots (PEM), e.g. a test CA; the public roots stay trusted.
    pub extra_roots_pem: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HttpMethod {
    Get,
    Post,
}

impl HttpMethod {
    fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }
}

/// One request as a connector built it.
pub(crate) struct Outbound {
    /// The channel's name for the call (a metrics label, so a fixed set).
    pub call: &'static str,
    pub method: HttpMethod,
    pub url: Url,
    pub content_type: &'static str,
    pub body: String,
    /// The body as it may be stored: secrets replaced by `***`.
    pub masked_body: String,
    pub bill: bool,
}

pub(crate) enum Delivery {
    Reply { status: u16, body: Vec<u8> },
    NoReply { reason: String },
}

/// A connector's reading of one delivery: the result, and whether the protocol allows sending the
/// same request again to learn more (a channel system error, a refund that timed out).
pub(crate) struct Verdict<T> {
    pub value: T,
    pub resend: bool,
}

impl<T> Verdict<T> {
    pub(crate) fn done(value: T) -> Self {
        Verdict {
            value,
            resend: false,
        }
    }

    pub(crate) fn resendable(value: T) -> Self {
        Verdict {
            value,
            resend: true,
        }
    }
}

pub(crate) struct Transport {
    /// Whose gateway this talks to: the `channel` label of its calls' metrics.
    channel: ChannelKind,
    client: reqwest::Client,
    settings: HttpSettings,
}

impl Transport {
    pub(crate) fn new(
        channel: ChannelKind,
        settings: HttpSettings,
        tls: TlsSetup,
    ) -> Result<Self, ChannelError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.total_timeout)
            // A channel answers or it does not; a redirect is not part of either protocol.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = tls.identity_pem {
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| ChannelError::config("client certificate", describe(&e)))?;
            builder = builder.identity(identity);
        }
        if let Some(pem) = tls.extra_roots_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| ChannelError::config("extra root certificates", describe(&e)))?;
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        }
        let client = builder
            .build()
            .map_err(|e| ChannelError::config("http client", describe(&e)))?;
        Ok(Transport {
            channel,
            client,
            settings,
        })
    }

    /// Send `out`, and send the very same bytes again while the verdict allows it and the
    /// configured re-send limit is not reached.
    pub(crate) async fn call<T>(
        &self,
        out: &Outbound,
        judge: impl Fn(&Delivery) -> Verdict<T>,
    ) -> Recorded<T> {
        let mut exchanges = Vec::new();
        let mut resends = 0;
        loop {
            let (delivery, exchange) = self.send(out).await;
            exchanges.push(exchange);
            let verdict = judge(&delivery);
            if !verdict.resend || resends >= self.settings.resend_limit {
                return Recorded::new(verdict.value, exchanges);
            }
            resends += 1;
            tokio::time::sleep(self.settings.resend_delay).await;
        }
    }

    pub(crate) async fn send(&self, out: &Outbound) -> (Delivery, Exchange) {
        let started_at = Utc::now();
        let clock = Instant::now();
        let mut request = match out.method {
            HttpMethod::Get => self.client.get(out.url.clone()),
            HttpMethod::Post => self
                .client
                .post(out.url.clone())
                .header(reqwest::header::CONTENT_TYPE, out.content_type)
                .body(out.body.clone()),
        };
        if out.bill {
            request = request.timeout(self.settings.bill_timeout);
        }
        let delivery = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(body) => Delivery::Reply {
                        status,
                        body: body.to_vec(),
                    },
                    Err(e) => Delivery::NoReply {
                        reason: format!("reply cut off (HTTP {status}): {}", describe(&e)),
                    },
                }
            }
            Err(e) => Delivery::NoReply {
                reason: describe(&e),
            },
        };
        let duration = clock.elapsed();
        let (status, reply_body, error) = match &delivery {
            Delivery::Reply { status, body } => (Some(*status), recorded_body(body), None),
            Delivery::NoReply { reason } => (None, String::new(), Some(reason.clone())),
        };
        let end = match status {
            Some(s) if (200..300).contains(&s) => CallEnd::Answered,
            Some(_) => CallEnd::BadStatus,
            None => CallEnd::NoReply,
        };
        call_metrics::record(self.channel.as_str(), out.call, duration, end);
        tracing::debug!(
            channel = self.channel.as_str(),
            call = out.call,
            status,
            elapsed_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            "channel call"
        );
        let exchange = Exchange {
            call: out.call.to_owned(),
            method: out.method.as_str(),
            url: out.url.to_string(),
            request_body: out.masked_body.clone(),
            status,
            reply_body,
            error,
            started_at,
            duration,
        };
        (delivery, exchange)
    }
}

/// A reqwest error with its causes, so "error sending request" says which.
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        format!("timed out: {e}")
    } else {
        e.to_string()
    };
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn outbound(url: String) -> Outbound {
        Outbound {
            call: "pay/orderquery",
            method: HttpMethod::Post,
            url: Url::parse(&url).unwrap(),
            content_type: "text/xml",
            body: "<xml></xml>".into(),
            masked_body: "<xml></xml>".into(),
            bill: false,
        }
    }

    /// Answers every connection with `status` and closes it.
    async fn answering(status: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/pay/orderquery", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbody"
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        url
    }

    /// Every exchange is timed under its channel and call; one without a reply and one with a
    /// non-2xx status count as errors of their kind, a 2xx one does not.
    #[tokio::test]
    async fn calls_are_timed_and_transport_errors_counted() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _local = metrics::set_default_local_recorder(&recorder);
        let transport = Transport::new(
            ChannelKind::Wechat,
            HttpSettings::default(),
            TlsSetup::default(),
        )
        .unwrap();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/pay/orderquery", l.local_addr().unwrap())
        };
        let (no_reply, _) = transport.send(&outbound(closed)).await;
        assert!(matches!(no_reply, Delivery::NoReply { .. }));
        let (failed, _) = transport.send(&outbound(answering("500 Oops").await)).await;
        assert!(matches!(failed, Delivery::Reply { status: 500, .. }));
        let (ok, _) = transport.send(&outbound(answering("200 OK").await)).await;
        assert!(matches!(ok, Delivery::Reply { status: 200, .. }));

        let text = handle.render();
        let has = |line: &str| text.lines().any(|l| l == line);
        let labels = r#"channel="wechat",call="pay/orderquery""#;
        assert!(
            has(&format!(
                "nkpay_channel_call_errors_total{{{labels},error=\"no_reply\"}} 1"
            )),
            "{text}"
        );
        assert!(
            has(&format!(
                "nkpay_channel_call_errors_total{{{labels},error=\"status\"}} 1"
            )),
            "{text}"
        );
        assert!(
            has(&format!(
                "nkpay_channel_call_duration_seconds_count{{{labels}}} 3"
            )),
            "{text}"
        );
    }
}
