//! The merchant's notification receiver the notify mode runs: it answers every POST with 200
//! (a delivered notification, docs/notifications.md) and notes when each one arrived.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;

/// Arrival times of the notifications received so far.
#[derive(Default)]
pub struct Arrivals {
    times: Mutex<Vec<Instant>>,
}

impl Arrivals {
    /// How many have arrived.
    pub fn count(&self) -> usize {
        self.times.lock().map_or(0, |t| t.len())
    }

    /// Every arrival so far, in the order received.
    pub fn times(&self) -> Vec<Instant> {
        self.times.lock().map_or_else(|_| Vec::new(), |t| t.clone())
    }

    fn note(&self, at: Instant) {
        if let Ok(mut t) = self.times.lock() {
            t.push(at);
        }
    }
}

/// A running receiver: `url` is what notifications are sent to.
pub struct Receiver {
    /// `http://127.0.0.1:<port>/notify`.
    pub url: String,
    /// What has arrived.
    pub arrivals: Arc<Arrivals>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// Starts a receiver on a free loopback port, with one worker thread.
    ///
    /// Errors: the port could not be bound.
    pub async fn start() -> anyhow::Result<Receiver> {
        let arrivals = Arc::new(Arrivals::default());
        let shared = web::Data::from(arrivals.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(shared.clone()).route(
                "/notify",
                // The body is read (and dropped): a handler that leaves it unread makes actix
                // close the connection after the answer, and every delivery would then open a
                // new one, measuring TCP set-up instead of the dispatcher.
                web::post().to(|a: web::Data<Arrivals>, _body: web::Bytes| async move {
                    a.note(Instant::now());
                    HttpResponse::Ok().body("ok")
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .context("binding the notification receiver")?;
        let addr = first_addr(&server.addrs())?;
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Receiver {
            url: format!("http://{addr}/notify"),
            arrivals,
            handle,
        })
    }

    /// Stops it.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// The one address a server bound.
///
/// Errors: it bound none.
pub fn first_addr(addrs: &[SocketAddr]) -> anyhow::Result<SocketAddr> {
    addrs
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("the server bound no address"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::load::Client;
    use bytes::Bytes;
    use hyper::Method;

    /// A server answering every `POST /echo` with its body: the load loop's own tests.
    pub(crate) async fn echo_server() -> SocketAddr {
        let server = HttpServer::new(|| {
            App::new().route(
                "/echo",
                web::post().to(|body: web::Bytes| async move { HttpResponse::Ok().body(body) }),
            )
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let addr = first_addr(&server.addrs()).unwrap();
        tokio::spawn(server.run());
        addr
    }

    #[tokio::test]
    async fn every_post_is_answered_200_and_counted() {
        let r = Receiver::start().await.unwrap();
        let addr: SocketAddr = r
            .url
            .trim_start_matches("http://")
            .trim_end_matches("/notify")
            .parse()
            .unwrap();
        let mut c = Client::new(addr);
        for _ in 0..3 {
            let (status, body) = c
                .call(Method::POST, "/notify", Bytes::from_static(b"{}"))
                .await
                .unwrap();
            assert_eq!((status, &body[..]), (200, &b"ok"[..]));
        }
        assert_eq!(r.arrivals.count(), 3);
        let times = r.arrivals.times();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        r.stop().await;
    }

    /// A delivery's connection stays open after the answer, as a merchant's receiver keeps it:
    /// three POSTs with a body go over one connection, which the receiver never closes (an
    /// unread body made actix close it after every answer).
    #[tokio::test]
    async fn the_receiver_keeps_the_connection_alive_across_deliveries() {
        use http_body_util::{BodyExt, Full};
        use hyper::client::conn::http1;
        use hyper_util::rt::TokioIo;

        let r = Receiver::start().await.unwrap();
        let addr = r
            .url
            .trim_start_matches("http://")
            .trim_end_matches("/notify");
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
        let conn = tokio::spawn(conn);
        for n in 0..3 {
            sender.ready().await.expect("the connection is still open");
            let request = hyper::Request::post("/notify")
                .header(hyper::header::HOST, addr)
                .header(
                    hyper::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(Full::new(Bytes::from(format!("resp_code=00000000&n={n}"))))
                .unwrap();
            let response = sender.send_request(request).await.expect("answered");
            assert_eq!(response.status(), 200);
            assert_ne!(
                response
                    .headers()
                    .get(hyper::header::CONNECTION)
                    .map(|v| v.as_bytes()),
                Some(&b"close"[..]),
                "delivery {n}"
            );
            response.into_body().collect().await.unwrap();
        }
        assert_eq!(r.arrivals.count(), 3);
        assert!(!conn.is_finished(), "the receiver closed the connection");
        drop(sender);
        r.stop().await;
    }
}
