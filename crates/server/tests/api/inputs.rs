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
