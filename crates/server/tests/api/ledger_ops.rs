//! Maker-checker adjustments and credit (挂账) payments and statements.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn adjustments_need_a_second_person() {
    let app = spawn_app().await;
    let card = app.funded_card("13912340000", 10_000).await;
    let maker = app.user("maker", "station_manager").await;
    let checker = app.user("checker", "station_manager").await;
    let cashier = app.user("clerk", "cashier").await;
    let (st, _) = app
        .post(
            "/api/v1/adjustments",
            &cashier,
            json!({"card_no": card, "amount_fen": 500, "reason": "pump overcharge"}),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "a cashier may not ask for adjustments"
    );
    let (st, v) = app
        .post(
            "/api/v1/adjustments",
            &maker,
            json!({"card_no": card, "amount_fen": 500, "reason": "x"}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "a reason is required"
    );
    let (st, a) = app
        .post(
            "/api/v1/adjustments",
            &maker,
            json!({"card_no": card, "amount_fen": 500, "reason": "pump 3 overcharged on 11-20"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    assert_eq!(a["state"], "pending");
    assert_eq!(
        app.balance(&card).await,
        10_000,
        "nothing moves before approval"
    );
    let id = a["id"].as_str().unwrap();
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/adjustments/{id}/approve"),
            Some(&maker),
            None,
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::FORBIDDEN, "forbidden"),
        "the maker cannot approve: {v}"
    );
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/adjustments/{id}/approve"),
            Some(&checker),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "approved");
    assert_eq!(app.balance(&card).await, 10_500);
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/adjustments/{id}/approve"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "conflict"),
        "decided once"
    );
    // Taking away more than the card holds is refused at approval and changes nothing.
    let (_, a) = app.post("/api/v1/adjustments", &maker, json!({"card_no": card, "amount_fen": -20_000, "reason": "reverse a duplicate recharge"})).await;
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/adjustments/{}/approve", a["id"].as_str().unwrap()),
            Some(&checker),
            None,
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::PAYMENT_REQUIRED, "insufficient_balance"),
        "{v}"
    );
    let (_, list) = app.get("/api/v1/adjustments?state=pending", &maker).await;
    assert_eq!(
        list["adjustments"].as_array().unwrap().len(),
        1,
        "the refused approval left it pending"
    );
    // Points adjustments, and a rejection.
    let customer = app
        .store
        .card_by_no(&card)
        .await
        .unwrap()
        .unwrap()
        .customer_id
        .unwrap();
    let (_, p) = app
        .post(
            "/api/v1/adjustments",
            &maker,
            json!({"customer_id": customer, "points": 300, "reason": "goodwill after complaint"}),
        )
        .await;
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/adjustments/{}/reject", p["id"].as_str().unwrap()),
            Some(&checker),
            None,
        )
        .await;
    assert_eq!(
        (st, v["state"].as_str()),
        (StatusCode::OK, Some("rejected"))
    );
    assert_eq!(app.store.points_balance(&customer).await.unwrap(), 0);
    app.assert_clean().await;
}

#[tokio::test]
async fn credit_payments_and_the_monthly_statement() {
    let app = spawn_app().await;
    let company = app
        .customer(
            "company",
            "13912340001",
            json!({"industry": "construction"}),
        )
        .await;
    let main = app
        .card(json!({"customer_id": company, "kind": "fleet_main"}))
        .await;
    app.put(
        &format!("/api/v1/customers/{company}/credit"),
        &app.admin,
        json!({"credit_limit_fen": 100_000, "billing_day": 1}),
    )
    .await;
    let mut ids = Vec::new();
    for (key, ml) in [("CR1", 30_000), ("CR2", 20_000)] {
        let mut b = sale_body(
            key,
            "S001",
            json!({"card_no": main}),
            json!([{"product_code": "DIESEL_0", "volume_ml": ml, "unit_price_fen": 1_000}]),
        );
        b["payments"] = json!([{"method": "credit", "amount_fen": ml}]);
        let (st, v) = app.post("/api/v1/pos/sales", &app.pos1, b).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        ids.push(v["sale_id"].as_str().unwrap().to_string());
    }
    let (st, r) = app.post("/api/v1/pos/refunds", &app.pos1, json!({"pos_txn_id": "CR3", "station_code": "S001", "occurred_at": NOW, "sale_id": ids[1], "lines": [{"line_no": 1, "amount_fen": 5_000}]})).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let pay = json!({"amount_fen": 40_000, "method": "bank_transfer", "reference": "BOC 8842", "received_at": "2026-11-21T10:00:00+08:00", "request_id": "pay-1"});
    let (st, v) = app
        .post(
            &format!("/api/v1/customers/{company}/credit/payments"),
            &app.admin,
            pay.clone(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["owed_fen"], 5_000);
    let first = v;
    let (st, v) = app
        .post(
            &format!("/api/v1/customers/{company}/credit/payments"),
            &app.admin,
            pay,
        )
        .await;
    assert_eq!(
        (st, &v["id"]),
        (StatusCode::OK, &first["id"]),
        "a retried payment posts once: {v}"
    );
    let (st, v) = app
        .post(
            &format!("/api/v1/customers/{company}/credit/payments"),
            &app.admin,
            json!({"amount_fen": 5_001, "method": "cash"}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "no more than is owed"
    );
    let (st, s) = app
        .get(
            &format!("/api/v1/customers/{company}/statement?month=2026-11"),
            &app.admin,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{s}");
    assert_eq!(s["opening_balance_fen"], 0);
    assert_eq!(s["charges_fen"], 50_000);
    assert_eq!(s["payments_and_refunds_fen"], 45_000);
    assert_eq!(s["closing_balance_fen"], 5_000);
    let kinds: Vec<&str> = s["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["sale", "sale", "refund", "payment"]);
    let (_, dec) = app
        .get(
            &format!("/api/v1/customers/{company}/statement?month=2026-12"),
            &app.admin,
        )
        .await;
    assert_eq!(
        (
            dec["opening_balance_fen"].as_i64(),
            dec["closing_balance_fen"].as_i64()
        ),
        (Some(5_000), Some(5_000))
    );
    let (st, _) = app
        .get(
            &format!("/api/v1/customers/{company}/statement?month=November"),
            &app.admin,
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    app.assert_clean().await;
}
