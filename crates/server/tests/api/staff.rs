//! Staff calls: login, users, customers, lookup, profile masking, card lifecycle.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn login_refuses_wrong_passwords_and_locks() {
    let app = spawn_app().await;
    let (st, v) = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": "wrong"})),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    let (st, v) = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "nobody", "password": "wrong"})),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        "unknown users look the same"
    );
    app.user("clerk", "cashier").await;
    for _ in 0..10 {
        app.call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "clerk", "password": "nope"})),
        )
        .await;
    }
    let (st, v) = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "clerk", "password": "Staff-pass-1234"})),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        "10 wrong passwords lock even the right one out, answered as a wrong one"
    );
    // A revoked token stops working.
    let t = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(app.get("/api/v1/stations", &t).await.0, StatusCode::OK);
    assert_eq!(
        app.call("POST", "/api/v1/auth/logout", Some(&t), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/api/v1/stations", &t).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn users_are_created_by_admins_only_with_valid_fields() {
    let app = spawn_app().await;
    let cashier = app.user("clerk", "cashier").await;
    let (st, v) = app
        .post(
            "/api/v1/users",
            &cashier,
            json!({"username": "x", "role": "admin", "password": "Strong-pass-99"}),
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"));
    for (body, field) in [
        (
            json!({"username": "a", "role": "wizard", "password": "Strong-pass-99"}),
            "role",
        ),
        (
            json!({"username": "a", "role": "cashier", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "a b", "role": "cashier", "password": "Strong-pass-99"}),
            "username",
        ),
        (
            json!({"username": "a", "role": "cashier", "scope": "planet:x", "password": "Strong-pass-99"}),
            "scope",
        ),
    ] {
        let (st, v) = app.post("/api/v1/users", &app.admin, body).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        );
        assert!(
            v["error"]["message"].as_str().unwrap().starts_with(field),
            "{v}"
        );
    }
    let (st, v) = app
        .post(
            "/api/v1/users",
            &app.admin,
            json!({"username": "clerk", "role": "cashier", "password": "Strong-pass-99"}),
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::CONFLICT, "conflict"));
}

