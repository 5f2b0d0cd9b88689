//! A phone number alone never spends (SPEC F10): it identifies a member for points and
//! the tier's discount, but the member's coupons and points need the member's card, with
//! its PIN where it has one.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{json, Value};

const PHONE: &str = "13700137000";
const PIN: &str = "246810";

/// A member with a PIN card holding 100 CNY and a 20 CNY payment coupon of their own.
async fn member(app: &App) -> (String, String) {
    let c = app.customer("individual", PHONE, json!({})).await;
    let card = app
        .card(json!({"customer_id": c, "kind": "personal", "pin": PIN}))
        .await;
    let (st, v) = app.recharge(&card, 10_000, "R-M").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = app
        .post(
            "/api/v1/coupons",
            &app.admin,
            json!({"code": "MEMBER-20", "customer_id": c, "amount_fen": 2000, "valid_from": "2026-01-01T00:00:00+08:00"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    (c, card)
}

fn sale(key: &str, customer: Value, payments: Value) -> Value {
    let mut b = sale_body(
        key,
        "S001",
        customer,
        json!([{"product_code": "GASOLINE_92", "volume_ml": 5_000, "unit_price_fen": 800}]),
    );
    b["payments"] = payments;
    b
}

#[tokio::test]
async fn a_quote_by_phone_shows_no_coupon_code() {
    let app = spawn_app().await;
    let (_, card) = member(&app).await;
    let (st, q) = app
        .post(
            "/api/v1/pos/quotes",
            &app.pos1,
            sale("Q1", json!({"phone": PHONE}), json!([])),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{q}");
    assert!(
        !q.to_string().contains("MEMBER-20"),
        "a code shown by phone: {q}"
    );
    assert_eq!(q["coupons_held"], 1, "{q}");
    // The card in hand shows it.
    let (st, q) = app
        .post(
            "/api/v1/pos/quotes",
            &app.pos1,
            sale("Q2", json!({"card_no": card}), json!([])),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{q}");
    assert_eq!(q["coupons_available"][0]["code"], "MEMBER-20", "{q}");
}

#[tokio::test]
async fn a_sale_by_phone_cannot_pay_with_the_members_coupon() {
    let app = spawn_app().await;
    let (c, card) = member(&app).await;
    let points = app.store.points_balance(&c).await.unwrap();
    let pay = json!([{"method": "coupon", "coupon_code": "MEMBER-20", "amount_fen": 2000},
                     {"method": "cash", "amount_fen": 2000}]);
    let (st, v) = app
        .post(
            "/api/v1/pos/sales",
            &app.pos1,
            sale("S1", json!({"phone": PHONE}), pay.clone()),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "cardholder_required"),
        "{v}"
    );
    assert_eq!(app.store.points_balance(&c).await.unwrap(), points);
    // The card without its PIN does not spend it either; with the PIN it does.
    let (st, v) = app
        .post(
            "/api/v1/pos/sales",
            &app.pos1,
            sale("S2", json!({"card_no": card}), pay.clone()),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "cardholder_required"),
        "{v}"
    );
    let (st, v) = app
        .post(
            "/api/v1/pos/sales",
            &app.pos1,
            sale("S3", json!({"card_no": card, "pin": PIN}), pay),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    app.assert_clean().await;
}

#[tokio::test]
async fn points_are_redeemed_with_the_card_and_pin_not_the_phone() {
    let app = spawn_app().await;
    let (c, card) = member(&app).await;
    let (st, s) = app
        .post(
            "/api/v1/pos/sales",
            &app.pos1,
            sale(
                "P1",
                json!({"phone": PHONE}),
                json!([{"method": "cash", "amount_fen": 4000}]),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "a phone still earns points: {s}");
    let points = app.store.points_balance(&c).await.unwrap();
    assert!(points >= 10, "{s}");
    let (st, item) = app
        .post(
            "/api/v1/loyalty/catalogue",
            &app.admin,
            json!({"name": "纸巾", "kind": "gift", "points_cost": 10, "stock": 5}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{item}");
    let cashier = app.user("cashier9", "cashier").await;
    let path = format!("/api/v1/customers/{c}/redemptions");
    for (label, body) in [
        (
            "no card",
            json!({"item_id": item["item_id"], "request_id": "X1"}),
        ),
        (
            "no PIN",
            json!({"item_id": item["item_id"], "request_id": "X2", "card_no": card}),
        ),
    ] {
        let (st, v) = app.post(&path, &cashier, body).await;
        assert_eq!(
            (st, code(&v)),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                if label == "no card" {
                    "cardholder_required"
                } else {
                    "pin_required"
                }
            ),
            "{label}: {v}"
        );
        assert_eq!(
            app.store.points_balance(&c).await.unwrap(),
            points,
            "{label}"
        );
    }
    let (st, v) = app
        .post(
            &path,
            &cashier,
            json!({"item_id": item["item_id"], "request_id": "X3", "card_no": card, "pin": PIN}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(app.store.points_balance(&c).await.unwrap(), points - 10);
    app.assert_clean().await;
}
