//! The loyalty engine through the POS quote and sale: every rule kind and condition,
//! the quote promising what the sale gives, coupons (single use under concurrency),
//! expiry, tiers, the catalogue and referrals.

use crate::harness::*;
use axum::http::StatusCode;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Posts a rule and returns its id.
async fn rule(app: &App, id: &str, kind: &str, body: Value) -> String {
    let (st, v) = app
        .post(
            "/api/v1/loyalty/rules",
            &app.admin,
            json!({"rule_id": id, "kind": kind, "name": id, "rule": body}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    id.to_string()
}

async fn retire(app: &App, id: &str, kind: &str, body: Value) {
    let (st, v) = app
        .post(
            "/api/v1/loyalty/rules",
            &app.admin,
            json!({"rule_id": id, "kind": kind, "name": id, "rule": body, "active": false}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
}

/// Points the rule gave in a sale (0 when it gave none).
fn from_rule(sale: &Value, id: &str) -> i64 {
    sale["points_detail"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rule_id"] == id)
        .map(|l| l["points"].as_i64().unwrap())
        .sum()
}

/// Quotes and sells; asserts the quote promised exactly what the sale gave.
async fn sell(app: &App, card: &str, product: &str, ml: i64, key: &str, extra: Value) -> Value {
    let mut body = sale_body(
        key,
        "S001",
        json!({"card_no": card}),
        json!([{"product_code": product, "volume_ml": ml, "unit_price_fen": 800}]),
    );
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    // The sale happens at its time: the server's clock stands there too.
    app.set_now(body["occurred_at"].as_str().unwrap());
    let (st, q) = app
        .post("/api/v1/pos/quotes", &app.pos1, body.clone())
        .await;
    assert_eq!(st, StatusCode::OK, "{q}");
    body["payments"] = json!([{"method": "cash", "amount_fen": q["net_amount_fen"]}]);
    let (st, s) = app.post("/api/v1/pos/sales", &app.pos1, body).await;
    assert_eq!(st, StatusCode::CREATED, "{s}");
    for k in [
        "points_earned",
        "points_detail",
        "net_amount_fen",
        "discounts",
    ] {
        assert_eq!(q[k], s[k], "the quote promised another {k}: {q} / {s}");
    }
    s
}

#[tokio::test]
async fn every_rule_kind_and_condition_through_the_quote_and_the_sale() {
    let app = spawn_app().await;
    // A member with a tag and a birthday in November; NOW is Friday 2026-11-20 08:30
    // at station S001.
    let c = app
        .customer(
            "individual",
            "13500135000",
            json!({"tags": ["taxi"], "birthday": "1990-11-05"}),
        )
        .await;
    let card = app
        .card(json!({"customer_id": c, "kind": "personal"}))
        .await;
    app.recharge(&card, 100_000, "R-L1").await;
    let mut n = 0;
    let mut key = || {
        n += 1;
        format!("L{n}")
    };

    // Base earn per litre for one product; other products keep 1 point per yuan.
    let r = rule(
        &app,
        "diesel-litre",
        "earn",
        json!({"products": ["DIESEL_0"], "basis": "per_litre", "points_per_unit": 2}),
    )
    .await;
    let s = sell(&app, &card, "DIESEL_0", 30_000, &key(), json!({})).await;
    assert_eq!(from_rule(&s, &r), 60, "{s}");
    let s = sell(&app, &card, "GASOLINE_92", 30_000, &key(), json!({})).await;
    assert_eq!(from_rule(&s, &r), 0);
    assert_eq!(from_rule(&s, "base"), 240, "{s}");
    retire(
        &app,
        &r,
        "earn",
        json!({"products": ["DIESEL_0"], "basis": "per_litre", "points_per_unit": 2}),
    )
    .await;

    // Bonus rules: each condition once met and once not.
    let fixed = |cond: Value| json!({"conditions": cond, "bonus": {"kind": "fixed", "points": 7}});
    let cases: Vec<(&str, Value, Value, Value)> = vec![
        (
            "date-range",
            json!({"from_us": 1_700_000_000_000_000i64, "until_us": 1_900_000_000_000_000i64}),
            json!({}),
            json!({"occurred_at": "2023-01-01T08:00:00+08:00"}),
        ),
        (
            "weekday",
            json!({"weekdays": [5]}),
            json!({}),
            json!({"occurred_at": "2026-11-19T08:30:00+08:00"}),
        ),
        (
            "hours",
            json!({"hours": [420, 600]}),
            json!({}),
            json!({"occurred_at": "2026-11-20T12:30:00+08:00"}),
        ),
        (
            "night-wrap",
            json!({"hours": [1380, 540]}),
            json!({}),
            json!({"occurred_at": "2026-11-20T10:00:00+08:00"}),
        ),
        (
            "station",
            json!({"stations": ["S001"]}),
            json!({}),
            json!({"__station": "S002"}),
        ),
        (
            "products",
            json!({"products": ["GASOLINE_95"]}),
            json!({"__product": "GASOLINE_95"}),
            json!({}),
        ),
        (
            "min-amount",
            json!({"min_amount_fen": 30_000}),
            json!({"__ml": 40_000}),
            json!({"__ml": 30_000}),
        ),
        (
            "min-volume",
            json!({"min_volume_ml": 35_000}),
            json!({"__ml": 40_000}),
            json!({}),
        ),
        (
            "tags",
            json!({"tags": ["taxi", "fleet"]}),
            json!({}),
            json!({"__other_member": true}),
        ),
        (
            "birthday",
            json!({"birthday_month": true}),
            json!({}),
            json!({"__other_member": true}),
        ),
    ];
    let other = app
        .customer(
            "individual",
            "13500135001",
            json!({"tags": ["commuter"], "birthday": "1990-03-05"}),
        )
        .await;
    let other_card = app
        .card(json!({"customer_id": other, "kind": "personal"}))
        .await;
    app.recharge(&other_card, 100_000, "R-L2").await;
    for (id, cond, hit, miss) in cases {
        rule(&app, id, "bonus", fixed(cond.clone())).await;
        for (variant, expect) in [(hit, 7), (miss, 0)] {
            let product = variant["__product"]
                .as_str()
                .unwrap_or("GASOLINE_92")
                .to_string();
            let ml = variant["__ml"].as_i64().unwrap_or(30_000);
            let who = if variant["__other_member"] == true {
                &other_card
            } else {
                &card
            };
            let mut extra = json!({});
            if let Some(t) = variant.get("occurred_at") {
                extra["occurred_at"] = t.clone();
            }
            let s = if let Some(st) = variant["__station"].as_str() {
                let mut body = sale_body(
                    &key(),
                    st,
                    json!({"card_no": who}),
                    json!([{"product_code": product, "volume_ml": ml, "unit_price_fen": 800}]),
                );
                app.set_now(NOW);
                let (_, q) = app
                    .post("/api/v1/pos/quotes", &app.pos2, body.clone())
                    .await;
                body["payments"] = json!([{"method": "cash", "amount_fen": q["net_amount_fen"]}]);
                let (st, s) = app.post("/api/v1/pos/sales", &app.pos2, body).await;
                assert_eq!(st, StatusCode::CREATED, "{s}");
                assert_eq!(q["points_detail"], s["points_detail"]);
                s
            } else {
                sell(&app, who, &product, ml, &key(), extra).await
            };
            assert_eq!(from_rule(&s, id), expect, "rule {id}: {s}");
        }
        retire(&app, id, "bonus", fixed(cond)).await;
    }

    // First visit: a new member's first sale only.
    rule(&app, "first", "bonus", fixed(json!({"first_visit": true}))).await;
    let newbie = app.funded_card("13500135002", 100_000).await;
    let s = sell(&app, &newbie, "GASOLINE_92", 10_000, &key(), json!({})).await;
    assert_eq!(from_rule(&s, "first"), 7, "{s}");
    let s = sell(&app, &newbie, "GASOLINE_92", 10_000, &key(), json!({})).await;
    assert_eq!(from_rule(&s, "first"), 0);
    retire(&app, "first", "bonus", fixed(json!({"first_visit": true}))).await;

    // Kinds of bonus and caps: double points capped at 50 a sale; 3 per litre capped
    // at 100 a day; per yuan capped at 500 a month.
    rule(
        &app,
        "double",
        "bonus",
        json!({"bonus": {"kind": "multiplier", "permille": 1000}, "cap_per_sale": 50}),
    )
    .await;
    let s = sell(&app, &card, "GASOLINE_92", 5_000, &key(), json!({})).await;
    assert_eq!(from_rule(&s, "double"), 40, "{s}");
    let s = sell(&app, &card, "GASOLINE_92", 30_000, &key(), json!({})).await;
    assert_eq!(from_rule(&s, "double"), 50);
    retire(
        &app,
        "double",
        "bonus",
        json!({"bonus": {"kind": "multiplier", "permille": 1000}, "cap_per_sale": 50}),
    )
    .await;
    rule(
        &app,
        "litre3",
        "bonus",
        json!({"bonus": {"kind": "per_litre", "points": 3}, "cap_per_day": 100}),
    )
    .await;
    let s = sell(&app, &card, "GASOLINE_92", 30_000, &key(), json!({})).await;
    assert_eq!(from_rule(&s, "litre3"), 90);
    let s = sell(&app, &card, "GASOLINE_92", 30_000, &key(), json!({})).await;
    assert_eq!(from_rule(&s, "litre3"), 10, "the day's cap leaves 10: {s}");
    let s = sell(
        &app,
        &card,
        "GASOLINE_92",
        30_000,
        &key(),
        json!({"occurred_at": "2026-11-21T08:30:00+08:00"}),
    )
    .await;
    assert_eq!(from_rule(&s, "litre3"), 90, "a new day");
    retire(
        &app,
        "litre3",
        "bonus",
        json!({"bonus": {"kind": "per_litre", "points": 3}, "cap_per_day": 100}),
    )
    .await;
    rule(
        &app,
        "yuan2",
        "bonus",
        json!({"bonus": {"kind": "per_yuan", "points": 2}, "cap_per_month": 500}),
    )
    .await;
    // By now the member's spend made them VIP (5 fen/L off), so the net is below 240 CNY.
    let s = sell(&app, &card, "GASOLINE_92", 30_000, &key(), json!({})).await;
    let first = s["net_amount_fen"].as_i64().unwrap() * 2 / 100;
    assert_eq!(s["tier"]["code"], "vip", "{s}");
    assert_eq!(from_rule(&s, "yuan2"), first);
    let s = sell(&app, &card, "GASOLINE_92", 30_000, &key(), json!({})).await;
    assert_eq!(
        from_rule(&s, "yuan2"),
        500 - first,
        "the month's cap leaves the rest"
    );
    let s = sell(
        &app,
        &card,
        "GASOLINE_92",
        30_000,
        &key(),
        json!({"occurred_at": "2026-10-15T08:30:00+08:00"}),
    )
    .await;
    assert_eq!(from_rule(&s, "yuan2"), first, "a new month");
    app.set_now(NOW);
    retire(
        &app,
        "yuan2",
        "bonus",
        json!({"bonus": {"kind": "per_yuan", "points": 2}, "cap_per_month": 500}),
    )
    .await;

    // Milestones: every 3rd visit; 60 L of 98 in a month.
    let m = app.funded_card("13500135003", 100_000).await;
    rule(
        &app,
        "third",
        "milestone",
        json!({"milestone": {"kind": "every_nth_visit", "n": 3, "points": 30}}),
    )
    .await;
    rule(&app, "premium60", "milestone", json!({"milestone": {"kind": "litres_in_month", "product": "GASOLINE_98", "litres": 60, "points": 100}})).await;
    let got: Vec<(i64, i64)> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            let s = sell(&app, &m, "GASOLINE_98", 25_000, &key(), json!({})).await;
            v.push((from_rule(&s, "third"), from_rule(&s, "premium60")));
        }
        v
    };
    assert_eq!(got, [(0, 0), (0, 0), (30, 100), (0, 0)]);

    // Every point is explained: the member's history names the rules.
    let (st, p) = app
        .get(&format!("/api/v1/customers/{c}/points"), &app.admin)
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    assert!(p["history"].as_array().unwrap().iter().any(|h| h["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["rule_id"] == "yuan2")));
    let total: i64 = p["lots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["remaining"].as_i64().unwrap())
        .sum();
    assert_eq!(total, p["balance"].as_i64().unwrap());
    app.assert_clean().await;
}

#[tokio::test]
async fn the_quote_promises_exactly_what_the_sale_gives_over_random_rules_and_baskets() {
    let app = spawn_app().await;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261123);
    let products = ["GASOLINE_92", "GASOLINE_95", "DIESEL_0", "CAR_WASH"];
    let mut cards = Vec::new();
    for i in 0..4 {
        let c = app
            .customer("individual", &format!("1360013600{i}"), json!({"tags": if i % 2 == 0 { json!(["vip_club"]) } else { json!([]) }, "birthday": "1988-11-02"}))
            .await;
        let card = app
            .card(json!({"customer_id": c, "kind": "personal"}))
            .await;
        app.recharge(&card, 100_000, &format!("RP{i}")).await;
        cards.push(card);
    }
    for round in 0..40 {
        // A new random rule replaces one of eight slots.
        let slot = rng.gen_range(0..8);
        let mut cond = json!({});
        if rng.gen_bool(0.3) {
            cond["weekdays"] = json!([rng.gen_range(1..=7)]);
        }
        if rng.gen_bool(0.3) {
            let a = rng.gen_range(0..1440);
            cond["hours"] = json!([a, (a + rng.gen_range(60..900)) % 1440]);
        }
        if rng.gen_bool(0.3) {
            cond["products"] = json!([products[rng.gen_range(0..3)]]);
        }
        if rng.gen_bool(0.3) {
            cond["min_amount_fen"] = json!(rng.gen_range(1_000..40_000));
        }
        if rng.gen_bool(0.2) {
            cond["tags"] = json!(["vip_club"]);
        }
        if rng.gen_bool(0.2) {
            cond["birthday_month"] = json!(true);
        }
        let bonus = match rng.gen_range(0..4) {
            0 => json!({"kind": "multiplier", "permille": rng.gen_range(100..3000)}),
            1 => json!({"kind": "fixed", "points": rng.gen_range(1..100)}),
            2 => json!({"kind": "per_yuan", "points": rng.gen_range(1..4)}),
            _ => json!({"kind": "per_litre", "points": rng.gen_range(1..4)}),
        };
        let mut body = json!({"conditions": cond, "bonus": bonus});
        if rng.gen_bool(0.4) {
            body["cap_per_day"] = json!(rng.gen_range(10..300));
        }
        if rng.gen_bool(0.3) {
            body["cap_per_sale"] = json!(rng.gen_range(5..200));
        }
        let (st, v) = app
            .post("/api/v1/loyalty/rules", &app.admin, json!({"rule_id": format!("r{slot}"), "kind": "bonus", "name": "random", "rule": body}))
            .await;
        assert!(
            st == StatusCode::CREATED || st == StatusCode::UNPROCESSABLE_ENTITY,
            "{v}"
        );
        if rng.gen_bool(0.2) {
            let (st, v) = app
                .post("/api/v1/loyalty/rules", &app.admin, json!({"rule_id": "visit", "kind": "milestone", "name": "every nth", "rule": {"milestone": {"kind": "every_nth_visit", "n": rng.gen_range(2..5), "points": 20}}}))
                .await;
            assert_eq!(st, StatusCode::CREATED, "{v}");
        }
        // A random basket at a random hour.
        let lines: Vec<Value> = (0..rng.gen_range(1..4))
            .map(|_| {
                let p = products[rng.gen_range(0..4)];
                if p == "CAR_WASH" {
                    json!({"product_code": p, "quantity": 1, "unit_price_fen": 2500})
                } else {
                    json!({"product_code": p, "volume_ml": rng.gen_range(1_000..80_000), "unit_price_fen": rng.gen_range(650..900)})
                }
            })
            .collect();
        let card = &cards[rng.gen_range(0..cards.len())];
        let at = format!(
            "2026-11-{:02}T{:02}:{:02}:00+08:00",
            rng.gen_range(1..20),
            rng.gen_range(0..24),
            rng.gen_range(0..60)
        );
        let mut body = json!({"pos_txn_id": format!("P{round}"), "station_code": "S001", "occurred_at": at, "customer": {"card_no": card}, "lines": lines});
        app.set_now(&at);
        let (st, q) = app
            .post("/api/v1/pos/quotes", &app.pos1, body.clone())
            .await;
        assert_eq!(st, StatusCode::OK, "{q}");
        body["payments"] = json!([{"method": "cash", "amount_fen": q["net_amount_fen"]}]);
        let (st, s) = app.post("/api/v1/pos/sales", &app.pos1, body).await;
        assert_eq!(st, StatusCode::CREATED, "{s}");
        for k in [
            "points_earned",
            "points_detail",
            "net_amount_fen",
            "discounts",
            "lines",
        ] {
            assert_eq!(q[k], s[k], "round {round}: the quote promised another {k}");
        }
        let sum: i64 = s["points_detail"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["points"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, s["points_earned"].as_i64().unwrap());
    }
    app.assert_clean().await;
}

async fn template(app: &App, body: Value) -> String {
    let (st, v) = app
        .post("/api/v1/loyalty/coupon-templates", &app.admin, body)
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["template_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn fifty_concurrent_sales_redeem_a_single_use_coupon_once() {
    let app = spawn_app().await;
    let t = template(&app, json!({"name": "满100减10", "kind": "amount_off", "value": 1000, "min_amount_fen": 10_000, "valid_days": 30})).await;
    let (st, v) = app
        .post(
            "/api/v1/loyalty/coupons",
            &app.admin,
            json!({"template_id": t, "code": "LEAFLET2026", "valid_from": "2026-11-01T00:00:00+08:00"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let mut tasks = Vec::new();
    for i in 0..50 {
        let router = app.router.clone();
        let token = app.pos1.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({"pos_txn_id": format!("C{i}"), "station_code": "S001", "occurred_at": NOW, "coupons": ["LEAFLET2026"],
                "lines": [{"product_code": "GASOLINE_92", "volume_ml": 20_000, "unit_price_fen": 750}],
                "payments": [{"method": "cash", "amount_fen": 14_000}]});
            let req = axum::http::Request::builder()
                .method("POST")
                .uri("/api/v1/pos/sales")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body.to_string()))
                .unwrap();
            let res = tower::ServiceExt::oneshot(router, req).await.unwrap();
            let status = res.status();
            let bytes = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (st, v) = t.await.unwrap();
        if st == StatusCode::CREATED {
            ok += 1;
            assert_eq!(v["net_amount_fen"], 14_000);
        } else {
            assert_eq!(code(&v), "coupon_invalid", "{st} {v}");
        }
    }
    assert_eq!(ok, 1, "exactly one sale redeems the coupon");
    app.assert_clean().await;
}

#[tokio::test]
async fn coupon_kinds_apply_in_the_quote_are_redeemed_once_and_come_back_on_a_full_refund() {
    let app = spawn_app().await;
    let c = app.customer("individual", "13700137000", json!({})).await;
    let card = app
        .card(json!({"customer_id": c, "kind": "personal"}))
        .await;
    app.recharge(&card, 100_000, "R-C").await;
    let per_litre = template(&app, json!({"name": "每升减0.3元", "kind": "per_litre_off", "value": 30, "products": ["GASOLINE_95"], "valid_days": 30})).await;
    let wash = template(
        &app,
        json!({"name": "免费洗车", "kind": "free_car_wash", "value": 1, "valid_days": 30}),
    )
    .await;
    let shop = template(
        &app,
        json!({"name": "便利店8折", "kind": "percent_off_non_fuel", "value": 20, "valid_days": 30}),
    )
    .await;
    let mut codes = Vec::new();
    for t in [&per_litre, &wash, &shop] {
        let (st, v) = app
            .post(
                "/api/v1/loyalty/coupons",
                &app.admin,
                json!({"template_id": t, "customer_id": c, "valid_from": "2026-11-01T00:00:00+08:00"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        codes.push(v["coupons"][0]["code"].as_str().unwrap().to_string());
    }
    // The quote lists the member's coupons and applies those named.
    let mut body = sale_body(
        "K1",
        "S001",
        json!({"card_no": card}),
        json!([{"product_code": "GASOLINE_95", "volume_ml": 40_000, "unit_price_fen": 800}, {"product_code": "CAR_WASH", "quantity": 1, "unit_price_fen": 2500}]),
    );
    let (_, q) = app
        .post("/api/v1/pos/quotes", &app.pos1, body.clone())
        .await;
    assert_eq!(q["coupons_available"].as_array().unwrap().len(), 3, "{q}");
    body["coupons"] = json!([codes[0], codes[1]]);
    let (_, q) = app
        .post("/api/v1/pos/quotes", &app.pos1, body.clone())
        .await;
    assert_eq!(q["net_amount_fen"], 32_000 - 1200, "{q}");
    // The shop coupon does not apply to a sale without shop goods: refused, clearly.
    let mut bad = body.clone();
    bad["coupons"] = json!([codes[2]]);
    let (st, e) = app.post("/api/v1/pos/quotes", &app.pos1, bad).await;
    assert_eq!(
        (st, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "coupon_not_applicable"),
        "{e}"
    );
    body["payments"] =
        json!([{"method": "card", "card_no": card, "amount_fen": q["net_amount_fen"]}]);
    let (st, s) = app.post("/api/v1/pos/sales", &app.pos1, body.clone()).await;
    assert_eq!(st, StatusCode::CREATED, "{s}");
    assert_eq!(
        s["points_earned"], 308,
        "points on the net after coupons: {s}"
    );
    // A discount coupon is not money: paying with it is refused.
    let mut pay = sale_body(
        "K0",
        "S001",
        json!({"card_no": card}),
        json!([{"product_code": "GASOLINE_95", "volume_ml": 10_000, "unit_price_fen": 800}]),
    );
    pay["payments"] = json!([{"method": "coupon", "coupon_code": codes[2], "amount_fen": 20}, {"method": "cash", "amount_fen": 7_980}]);
    let (st, e) = app.post("/api/v1/pos/sales", &app.pos1, pay).await;
    assert_eq!(
        (st, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "coupon_invalid"),
        "{e}"
    );
    // Used once.
    body["pos_txn_id"] = json!("K2");
    let (st, e) = app.post("/api/v1/pos/sales", &app.pos1, body.clone()).await;
    assert_eq!(
        (st, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "coupon_invalid")
    );
    // A full refund gives the coupons back and takes the points back.
    let (st, r) = app.post("/api/v1/pos/refunds", &app.pos1, json!({"pos_txn_id": "K3", "station_code": "S001", "occurred_at": NOW, "sale_id": s["sale_id"]})).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(r["points_reversed"], 308);
    let (_, mine) = app
        .get(&format!("/api/v1/customers/{c}/coupons"), &app.admin)
        .await;
    assert!(
        mine["coupons"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["state"] == "issued"),
        "{mine}"
    );
    app.assert_clean().await;
}

#[tokio::test]
async fn expiry_run_twice_changes_nothing_the_second_time() {
    let app = spawn_app().await;
    let c = app.customer("individual", "13800138000", json!({})).await;
    let card = app
        .card(json!({"customer_id": c, "kind": "personal"}))
        .await;
    app.recharge(&card, 100_000, "R-E").await;
    sell(
        &app,
        &card,
        "GASOLINE_92",
        20_000,
        "E1",
        json!({"occurred_at": "2024-03-01T10:00:00+08:00"}),
    )
    .await;
    sell(
        &app,
        &card,
        "GASOLINE_92",
        10_000,
        "E2",
        json!({"occurred_at": "2025-06-01T10:00:00+08:00"}),
    )
    .await;
    // 160 points of 2024 lapse after 2025; 80 of 2025 stay until the end of 2026.
    let (st, v) = app
        .put(
            "/api/v1/loyalty/settings/expiry",
            &app.admin,
            json!({"kind": "end_of_year_after"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, first) = app
        .post(
            "/api/v1/loyalty/run",
            &app.admin,
            json!({"date": "2026-11-20"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{first}");
    assert_eq!(
        (
            first["members_expired"].as_i64(),
            first["points_expired"].as_i64()
        ),
        (Some(1), Some(160)),
        "{first}"
    );
    let before = app.store.check().await.unwrap();
    let (_, second) = app
        .post(
            "/api/v1/loyalty/run",
            &app.admin,
            json!({"date": "2026-11-20"}),
        )
        .await;
    assert_eq!(
        (
            second["members_expired"].as_i64(),
            second["points_expired"].as_i64()
        ),
        (Some(0), Some(0)),
        "{second}"
    );
    let after = app.store.check().await.unwrap();
    assert_eq!(
        (before.journals, before.transfers),
        (after.journals, after.transfers)
    );
    assert_eq!(app.store.points_balance(&c).await.unwrap(), 80);
    // Fixed clearing days: points older than a year lapse on 31 December.
    let (st, _) = app
        .put(
            "/api/v1/loyalty/settings/expiry",
            &app.admin,
            json!({"kind": "fixed_clearing", "days": [[6, 30], [12, 31]], "older_than_years": 1}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, v) = app
        .post(
            "/api/v1/loyalty/run",
            &app.admin,
            json!({"date": "2026-06-30"}),
        )
        .await;
    assert_eq!(v["points_expired"], 80, "{v}");
    app.assert_clean().await;
}

#[tokio::test]
async fn tiers_move_up_on_a_sale_down_after_grace_and_an_override_holds() {
    let app = spawn_app().await;
    let (st, v) = app.put("/api/v1/tiers/vip", &app.admin, json!({"name": "VIP", "rank": 1, "discount_fen_per_litre": 5, "points_multiplier_permille": 1200, "qualify_spend_fen": 50_000})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let c = app.customer("individual", "13900139000", json!({})).await;
    let card = app
        .card(json!({"customer_id": c, "kind": "personal"}))
        .await;
    app.recharge(&card, 100_000, "R-T").await;
    let s = sell(&app, &card, "GASOLINE_92", 70_000, "T1", json!({})).await;
    assert_eq!(s["tier_after"], "vip", "{s}");
    // The next sale has the VIP price and multiplier.
    let s = sell(&app, &card, "GASOLINE_92", 10_000, "T2", json!({})).await;
    assert_eq!(s["tier"]["code"], "vip");
    assert_eq!(s["discount_fen"], 50);
    // A year later the figures no longer qualify: grace, then down.
    let (_, r) = app
        .post(
            "/api/v1/loyalty/run",
            &app.admin,
            json!({"date": "2027-12-01"}),
        )
        .await;
    assert_eq!(r["grace_started"], 1, "{r}");
    let (_, r) = app
        .post(
            "/api/v1/loyalty/run",
            &app.admin,
            json!({"date": "2027-12-15"}),
        )
        .await;
    assert_eq!(r["tiers_down"], 0, "{r}");
    let (_, r) = app
        .post(
            "/api/v1/loyalty/run",
            &app.admin,
            json!({"date": "2028-01-05"}),
        )
        .await;
    assert_eq!(r["tiers_down"], 1, "{r}");
    assert_eq!(
        app.store.customer(&c).await.unwrap().unwrap().tier_code,
        "standard"
    );
    // An override with a reason holds whatever the figures.
    let (st, v) = app
        .post(
            &format!("/api/v1/customers/{c}/tier"),
            &app.admin,
            json!({"tier_code": "svip", "reason": "大客户协议"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, r) = app
        .post(
            "/api/v1/loyalty/run",
            &app.admin,
            json!({"date": "2028-03-01"}),
        )
        .await;
    assert_eq!(r["tiers_down"], 0, "{r}");
    assert_eq!(
        r["car_wash_coupons"], 1,
        "SVIP gives a car wash a month: {r}"
    );
    let (_, r) = app
        .post(
            "/api/v1/loyalty/run",
            &app.admin,
            json!({"date": "2028-03-02"}),
        )
        .await;
    assert_eq!(r["car_wash_coupons"], 0, "once a month: {r}");
    assert_eq!(
        app.store.customer(&c).await.unwrap().unwrap().tier_code,
        "svip"
    );
    let (st, e) = app
        .post(
            &format!("/api/v1/customers/{c}/tier"),
            &app.admin,
            json!({"tier_code": "svip", "reason": " "}),
        )
        .await;
    assert_eq!(
        (st, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    app.assert_clean().await;
}

#[tokio::test]
async fn the_catalogue_takes_points_through_the_ledger_and_a_cancellation_returns_them() {
    let app = spawn_app().await;
    let c = app.customer("individual", "13300133000", json!({})).await;
    let card = app
        .card(json!({"customer_id": c, "kind": "personal"}))
        .await;
    app.recharge(&card, 100_000, "R-G").await;
    sell(&app, &card, "GASOLINE_92", 50_000, "G1", json!({})).await; // 400 points
    let wash = template(
        &app,
        json!({"name": "洗车券", "kind": "free_car_wash", "value": 1, "valid_days": 30}),
    )
    .await;
    let (_, item) = app.post("/api/v1/loyalty/catalogue", &app.admin, json!({"name": "洗车一次", "kind": "car_wash", "points_cost": 300, "stock": 1, "template_id": wash})).await;
    let path = format!("/api/v1/customers/{c}/redemptions");
    let (st, r) = app
        .post(
            &path,
            &app.admin,
            json!({"card_no": card, "item_id": item["item_id"], "request_id": "X1"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert!(r["coupon_code"].is_string());
    // A retry redeems once; another redemption finds no stock; then too few points.
    let (st, again) = app
        .post(
            &path,
            &app.admin,
            json!({"card_no": card, "item_id": item["item_id"], "request_id": "X1"}),
        )
        .await;
    assert_eq!(
        (st, &again["redemption_id"]),
        (StatusCode::OK, &r["redemption_id"])
    );
    let (st, e) = app
        .post(
            &path,
            &app.admin,
            json!({"card_no": card, "item_id": item["item_id"], "request_id": "X2"}),
        )
        .await;
    assert_eq!(
        (st, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "out_of_stock")
    );
    assert_eq!(app.store.points_balance(&c).await.unwrap(), 100);
    let (_, gift) = app
        .post(
            "/api/v1/loyalty/catalogue",
            &app.admin,
            json!({"name": "玻璃水", "kind": "gift", "points_cost": 200}),
        )
        .await;
    let (st, e) = app
        .post(
            &path,
            &app.admin,
            json!({"card_no": card, "item_id": gift["item_id"], "request_id": "X3"}),
        )
        .await;
    assert_eq!(
        (st, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "insufficient_points")
    );
    // A cashier may redeem but not cancel.
    let cashier = app.user("cashier1", "cashier").await;
    let cancel = format!(
        "/api/v1/redemptions/{}/cancel",
        r["redemption_id"].as_str().unwrap()
    );
    let (st, _) = app.call("POST", &cancel, Some(&cashier), None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, v) = app.call("POST", &cancel, Some(&app.admin), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(app.store.points_balance(&c).await.unwrap(), 400);
    let (st, _) = app.call("POST", &cancel, Some(&app.admin), None).await;
    assert_eq!(st, StatusCode::CONFLICT);
    app.assert_clean().await;
}

#[tokio::test]
async fn a_referral_rewards_both_members_once_after_the_first_qualifying_sale() {
    let app = spawn_app().await;
    let referrer = app.customer("individual", "13200132000", json!({})).await;
    let code_of = app
        .store
        .customer(&referrer)
        .await
        .unwrap()
        .unwrap()
        .member_code;
    let (st, e) = app.post("/api/v1/customers", &app.admin, json!({"kind": "individual", "name": "李四", "phone": "13200132001", "referred_by": "NOPE"})).await;
    assert_eq!(
        (st, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let newbie = app
        .customer("individual", "13200132002", json!({"referred_by": code_of}))
        .await;
    let card = app
        .card(json!({"customer_id": newbie, "kind": "personal"}))
        .await;
    app.recharge(&card, 100_000, "R-F").await;
    // 50 CNY is below the 100 CNY that qualifies; 150 CNY qualifies; once.
    let s = sell(&app, &card, "GASOLINE_92", 6_250, "F1", json!({})).await;
    assert_eq!(from_rule(&s, "referral"), 0, "{s}");
    let s = sell(&app, &card, "GASOLINE_92", 18_750, "F2", json!({})).await;
    assert_eq!(from_rule(&s, "referral"), 100, "{s}");
    let s = sell(&app, &card, "GASOLINE_92", 18_750, "F3", json!({})).await;
    assert_eq!(from_rule(&s, "referral"), 0);
    assert_eq!(app.store.points_balance(&referrer).await.unwrap(), 200);
    app.assert_clean().await;
}

#[tokio::test]
async fn rules_that_never_fire_are_refused_and_overlaps_reported() {
    let app = spawn_app().await;
    for (body, why) in [
        (
            json!({"conditions": {"weekdays": []}, "bonus": {"kind": "fixed", "points": 5}}),
            "weekdays",
        ),
        (
            json!({"conditions": {"from_us": 10, "until_us": 5}, "bonus": {"kind": "fixed", "points": 5}}),
            "period",
        ),
        (
            json!({"conditions": {"products": ["NO_SUCH"]}, "bonus": {"kind": "fixed", "points": 5}}),
            "NO_SUCH",
        ),
        (json!({"bonus": {"kind": "fixed", "points": 0}}), "nothing"),
        (
            json!({"bonus": {"kind": "fixed", "points": 5}, "cap_per_day": 0}),
            "cap",
        ),
    ] {
        let (st, e) = app
            .post(
                "/api/v1/loyalty/rules",
                &app.admin,
                json!({"kind": "bonus", "name": "x", "rule": body}),
            )
            .await;
        assert_eq!(
            (st, code(&e)),
            (StatusCode::UNPROCESSABLE_ENTITY, "rule_never_fires"),
            "{e}"
        );
        assert!(e["error"]["message"].as_str().unwrap().contains(why), "{e}");
    }
    for (body, why) in [
        (
            json!({"milestone": {"kind": "every_nth_visit", "n": 0, "points": 5}}),
            "0th",
        ),
        (
            json!({"milestone": {"kind": "litres_in_month", "product": "GASOLINE_98", "litres": 60, "points": 0}}),
            "nothing",
        ),
    ] {
        let (st, e) = app
            .post(
                "/api/v1/loyalty/rules",
                &app.admin,
                json!({"kind": "milestone", "name": "m", "rule": body}),
            )
            .await;
        assert_eq!(
            (st, code(&e)),
            (StatusCode::UNPROCESSABLE_ENTITY, "rule_never_fires"),
            "{e}"
        );
        assert!(e["error"]["message"].as_str().unwrap().contains(why), "{e}");
    }
    let (st, e) = app
        .post(
            "/api/v1/loyalty/rules",
            &app.admin,
            json!({"kind": "bonus", "name": "x", "rule": {"bonus": {"kind": "nope"}}}),
        )
        .await;
    assert_eq!(
        (st, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let body = json!({"conditions": {"weekdays": [6, 7]}, "bonus": {"kind": "fixed", "points": 5}});
    rule(&app, "weekend-a", "bonus", body.clone()).await;
    let (st, v) = app
        .post(
            "/api/v1/loyalty/rules",
            &app.admin,
            json!({"rule_id": "weekend-b", "kind": "bonus", "name": "b", "rule": body}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("overlap")),
        "{v}"
    );
    // Versions are kept; a cashier may not change rules.
    let (_, versions) = app.get("/api/v1/loyalty/rules/base", &app.admin).await;
    assert_eq!(versions["versions"][0]["version"], 1);
    let cashier = app.user("cashier2", "cashier").await;
    let (st, _) = app.post("/api/v1/loyalty/rules", &cashier, json!({"kind": "bonus", "name": "x", "rule": {"bonus": {"kind": "fixed", "points": 1}}})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}
