//! A merchant's notification receiver for tests: a small HTTP/1.1 server on loopback that
//! answers as each test scripts it (status, hold the connection, redirect, hang up) and
//! records every request with the interval it was being handled.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the receiver does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16, String),
    /// Keep the request open this long, then answer with the status.
    Hold(Duration, u16),
    Redirect(String),
    /// Close the connection without answering.
    HangUp,
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub fields: HashMap<String, String>,
    /// `nkp_seq_id` from `resp_data`, empty when it does not parse.
    pub nkp_seq_id: String,
    /// Which request this is for its `nkp_seq_id`, from 1.
    pub nth: usize,
    pub received: Instant,
    pub finished: Instant,
    pub reply: Reply,
}

type Script = dyn Fn(&Hit) -> Reply + Send + Sync;

pub struct Receiver {
    pub addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    busy: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Starts on a free loopback port.
    pub async fn start(script: impl Fn(&Hit) -> Reply + Send + Sync + 'static) -> Receiver {
        Receiver::start_on(0, script).await
    }

    /// Starts on `port` (0 for any), e.g. the port of a receiver that was down.
    pub async fn start_on(
        port: u16,
        script: impl Fn(&Hit) -> Reply + Send + Sync + 'static,
    ) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the test receiver");
        let addr = listener.local_addr().expect("receiver address");
        let hits = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let busy = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&hits),
            Arc::clone(&busy),
            script,
        ));
        Receiver {
            addr,
            hits,
            busy,
            task,
        }
    }

    /// A free loopback port with nobody listening: connections to it are refused.
    pub async fn unused_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr").port()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Requests being handled right now.
    pub fn in_flight(&self) -> usize {
        self.busy.load(Ordering::SeqCst)
    }

    /// How many requests were answered (or dropped) so far.
    pub fn count(&self) -> usize {
        self.hits.lock().expect("hits").len()
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("hits").clone()
    }

    pub fn hits_for(&self, nkp_seq_id: &str) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.nkp_seq_id == nkp_seq_id)
            .collect()
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    hits: Arc<Mutex<Vec<Hit>>>,
    busy: Arc<AtomicUsize>,
    script: Arc<Script>,
) {
    // Requests per nkp_seq_id, counted on arrival (a held request is not finished yet).
    let counts = Arc::new(Mutex::new(HashMap::new()));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve(
            stream,
            Arc::clone(&hits),
            Arc::clone(&busy),
            Arc::clone(&counts),
            Arc::clone(&script),
        ));
    }
}

async fn serve(
    mut stream: TcpStream,
    hits: Arc<Mutex<Vec<Hit>>>,
    busy: Arc<AtomicUsize>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    script: Arc<Script>,
) {
    let mut buf = Vec::new();
    loop {
        let Some((head_len, body_len)) = read_head(&mut stream, &mut buf).await else {
            return;
        };
        let received = Instant::now();
        busy.fetch_add(1, Ordering::SeqCst);
        while buf.len() < head_len + body_len {
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    busy.fetch_sub(1, Ordering::SeqCst);
                    return;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
        let body = buf[head_len..head_len + body_len].to_vec();
        buf.drain(..head_len + body_len);
        let mut hit = parse(&head, &body, received);
        hit.nth = {
            let mut seen = counts.lock().expect("counts");
            let n = seen.entry(hit.nkp_seq_id.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let reply = script(&hit);
        hit.reply = reply.clone();
        let response = match reply {
            Reply::Status(code, text) => Some(response(code, &[], &text)),
            Reply::Hold(d, code) => {
                tokio::time::sleep(d).await;
                Some(response(code, &[], "held"))
            }
            Reply::Redirect(to) => Some(response(302, &[("Location", &to)], "moved")),
            Reply::HangUp => None,
        };
        // Handling ends before the answer goes out: once the client has read it, it may send
        // its next request at once, and that one must not be seen overlapping this one. So the
        // window [received, finished] always lies inside the client's own view of the request.
        hit.finished = Instant::now();
        busy.fetch_sub(1, Ordering::SeqCst);
        let written = match &response {
            Some(r) => stream.write_all(r.as_bytes()).await.is_ok(),
            None => false,
        };
        hits.lock().expect("hits").push(hit);
        if !written {
            return;
        }
    }
}

/// Reads until the end of the headers; returns (head length, Content-Length).
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(usize, usize)> {
    loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..pos]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            return Some((pos + 4, len));
        }
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn parse(head: &str, body: &[u8], received: Instant) -> Hit {
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_default()
        .to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let fields: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let nkp_seq_id = fields
        .get("resp_data")
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .and_then(|v| {
            v.get("nkp_seq_id")
                .and_then(|s| s.as_str().map(str::to_string))
        })
        .unwrap_or_default();
    Hit {
        path,
        headers,
        fields,
        nkp_seq_id,
        nth: 0,
        received,
        finished: received,
        reply: Reply::HangUp,
    }
}

fn response(code: u16, headers: &[(&str, &str)], body: &str) -> String {
    let mut out = format!(
        "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out
}
