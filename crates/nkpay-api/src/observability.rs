//! Metrics at the HTTP edge (issue 14; docs/observability.md): the Prometheus recorder every
//! crate records into ([`install_recorder`]), the middleware that counts and times every request
//! ([`track`]), and `GET /metrics` ([`PATH`]), which renders it in the Prometheus text format on
//! the API's own listener.
//!
//! `/metrics` is bound to trust: it answers without a token unless `metrics.token` is set (then
//! `Authorization: Bearer <token>`), and the load balancer does not proxy it; scrape each node
//! directly on its private address. It shows business volume (trades by state), so it must not be
//! reachable from the internet.

use std::collections::HashSet;
use std::sync::{OnceLock, RwLock};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, HttpResponse, web};
use chrono::Utc;
use metrics::SharedString;
/// The handle that renders the installed recorder ([`install_recorder`]).
pub use metrics_exporter_prometheus::PrometheusHandle;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use nkpay_core::resp_code::RespCode;
use nkpay_core::secret::Secret;
use subtle::ConstantTimeEq;

use crate::ApiState;

/// The route of the metrics endpoint.
pub const PATH: &str = "/metrics";

/// Counter of HTTP requests answered, every route; labels `endpoint` (the route pattern, e.g.
/// `/admin/api/merchants/{mer_id}`, or `unmatched` for a path no route serves), `method` and
/// `status` (the HTTP status code).
pub const HTTP_REQUESTS: &str = "nkpay_http_requests_total";
/// Histogram, seconds from a request's arrival to its response being ready, every route; the
/// labels of [`HTTP_REQUESTS`].
pub const HTTP_REQUEST_DURATION: &str = "nkpay_http_request_duration_seconds";
/// Counter of merchant open API requests; labels `endpoint` (e.g. `/v2/trade/payment/jspay`)
/// and `resp_code` (the signed reply's `resp_code`, e.g. `00000000`).
pub const OPEN_API_REQUESTS: &str = "nkpay_open_api_requests_total";
/// Histogram, seconds per merchant open API request; the labels of [`OPEN_API_REQUESTS`].
pub const OPEN_API_REQUEST_DURATION: &str = "nkpay_open_api_request_duration_seconds";

/// Upper bounds of the latency histograms (`*_duration_seconds`): 1 ms to 30 s.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Upper bounds of the job lag histogram: 100 ms to a day.
pub const LAG_BUCKETS: [f64; 12] = [
    0.1, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0,
];

/// Why the recorder could not be installed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("metrics recorder: {0}")]
pub struct RecorderError(String);

/// Installs the Prometheus recorder as the process's global `metrics` recorder (true
/// histograms with [`LATENCY_BUCKETS`] / [`LAG_BUCKETS`]), registers the help text of every
/// crate's series, and returns the handle that renders them. Installed once per process; later
/// calls return the same handle.
///
/// # Errors
/// [`RecorderError`] when another recorder was installed first (by something else than this
/// function) or the buckets are refused.
pub fn install_recorder() -> Result<PrometheusHandle, RecorderError> {
    static HANDLE: OnceLock<Result<PrometheusHandle, RecorderError>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_duration_seconds".to_owned()),
                    &LATENCY_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(nkpay_engine::observability::JOB_LAG.to_owned()),
                        &LAG_BUCKETS,
                    )
                })
                .map_err(|e| RecorderError(e.to_string()))?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|e| RecorderError(e.to_string()))?;
            describe();
            Ok(handle)
        })
        .clone()
}

/// Registers the help text of every series (this crate's, the engine's and the channels').
fn describe() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by endpoint (route pattern), method and status"
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "HTTP request latency by endpoint, method and status"
    );
    describe_counter!(
        OPEN_API_REQUESTS,
        "Merchant open API requests by endpoint and resp_code"
    );
    describe_histogram!(
        OPEN_API_REQUEST_DURATION,
        Unit::Seconds,
        "Merchant open API latency by endpoint and resp_code"
    );
    nkpay_engine::observability::describe();
}

/// What `GET /metrics` serves from; `App` data. Without it (`metrics.enabled = false`) the route
/// answers 404.
#[derive(Clone)]
pub struct MetricsEndpoint {
    /// Renders the recorder.
    pub handle: PrometheusHandle,
    /// When set, scrapes must send `Authorization: Bearer <token>` (`metrics.token`).
    pub token: Option<Secret<String>>,
}

/// The `resp_code` of a merchant open API reply, left in the response's extensions by
/// [`crate::open::reply::signed`] for [`track`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenApiOutcome(pub RespCode);

