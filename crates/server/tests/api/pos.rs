//! The POS contract: quotes, sales, recharges, refunds, holds, idempotency, refusals.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

#[tokio::test]
async fn recharge_quote_sale_and_repeat() {
    let app = spawn_app().await;
    let card = app.funded_card("13800138000", 0).await;
    let (st, r) = app.recharge(&card, 100_000, "R-1").await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(r["card_balance_fen"], 100_000);
    let (st, again) = app.recharge(&card, 100_000, "R-1").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(again, r, "a repeat answers the first result");
    assert_eq!(
        app.balance(&card).await,
        100_000,
        "a repeated recharge changes nothing"
    );

    let body = sale_body(
        "T-1",
        "S001",
        json!({"card_no": card}),
        json!([{"product_code": "GASOLINE_95", "volume_ml": 30_000, "unit_price_fen": 789}]),
    );
    let (st, q) = app
        .post("/api/v1/pos/quotes", &app.pos1, body.clone())
        .await;
    assert_eq!(st, StatusCode::OK, "{q}");
    assert_eq!(q["net_amount_fen"], 23_670);
    assert_eq!(q["points_earned"], 236);
    assert_eq!(app.balance(&card).await, 100_000, "a quote changes nothing");
    let mut sale = body.clone();
    sale["payments"] = json!([{"method": "card", "card_no": card, "amount_fen": 23_670}]);
    let (st, s) = app.post("/api/v1/pos/sales", &app.pos1, sale.clone()).await;
    assert_eq!(st, StatusCode::CREATED, "{s}");
    assert_eq!(s["net_amount_fen"], q["net_amount_fen"]);
    assert_eq!(
        s["points_earned"], q["points_earned"],
        "the quote promises what the sale gives"
    );
    assert_eq!(s["card_balance_fen"], 100_000 - 23_670);
    assert_eq!(s["tier"]["name"], "普通");
    for key in [
        "sale_id",
        "discounts",
        "points_earned",
        "card_balance_fen",
        "tier",
    ] {
        assert!(s.get(key).is_some(), "response lacks {key}");
    }
    let (st, again) = app.post("/api/v1/pos/sales", &app.pos1, sale.clone()).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(again["sale_id"], s["sale_id"]);
    assert_eq!(app.balance(&card).await, 100_000 - 23_670);
    // The same key with another body is a conflict, not a second sale.
    sale["lines"][0]["volume_ml"] = json!(10_000);
    sale["payments"][0]["amount_fen"] = json!(7_890);
    let (st, v) = app.post("/api/v1/pos/sales", &app.pos1, sale).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "idempotency_conflict")
    );
    assert_eq!(app.balance(&card).await, 100_000 - 23_670);
    app.assert_clean().await;
}

