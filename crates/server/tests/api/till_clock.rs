//! The business day of a live POS write is the server's: a till that back-dates
//! `occurred_at` cannot move a sale into a day or month whose limit is not reached yet.
//! The server's clock stands at `NOW` (Friday 2026-11-20 08:30 +08:00) unless a test
//! moves it.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{json, Value};

/// A pooled fleet main card holding 1,000,000 fen and a sub-card with one hard limit.
async fn fleet(app: &App, phone: &str, rule: &str, value: i64) -> (String, String) {
    let company = app.customer("company", phone, json!({})).await;
    let main = app
        .card(json!({"customer_id": company, "kind": "fleet_main"}))
        .await;
    let (st, v) = app.recharge(&main, 1_000_000, &format!("R-{phone}")).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let sub = app
        .card(
            json!({"customer_id": company, "kind": "fleet_sub", "main_card_no": main,
            "limits": {rule: {"value": value, "hard": true}}}),
        )
        .await;
    (main, sub)
}

/// 30 L of diesel at 7.89 CNY/L (236.70 CNY), paid with the card, at the till's time `at`.
async fn sale_at(app: &App, card: &str, key: &str, at: &str) -> (StatusCode, Value) {
    let mut body = sale_body(
        key,
        "S001",
        json!({"card_no": card}),
        json!([{"product_code": "DIESEL_0", "volume_ml": 30_000, "unit_price_fen": 789}]),
    );
    body["occurred_at"] = json!(at);
    body["payments"] = json!([{"method": "card", "card_no": card, "amount_fen": 23_670}]);
    app.post("/api/v1/pos/sales", &app.pos1, body).await
}

/// The card's usage counters over all time: sales, amount, volume.
async fn usage(app: &App, card: &str) -> (i64, i64, i64) {
    let card = app.store.card_by_no(card).await.unwrap().unwrap();
    app.store
        .card_usage(&card.card_id, 0, i64::MAX)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_back_dated_sale_cannot_pass_a_daily_limit_already_reached() {
    let app = spawn_app().await;
    let (main, sub) = fleet(&app, "13000130001", "amount_per_day_fen", 23_670).await;
    let (st, v) = sale_at(&app, &sub, "D0", NOW).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    // Today's limit is reached: a sale of today is declined by the limit.
    let (st, v) = sale_at(&app, &sub, "D-today", NOW).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded"),
        "{v}"
    );
    let balance = app.balance(&main).await;
    let used = usage(&app, &sub).await;
    for (key, at) in [
        ("D-1", "2026-11-19T08:30:00+08:00"),
        ("D-2", "2026-11-18T08:30:00+08:00"),
        ("D-365", "2025-11-20T08:30:00+08:00"),
        // A few minutes past the skew is as much refused as a year.
        ("D-6min", "2026-11-20T08:24:00+08:00"),
        ("D+2min", "2026-11-20T08:32:00+08:00"),
    ] {
        let (st, v) = sale_at(&app, &sub, key, at).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "occurred_at_out_of_range"),
            "{key}: {v}"
        );
        assert_eq!(
            app.balance(&main).await,
            balance,
            "{key} changed the balance"
        );
        assert_eq!(usage(&app, &sub).await, used, "{key} counted a sale");
    }
    // Inside the skew the till's time is taken, but the day is still the server's: the
    // limit still holds ...
    let (st, v) = sale_at(&app, &sub, "D-4min", "2026-11-20T08:26:00+08:00").await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded"),
        "{v}"
    );
    // ... and the next day, a till 4 minutes slow (its time still yesterday's business
    // day would be only at midnight) sells again, recorded at the till's time.
    app.set_now("2026-11-21T08:30:00+08:00");
    let (st, v) = sale_at(&app, &sub, "D+1", "2026-11-21T08:26:00+08:00").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["occurred_at"], "2026-11-21T00:26:00Z", "{v}");
    app.assert_clean().await;
}

#[tokio::test]
async fn a_till_slow_across_midnight_sells_on_the_servers_day() {
    let app = spawn_app().await;
    let (_, sub) = fleet(&app, "13000130003", "amount_per_day_fen", 23_670).await;
    // The server's clock is two minutes past midnight; the till, three minutes slow,
    // still says yesterday. Yesterday's limit was reached; today's is not.
    app.set_now("2026-11-20T23:55:00+08:00");
    let (st, v) = sale_at(&app, &sub, "M0", "2026-11-20T23:55:00+08:00").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    app.set_now("2026-11-21T00:02:00+08:00");
    let (st, v) = sale_at(&app, &sub, "M1", "2026-11-20T23:59:00+08:00").await;
    assert_eq!(
        st,
        StatusCode::CREATED,
        "the server's day is a new day: {v}"
    );
    // The sale counts on the server's day: today's limit is now reached.
    let (st, v) = sale_at(&app, &sub, "M2", "2026-11-21T00:02:00+08:00").await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded"),
        "{v}"
    );
}