#[tokio::test]
async fn customers_are_found_by_phone_plate_card_member_code_and_name() {
    let app = spawn_app().await;
    let id = app
        .customer("individual", "139 1234 5678", json!({"name": "李娜", "vehicles": [{"plate": "京a·88888", "model": "Passat", "fuel_type": "GASOLINE_95", "tank_capacity_l": 60}], "birthday": "1988-05-01", "tags": ["commuter"]}))
        .await;
    let card = app
        .card(json!({"customer_id": id, "kind": "personal"}))
        .await;
    let (_, profile) = app
        .get(&format!("/api/v1/customers/{id}"), &app.admin)
        .await;
    let member_code = profile["member_code"].as_str().unwrap().to_string();
    assert_eq!(profile["phone"], "13912345678");
    assert_eq!(profile["vehicles"][0]["plate"], "京A88888");
    assert_eq!(profile["vehicles"][0]["tank_capacity_ml"], 60_000);
    assert_eq!(profile["tier"]["name"], "普通");
    for (q, by) in [
        ("13912345678", "phone"),
        ("京A88888", "plate"),
        (card.as_str(), "card_no"),
        (member_code.as_str(), "member_code"),
        ("李娜", "name"),
    ] {
        let (st, v) = app
            .get(&format!("/api/v1/customers?q={}", urlencode(q)), &app.admin)
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["matched_by"], by);
        assert_eq!(v["customers"][0]["id"], id.as_str(), "{q}");
    }
    // A cashier sees the phone and name masked.
    let cashier = app.user("clerk", "cashier").await;
    let (_, v) = app.get(&format!("/api/v1/customers/{id}"), &cashier).await;
    assert_eq!(v["phone"], "139****5678");
    assert_ne!(v["name"], "李娜");
    assert!(
        v["cards"][0]["card_no"].as_str().unwrap().contains('*'),
        "card numbers are masked: {v}"
    );
    let (_, v) = app.get("/api/v1/customers?q=13912345678", &cashier).await;
    assert_eq!(v["customers"][0]["phone"], "139****5678");
    // Bad input gets a clear error.
    for (body, field) in [
        (
            json!({"kind": "alien", "name": "x", "phone": "13912345678"}),
            "kind",
        ),
        (
            json!({"kind": "individual", "name": "", "phone": "13912345678"}),
            "name",
        ),
        (
            json!({"kind": "individual", "name": "x", "phone": "12345"}),
            "phone",
        ),
        (
            json!({"kind": "individual", "name": "x", "vehicles": [{"plate": "nope"}]}),
            "plate",
        ),
        (
            json!({"kind": "individual", "name": "x", "birthday": "1.5.1988"}),
            "birthday",
        ),
        (
            json!({"kind": "company", "name": "x", "industry": "piracy"}),
            "industry",
        ),
    ] {
        let (st, v) = app.post("/api/v1/customers", &app.admin, body).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            "{v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().starts_with(field),
            "{field}: {v}"
        );
    }
    let (st, v) = app
        .get("/api/v1/customers/does-not-exist", &app.admin)
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::NOT_FOUND, "customer_not_found")
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn card_kinds_numbers_and_issuing_rules() {
    let app = spawn_app().await;
    let person = app.customer("individual", "13812345670", json!({})).await;
    let company = app.customer("company", "13812345671", json!({})).await;
    let no = app
        .card(json!({"customer_id": person, "kind": "personal"}))
        .await;
    assert_eq!(no.len(), 19);
    assert!(forecourt_core::card::luhn_valid(&no));
    assert!(no.starts_with("100001"));
    let main = app
        .card(json!({"customer_id": company, "kind": "fleet_main"}))
        .await;
    for (body, field) in [
        (json!({"customer_id": company, "kind": "personal"}), "kind"),
        (json!({"customer_id": person, "kind": "fleet_main"}), "kind"),
        (json!({"kind": "personal"}), "customer_id"),
        (
            json!({"customer_id": person, "kind": "anonymous"}),
            "customer_id",
        ),
        (
            json!({"customer_id": company, "kind": "fleet_sub"}),
            "main_card_no",
        ),
        (
            json!({"customer_id": company, "kind": "fleet_sub", "main_card_no": no}),
            "main_card_no",
        ),
        (
            json!({"customer_id": company, "kind": "fleet_sub", "main_card_no": main, "limits": {"amount_per_sale_fen": {"value": 0}}}),
            "limits.amount_per_sale_fen",
        ),
        (
            json!({"customer_id": person, "kind": "personal", "pin": "12"}),
            "pin",
        ),
    ] {
        let (st, v) = app.post("/api/v1/cards", &app.admin, body.clone()).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            "{body}: {v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().starts_with(field),
            "{field}: {v}"
        );
    }
    let (st, v) = app.post("/api/v1/cards", &app.admin, json!({"customer_id": company, "kind": "fleet_sub", "main_card_no": main, "limits": {"nonsense": 1}})).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_json"),
        "unknown rules are refused: {v}"
    );
    // A sub-card lists under its main card; the card call works for the POS too.
    let sub = app.card(json!({"kind": "fleet_sub", "main_card_no": main, "limits": {"products": {"value": ["DIESEL_0"]}, "plate": {"value": "京A12345", "hard": false}}})).await;
    let (st, v) = app.get(&format!("/api/v1/cards/{main}"), &app.admin).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["sub_cards"][0]["card_no"], sub.as_str());
    // A till of a station the card does not belong to sees it, its number masked.
    let (st, v) = app.get(&format!("/api/v1/cards/{main}"), &app.pos1).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        v["sub_cards"][0]["card_no"],
        forecourt_core::CardNo::parse(&sub).unwrap().masked()
    );
    let (_, v) = app.get(&format!("/api/v1/cards/{sub}"), &app.admin).await;
    assert_eq!(v["limits"]["plate"]["hard"], false);
    assert_eq!(
        v["limits"]["products"]["hard"], true,
        "rules are hard unless told otherwise"
    );
    assert_eq!(v["usage"]["sales_today"], 0);
    let (st, v) = app
        .get("/api/v1/cards/1000010000000000000", &app.admin)
        .await;
    assert_eq!((st, code(&v)), (StatusCode::NOT_FOUND, "card_not_found"));
}