/// Every refusal answers 4xx with an error code and changes nothing.
#[tokio::test]
async fn refusals_change_nothing() {
    let app = spawn_app().await;
    let card = app.funded_card("13800138001", 50_000).await;
    let line = |ml: i64, price: i64| json!([{"product_code": "GASOLINE_95", "volume_ml": ml, "unit_price_fen": price}]);
    let pay = |amount: i64| json!([{"method": "card", "card_no": card, "amount_fen": amount}]);
    let with_pay = |mut b: Value, p: Value| {
        b["payments"] = p;
        b
    };
    let cust = json!({"card_no": card});
    let unknown = forecourt_core::CardNo::from_body("100001999999999999").unwrap();
    let unknown_card = unknown.as_str();
    let cases: Vec<(&str, Value, &str, StatusCode, &str)> = vec![
        (
            "balance short",
            with_pay(
                sale_body("X1", "S001", cust.clone(), line(100_000, 789)),
                pay(78_900),
            ),
            "pos1",
            StatusCode::PAYMENT_REQUIRED,
            "insufficient_balance",
        ),
        (
            "payment not the net amount",
            with_pay(
                sale_body("X2", "S001", cust.clone(), line(10_000, 789)),
                pay(1),
            ),
            "pos1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "payment_mismatch",
        ),
        (
            "negative volume",
            with_pay(
                sale_body("X3", "S001", cust.clone(), line(-5_000, 789)),
                pay(1),
            ),
            "pos1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "absurd volume",
            with_pay(
                sale_body("X4", "S001", cust.clone(), line(5_000_000, 789)),
                pay(1),
            ),
            "pos1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "zero price",
            with_pay(
                sale_body("X5", "S001", cust.clone(), line(5_000, 0)),
                pay(1),
            ),
            "pos1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "unknown product",
            with_pay(
                sale_body(
                    "X6",
                    "S001",
                    cust.clone(),
                    json!([{"product_code": "GASOLINE_100", "volume_ml": 1000, "unit_price_fen": 900}]),
                ),
                pay(900),
            ),
            "pos1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_product",
        ),
        (
            "unknown station",
            with_pay(
                sale_body("X7", "S999", cust.clone(), line(1_000, 789)),
                pay(789),
            ),
            "pos1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_station",
        ),
        (
            "another station's token",
            with_pay(
                sale_body("X8", "S001", cust.clone(), line(1_000, 789)),
                pay(789),
            ),
            "pos2",
            StatusCode::FORBIDDEN,
            "wrong_station",
        ),
        (
            "unknown card",
            with_pay(
                sale_body(
                    "X9",
                    "S001",
                    json!({"card_no": unknown_card}),
                    line(1_000, 789),
                ),
                json!([{"method": "card", "card_no": unknown_card, "amount_fen": 789}]),
            ),
            "pos1",
            StatusCode::NOT_FOUND,
            "card_not_found",
        ),
        (
            "card number with a bad check digit",
            with_pay(
                sale_body(
                    "X10",
                    "S001",
                    json!({"card_no": "1000019999999999991"}),
                    line(1_000, 789),
                ),
                pay(789),
            ),
            "pos1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "unknown payment method",
            with_pay(
                sale_body("X11", "S001", cust.clone(), line(1_000, 789)),
                json!([{"method": "bitcoin", "amount_fen": 789}]),
            ),
            "pos1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "bad time",
            {
                let mut b = with_pay(
                    sale_body("X12", "S001", cust.clone(), line(1_000, 789)),
                    pay(789),
                );
                b["occurred_at"] = json!("yesterday");
                b
            },
            "pos1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "staff token on the POS API",
            with_pay(
                sale_body("X13", "S001", cust.clone(), line(1_000, 789)),
                pay(789),
            ),
            "admin",
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "credit without an agreement",
            with_pay(
                sale_body("X14", "S001", cust.clone(), line(1_000, 789)),
                json!([{"method": "credit", "amount_fen": 789}]),
            ),
            "pos1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_credit_account",
        ),
        (
            "unknown coupon",
            with_pay(
                sale_body("X15", "S001", cust.clone(), line(1_000, 789)),
                json!([{"method": "coupon", "coupon_code": "NOPE", "amount_fen": 789}]),
            ),
            "pos1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "coupon_invalid",
        ),
    ];
    for (name, body, who, status, want) in cases {
        let token = match who {
            "pos1" => app.pos1.clone(),
            "pos2" => app.pos2.clone(),
            _ => app.admin.clone(),
        };
        let (st, v) = app.post("/api/v1/pos/sales", &token, body).await;
        assert_eq!((st, code(&v)), (status, want), "{name}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}: no message"
        );
        assert_eq!(
            app.balance(&card).await,
            50_000,
            "{name} changed the balance"
        );
    }
    // No token, a bad token, malformed JSON, a missing field, the wrong content type.
    let (st, v) = app
        .call(
            "POST",
            "/api/v1/pos/sales",
            None,
            Some(json!({"pos_txn_id": "x"})),
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (st, _) = app
        .call(
            "POST",
            "/api/v1/pos/sales",
            Some("fcp_0000"),
            Some(json!({"pos_txn_id": "x"})),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let req = axum::http::Request::post("/api/v1/pos/sales")
        .header("authorization", format!("Bearer {}", app.pos1))
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{\"pos_txn_id\": "))
        .unwrap();
    let res = tower::ServiceExt::oneshot(app.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let (st, v) = app
        .post(
            "/api/v1/pos/sales",
            &app.pos1,
            json!({"pos_txn_id": "x", "station_code": "S001"}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_json"),
        "{v}"
    );
    let req = axum::http::Request::post("/api/v1/pos/sales")
        .header("authorization", format!("Bearer {}", app.pos1))
        .body(axum::body::Body::from("{}"))
        .unwrap();
    let res = tower::ServiceExt::oneshot(app.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let report = app.store.check().await.unwrap();
    assert_eq!(report.sales, 0, "no refused sale was recorded");
    app.assert_clean().await;
}

#[tokio::test]
async fn sixty_four_concurrent_debits_never_overdraw() {
    let app = Arc::new(spawn_app().await);
    let card = app.funded_card("13900139000", 10_000).await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (app, card) = (app.clone(), card.clone());
        tasks.push(tokio::spawn(async move {
            let mut body = sale_body(&format!("C{i}"), "S001", json!({"card_no": card}), json!([{"product_code": "GASOLINE_92", "volume_ml": 100_000, "unit_price_fen": 10}]));
            body["payments"] = json!([{"method": "card", "card_no": card, "amount_fen": 1000}]);
            app.post("/api/v1/pos/sales", &app.pos1, body).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (st, v) = t.await.unwrap();
        match st {
            StatusCode::CREATED => ok += 1,
            StatusCode::PAYMENT_REQUIRED => assert_eq!(code(&v), "insufficient_balance"),
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(ok, 10);
    assert_eq!(app.balance(&card).await, 0);
    app.assert_clean().await;
}

#[tokio::test]
async fn mixed_payments_walk_ins_and_lookups() {
    let app = spawn_app().await;
    let card = app.funded_card("13700137000", 10_000).await;
    // Part card, part WeChat.
    let mut body = sale_body(
        "M1",
        "S001",
        json!({"card_no": card}),
        json!([{"product_code": "GASOLINE_92", "volume_ml": 20_000, "unit_price_fen": 742}, {"product_code": "CAR_WASH", "quantity": 1, "unit_price_fen": 2_000}]),
    );
    body["payments"] = json!([{"method": "card", "card_no": card, "amount_fen": 10_000}, {"method": "wechat", "amount_fen": 14_840 + 2_000 - 10_000}]);
    let (st, v) = app.post("/api/v1/pos/sales", &app.pos1, body).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["card_balance_fen"], 0);
    assert_eq!(v["points_earned"], 168);
    // An anonymous walk-in sale paid in cash is recorded, with no points.
    let mut walk_in = sale_body(
        "M2",
        "S001",
        Value::Null,
        json!([{"product_code": "DIESEL_0", "volume_ml": 50_000, "unit_price_fen": 718, "amount_fen": 35_900}]),
    );
    walk_in["payments"] = json!([{"method": "cash", "amount_fen": 35_900}]);
    let (st, v) = app.post("/api/v1/pos/sales", &app.pos1, walk_in).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["net_amount_fen"], 35_900, "the till's amount wins");
    assert_eq!(v["points_earned"], 0);
    assert_eq!(v["tier"], Value::Null);
    // Identified by phone: earns points but cannot spend without the card.
    let mut by_phone = sale_body(
        "M3",
        "S001",
        json!({"phone": "13700137000"}),
        json!([{"product_code": "GASOLINE_95", "volume_ml": 10_000, "unit_price_fen": 789}]),
    );
    by_phone["payments"] = json!([{"method": "card", "amount_fen": 7_890}]);
    let (st, v) = app
        .post("/api/v1/pos/sales", &app.pos1, by_phone.clone())
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "a phone number alone never pays: {v}"
    );
    by_phone["payments"] = json!([{"method": "alipay", "amount_fen": 7_890}]);
    let (st, v) = app.post("/api/v1/pos/sales", &app.pos1, by_phone).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["points_earned"], 78);
    assert_eq!(v["points_balance"], 168 + 78);
    app.assert_clean().await;
}

#[tokio::test]
async fn tier_discount_and_points_multiplier() {
    let app = spawn_app().await;
    let card = app.funded_card("13600136000", 100_000).await;
    let customer = app
        .store
        .card_by_no(&card)
        .await
        .unwrap()
        .unwrap()
        .customer_id
        .unwrap();
    let mut tx = app.store.begin().await.unwrap();
    tx.set_customer_tier(&customer, "vip").await.unwrap();
    tx.commit().await.unwrap();
    let (st, v) = app
        .card_sale(&card, "GASOLINE_95", 30_000, "V1", json!({}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["discount_fen"], 150, "VIP: 5 fen per litre");
    assert_eq!(v["net_amount_fen"], 23_520);
    assert_eq!(v["discounts"][0]["kind"], "tier");
    assert_eq!(v["points_earned"], 282, "235 yuan × 1.2");
    assert_eq!(v["tier"]["name"], "VIP");
    app.assert_clean().await;
}

#[tokio::test]
async fn recharge_promotions_bonus_and_caps() {
    let app = spawn_app().await;
    let (st, v) = app.post("/api/v1/recharge-promotions", &app.admin, json!({"name": "充1000送30", "min_amount_fen": 100_000, "bonus_fen": 3_000, "valid_from": "2026-01-01T00:00:00Z"})).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let card = app.funded_card("13500135000", 0).await;
    let (st, r) = app.recharge(&card, 100_000, "P1").await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(
        (r["bonus_fen"].as_i64(), r["card_balance_fen"].as_i64()),
        (Some(3_000), Some(103_000))
    );
    let (_, c) = app.get(&format!("/api/v1/cards/{card}"), &app.admin).await;
    assert_eq!(
        (c["paid_fen"].as_i64(), c["bonus_fen"].as_i64()),
        (Some(100_000), Some(3_000)),
        "bonus money is kept apart"
    );
    // A registered personal card holds at most 5,000 CNY.
    let (st, v) = app.recharge(&card, 400_000, "P2").await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "face_value_cap"),
        "{v}"
    );
    assert_eq!(app.balance(&card).await, 103_000);
    // An anonymous card holds at most 1,000 CNY, bonus included.
    let anon = app.card(json!({"kind": "anonymous"})).await;
    assert_eq!(
        code(&app.recharge(&anon, 100_000, "P3").await.1),
        "face_value_cap",
        "1000 + 30 bonus is over the cap"
    );
    assert_eq!(
        app.recharge(&anon, 99_999, "P3b").await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        code(&app.recharge(&anon, 2, "P4").await.1),
        "face_value_cap"
    );
    // A recharge is paid by a tender, and the payments add up.
    let (st, v) = app
        .post("/api/v1/pos/recharges", &app.pos1, json!({"pos_txn_id": "P5", "station_code": "S001", "occurred_at": NOW, "card_no": card, "amount_fen": 100, "payments": [{"method": "cash", "amount_fen": 99}]}))
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "payment_mismatch")
    );
    // Sales spend paid money first, bonus money last.
    let (st, s) = app
        .card_sale(&card, "GASOLINE_95", 130_000, "P6", json!({}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{s}");
    let (_, c) = app.get(&format!("/api/v1/cards/{card}"), &app.admin).await;
    assert_eq!(
        (c["paid_fen"].as_i64(), c["bonus_fen"].as_i64()),
        (Some(0), Some(103_000 - 102_570))
    );
    app.assert_clean().await;
}

#[tokio::test]
async fn refunds_return_money_and_points_in_proportion() {
    let app = spawn_app().await;
    let card = app.funded_card("13400134000", 100_000).await;
    let (_, s) = app
        .card_sale(&card, "GASOLINE_95", 30_000, "F1", json!({}))
        .await;
    let sale_id = s["sale_id"].as_str().unwrap().to_string();
    let refund = |key: &str, lines: Value| {
        let mut b = json!({"pos_txn_id": key, "station_code": "S001", "occurred_at": NOW, "sale_id": sale_id});
        if !lines.is_null() {
            b["lines"] = lines;
        }
        b
    };
    let (st, r) = app
        .post(
            "/api/v1/pos/refunds",
            &app.pos1,
            refund("F2", json!([{"line_no": 1, "amount_fen": 10_000}])),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(r["amount_fen"], 10_000);
    assert_eq!(
        r["points_reversed"], 99,
        "236 points × 10000/23670, rounded down cumulatively"
    );
    assert_eq!(r["card_balance_fen"], 100_000 - 23_670 + 10_000);
    let (st, again) = app
        .post(
            "/api/v1/pos/refunds",
            &app.pos1,
            refund("F2", json!([{"line_no": 1, "amount_fen": 10_000}])),
        )
        .await;
    assert_eq!((st, &again), (StatusCode::OK, &r));
    let (st, v) = app
        .post(
            "/api/v1/pos/refunds",
            &app.pos1,
            refund("F3", json!([{"line_no": 1, "amount_fen": 13_671}])),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_sale")
    );
    let (st, r) = app
        .post("/api/v1/pos/refunds", &app.pos1, refund("F4", Value::Null))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(r["amount_fen"], 13_670);
    assert_eq!(r["points_reversed"], 236 - 99);
    assert_eq!(app.balance(&card).await, 100_000);
    let (st, v) = app
        .post("/api/v1/pos/refunds", &app.pos1, refund("F5", Value::Null))
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_sale")
    );
    // Another station cannot refund it.
    let (st, v) = app.post("/api/v1/pos/refunds", &app.pos2, json!({"pos_txn_id": "F6", "station_code": "S002", "occurred_at": NOW, "sale_id": sale_id})).await;
    assert_eq!((st, code(&v)), (StatusCode::NOT_FOUND, "sale_not_found"));
    app.assert_clean().await;
}

#[tokio::test]
async fn refund_after_points_were_spent_records_a_shortfall() {
    let app = spawn_app().await;
    let card = app.funded_card("13400134001", 100_000).await;
    let (_, s) = app
        .card_sale(&card, "GASOLINE_95", 30_000, "G1", json!({}))
        .await;
    let customer = app
        .store
        .card_by_no(&card)
        .await
        .unwrap()
        .unwrap()
        .customer_id
        .unwrap();
    // The member spends 200 of the 300 points on a gift.
    let (st, item) = app
        .post(
            "/api/v1/loyalty/catalogue",
            &app.admin,
            json!({"name": "保温杯", "kind": "gift", "points_cost": 200, "stock": 5}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{item}");
    let (st, r) = app
        .post(
            &format!("/api/v1/customers/{customer}/redemptions"),
            &app.admin,
            json!({"card_no": card, "item_id": item["item_id"], "request_id": "redeem-1"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let (st, r) = app.post("/api/v1/pos/refunds", &app.pos1, json!({"pos_txn_id": "G2", "station_code": "S001", "occurred_at": NOW, "sale_id": s["sale_id"]})).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(
        (
            r["points_reversed"].as_i64(),
            r["points_shortfall"].as_i64()
        ),
        (Some(36), Some(200)),
        "points never go below zero"
    );
    app.assert_clean().await;
}

#[tokio::test]
async fn pump_authorisation_holds_captures_and_voids() {
    let app = spawn_app().await;
    let card = app.funded_card("13300133000", 50_000).await;
    let auth = |key: &str, max: i64| json!({"pos_txn_id": key, "station_code": "S001", "card_no": card, "pump_no": 3, "max_amount_fen": max});
    let (st, a) = app
        .post("/api/v1/pos/authorizations", &app.pos1, auth("A1", 30_000))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    assert_eq!(a["held_fen"], 30_000);
    assert_eq!(
        app.balance(&card).await,
        20_000,
        "held money is not available"
    );
    app.assert_clean().await;
    // Capture 23,670 of the 30,000 held; the rest is released.
    let (st, s) = app
        .card_sale(
            &card,
            "GASOLINE_95",
            30_000,
            "A2",
            json!({"authorization_id": a["authorization_id"]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{s}");
    assert_eq!(app.balance(&card).await, 50_000 - 23_670);
    let (st, v) = app
        .card_sale(
            &card,
            "GASOLINE_95",
            1_000,
            "A3",
            json!({"authorization_id": a["authorization_id"]}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "authorization_closed")
    );
    // A hold larger than the balance holds the balance; a sale over the hold is refused.
    let (_, b) = app
        .post("/api/v1/pos/authorizations", &app.pos1, auth("A4", 99_999))
        .await;
    assert_eq!(b["held_fen"], 50_000 - 23_670);
    let (st, v) = app
        .card_sale(
            &card,
            "GASOLINE_95",
            40_000,
            "A5",
            json!({"authorization_id": b["authorization_id"]}),
        )
        .await;
    assert_eq!(code(&v), "authorization_exceeded", "{st} {v}");
    let id = b["authorization_id"].as_str().unwrap();
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/pos/authorizations/{id}/void"),
            Some(&app.pos1),
            None,
        )
        .await;
    assert_eq!((st, v["state"].as_str()), (StatusCode::OK, Some("voided")));
    assert_eq!(app.balance(&card).await, 50_000 - 23_670);
    app.assert_clean().await;
}

#[tokio::test]
async fn expired_holds_are_released() {
    let app = spawn_app_with(forecourt_server::Config {
        hold_ttl_secs: 0,
        ..Default::default()
    })
    .await;
    let card = app.funded_card("13300133001", 50_000).await;
    let (st, a) = app.post("/api/v1/pos/authorizations", &app.pos1, json!({"pos_txn_id": "E1", "station_code": "S001", "card_no": card, "pump_no": 1, "max_amount_fen": 10_000})).await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    let (st, v) = app
        .card_sale(
            &card,
            "GASOLINE_95",
            1_000,
            "E2",
            json!({"authorization_id": a["authorization_id"]}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "authorization_closed"),
        "an expired hold cannot be captured"
    );
    let state = forecourt_server::AppState::new(
        app.store.clone(),
        forecourt_server::Secret::from_bytes([7; 32]),
        Default::default(),
    );
    assert_eq!(forecourt_app::pos::expire_holds(&state).await.unwrap(), 1);
    assert_eq!(app.balance(&card).await, 50_000);
    assert_eq!(
        app.store
            .authorization(a["authorization_id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap()
            .state,
        "expired"
    );
    app.assert_clean().await;
}

#[tokio::test]
async fn pin_is_required_counted_and_locks() {
    let app = spawn_app().await;
    let c = app.customer("individual", "13200132000", json!({})).await;
    let card = app
        .card(json!({"customer_id": c, "kind": "personal", "pin": "246810"}))
        .await;
    app.recharge(&card, 50_000, "PIN-R").await;
    let (st, v) = app
        .card_sale(&card, "GASOLINE_95", 1_000, "PIN1", json!({}))
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "pin_required")
    );
    for i in 0..4 {
        let (st, v) = app
            .card_sale(
                &card,
                "GASOLINE_95",
                1_000,
                &format!("PIN-W{i}"),
                json!({"pin": "000000"}),
            )
            .await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "pin_incorrect"),
            "{v}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("{} tries left", 4 - i)),
            "{v}"
        );
    }
    let (st, v) = app
        .card_sale(
            &card,
            "GASOLINE_95",
            1_000,
            "PIN-OK",
            json!({"pin": "246810"}),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::CREATED,
        "the right PIN works and resets nothing it should not: {v}"
    );
    let (st, v) = app
        .card_sale(
            &card,
            "GASOLINE_95",
            1_000,
            "PIN-W5",
            json!({"pin": "000000"}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::LOCKED, "pin_locked"),
        "the fifth wrong PIN locks: {v}"
    );
    let (st, v) = app
        .card_sale(
            &card,
            "GASOLINE_95",
            1_000,
            "PIN-LOCKED",
            json!({"pin": "246810"}),
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::LOCKED, "pin_locked"), "{v}");
    assert_eq!(app.balance(&card).await, 50_000 - 789);
    // Staff reset the PIN, which unlocks the card.
    let (st, _) = app
        .put(
            &format!("/api/v1/cards/{card}/pin"),
            &app.admin,
            json!({"pin": "135790"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = app
        .card_sale(
            &card,
            "GASOLINE_95",
            1_000,
            "PIN-NEW",
            json!({"pin": "135790"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    app.assert_clean().await;
}

#[tokio::test]
async fn credit_accounts_and_coupons() {
    let app = spawn_app().await;
    let company = app
        .customer("company", "13100131000", json!({"industry": "logistics"}))
        .await;
    let main = app
        .card(json!({"customer_id": company, "kind": "fleet_main"}))
        .await;
    let (st, v) = app
        .put(
            &format!("/api/v1/customers/{company}/credit"),
            &app.admin,
            json!({"credit_limit_fen": 50_000, "billing_day": 5}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let sale = |key: &str, ml: i64, method: Value| {
        let mut b = sale_body(
            key,
            "S001",
            json!({"card_no": main}),
            json!([{"product_code": "DIESEL_0", "volume_ml": ml, "unit_price_fen": 1000}]),
        );
        b["payments"] = method;
        b
    };
    let (st, v) = app
        .post(
            "/api/v1/pos/sales",
            &app.pos1,
            sale(
                "K1",
                40_000,
                json!([{"method": "credit", "amount_fen": 40_000}]),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = app
        .post(
            "/api/v1/pos/sales",
            &app.pos1,
            sale(
                "K2",
                10_001,
                json!([{"method": "credit", "amount_fen": 10_001}]),
            ),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::PAYMENT_REQUIRED, "credit_limit_exceeded"),
        "{v}"
    );
    let (_, profile) = app
        .get(&format!("/api/v1/customers/{company}"), &app.admin)
        .await;
    assert_eq!(profile["credit"]["owed_fen"], 40_000);
    // A coupon pays once.
    let (st, _) = app
        .post(
            "/api/v1/coupons",
            &app.admin,
            json!({"code": "WASH-1", "amount_fen": 2_000, "valid_from": "2026-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let wash = |key: &str| {
        let mut b = sale_body(
            key,
            "S001",
            Value::Null,
            json!([{"product_code": "CAR_WASH", "quantity": 1, "unit_price_fen": 2_000}]),
        );
        b["payments"] = json!([{"method": "coupon", "coupon_code": "WASH-1", "amount_fen": 2_000}]);
        b
    };
    assert_eq!(
        app.post("/api/v1/pos/sales", &app.pos1, wash("W1")).await.0,
        StatusCode::CREATED
    );
    let (st, v) = app.post("/api/v1/pos/sales", &app.pos1, wash("W2")).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "coupon_invalid")
    );
    app.assert_clean().await;
}

#[tokio::test]
async fn a_single_use_coupon_is_redeemed_once_under_concurrency() {
    let app = Arc::new(spawn_app().await);
    app.post(
        "/api/v1/coupons",
        &app.admin,
        json!({"code": "ONCE", "amount_fen": 500, "valid_from": "2026-01-01T00:00:00Z"}),
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut b = sale_body(
                &format!("ONCE-{i}"),
                "S001",
                Value::Null,
                json!([{"product_code": "CAR_WASH", "quantity": 1, "unit_price_fen": 500}]),
            );
            b["payments"] = json!([{"method": "coupon", "coupon_code": "ONCE", "amount_fen": 500}]);
            app.post("/api/v1/pos/sales", &app.pos1, b).await.0
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::CREATED {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
    app.assert_clean().await;
}

/// Copies of one sale sent at once (a till retrying over a bad link) post it once, and
/// every copy gets its answer, even when the first copy leaves too little for another.
#[tokio::test]
async fn concurrent_copies_of_one_sale_post_once() {
    let app = Arc::new(spawn_app().await);
    let card = app.funded_card("13900139001", 7_890).await;
    let mut body = sale_body(
        "TWIN",
        "S001",
        json!({"card_no": card}),
        json!([{"product_code": "GASOLINE_95", "volume_ml": 10_000, "unit_price_fen": 789}]),
    );
    body["payments"] = json!([{"method": "card", "card_no": card, "amount_fen": 7_890}]);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (app, body) = (app.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            app.post("/api/v1/pos/sales", &app.pos1, body).await
        }));
    }
    let mut created = 0;
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (st, v) = t.await.unwrap();
        assert!(
            st == StatusCode::CREATED || st == StatusCode::OK,
            "{st}: {v}"
        );
        created += usize::from(st == StatusCode::CREATED);
        ids.insert(v["sale_id"].as_str().unwrap().to_string());
    }
    assert_eq!((created, ids.len()), (1, 1));
    assert_eq!(app.balance(&card).await, 0);
    app.assert_clean().await;
}
