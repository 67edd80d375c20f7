//! The load loop: N workers, each with its own HTTP/1.1 keep-alive connection, sending pool
//! bodies closed-loop (as fast as answers come back) or open-loop at a fixed rate, latency into
//! an HdrHistogram (microseconds) and every answer counted by its `resp_code`.
//!
//! Open-loop is free of coordinated omission: request `i` is due at `start + i / rate`, its
//! latency runs from that intended time, so a request that waited for a free connection counts
//! its wait.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Each worker sends its next request when the previous answer arrives.
    Closed,
    /// Requests are due at a fixed rate (requests per second), whatever the answers do.
    Open {
        /// Requests per second.
        rate: f64,
    },
}

/// One run's shape.
#[derive(Debug, Clone)]
pub struct Load {
    /// Connections (and workers) at once.
    pub connections: usize,
    /// Sent but not measured first, so pools, caches and the JIT-free but lazily built
    /// connectors are warm.
    pub warmup: Duration,
    /// Measured after the warm-up.
    pub duration: Duration,
    /// Closed or open loop.
    pub pace: Pace,
    /// Whether the pool is reused from its start when it runs out (reads, the floor); otherwise
    /// the run ends when it is used up (creates, refunds: every request unique).
    pub cycle: bool,
    /// Whether to keep every answer body by pool index (setup runs read them).
    pub keep_replies: bool,
}

/// What a run measured.
pub struct Outcome {
    /// Latencies of the measured requests, in microseconds.
    pub histogram: Histogram<u64>,
    /// From the end of the warm-up to the last measured answer.
    pub window: Duration,
    /// Every measured answer by outcome: its `resp_code`, `http_<status>`, `unparsed`, or `io`
    /// (the connection failed).
    pub outcomes: BTreeMap<String, u64>,
    /// The answer bodies by pool index, when asked for ([`Load::keep_replies`]).
    pub replies: Vec<Option<Bytes>>,
    /// Every measured answer's latency by its place in the run, in that order: where in the
    /// run the slow ones were (written beside the table, [`crate::report::write_latencies`]).
    pub latencies: Vec<Latency>,
}

/// One measured answer: its place in the run and its latency in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Latency {
    /// Where in the run: for a request, how long after the end of the warm-up it was sent
    /// (open loop: due); for a notification delivery (all released at once, no warm-up), how
    /// long after the first arrival it arrived.
    pub at: Duration,
    /// From sent (or due) to the whole answer read, in microseconds.
    pub micros: u64,
}

impl Outcome {
    /// Measured answers per second.
    pub fn rate(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 {
            self.histogram.len() as f64 / secs
        } else {
            0.0
        }
    }

    /// Measured answers whose outcome is not one of `expected`.
    pub fn unexpected(&self, expected: &[&str]) -> BTreeMap<String, u64> {
        self.outcomes
            .iter()
            .filter(|(k, _)| !expected.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// When request `index` is due after the start of an open-loop run at `rate` per second.
pub fn due_after_start(index: usize, rate: f64) -> Duration {
    Duration::from_secs_f64(index as f64 / rate)
}

/// A fresh latency histogram: 1 µs to 10 minutes, 3 significant digits.
///
/// Errors: never for these bounds; kept as a `Result` because the crate's constructor is one.
pub fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 600_000_000, 3).context("latency histogram bounds")
}

/// The outcome of one answer: `resp_code` of `data` for a 200, `http_<status>` otherwise,
/// `unparsed` when a 200's body is not a signed reply.
pub fn outcome_of(status: u16, body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Reply {
        data: ReplyData,
    }
    #[derive(Deserialize)]
    struct ReplyData {
        resp_code: String,
    }
    if status != 200 {
        return format!("http_{status}");
    }
    match serde_json::from_slice::<Reply>(body) {
        Ok(r) => r.data.resp_code,
        Err(_) => "unparsed".to_owned(),
    }
}

/// One keep-alive HTTP/1.1 connection to a host.
pub struct Client {
    addr: SocketAddr,
    host: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Client {
    /// A client for `addr` (connects lazily, reconnects after a failure).
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            host: addr.to_string(),
            sender: None,
        }
    }

