//! Prometheus text metrics at `GET /metrics`: request counts by status class and
//! latency histograms of POS writes.

use crate::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const BUCKETS_MS: [u64; 10] = [1, 2, 5, 10, 20, 50, 100, 250, 500, 1000];
const POS_KINDS: [&str; 3] = ["sale", "recharge", "refund"];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; 10],
    count: AtomicU64,
    sum_us: AtomicU64,
}

#[derive(Default)]
pub struct Metrics {
    /// Requests by status class 1xx..5xx.
    requests: [AtomicU64; 6],
    pos_ok: [AtomicU64; 3],
    pos_refused: [AtomicU64; 3],
    pos_latency: [Histogram; 3],
}

impl Metrics {
    pub fn record_pos(&self, kind: &str, ok: bool, elapsed: Duration) {
        let Some(i) = POS_KINDS.iter().position(|k| *k == kind) else {
            return;
        };
        if ok {
            self.pos_ok[i].fetch_add(1, Ordering::Relaxed);
        } else {
            self.pos_refused[i].fetch_add(1, Ordering::Relaxed);
        }
        let h = &self.pos_latency[i];
        let ms = elapsed.as_millis() as u64;
        for (b, limit) in h.buckets.iter().zip(BUCKETS_MS) {
            if ms <= limit {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        h.sum_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }
}

/// Counts every response by status class.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let class = (res.status().as_u16() / 100) as usize;
    if let Some(c) = state.metrics().requests.get(class) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    res
}

pub async fn render(State(state): State<AppState>) -> Response {
    let m = state.metrics();
    let mut out = String::new();
    out.push_str("# HELP forecourt_http_requests_total HTTP responses by status class.\n# TYPE forecourt_http_requests_total counter\n");
    for class in 1..6 {
        let _ = writeln!(
            out,
            "forecourt_http_requests_total{{class=\"{class}xx\"}} {}",
            m.requests[class].load(Ordering::Relaxed)
        );
    }
    out.push_str("# HELP forecourt_pos_requests_total POS writes by kind and outcome.\n# TYPE forecourt_pos_requests_total counter\n");
    for (i, kind) in POS_KINDS.iter().enumerate() {
        let _ = writeln!(
            out,
            "forecourt_pos_requests_total{{kind=\"{kind}\",outcome=\"ok\"}} {}",
            m.pos_ok[i].load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "forecourt_pos_requests_total{{kind=\"{kind}\",outcome=\"refused\"}} {}",
            m.pos_refused[i].load(Ordering::Relaxed)
        );
    }
    out.push_str("# HELP forecourt_pos_latency_seconds Latency of POS writes.\n# TYPE forecourt_pos_latency_seconds histogram\n");
    for (i, kind) in POS_KINDS.iter().enumerate() {
        let h = &m.pos_latency[i];
        for (b, limit) in h.buckets.iter().zip(BUCKETS_MS) {
            let _ = writeln!(
                out,
                "forecourt_pos_latency_seconds_bucket{{kind=\"{kind}\",le=\"{}\"}} {}",
                limit as f64 / 1000.0,
                b.load(Ordering::Relaxed)
            );
        }
        let count = h.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "forecourt_pos_latency_seconds_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "forecourt_pos_latency_seconds_sum{{kind=\"{kind}\"}} {}",
            h.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "forecourt_pos_latency_seconds_count{{kind=\"{kind}\"}} {count}"
        );
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
        .into_response()
}
