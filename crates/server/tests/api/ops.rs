//! What operators see: one access-log line per request, the metrics, and the answer
//! when the database is away.

use crate::harness::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

/// Collects what a tracing subscriber writes, for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON log line"))
            .collect()
    }
}

/// The access-log lines among the captured ones.
fn access_lines(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| l["target"] == "forecourt::access")
        .collect()
}

#[tokio::test]
async fn every_request_leaves_one_access_line_with_its_route_and_no_query_or_body() {
    let app = spawn_app().await;
    let customer = app.customer("individual", "13812345678", json!({})).await;
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // A read whose path holds an id and whose query string holds a phone number.
    let req = Request::builder()
        .uri(format!("/api/v1/customers/{customer}?q=13812345678"))
        .header("authorization", format!("Bearer {}", app.admin))
        .body(Body::empty())
        .unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let request_id = res
        .headers()
        .get("x-request-id")
        .expect("the response carries its request id")
        .to_str()
        .unwrap()
        .to_string();
    let _ = res.into_body().collect().await;

    // A write whose body holds personal data, refused.
    let (st, _) = app
        .post(
            "/api/v1/customers",
            &app.admin.clone(),
            json!({"kind": "individual", "name": "李秘密", "phone": "not-a-phone"}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    // A route that does not exist.
    let (st, _) = app.call("GET", "/no/such/13812345678", None, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let lines = captured.lines();
    let access = access_lines(&lines);
    assert_eq!(access.len(), 3, "one line per request: {lines:#?}");
    // The request's method, route and id are the line's span; its outcome the event's.
    let span = |i: usize| &access[i]["span"];
    let fields = |i: usize| &access[i]["fields"];
    assert_eq!(span(0)["method"], "GET");
    assert_eq!(span(0)["route"], "/api/v1/customers/{id}");
    assert_eq!(span(0)["request_id"], request_id.as_str());
    assert_eq!(fields(0)["status"], 200);
    assert!(
        fields(0)["latency_ms"].as_f64().is_some(),
        "latency in milliseconds: {}",
        access[0]
    );
    assert_eq!(span(1)["method"], "POST");
    assert_eq!(span(1)["route"], "/api/v1/customers");
    assert_eq!(fields(1)["status"], 422);
    assert_ne!(span(1)["request_id"], span(0)["request_id"]);
    assert_eq!(fields(2)["status"], 404);
    assert_eq!(span(2)["route"], "unmatched", "no raw path: {}", access[2]);
    let all = serde_json::to_string(&lines).unwrap();
    for secret in ["13812345678", "李秘密", "not-a-phone", customer.as_str()] {
        assert!(!all.contains(secret), "{secret} in the log: {all}");
    }
}

#[tokio::test]
async fn metrics_have_sub_millisecond_buckets_and_process_and_pool_gauges() {
    let app = spawn_app().await;
    let card = app.funded_card("13900000001", 100_000).await;
    let (st, v) = app
        .card_sale(&card, "GASOLINE_95", 1000, "metrics-sale-1", json!({}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = app.call("GET", "/metrics", None, None).await;
    assert_eq!(st, StatusCode::OK);
    let text = v.as_str().unwrap();
    // The names the docs and dashboards use keep working.
    for name in [
        "forecourt_http_requests_total{class=\"2xx\"}",
        "forecourt_pos_requests_total{kind=\"sale\",outcome=\"ok\"} 1",
        "forecourt_pos_latency_seconds_count{kind=\"sale\"} 1",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    // A bucket below one millisecond, so fast writes are not all counted as 1 ms.
    assert!(
        text.contains("forecourt_pos_latency_seconds_bucket{kind=\"sale\",le=\"0.0005\"}"),
        "no sub-millisecond bucket:\n{text}"
    );
    assert!(
        text.contains("forecourt_http_request_duration_seconds_bucket"),
        "no request latency histogram:\n{text}"
    );
    for name in [
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "process_open_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    // SQLite has a read pool and a one-connection write pool; PostgreSQL one pool.
    let pools: &[&str] = match forecourt_store::testing::backend() {
        forecourt_store::Backend::Sqlite => &["read", "write"],
        forecourt_store::Backend::Postgres => &["main"],
    };
    for pool in pools {
        for state in ["in_use", "idle", "max"] {
            let series = format!("forecourt_db_connections{{pool=\"{pool}\",state=\"{state}\"}} ");
            assert!(text.contains(&series), "{series} missing:\n{text}");
        }
    }
}

/// A pool whose database does not answer (a closed port): acquiring a connection times
/// out, as it does for every request while PostgreSQL is away.
async fn timed_out_store_error() -> forecourt_store::StoreError {
    sqlx::any::install_default_drivers();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let pool = sqlx::any::AnyPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(500))
        .connect_lazy(&format!("postgres://forecourt@127.0.0.1:{port}/forecourt"))
        .unwrap();
    let err = sqlx::query("select 1").execute(&pool).await.unwrap_err();
    assert!(matches!(err, sqlx::Error::PoolTimedOut), "{err:?}");
    err.into()
}

#[tokio::test]
async fn a_database_that_does_not_answer_is_503_with_retry_after_not_a_retry() {
    use axum::response::IntoResponse;
    let err = timed_out_store_error().await;
    assert!(
        !err.is_retry(),
        "a pool time-out is no serialisation failure"
    );
    let res = forecourt_server::error::ApiError::from(err).into_response();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after = res
        .headers()
        .get("retry-after")
        .expect("Retry-After on a 503");
    assert!(retry_after.to_str().unwrap().parse::<u32>().unwrap() > 0);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(code(&v), "database_unavailable", "{v}");
}
