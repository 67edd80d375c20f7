//! `GET /metrics` (issue 14; docs/observability.md): every series is exposed with its labels,
//! and the values move when traffic flows — a jspay through the simulator counts under its
//! endpoint and `resp_code`, its channel call is timed, the trade moves between states, the
//! merchant notification waits in the outbox and its delivery is counted, the jobs count their
//! rounds — on SQLite and PostgreSQL.

mod onboarding_support;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::{App, web};
use nkpay_core::state::TradeStatus;
use onboarding_support::Receiver;
use serde_json::json;
use support::*;

const JSPAY: &str = "/v2/trade/payment/jspay";

/// One scrape, parsed: every sample as (name, labels) → value.
struct Scrape(Vec<(String, BTreeMap<String, String>, f64)>);

impl Scrape {
    /// The sum of the samples of `name` whose labels include every pair of `labels`; `None`
    /// when there is no such sample.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<f64> = self
            .0
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
            .collect();
        (!matching.is_empty()).then(|| matching.iter().sum())
    }

    /// As [`Scrape::get`], 0 when absent (a counter not yet touched).
    fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }

    /// How much `name` (with `labels`, as in [`Scrape::count`]) grew since `earlier`.
    fn since(&self, earlier: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.count(name, labels) - earlier.count(name, labels)
    }

    /// The label sets of `name`'s samples.
    fn labels_of(&self, name: &str) -> Vec<&BTreeMap<String, String>> {
        self.0
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, l, _)| l)
            .collect()
    }
}

/// Parses the Prometheus text format (version 0.0.4) as the exporter writes it.
fn parse(text: &str) -> Scrape {
    let mut samples = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line: series value");
        let value: f64 = value.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels end with }");
                let mut labels = BTreeMap::new();
                // Label values here never hold `",` (routes, codes, names).
                for pair in body.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                    labels.insert(k.to_owned(), v.trim_end_matches('"').to_owned());
                }
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), BTreeMap::new()),
        };
        samples.push((name, labels, value));
    }
    Scrape(samples)
}

async fn scrape(p: &Platform) -> Scrape {
    let resp = reqwest::get(format!("{}/metrics", p.base_url))
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
    );
    parse(&resp.text().await.expect("body"))
}

