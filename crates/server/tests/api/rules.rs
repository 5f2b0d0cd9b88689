//! Every card rule, through the POS API: a sale inside it goes through, a sale breaking
//! a hard rule is declined with the rule named, a sale breaking a soft rule goes through
//! flagged. The sale: 30 L of 0# diesel at 7.89 CNY/L (236.70 CNY) at S001 (region R1,
//! province 京), Friday 08:30 local time.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{json, Value};

struct Case {
    rule: &'static str,
    inside: Value,
    breaking: Value,
    /// Sales made on the card before the one under test.
    prior_sales: usize,
    /// Fields added to the sale body.
    extra: Value,
    /// The error code of a hard breach.
    code: &'static str,
}

fn cases() -> Vec<Case> {
    let c = |rule, inside: Value, breaking: Value, prior_sales, extra: Value| Case {
        rule,
        inside,
        breaking,
        prior_sales,
        extra,
        code: "limit_exceeded",
    };
    vec![
        c(
            "plate",
            json!("京A12345"),
            json!("京B99999"),
            0,
            json!({"plate": "京A12345"}),
        ),
        c("sales_per_day", json!(2), json!(1), 1, json!({})),
        c(
            "amount_per_sale_fen",
            json!(23_670),
            json!(23_669),
            0,
            json!({}),
        ),
        c(
            "amount_per_day_fen",
            json!(47_340),
            json!(47_339),
            1,
            json!({}),
        ),
        c(
            "amount_per_month_fen",
            json!(47_340),
            json!(47_339),
            1,
            json!({}),
        ),
        c(
            "volume_per_sale_ml",
            json!(30_000),
            json!(29_999),
            0,
            json!({}),
        ),
        c(
            "volume_per_day_ml",
            json!(60_000),
            json!(59_999),
            1,
            json!({}),
        ),
        c(
            "products",
            json!(["DIESEL_0"]),
            json!(["GASOLINE_92", "GASOLINE_95"]),
            0,
            json!({}),
        ),
        c(
            "categories",
            json!(["food"]),
            json!(["drinks"]),
            0,
            json!({"snack": true}),
        ),
        c("stations", json!(["S001"]), json!(["S002"]), 0, json!({})),
        c("regions", json!(["R1"]), json!(["R2"]), 0, json!({})),
        c("provinces", json!(["京"]), json!(["粤"]), 0, json!({})),
        c(
            "weekdays",
            json!([1, 2, 3, 4, 5]),
            json!([6, 7]),
            0,
            json!({}),
        ),
        c(
            "hours",
            json!("08:00-09:00"),
            json!("09:00-17:00"),
            0,
            json!({}),
        ),
        Case {
            code: "pin_required",
            ..c(
                "driver_pin",
                json!(true),
                json!(true),
                0,
                json!({"pin": "112233", "breaking_without_pin": true}),
            )
        },
        c(
            "odometer",
            json!(true),
            json!(true),
            0,
            json!({"odometer_km": 120_345, "breaking_without_odometer": true}),
        ),
    ]
}

/// A sub-card of a pooled fleet main card holding 1,000,000 fen.
async fn sub_card(
    app: &App,
    main: &str,
    customer: &str,
    rule: &str,
    value: &Value,
    hard: bool,
) -> String {
    let mut body = json!({"customer_id": customer, "kind": "fleet_sub", "main_card_no": main, "limits": {rule: {"value": value, "hard": hard}}});
    if rule == "driver_pin" && hard {
        body["pin"] = json!("112233");
    }
    app.card(body).await
}

async fn sell(
    app: &App,
    card: &str,
    key: &str,
    extra: &Value,
    with_optional: bool,
) -> (StatusCode, Value) {
    let mut lines =
        vec![json!({"product_code": "DIESEL_0", "volume_ml": 30_000, "unit_price_fen": 789})];
    if extra.get("snack").is_some() {
        lines.push(json!({"product_code": "SNACK-1", "quantity": 2, "unit_price_fen": 600}));
    }
    let mut body = sale_body(key, "S001", json!({"card_no": card}), Value::Array(lines));
    let (st, q) = app
        .post("/api/v1/pos/quotes", &app.pos1, body.clone())
        .await;
    assert_eq!(st, StatusCode::OK, "{q}");
    let skip_pin = !with_optional && extra.get("breaking_without_pin").is_some();
    let skip_odo = !with_optional && extra.get("breaking_without_odometer").is_some();
    for (k, v) in extra.as_object().unwrap() {
        if matches!(k.as_str(), "plate") || (k == "odometer_km" && !skip_odo) {
            body[k] = v.clone();
        }
    }
    let pin = if skip_pin {
        Value::Null
    } else {
        extra.get("pin").cloned().unwrap_or(Value::Null)
    };
    body["payments"] =
        json!([{"method": "card", "card_no": card, "amount_fen": q["net_amount_fen"], "pin": pin}]);
    app.post("/api/v1/pos/sales", &app.pos1, body).await
}

