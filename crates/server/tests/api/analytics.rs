//! Analytics on live data through the API.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn live_analyses_cover_every_member_and_are_for_company_wide_roles() {
    let app = spawn_app().await;
    // Three members with different habits, one who never bought.
    let mut cards = Vec::new();
    for i in 0..3 {
        let c = app
            .customer("individual", &format!("1310013100{i}"), json!({}))
            .await;
        cards.push(
            app.card(json!({"customer_id": c, "kind": "personal"}))
                .await,
        );
    }
    app.customer("individual", "13100131009", json!({})).await;
    let mut n = 0;
    for (i, card) in cards.iter().enumerate() {
        for day in (1..=20).step_by(i + 1) {
            n += 1;
            let mut body = sale_body(
                &format!("A{n}"),
                "S001",
                json!({"card_no": card}),
                json!([{"product_code": "GASOLINE_92", "volume_ml": 10_000 * (i as i64 + 1), "unit_price_fen": 750}]),
            );
            body["occurred_at"] = json!(format!("2026-10-{day:02}T09:00:00+08:00"));
            let amount = 7_500 * (i as i64 + 1);
            body["payments"] = json!([{"method": "cash", "amount_fen": amount}]);
            app.set_now(body["occurred_at"].as_str().unwrap());
            let (st, v) = app.post("/api/v1/pos/sales", &app.pos1, body).await;
            assert_eq!(st, StatusCode::CREATED, "{v}");
        }
    }
    let (st, v) = app.get("/api/v1/analytics/rfm", &app.admin).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["customers_total"], 4);
    assert_eq!(v["as_of"], "2026-10-20");
    // RFM scores the members who bought; the one who never did is in the lifecycle.
    assert_eq!(v["rows"].as_array().unwrap().len(), 3);
    let total: u64 = v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["customers"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 3);
    let (st, v) = app.get("/api/v1/analytics/abc?limit=2", &app.admin).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["rows"].as_array().unwrap().len(), 2);
    // The top customer bought 20 × 75 CNY = 1,500 or 10 × 150 = 1,500 or 7 × 225 = 1,575.
    assert_eq!(v["rows"][0]["contribution"], 1575.0, "{v}");
    for (view, rows) in [("lifecycle", 4), ("refuel", 3), ("5s", 3)] {
        let (st, v) = app
            .get(&format!("/api/v1/analytics/{view}"), &app.admin)
            .await;
        assert_eq!(st, StatusCode::OK, "{view}: {v}");
        assert_eq!(v["rows"].as_array().unwrap().len(), rows, "{view}: {v}");
        if view == "lifecycle" {
            assert!(
                v["rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["stage"] == "potential"),
                "{v}"
            );
        }
    }
    let (st, e) = app
        .get("/api/v1/analytics/rfm?as_of=yesterday", &app.admin)
        .await;
    assert_eq!(
        (st, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    // Reports over whole sales: 7 + 10 + 20 = 37 sales of 92#, all by members.
    let (st, v) = app
        .get("/api/v1/analytics/reports?by=product", &app.admin)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["rows"][0]["key"], "GASOLINE_92", "{v}");
    assert_eq!(v["rows"][0]["lines"], 37, "{v}");
    assert_eq!(
        v["rows"][0]["net_fen"],
        7 * 22_500 + 10 * 15_000 + 20 * 7_500,
        "{v}"
    );
    let (st, e) = app
        .get("/api/v1/analytics/reports?by=colour", &app.admin)
        .await;
    assert_eq!(
        (st, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    for view in ["forecast", "price"] {
        let (st, v) = app
            .get(&format!("/api/v1/analytics/{view}"), &app.admin)
            .await;
        assert_eq!(st, StatusCode::OK, "{view}: {v}");
    }
    // Twenty days are too little history for the churn model: a clear refusal.
    let (st, e) = app.get("/api/v1/analytics/churn", &app.admin).await;
    assert_eq!(
        (st, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "{e}"
    );
    let (st, _) = app.get("/api/v1/analytics/nope", &app.admin).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let analyst = app.user("analyst1", "analyst").await;
    let (st, _) = app.get("/api/v1/analytics/rfm", &analyst).await;
    assert_eq!(st, StatusCode::OK);
    let cashier = app.user("cashier9", "cashier").await;
    let (st, _) = app.get("/api/v1/analytics/rfm", &cashier).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

/// A network that has sold nothing yet (a new install, or customers but no sales) gets
/// an empty answer from every view, in JSON and CSV, never a server error.
#[tokio::test]
async fn every_view_answers_an_empty_network_without_a_server_error() {
    let app = spawn_app().await;
    let views = [
        "rfm",
        "abc",
        "lifecycle",
        "refuel",
        "5s",
        "clv",
        "churn",
        "forecast",
        "reports",
        "price",
    ];
    for round in ["no customers", "a customer with a card, no sales"] {
        if round != "no customers" {
            let c = app.customer("individual", "13100131099", json!({})).await;
            app.card(json!({"customer_id": c, "kind": "personal"}))
                .await;
        }
        for view in views {
            for query in ["", "?format=csv", "?by=day", "?product=DIESEL_0"] {
                let path = format!("/api/v1/analytics/{view}{query}");
                let (st, body) = app.get(&path, &app.admin).await;
                assert_eq!(st, StatusCode::OK, "{round}: {path}: {body}");
                if query.is_empty() {
                    assert_eq!(body["rows"], json!([]), "{round}: {path}: {body}");
                }
            }
        }
    }
}
