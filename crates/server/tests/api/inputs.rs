//! Inputs that must not surprise the server: text PostgreSQL cannot store (U+0000),
//! in a JSON body, a query string or a path, is refused as invalid on both databases,
//! never answered with a server error.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn nul_characters_are_refused_as_invalid_not_a_server_error() {
    let app = spawn_app().await;
    // Found by Schemathesis: a tier's name with a NUL answered 500 on PostgreSQL.
    let (st, v) = app
        .put(
            "/api/v1/tiers/gold",
            &app.admin,
            json!({"name": "G\u{0}OLD", "rank": 3, "discount_fen_per_litre": 5,
                   "points_multiplier_permille": 1200, "qualify_spend_fen": 50_000}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "{v}"
    );
    let (st, v) = app.get("/api/v1/tiers", &app.admin).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(!v.to_string().contains("gold"), "nothing was written: {v}");
    // In a key, in a nested value, and in a sale's id.
    for body in [
        json!({"kind": "individual", "name": "张伟", "phone": "13900139001", "x\u{0}": 1}),
        json!({"kind": "individual", "name": "张伟", "phone": "13900139001", "vehicles": [{"plate": "京A\u{0}1"}]}),
    ] {
        let (st, v) = app.post("/api/v1/customers", &app.admin, body).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            "{v}"
        );
    }
    let body = sale_body(
        "N\u{0}1",
        "S001",
        json!({}),
        json!([{"product_code": "GASOLINE_92", "volume_ml": 10_000, "unit_price_fen": 750}]),
    );
    let (st, v) = app.post("/api/v1/pos/quotes", &app.pos1, body).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // An escaped backslash before the text u0000 is not a NUL.
    let (st, v) = app
        .post(
            "/api/v1/customers",
            &app.admin,
            json!({"kind": "individual", "name": "张\\u0000伟", "phone": "13900139002"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    // Query strings and paths reach the database by other ways than a body.
    for path in [
        "/api/v1/customers?q=%00139",
        "/api/v1/customers?q=13900%001",
        "/api/v1/cards/%0062",
        "/api/v1/customers/%00",
        "/api/v1/audit?actor=%00",
        "/api/v1/analytics/price?product=%00",
    ] {
        let (st, v) = app.get(path, &app.admin).await;
        assert!(
            st.is_client_error() || st == StatusCode::OK,
            "{path}: {st} {v}"
        );
    }
    app.assert_clean().await;
}

/// The refusal of a typed name: 422 `validation_failed`, naming the field.
fn assert_refused(st: StatusCode, v: &serde_json::Value, field: &str) {
    assert_eq!(
        (st, code(v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "{v}"
    );
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with(&format!("{field}:")), "{v}");
}

/// Names and labels refuse the bidirectional controls that make a name read as something
/// else on screen, and line breaks; real names with middle dots and apostrophes pass.
#[tokio::test]
async fn names_refuse_bidi_controls_and_line_breaks_and_keep_real_names() {
    let app = spawn_app().await;
    // A customer's name with RIGHT-TO-LEFT OVERRIDE.
    let (st, v) = app
        .post(
            "/api/v1/customers",
            &app.admin,
            json!({"kind": "individual", "name": "张伟\u{202E}gpj.exe", "phone": "13900139011"}),
        )
        .await;
    assert_refused(st, &v, "name");
    let (st, v) = app.get("/api/v1/customers?q=13900139011", &app.admin).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(!v.to_string().contains("gpj"), "nothing was created: {v}");
    // A company's contact, and a vehicle's model.
    let (st, v) = app
        .post(
            "/api/v1/customers",
            &app.admin,
            json!({"kind": "company", "name": "顺达物流有限公司", "phone": "13900139012",
                   "contacts": [{"name": "李\u{202D}娜", "phone": "13900139013"}]}),
        )
        .await;
    assert_refused(st, &v, "contacts.name");
    let (st, v) = app
        .post(
            "/api/v1/customers",
            &app.admin,
            json!({"kind": "individual", "name": "张伟", "phone": "13900139014",
                   "vehicles": [{"plate": "京A12345", "model": "Model\u{2067} 3"}]}),
        )
        .await;
    assert_refused(st, &v, "vehicles.model");
    // A station's name with LEFT-TO-RIGHT ISOLATE.
    let (st, v) = app
        .post(
            "/api/v1/stations",
            &app.admin,
            json!({"code": "S009", "name": "Station\u{2066} 9", "region": "R1", "province": "京"}),
        )
        .await;
    assert_refused(st, &v, "name");
    let (_, v) = app.get("/api/v1/stations", &app.admin).await;
    assert!(!v.to_string().contains("S009"), "nothing was created: {v}");
    // A staff username with RIGHT-TO-LEFT MARK.
    let (st, v) = app
        .post(
            "/api/v1/users",
            &app.admin,
            json!({"username": "bob\u{200F}", "role": "cashier", "scope": "station:S001",
                   "password": "Staff-pass-1234"}),
        )
        .await;
    assert_refused(st, &v, "username");
    let (_, v) = app.get("/api/v1/users", &app.admin).await;
    assert!(!v.to_string().contains("bob"), "nothing was created: {v}");
    // A points rule's name with a line break.
    let (st, v) = app
        .post(
            "/api/v1/loyalty/rules",
            &app.admin,
            json!({"rule_id": "two-lines", "kind": "milestone", "name": "first\nsecond",
                   "rule": {"milestone": {"kind": "litres_in_month", "product": "GASOLINE_98", "litres": 60, "points": 100}}}),
        )
        .await;
    assert_refused(st, &v, "name");
    let (st, v) = app.get("/api/v1/loyalty/rules/two-lines", &app.admin).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "nothing was created: {v}");
    // Notes may span lines but hold no override.
    let (st, v) = app
        .post(
            "/api/v1/customers",
            &app.admin,
            json!({"kind": "individual", "name": "张伟", "phone": "13900139015",
                   "notes": "pays cash\u{202E}"}),
        )
        .await;
    assert_refused(st, &v, "notes");
    // Real names pass unchanged.
    for (name, phone) in [
        ("阿卜杜·热合曼", "13900139016"),
        ("Seán O'Brien", "13900139017"),
    ] {
        let (st, v) = app
            .post(
                "/api/v1/customers",
                &app.admin,
                json!({"kind": "individual", "name": name, "phone": phone,
                       "notes": "first visit\nprefers 95"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        let (st, v) = app
            .get(&format!("/api/v1/customers/{id}"), &app.admin)
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["name"], name, "{v}");
    }
    app.assert_clean().await;
}

/// A sale line is measured in millilitres or in units, never both at once: the quote and
/// the sale refuse such a line naming it, and the sale moves no money.
#[tokio::test]
async fn a_sale_line_with_both_volume_and_quantity_is_refused() {
    let app = spawn_app().await;
    let card = app.funded_card("13900139021", 100_000).await;
    let both = json!([
        {"product_code": "GASOLINE_92", "volume_ml": 10_000, "unit_price_fen": 789},
        {"product_code": "GASOLINE_92", "volume_ml": 10_000, "quantity": 3, "unit_price_fen": 789}
    ]);
    let body = sale_body("BOTH-1", "S001", json!({"card_no": card}), both);
    let (st, v) = app
        .post("/api/v1/pos/quotes", &app.pos1, body.clone())
        .await;
    assert_refused(st, &v, "lines[1]");
    let mut sale = body.clone();
    sale["payments"] = json!([{"method": "card", "card_no": card, "amount_fen": 15_780}]);
    let (st, v) = app.post("/api/v1/pos/sales", &app.pos1, sale.clone()).await;
    assert_refused(st, &v, "lines[1]");
    assert_eq!(app.balance(&card).await, 100_000, "the sale moved no money");
    // The key was not used up: the corrected sale is a new sale.
    sale["lines"][1] =
        json!({"product_code": "GASOLINE_92", "volume_ml": 10_000, "unit_price_fen": 789});
    let (st, v) = app.post("/api/v1/pos/sales", &app.pos1, sale).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(app.balance(&card).await, 100_000 - 15_780);
    app.assert_clean().await;
}