    async fn connect(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(self.addr)
                .await
                .with_context(|| format!("connecting to {}", self.addr))?;
            stream.set_nodelay(true)?;
            let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            self.sender = Some(sender);
        }
        self.sender
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("no connection"))
    }

    /// Sends one request (`body` as `application/json` for a POST) and reads the whole answer:
    /// its status and body.
    ///
    /// Errors: connecting, writing or reading failed (the connection is dropped and the next
    /// call makes a new one).
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> anyhow::Result<(u16, Bytes)> {
        let result = self.try_call(method, path, body).await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn try_call(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> anyhow::Result<(u16, Bytes)> {
        let host = self.host.clone();
        let sender = self.connect().await?;
        sender.ready().await?;
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, host)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// Runs `load` against `addr` + `path` with the pool `bodies` (POSTed) and returns what was
/// measured.
///
/// Errors: the pool is empty, or the run measured nothing (the pool ran out during the warm-up:
/// make it larger or the warm-up shorter).
pub async fn run(
    addr: SocketAddr,
    path: &str,
    bodies: Arc<Vec<Bytes>>,
    load: &Load,
) -> anyhow::Result<Outcome> {
    anyhow::ensure!(!bodies.is_empty(), "the request pool is empty");
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let warm_end = start + load.warmup;
    let deadline = warm_end + load.duration;
    let mut workers = Vec::with_capacity(load.connections);
    for _ in 0..load.connections.max(1) {
        let bodies = bodies.clone();
        let next = next.clone();
        let path = path.to_owned();
        let load = load.clone();
        workers.push(tokio::spawn(async move {
            worker(
                addr, &path, &bodies, &next, &load, start, warm_end, deadline,
            )
            .await
        }));
    }
    let mut histogram = histogram()?;
    let mut outcomes = BTreeMap::new();
    let mut replies = vec![None; if load.keep_replies { bodies.len() } else { 0 }];
    let mut last = warm_end;
    let mut latencies = Vec::new();
    for w in workers {
        let part = w.await.context("a load worker panicked")??;
        histogram.add(&part.histogram)?;
        for (k, v) in part.outcomes {
            *outcomes.entry(k).or_insert(0) += v;
        }
        for (i, body) in part.replies {
            if let Some(slot) = replies.get_mut(i) {
                *slot = Some(body);
            }
        }
        last = last.max(part.last);
        latencies.extend(part.latencies);
    }
    latencies.sort_unstable();
    anyhow::ensure!(
        !histogram.is_empty(),
        "nothing was measured: the pool of {} requests ran out during the warm-up",
        bodies.len()
    );
    Ok(Outcome {
        histogram,
        window: last - warm_end,
        outcomes,
        replies,
        latencies,
    })
}

struct WorkerPart {
    histogram: Histogram<u64>,
    outcomes: BTreeMap<String, u64>,
    replies: Vec<(usize, Bytes)>,
    last: Instant,
    latencies: Vec<Latency>,
}

#[allow(clippy::too_many_arguments)]
async fn worker(
    addr: SocketAddr,
    path: &str,
    bodies: &[Bytes],
    next: &AtomicUsize,
    load: &Load,
    start: Instant,
    warm_end: Instant,
    deadline: Instant,
) -> anyhow::Result<WorkerPart> {
    let mut client = Client::new(addr);
    let mut part = WorkerPart {
        histogram: histogram()?,
        outcomes: BTreeMap::new(),
        replies: Vec::new(),
        last: warm_end,
        latencies: Vec::new(),
    };
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        if !load.cycle && index >= bodies.len() {
            break;
        }
        let body = bodies[index % bodies.len()].clone();
        let sent = match load.pace {
            Pace::Closed => Instant::now(),
            Pace::Open { rate } => {
                let due = start + due_after_start(index, rate);
                tokio::time::sleep_until(due).await;
                due
            }
        };
        if sent >= deadline {
            break;
        }
        let answer = client.call(Method::POST, path, body).await;
        let done = Instant::now();
        if sent < warm_end && !load.keep_replies {
            continue;
        }
        let outcome = match &answer {
            Ok((status, body)) => outcome_of(*status, body),
            Err(_) => "io".to_owned(),
        };
        if sent >= warm_end {
            let micros = u64::try_from((done - sent).as_micros()).unwrap_or(u64::MAX);
            part.histogram.saturating_record(micros.max(1));
            part.latencies.push(Latency {
                at: sent - warm_end,
                micros,
            });
            *part.outcomes.entry(outcome).or_insert(0) += 1;
            part.last = part.last.max(done);
        }
        if load.keep_replies
            && let Ok((_, body)) = answer
        {
            part.replies.push((index % bodies.len(), body));
        }
    }
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_loop_requests_are_due_evenly_from_the_start() {
        assert_eq!(due_after_start(0, 200.0), Duration::ZERO);
        assert_eq!(due_after_start(1, 200.0), Duration::from_millis(5));
        assert_eq!(due_after_start(100, 200.0), Duration::from_millis(500));
        assert_eq!(due_after_start(3000, 1500.0), Duration::from_secs(2));
    }

    #[test]
    fn answers_are_counted_by_resp_code_or_by_what_went_wrong() {
        let signed = br#"{"data":{"resp_code":"00000100","resp_desc":"ok"},"sign":"x"}"#;
        assert_eq!(outcome_of(200, signed), "00000100");
        assert_eq!(outcome_of(429, signed), "http_429");
        assert_eq!(outcome_of(200, b"<html>"), "unparsed");
        assert_eq!(outcome_of(200, br#"{"data":{}}"#), "unparsed");
    }

    #[test]
    fn rate_and_unexpected_outcomes_come_from_the_measured_answers() {
        let mut h = histogram().unwrap();
        for v in [100, 200, 300, 400] {
            h.record(v).unwrap();
        }
        let outcome = Outcome {
            histogram: h,
            window: Duration::from_secs(2),
            outcomes: BTreeMap::from([("00000100".to_owned(), 3), ("io".to_owned(), 1)]),
            replies: Vec::new(),
            latencies: Vec::new(),
        };
        assert_eq!(outcome.rate(), 2.0);
        assert_eq!(
            outcome.unexpected(&["00000100"]),
            BTreeMap::from([("io".to_owned(), 1)])
        );
    }

    /// `n` bodies the echo server sends back, each with its index as its `resp_code`.
    fn numbered_bodies(n: usize) -> Vec<Bytes> {
        (0..n)
            .map(|i| Bytes::from(format!(r#"{{"data":{{"resp_code":"{i:08}"}}}}"#)))
            .collect()
    }

    #[tokio::test]
    async fn a_run_measures_every_unique_request_once_and_keeps_the_replies() {
        let addr = crate::receiver::tests::echo_server().await;
        let bodies = numbered_bodies(40);
        let load = Load {
            connections: 4,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(600),
            pace: Pace::Closed,
            cycle: false,
            keep_replies: true,
        };
        let out = run(addr, "/echo", Arc::new(bodies.clone()), &load)
            .await
            .unwrap();
        assert_eq!(out.histogram.len(), 40);
        assert_eq!(out.outcomes.len(), 40);
        assert_eq!(out.latencies.len(), 40, "one latency per measured request");
        assert!(out.latencies.is_sorted_by_key(|l| l.at));
        let mut again = histogram().unwrap();
        for l in &out.latencies {
            again.record(l.micros.max(1)).unwrap();
        }
        assert_eq!(
            again, out.histogram,
            "the same latencies as the histogram's"
        );
        assert!(out.outcomes.values().all(|&n| n == 1));
        for (i, reply) in out.replies.iter().enumerate() {
            assert_eq!(
                reply.as_ref(),
                Some(&bodies[i]),
                "reply {i} by its pool index"
            );
        }
    }

    #[tokio::test]
    async fn an_open_loop_run_places_each_measured_request_at_its_due_time_after_the_warm_up() {
        let addr = crate::receiver::tests::echo_server().await;
        let bodies = numbered_bodies(10);
        // 200 a second: one due every 5 ms; the first 20 fall in the 100 ms warm-up, the next
        // 40 in the 200 ms measured.
        let load = Load {
            connections: 4,
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(200),
            pace: Pace::Open { rate: 200.0 },
            cycle: true,
            keep_replies: false,
        };
        let out = run(addr, "/echo", Arc::new(bodies), &load).await.unwrap();
        assert_eq!(
            out.histogram.len(),
            40,
            "the warm-up's requests are not measured"
        );
        let at_micros: Vec<u64> = out
            .latencies
            .iter()
            .map(|l| (l.at.as_secs_f64() * 1e6).round() as u64)
            .collect();
        let due: Vec<u64> = (0..40).map(|i| i * 5_000).collect();
        assert_eq!(at_micros, due, "due time minus the warm-up, in order");
    }
}