/// Scrapes until `ready` holds for the scrape; fails after a generous 60 s.
async fn scrape_until(p: &Platform, what: &str, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let s = scrape(p).await;
        if ready(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: timed out waiting for {what}",
            p.label
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_expose_every_series_and_move_with_traffic() {
    let receiver = Receiver::start().await;
    for p in Platform::all().await {
        let label = p.label;
        let before = scrape(&p).await;
        let trades = |s: &Scrape, state: &str| {
            s.get("nkpay_trades", &[("state", state)])
                .unwrap_or_else(|| panic!("{label}: nkpay_trades{{state={state}}} missing"))
        };
        // Every state is there before any trade, as are the outbox and pool gauges.
        for state in TradeStatus::ALL {
            trades(&before, state.as_str());
        }
        assert!(before.get("nkpay_notification_outbox_depth", &[]).is_some());
        assert!(
            before
                .get("nkpay_notification_outbox_oldest_due_age_seconds", &[])
                .is_some()
        );
        assert!(
            before.count("nkpay_db_pool_max_connections", &[]) >= 1.0,
            "{label}"
        );
        assert!(
            before
                .get("nkpay_db_pool_connections", &[("state", "idle")])
                .is_some()
        );
        assert!(
            before
                .get("nkpay_db_pool_connections", &[("state", "in_use")])
                .is_some()
        );

        // A jspay through the simulator.
        let data = p.jspay_data(
            MER_A,
            "T_JSAPI",
            json!({
                "wx_data": json!({"openid": "oPayer001"}).to_string(),
                "notify_url": receiver.url,
            }),
        );
        let r = p.sp.call(JSPAY, data).await;
        // Accepted, processing until the payer pays.
        assert_eq!(r.code(), "00000100", "{label}: {:?}", r.data);
        let code = r.code().to_owned();
        let nkp = r.get("nkp_seq_id").to_owned();
        let created = scrape(&p).await;
        let open = [("endpoint", JSPAY), ("resp_code", code.as_str())];
        assert_eq!(
            created.since(&before, "nkpay_open_api_requests_total", &open),
            1.0,
            "{label}"
        );
        assert_eq!(
            created.since(
                &before,
                "nkpay_open_api_request_duration_seconds_count",
                &open
            ),
            1.0,
            "{label}"
        );
        let http = [("endpoint", JSPAY), ("method", "POST"), ("status", "200")];
        assert_eq!(
            created.since(&before, "nkpay_http_requests_total", &http),
            1.0,
            "{label}"
        );
        assert!(created.since(&before, "nkpay_http_request_duration_seconds_bucket", &http) > 0.0);
        let unified = [("channel", "wechat"), ("call", "pay/unifiedorder")];
        assert!(
            created.since(
                &before,
                "nkpay_channel_call_duration_seconds_count",
                &unified
            ) > 0.0,
            "{label}: the unified order call was not timed"
        );
        assert!(created.count("nkpay_channel_call_duration_seconds_sum", &unified) > 0.0);
        assert_eq!(trades(&created, "P") - trades(&before, "P"), 1.0, "{label}");
        if label == "sqlite" {
            // The trade's insert and its placement went through the write queue.
            assert!(created.since(&before, "nkpay_db_batched_writes_total", &[]) >= 2.0);
            let batches = created.since(&before, "nkpay_db_write_batches_total", &[]);
            assert!(batches >= 1.0, "{batches}");
            assert!(
                created.count("nkpay_db_batched_writes_total", &[])
                    >= created.count("nkpay_db_write_batches_total", &[])
            );
        }

        // The payer pays; the notify finalizes the trade and enqueues the notification.
        p.pay_wechat(r.get("pay_info")).await;
        assert_eq!(p.wait_final(&nkp).await.status, TradeStatus::Succeeded);
        let paid = scrape_until(&p, "the outbox to hold the notification", |s| {
            s.since(&before, "nkpay_notification_outbox_depth", &[]) > 0.0
        })
        .await;
        assert_eq!(trades(&paid, "P"), trades(&before, "P"), "{label}");
        assert_eq!(trades(&paid, "S") - trades(&before, "S"), 1.0, "{label}");
        let callback = [("endpoint", "/callback/wechat/pay"), ("status", "200")];
        assert!(
            paid.since(&before, "nkpay_http_requests_total", &callback) > 0.0,
            "{label}: the channel notify was not counted"
        );

        // The dispatcher delivers it: a delivery, a round and its lag are counted.
        receiver.wait_for(&p, &[&nkp]).await;
        let delivered = scrape(&p).await;
        let ok = [("result", "delivered")];
        assert!(
            delivered.since(&paid, "nkpay_notification_deliveries_total", &ok) > 0.0,
            "{label}"
        );
        let dispatcher_ok = [("job", "dispatcher"), ("result", "ok")];
        assert!(delivered.since(&paid, "nkpay_job_runs_total", &dispatcher_ok) > 0.0);
        let lag = [("job", "dispatcher")];
        assert!(delivered.since(&paid, "nkpay_job_lag_seconds_count", &lag) > 0.0);
        assert!(
            delivered
                .get("nkpay_job_run_duration_seconds_count", &lag)
                .is_some()
        );
        assert_eq!(
            delivered.count("nkpay_notification_outbox_depth", &[]),
            before.count("nkpay_notification_outbox_depth", &[]),
            "{label}: the delivered notification left the outbox"
        );

        // The trade job counts its rounds.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let job = nkpay_engine::jobs::spawn(p.engine.clone(), stopped);
        let trade_ok = [("job", "trade"), ("result", "ok")];
        scrape_until(&p, "a trade job round", |s| {
            s.since(&delivered, "nkpay_job_runs_total", &trade_ok) > 0.0
        })
        .await;
        stop.send(true).expect("stop");
        job.await.expect("job");

        // Routes are labelled by their pattern, never by the raw path.
        let _ = reqwest::get(format!("{}/no/such/path/{}", p.base_url, fresh_id())).await;
        let last = scrape(&p).await;
        assert!(
            last.count(
                "nkpay_http_requests_total",
                &[("endpoint", "unmatched"), ("status", "404")]
            ) >= 1.0
        );
        for labels in last.labels_of("nkpay_http_requests_total") {
            assert!(!labels["endpoint"].contains("no/such"), "{labels:?}");
        }
        token_is_required_when_set(&p).await;
        p.stop().await;
    }
    receiver.stop().await;
}

/// With `metrics.token` set, a scrape needs `Authorization: Bearer <token>`; without the
/// endpoint's data (`metrics.enabled = false`) the route answers 404.
async fn token_is_required_when_set(p: &Platform) {
    use actix_web::test;
    use nkpay_api::ApiState;
    use nkpay_api::observability::{MetricsEndpoint, install_recorder};
    let token = "s3cret-metrics-token";
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(ApiState::new(p.engine.clone())))
            .app_data(web::Data::new(MetricsEndpoint {
                handle: install_recorder().expect("recorder"),
                token: Some(token.to_owned().into()),
            }))
            .configure(nkpay_api::observability::configure),
    )
    .await;
    for auth in [
        None,
        Some("Bearer wrong"),
        Some(token),
        Some("Bearer s3cret-metrics-tokenX"),
    ] {
        let mut req = test::TestRequest::get().uri("/metrics");
        if let Some(auth) = auth {
            req = req.insert_header(("authorization", auth));
        }
        let resp = test::call_service(&app, req.to_request()).await;
        assert_eq!(resp.status(), 401, "{auth:?}");
        assert_eq!(resp.headers().get("www-authenticate").unwrap(), "Bearer");
    }
    let req = test::TestRequest::get()
        .uri("/metrics")
        .insert_header(("authorization", format!("Bearer {token}")))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 200);
    let body = test::read_body(resp).await;
    assert!(String::from_utf8_lossy(&body).contains("nkpay_trades{state=\"S\"}"));

    let disabled = test::init_service(
        App::new()
            .app_data(web::Data::new(ApiState::new(p.engine.clone())))
            .configure(nkpay_api::observability::configure),
    )
    .await;
    let resp = test::call_service(
        &disabled,
        test::TestRequest::get().uri("/metrics").to_request(),
    )
    .await;
    assert_eq!(resp.status(), 404);
}