#[tokio::test]
async fn every_card_rule_declines_flags_or_lets_through() {
    let app = spawn_app().await;
    let (st, v) = app
        .post(
            "/api/v1/products",
            &app.admin,
            json!({"code": "SNACK-1", "name": "饼干", "kind": "non_fuel", "category": "food"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let company = app
        .customer("company", "13000130000", json!({"industry": "logistics"}))
        .await;
    let main = app
        .card(json!({"customer_id": company, "kind": "fleet_main"}))
        .await;
    let (st, v) = app.recharge(&main, 2_000_000, "FLEET-R").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let mut n = 0;
    for case in cases() {
        for (label, value, hard) in [
            ("inside", &case.inside, true),
            ("hard", &case.breaking, true),
            ("soft", &case.breaking, false),
        ] {
            let card = sub_card(&app, &main, &company, case.rule, value, hard).await;
            for _ in 0..case.prior_sales {
                n += 1;
                let (st, v) = sell(&app, &card, &format!("pre-{n}"), &case.extra, true).await;
                assert_eq!(
                    st,
                    StatusCode::CREATED,
                    "{}: the sale before: {v}",
                    case.rule
                );
            }
            n += 1;
            let before = app.balance(&main).await;
            let (st, v) = sell(
                &app,
                &card,
                &format!("t-{n}"),
                &case.extra,
                label == "inside",
            )
            .await;
            match label {
                "inside" => {
                    assert_eq!(
                        st,
                        StatusCode::CREATED,
                        "{}: a sale inside the rule: {v}",
                        case.rule
                    );
                    assert!(
                        v["flags"].as_array().unwrap().is_empty(),
                        "{}: {v}",
                        case.rule
                    );
                }
                "hard" => {
                    assert_eq!(
                        (st, code(&v)),
                        (StatusCode::UNPROCESSABLE_ENTITY, case.code),
                        "{}: {v}",
                        case.rule
                    );
                    let msg = v["error"]["message"].as_str().unwrap();
                    assert!(
                        case.code != "limit_exceeded" || msg.contains(case.rule),
                        "{}: the message names the limit: {msg}",
                        case.rule
                    );
                    assert_eq!(
                        app.balance(&main).await,
                        before,
                        "{}: a declined sale changes nothing",
                        case.rule
                    );
                }
                _ => {
                    assert_eq!(
                        st,
                        StatusCode::CREATED,
                        "{}: a soft rule lets the sale through: {v}",
                        case.rule
                    );
                    let flags: Vec<&str> = v["flags"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|f| f["rule"].as_str())
                        .collect();
                    assert_eq!(flags, [case.rule], "{}: flagged: {v}", case.rule);
                }
            }
        }
    }
    app.assert_clean().await;
}

#[tokio::test]
async fn pooled_and_allocated_fleet_balances() {
    let app = spawn_app().await;
    let company = app.customer("company", "13000130001", json!({})).await;
    // Pool: the sub-card spends the main card's balance.
    let pool = app
        .card(json!({"customer_id": company, "kind": "fleet_main"}))
        .await;
    app.recharge(&pool, 100_000, "POOL-R").await;
    let sub = app
        .card(json!({"customer_id": company, "kind": "fleet_sub", "main_card_no": pool}))
        .await;
    assert_eq!(app.balance(&sub).await, 100_000);
    let (st, v) = app
        .card_sale(&sub, "DIESEL_0", 10_000, "POOL-S", json!({}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(app.balance(&pool).await, 100_000 - 7_890);
    let (st, v) = app.recharge(&sub, 1_000, "POOL-SUB-R").await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "card_not_usable"),
        "a pooled sub-card is not recharged"
    );
    // Allocated: money moves main → sub (圈存) and back; the sub-card spends its own.
    let alloc = app
        .card(json!({"customer_id": company, "kind": "fleet_main", "balance_mode": "allocated"}))
        .await;
    app.recharge(&alloc, 100_000, "ALLOC-R").await;
    let sub2 = app
        .card(json!({"customer_id": company, "kind": "fleet_sub", "main_card_no": alloc}))
        .await;
    assert_eq!(app.balance(&sub2).await, 0);
    let (st, v) = app
        .card_sale(&sub2, "DIESEL_0", 10_000, "ALLOC-S0", json!({}))
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::PAYMENT_REQUIRED, "insufficient_balance")
    );
    let (st, v) = app
        .post(
            &format!("/api/v1/cards/{alloc}/allocations"),
            &app.admin,
            json!({"sub_card_no": sub2, "amount_fen": 30_000}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(
        (
            v["main_balance_fen"].as_i64(),
            v["sub_balance_fen"].as_i64()
        ),
        (Some(70_000), Some(30_000))
    );
    let (st, _) = app
        .card_sale(&sub2, "DIESEL_0", 10_000, "ALLOC-S1", json!({}))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, v) = app
        .post(
            &format!("/api/v1/cards/{alloc}/allocations"),
            &app.admin,
            json!({"sub_card_no": sub2, "amount_fen": -30_000}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::PAYMENT_REQUIRED, "insufficient_balance"),
        "cannot take back more than the sub-card holds"
    );
    let (st, v) = app
        .post(
            &format!("/api/v1/cards/{alloc}/allocations"),
            &app.admin,
            json!({"sub_card_no": sub2, "amount_fen": -22_110}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(
        (
            v["main_balance_fen"].as_i64(),
            v["sub_balance_fen"].as_i64()
        ),
        (Some(92_110), Some(0))
    );
    app.assert_clean().await;
}