/// Mounts `GET /metrics`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::get().to(metrics_endpoint));
}

/// Middleware (`actix_web::middleware::from_fn(track)`): counts and times every request under
/// its route pattern and status ([`HTTP_REQUESTS`]), and a merchant open API request under its
/// `resp_code` too ([`OPEN_API_REQUESTS`]). No allocation beyond the route pattern's copy.
pub async fn track<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let started = Instant::now();
    // Read before the call: the router needs the request unshared.
    let method = method_label(req.method());
    match next.call(req).await {
        Ok(res) => {
            let outcome = res.response().extensions().get::<OpenApiOutcome>().copied();
            let endpoint = res
                .request()
                .match_pattern()
                .map_or("unmatched", |p| route_label(&p));
            record(endpoint, method, res.status(), outcome, started);
            Ok(res)
        }
        Err(e) => {
            let status = e.as_response_error().status_code();
            record("unmatched", method, status, None, started);
            Err(e)
        }
    }
}

fn record(
    endpoint: &'static str,
    method: &'static str,
    status: StatusCode,
    outcome: Option<OpenApiOutcome>,
    started: Instant,
) {
    let seconds = started.elapsed().as_secs_f64();
    if let Some(OpenApiOutcome(code)) = outcome {
        let code = code.code();
        metrics::counter!(OPEN_API_REQUESTS, "endpoint" => endpoint, "resp_code" => code)
            .increment(1);
        metrics::histogram!(OPEN_API_REQUEST_DURATION, "endpoint" => endpoint, "resp_code" => code)
            .record(seconds);
    }
    tracing::debug!(
        endpoint,
        status = status.as_u16(),
        elapsed_ms = seconds * 1000.0,
        "request done"
    );
    let status = status_label(status);
    metrics::counter!(HTTP_REQUESTS, "endpoint" => endpoint, "method" => method, "status" => status.clone())
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION, "endpoint" => endpoint, "method" => method, "status" => status)
        .record(seconds);
}

/// The route pattern as a `'static` label: each pattern is kept once for the life of the
/// process (the routes are a fixed set), so recording allocates nothing after the first time.
fn route_label(pattern: &str) -> &'static str {
    static ROUTES: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let routes = ROUTES.get_or_init(RwLock::default);
    if let Some(known) = routes.read().ok().and_then(|set| set.get(pattern).copied()) {
        return known;
    }
    let Ok(mut set) = routes.write() else {
        return "unmatched";
    };
    if let Some(known) = set.get(pattern) {
        return known;
    }
    let kept: &'static str = Box::leak(pattern.to_owned().into_boxed_str());
    set.insert(kept);
    kept
}

/// The method as a label without allocating: the usual ones by name, any other as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The status code's three digits; the common ones without allocating.
fn status_label(status: StatusCode) -> SharedString {
    let fixed = match status.as_u16() {
        200 => "200",
        201 => "201",
        204 => "204",
        302 => "302",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        429 => "429",
        500 => "500",
        503 => "503",
        _ => return SharedString::from(status.as_str().to_owned()),
    };
    SharedString::const_str(fixed)
}

/// `GET /metrics`: the scrape-time gauges refreshed from the database
/// ([`nkpay_engine::observability::sample`]; a failing query is logged and the rest still
/// rendered), then every series in the Prometheus text format (version 0.0.4).
async fn metrics_endpoint(
    req: HttpRequest,
    state: web::Data<ApiState>,
    endpoint: Option<web::Data<MetricsEndpoint>>,
) -> HttpResponse {
    let Some(endpoint) = endpoint else {
        return HttpResponse::NotFound().body("metrics are disabled (metrics.enabled = false)\n");
    };
    if let Some(token) = &endpoint.token
        && !bearer_matches(&req, token)
    {
        return HttpResponse::Unauthorized()
            .insert_header((WWW_AUTHENTICATE, "Bearer"))
            .body("metrics need Authorization: Bearer <metrics.token>\n");
    }
    if let Err(e) = nkpay_engine::observability::sample(state.engine.db(), Utc::now()).await {
        tracing::warn!(error = %e, "metrics: the scrape-time gauges could not be read");
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(endpoint.handle.render())
}

/// Whether the request carries `Authorization: Bearer <token>`, compared in constant time.
fn bearer_matches(req: &HttpRequest, token: &Secret<String>) -> bool {
    let Some(sent) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let want = token.expose().as_bytes();
    sent.len() == want.len() && bool::from(sent.as_bytes().ct_eq(want))
}
