//! Prometheus metrics at `GET /metrics`, through the `prometheus` crate with a registry
//! per server: responses by status class, the latency of every request by route
//! template and of POS writes by kind (histograms in seconds, with buckets below a
//! millisecond), the process (memory, CPU seconds, open files, start time, from
//! `/proc`) and the database pools (connections in use, idle and at most).

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use std::time::{Duration, Instant};

/// Latency buckets in seconds, from 100 µs: a POS write on a warm SQLite takes well
/// under a millisecond, and whole-millisecond buckets would count them all as one.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
const POS_KINDS: [&str; 3] = ["sale", "recharge", "refund"];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_seconds: HistogramVec,
    pos_requests: IntCounterVec,
    pos_seconds: HistogramVec,
    db_connections: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new().expect("the metrics' names and labels are valid")
    }
}

impl Metrics {
    fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "forecourt_http_requests_total",
                "HTTP responses by status class.",
            ),
            &["class"],
        )?;
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "forecourt_http_request_duration_seconds",
                "Time to answer a request, by method, route template and status class.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route", "class"],
        )?;
        let pos_requests = IntCounterVec::new(
            Opts::new(
                "forecourt_pos_requests_total",
                "POS writes by kind and outcome.",
            ),
            &["kind", "outcome"],
        )?;
        let pos_seconds = HistogramVec::new(
            HistogramOpts::new("forecourt_pos_latency_seconds", "Latency of POS writes.")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["kind"],
        )?;
        let db_connections = IntGaugeVec::new(
            Opts::new(
                "forecourt_db_connections",
                "Database connections per pool: in use, idle and the most allowed.",
            ),
            &["pool", "state"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_seconds.clone()))?;
        registry.register(Box::new(pos_requests.clone()))?;
        registry.register(Box::new(pos_seconds.clone()))?;
        registry.register(Box::new(db_connections.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        // Every series exists from the start (at zero), so that a dashboard's rate()
        // sees the first request rather than a series appearing from nowhere.
        for class in CLASSES {
            requests.with_label_values(&[class]);
        }
        for kind in POS_KINDS {
            pos_requests.with_label_values(&[kind, "ok"]);
            pos_requests.with_label_values(&[kind, "refused"]);
            pos_seconds.with_label_values(&[kind]);
        }
        Ok(Self {
            registry,
            requests,
            request_seconds,
            pos_requests,
            pos_seconds,
            db_connections,
        })
    }

    pub fn record_pos(&self, kind: &str, ok: bool, elapsed: Duration) {
        if !POS_KINDS.contains(&kind) {
            return;
        }
        let outcome = if ok { "ok" } else { "refused" };
        self.pos_requests.with_label_values(&[kind, outcome]).inc();
        self.pos_seconds
            .with_label_values(&[kind])
            .observe(elapsed.as_secs_f64());
    }

    fn record_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let Some(class) = CLASSES.get(usize::from(status / 100).wrapping_sub(1)) else {
            return;
        };
        self.requests.with_label_values(&[class]).inc();
        self.request_seconds
            .with_label_values(&[method, route, class])
            .observe(elapsed.as_secs_f64());
    }

    /// The registry's metrics in the Prometheus text format, with the pools' figures
    /// read now.
    fn render(&self, state: &AppState) -> prometheus::Result<String> {
        for pool in state.store().pool_stats() {
            for (what, n) in [
                ("in_use", pool.in_use),
                ("idle", pool.idle),
                ("max", pool.max),
            ] {
                self.db_connections
                    .with_label_values(&[pool.name, what])
                    .set(i64::from(n));
            }
        }
        prometheus::TextEncoder::new().encode_to_string(&self.registry.gather())
    }
}

/// The route template a request matched (`/api/v1/customers/{id}`), never its raw path,
/// so that ids and phone numbers stay out of labels and logs.
pub fn route_of(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string())
}

/// Counts every response by status class and times it by route.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // Methods outside the usual ones are one label, not a label each.
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m.to_string(),
        _ => "other".to_string(),
    };
    let route = route_of(&req);
    let res = next.run(req).await;
    state
        .metrics()
        .record_request(&method, &route, res.status().as_u16(), started.elapsed());
    res
}

pub async fn render(State(state): State<AppState>) -> Response {
    match state.metrics().render(&state) {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                prometheus::TEXT_FORMAT.to_string(),
            )],
            text,
        )
            .into_response(),
        Err(e) => crate::error::ApiError::internal(e).into_response(),
    }
}