#[tokio::test]
async fn a_back_dated_sale_cannot_pass_a_monthly_limit_already_reached() {
    let app = spawn_app().await;
    let (main, sub) = fleet(&app, "13000130002", "amount_per_month_fen", 23_670).await;
    let (st, v) = sale_at(&app, &sub, "M0", NOW).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let balance = app.balance(&main).await;
    for (key, at) in [
        ("M-1d", "2026-11-19T08:30:00+08:00"),
        ("M-1m", "2026-10-20T08:30:00+08:00"),
        ("M-1y", "2025-11-20T08:30:00+08:00"),
    ] {
        let (st, v) = sale_at(&app, &sub, key, at).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "occurred_at_out_of_range"),
            "{key}: {v}"
        );
        assert_eq!(
            app.balance(&main).await,
            balance,
            "{key} changed the balance"
        );
    }
    let (st, v) = sale_at(&app, &sub, "M-4min", "2026-11-20T08:26:00+08:00").await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded"),
        "{v}"
    );
    // A new month on the server's clock; the till 30 s slow is inside the skew.
    app.set_now("2026-12-01T08:30:00+08:00");
    let (st, v) = sale_at(&app, &sub, "M+1", "2026-12-01T08:29:30+08:00").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(app.balance(&main).await, balance - 23_670);
}

#[tokio::test]
async fn every_live_pos_write_refuses_a_time_outside_the_skew() {
    let app = spawn_app().await;
    let card = app.funded_card("13000130004", 100_000).await;
    let (st, sale) = app
        .card_sale(&card, "GASOLINE_92", 10_000, "S1", json!({}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{sale}");
    let old = "2026-11-19T08:30:00+08:00";
    let quote = sale_body(
        "Q1",
        "S001",
        json!({"card_no": card}),
        json!([{"product_code": "GASOLINE_92", "volume_ml": 10_000, "unit_price_fen": 789}]),
    );
    let mut quote = quote;
    quote["occurred_at"] = json!(old);
    let balance = app.balance(&card).await;
    for (path, body) in [
        ("/api/v1/pos/quotes", quote),
        (
            "/api/v1/pos/recharges",
            json!({"pos_txn_id": "R1", "station_code": "S001", "occurred_at": old, "card_no": card, "amount_fen": 1000, "payments": [{"method": "cash", "amount_fen": 1000}]}),
        ),
        (
            "/api/v1/pos/refunds",
            json!({"pos_txn_id": "F1", "station_code": "S001", "occurred_at": old, "sale_id": sale["sale_id"]}),
        ),
        (
            "/api/v1/pos/authorizations",
            json!({"pos_txn_id": "A1", "station_code": "S001", "occurred_at": old, "card_no": card, "max_amount_fen": 1000}),
        ),
    ] {
        let (st, v) = app.post(path, &app.pos1, body).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "occurred_at_out_of_range"),
            "{path}: {v}"
        );
        assert_eq!(app.balance(&card).await, balance, "{path}");
    }
}

/// A till that retries long after an outage learns what became of its write: the same
/// key and body an hour later replay the first answer instead of being refused for a
/// time outside the skew, and another body under the key is still a conflict.
#[tokio::test]
async fn a_retry_after_the_skew_replays_the_stored_answer() {
    let app = spawn_app().await;
    let card = app.funded_card("13900009901", 100_000).await;
    let (st, first) = sale_at(&app, &card, "LATE-1", NOW).await;
    assert_eq!(st, StatusCode::CREATED, "{first}");
    let recharge = json!({"pos_txn_id": "LATE-R", "station_code": "S001", "occurred_at": NOW,
        "card_no": card, "amount_fen": 1_000, "payments": [{"method": "cash", "amount_fen": 1_000}]});
    let (st, r1) = app
        .post("/api/v1/pos/recharges", &app.pos1, recharge.clone())
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r1}");
    let balance = app.balance(&card).await;

    app.set_now("2026-11-20T09:30:00+08:00");
    let (st, again) = sale_at(&app, &card, "LATE-1", NOW).await;
    assert_eq!(st, StatusCode::OK, "{again}");
    assert_eq!(again["sale_id"], first["sale_id"]);
    let (st, r2) = app.post("/api/v1/pos/recharges", &app.pos1, recharge).await;
    assert_eq!(st, StatusCode::OK, "{r2}");
    assert_eq!(r2["recharge_id"], r1["recharge_id"]);
    assert_eq!(
        app.balance(&card).await,
        balance,
        "a replay changes nothing"
    );

    // A new key at the old time is still refused, and so is another body under the key.
    let (st, v) = sale_at(&app, &card, "LATE-2", NOW).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "occurred_at_out_of_range")
    );
    let (st, v) = sale_at(&app, &card, "LATE-1", "2026-11-20T08:31:00+08:00").await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "idempotency_conflict")
    );
    app.assert_clean().await;
}
