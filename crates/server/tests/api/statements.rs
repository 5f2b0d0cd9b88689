//! What a member's card sale costs the database: the statements sqlx executes for one
//! POS sale through the router (one fuel line, paid by the member's card, default rules),
//! counted by a tracing layer on this test's thread. The write path's budget (issue
//! "the write path") is 8 statements on PostgreSQL as its server logs them, BEGIN and
//! COMMIT included, which sqlx sees as 7; a change that adds a read or a write to every
//! sale fails here. On SQLite sqlx runs (and logs) the statements on its worker thread,
//! out of this thread's sight, so the count is PostgreSQL's only (SQLite's is measured
//! by `forecourt bench statements`).

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tracing_subscriber::layer::SubscriberExt;

/// Counts `sqlx::query` events while `on` is set.
struct Counter {
    on: Arc<AtomicBool>,
    n: Arc<AtomicU64>,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Counter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if self.on.load(Ordering::Relaxed) && event.metadata().target().starts_with("sqlx::query") {
            self.n.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The most statements sqlx may send for one sale on PostgreSQL.
const PG_STATEMENTS_MAX: u64 = 7;
const SALES: u64 = 20;

#[tokio::test]
async fn a_member_card_sale_costs_at_most_its_statement_budget() {
    let app = spawn_app().await;
    let on = Arc::new(AtomicBool::new(false));
    let n = Arc::new(AtomicU64::new(0));
    let counter = Counter {
        on: on.clone(),
        n: n.clone(),
    };
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(counter));
    let mut cards = Vec::new();
    for i in 0..4 {
        cards.push(app.funded_card(&format!("1390000{i:04}"), 500_000).await);
    }
    if !app.url.to_string().starts_with("postgres") {
        return;
    }
    for i in 0..(10 + SALES) {
        let card = &cards[i as usize % cards.len()];
        let mut body = sale_body(
            &format!("ST{i}"),
            "S001",
            json!({"card_no": card}),
            json!([{"product_code": "GASOLINE_92", "volume_ml": 30_000 + i as i64, "unit_price_fen": 789}]),
        );
        let (st, q) = app
            .post("/api/v1/pos/quotes", &app.pos1, body.clone())
            .await;
        assert_eq!(st, StatusCode::OK, "{q}");
        body["payments"] =
            json!([{"method": "card", "card_no": card, "amount_fen": q["net_amount_fen"]}]);
        // The first ten warm the caches (rules, tiers, prices), as a till's first sales do.
        on.store(i >= 10, Ordering::Relaxed);
        let (st, v) = app.post("/api/v1/pos/sales", &app.pos1, body).await;
        on.store(false, Ordering::Relaxed);
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    let counted = n.load(Ordering::Relaxed);
    assert!(
        counted >= SALES,
        "the counter saw {counted} statements: is sqlx still logging them?"
    );
    assert!(
        counted <= PG_STATEMENTS_MAX * SALES,
        "{counted} statements for {SALES} sales: {:.2} a sale, the budget is {PG_STATEMENTS_MAX}",
        counted as f64 / SALES as f64
    );
    eprintln!("{:.2} statements a sale", counted as f64 / SALES as f64);
    app.assert_clean().await;
}
