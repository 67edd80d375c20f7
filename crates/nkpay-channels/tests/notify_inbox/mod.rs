//! A loopback HTTP endpoint standing in for the platform's callback: it records every notify the
//! sandbox sends and answers with the bytes the connector says the channel expects.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub struct NotifyInbox {
    pub url: String,
    received: mpsc::UnboundedReceiver<Vec<u8>>,
}

impl NotifyInbox {
    /// Listens on 127.0.0.1 and answers every POST with `answer`.
    pub async fn start(answer: Vec<u8>) -> NotifyInbox {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/callback", listener.local_addr().unwrap());
        let (tx, received) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                let answer = answer.clone();
                tokio::spawn(async move {
                    if let Some(body) = read_request(stream, &answer).await {
                        let _ = tx.send(body);
                    }
                });
            }
        });
        NotifyInbox { url, received }
    }

    /// The next notify body; fails the test after 20 seconds.
    pub async fn next(&mut self) -> Vec<u8> {
        tokio::time::timeout(Duration::from_secs(20), self.received.recv())
            .await
            .expect("no notify arrived within 20 s")
            .expect("inbox closed")
    }
}

/// Reads one request (headers, then Content-Length bytes), answers, closes.
async fn read_request(mut stream: TcpStream, answer: &[u8]) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[header_end..].to_vec();
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        answer.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.write_all(answer).await;
    let _ = stream.shutdown().await;
    Some(body)
}