#[tokio::test]
async fn card_lifecycle_freeze_lose_replace_register_cancel() {
    let app = spawn_app().await;
    let card = app.funded_card("13812345672", 30_000).await;
    let set = |state: &str| json!({"state": state, "reason": "test"});
    assert_eq!(
        app.post(
            &format!("/api/v1/cards/{card}/state"),
            &app.admin,
            set("frozen")
        )
        .await
        .0,
        StatusCode::OK
    );
    let (st, v) = app
        .card_sale(&card, "GASOLINE_92", 1_000, "L1", json!({}))
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "card_frozen")
    );
    let (st, v) = app.recharge(&card, 1_000, "L2").await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "card_frozen")
    );
    assert_eq!(
        app.post(
            &format!("/api/v1/cards/{card}/state"),
            &app.admin,
            set("active")
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        app.card_sale(&card, "GASOLINE_92", 1_000, "L3", json!({}))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        app.post(
            &format!("/api/v1/cards/{card}/state"),
            &app.admin,
            set("lost")
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        code(
            &app.card_sale(&card, "GASOLINE_92", 1_000, "L4", json!({}))
                .await
                .1
        ),
        "card_lost"
    );
    let (st, v) = app
        .post(
            &format!("/api/v1/cards/{card}/state"),
            &app.admin,
            set("cancelled"),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "card_has_balance")
    );
    // The replacement carries the balance; the old card is finished.
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/cards/{card}/replace"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let new = v["card_no"].as_str().unwrap().to_string();
    assert_eq!(app.balance(&new).await, 30_000 - 789);
    assert_eq!(app.balance(&card).await, 0);
    assert_eq!(
        code(
            &app.card_sale(&card, "GASOLINE_92", 1_000, "L5", json!({}))
                .await
                .1
        ),
        "card_replaced"
    );
    assert_eq!(
        app.card_sale(&new, "GASOLINE_92", 1_000, "L6", json!({}))
            .await
            .0,
        StatusCode::CREATED
    );
    let (st, v) = app
        .post(
            &format!("/api/v1/cards/{card}/state"),
            &app.admin,
            set("active"),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "card_not_usable")
    );
    // An anonymous card is registered to a customer later (转卡) and keeps its money.
    let anon = app.card(json!({"kind": "anonymous"})).await;
    app.recharge(&anon, 50_000, "L7").await;
    let person = app.customer("individual", "13812345673", json!({})).await;
    let (st, v) = app
        .post(
            &format!("/api/v1/cards/{anon}/register"),
            &app.admin,
            json!({"customer_id": person}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (v["kind"].as_str(), v["balance_fen"].as_i64()),
        (Some("personal"), Some(50_000))
    );
    let (st, v) = app
        .card_sale(&anon, "GASOLINE_92", 10_000, "L8", json!({}))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(
        v["points_earned"], 78,
        "a registered card earns points for its customer"
    );
    // A cashier may look cards up but not freeze them.
    let cashier = app.user("clerk", "cashier").await;
    let (st, _) = app
        .post(
            &format!("/api/v1/cards/{new}/state"),
            &cashier,
            set("frozen"),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    app.assert_clean().await;
}

#[tokio::test]
async fn stations_and_price_history() {
    let app = spawn_app().await;
    for (price, from) in [
        (789, "2026-11-01T00:00:00+08:00"),
        (801, "2026-11-14T24:00:00+08:00"),
        (795, "2026-11-18T00:00:00+08:00"),
    ] {
        let (st, v) = app.post("/api/v1/stations/S001/prices", &app.admin, json!({"product_code": "GASOLINE_95", "unit_price_fen": price, "effective_from": from})).await;
        if from.contains("T24") {
            assert_eq!(
                (st, code(&v)),
                (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            );
            let (st, _) = app.post("/api/v1/stations/S001/prices", &app.admin, json!({"product_code": "GASOLINE_95", "unit_price_fen": price, "effective_from": "2026-11-15T00:00:00+08:00"})).await;
            assert_eq!(st, StatusCode::CREATED);
        } else {
            assert_eq!(st, StatusCode::CREATED, "{v}");
        }
    }
    let (_, v) = app
        .get(
            "/api/v1/stations/S001/prices?at=2026-11-16T12:00:00%2B08:00",
            &app.admin,
        )
        .await;
    assert_eq!(v["current"]["GASOLINE_95"], 801);
    assert_eq!(v["history"].as_array().unwrap().len(), 3, "history is kept");
    let (_, v) = app.get("/api/v1/stations/S001/prices", &app.pos1).await;
    assert_eq!(v["current"]["GASOLINE_95"], 795);
    let (st, v) = app
        .post(
            "/api/v1/stations",
            &app.admin,
            json!({"code": "S001", "name": "dup"}),
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::CONFLICT, "conflict"));
    let (st, v) = app
        .post(
            "/api/v1/stations",
            &app.admin,
            json!({"code": "S003", "name": "x", "time_zone": "Mars/Base"}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let (_, v) = app.get("/api/v1/products", &app.admin).await;
    let codes: Vec<&str> = v["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    for c in [
        "GASOLINE_92",
        "GASOLINE_95",
        "GASOLINE_98",
        "DIESEL_0",
        "DIESEL_M10",
        "LNG",
        "CNG",
        "EV_CHARGE",
        "CAR_WASH",
    ] {
        assert!(codes.contains(&c), "{c}");
    }
}

#[tokio::test]
async fn health_metrics_openapi_and_unknown_routes() {
    let app = spawn_app().await;
    let (st, v) = app.call("GET", "/healthz", None, None).await;
    assert_eq!((st, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (st, v) = app.call("GET", "/metrics", None, None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(v
        .as_str()
        .unwrap()
        .contains("forecourt_http_requests_total"));
    let (st, doc) = app.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/auth/login",
        "/auth/logout",
        "/users",
        "/stations",
        "/stations/{code}/prices",
        "/products",
        "/tiers",
        "/recharge-promotions",
        "/coupons",
        "/customers",
        "/customers/{id}",
        "/customers/{id}/vehicles",
        "/customers/{id}/credit",
        "/customers/{id}/portal-password",
        "/cards",
        "/cards/{card_no}",
        "/cards/{card_no}/state",
        "/cards/{card_no}/replace",
        "/cards/{card_no}/register",
        "/cards/{card_no}/limits",
        "/cards/{card_no}/pin",
        "/cards/{card_no}/allocations",
        "/tiers/{code}",
        "/loyalty/rules",
        "/loyalty/rules/{id}",
        "/loyalty/settings",
        "/loyalty/settings/{key}",
        "/loyalty/coupon-templates",
        "/loyalty/coupons",
        "/loyalty/catalogue",
        "/loyalty/run",
        "/customers/{id}/points",
        "/customers/{id}/coupons",
        "/customers/{id}/tier",
        "/customers/{id}/redemptions",
        "/redemptions/{id}/cancel",
        "/analytics/{view}",
        "/pos/quotes",
        "/pos/sales",
        "/pos/recharges",
        "/pos/refunds",
        "/pos/authorizations",
        "/pos/authorizations/{id}/void",
        "/customers/{id}/credit/payments",
        "/customers/{id}/statement",
        "/adjustments",
        "/adjustments/{id}/{decision}",
        "/customers/{id}/export",
        "/customers/{id}/anonymize",
        "/customers/{id}/consents",
        "/audit",
        "/ledger/check",
        "/calendars/{code}",
        "/stations/{code}/calendar",
        "/sla-policies/{severity}",
        "/tickets",
        "/tickets/{id}",
        "/tickets/{id}/events",
    ] {
        assert!(
            paths.contains_key(&format!("/api/v1{path}")) || paths.contains_key(path),
            "the OpenAPI document lacks {path}"
        );
    }
    let (st, v) = app.call("GET", "/api/v1/nothing-here", None, None).await;
    assert_eq!((st, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
    let (st, v) = app
        .call("DELETE", "/api/v1/pos/sales", Some(&app.pos1), None)
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}
