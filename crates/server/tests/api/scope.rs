//! Scope on every read (profiles, searches, cards, adjustments, the audit log) and
//! money-moving staff actions under the same rules (coupon limits and approvals, the
//! card's cap on adjustments, an audit entry for each).

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{json, Value};

async fn scoped_user(app: &App, name: &str, role: &str, scope: &str) -> (String, String) {
    app.scoped_user(name, role, scope).await
}

/// A customer of `station` with a vehicle and a funded personal card: (id, card number).
async fn member(app: &App, phone: &str, station: &str, extra: Value) -> (String, String) {
    let mut body = json!({"home_station": station});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    let id = app.customer("individual", phone, body).await;
    let (st, v) = app
        .post(
            &format!("/api/v1/customers/{id}/vehicles"),
            &app.admin,
            json!({"plate": "粤B12345"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let card = app
        .card(json!({"customer_id": id, "kind": "personal", "limits": {"plate": {"value": "粤B12345", "hard": false}}}))
        .await;
    let (st, v) = app.recharge(&card, 10_000, &format!("R-{card}")).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    (id, card)
}

/// The first 6 and last 4 digits, as the API masks a card number.
fn masked(no: &str) -> String {
    forecourt_core::CardNo::parse(no).unwrap().masked()
}

#[tokio::test]
async fn an_out_of_scope_search_is_fully_masked_and_the_profile_refused() {
    let app = spawn_app().await;
    let (mine, my_card) = member(&app, "13800000001", "S001", json!({})).await;
    let (theirs, their_card) = member(&app, "13800000002", "S002", json!({})).await;
    let (_, manager) = scoped_user(&app, "boss1", "station_manager", "station:S001").await;

    // The station's own customer: found and shown whole, as the browser suite expects.
    let (st, v) = app.get("/api/v1/customers?q=13800000001", &manager).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["customers"][0]["phone"], "13800000001");
    assert_eq!(v["customers"][0]["id"], mine.as_str());
    let (st, v) = app
        .get(&format!("/api/v1/customers/{mine}"), &manager)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["phone"], "13800000001");
    assert_eq!(v["cards"][0]["card_no"], my_card.as_str());

    // Another station's customer, by phone, plate and card number: fully masked, no
    // id to follow, and the whole card number appears nowhere.
    for q in ["13800000002", &their_card] {
        let (st, v) = app.get(&format!("/api/v1/customers?q={q}"), &manager).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let row = &v["customers"][0];
        assert_eq!(row["phone"], "138****0002", "{v}");
        assert!(row["name"].as_str().unwrap().contains('*'), "{v}");
        assert_eq!(row["plates"][0], "粤B***45", "{v}");
        assert!(row["id"].is_null() && row["member_code"].is_null(), "{v}");
        assert_eq!(row["in_scope"], false);
        assert!(!v.to_string().contains(&their_card), "{v}");
        assert!(!v.to_string().contains(&theirs), "{v}");
    }
    // The profile itself is refused.
    let (st, v) = app
        .get(&format!("/api/v1/customers/{theirs}"), &manager)
        .await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    assert!(!v.to_string().contains(&their_card));
}

#[tokio::test]
async fn an_account_manager_reads_only_their_own_customers() {
    let app = spawn_app().await;
    let (am_id, am) = scoped_user(&app, "am1", "account_manager", "own").await;
    let (other_id, _) = scoped_user(&app, "am2", "account_manager", "own").await;
    let (mine, my_card) = member(
        &app,
        "13800000011",
        "S001",
        json!({"account_manager_id": am_id}),
    )
    .await;
    let (theirs, their_card) = member(
        &app,
        "13800000012",
        "S001",
        json!({"account_manager_id": other_id}),
    )
    .await;
    let (st, v) = app.get(&format!("/api/v1/customers/{mine}"), &am).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["cards"][0]["card_no"], my_card.as_str());
    let (st, v) = app.get(&format!("/api/v1/customers/{theirs}"), &am).await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (st, v) = app.get("/api/v1/customers?q=13800000012", &am).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["customers"][0]["phone"], "138****0012");
    assert!(v["customers"][0]["id"].is_null(), "{v}");
    // Their card is not theirs to read at all (an account manager sells nowhere).
    let (st, v) = app.get(&format!("/api/v1/cards/{their_card}"), &am).await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (st, v) = app.get(&format!("/api/v1/cards/{my_card}"), &am).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["card_no"], my_card.as_str());
}

#[tokio::test]
async fn another_stations_till_learns_only_what_a_sale_needs() {
    let app = spawn_app().await;
    let (customer, card) = member(&app, "13800000021", "S001", json!({})).await;
    // The card's own station's till sees it whole.
    let (st, v) = app.get(&format!("/api/v1/cards/{card}"), &app.pos1).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["card_no"], card.as_str());
    assert_eq!(v["customer_id"], customer.as_str());
    // Another station's till: state, balance, limits; no customer, no plate, no number.
    let (st, v) = app.get(&format!("/api/v1/cards/{card}"), &app.pos2).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "active");
    assert_eq!(v["balance_fen"], 10_000);
    assert!(v["limits"].is_object(), "{v}");
    assert!(v["customer_id"].is_null(), "{v}");
    assert_eq!(v["card_no"], masked(&card));
    let text = v.to_string();
    assert!(!text.contains(&card), "{v}");
    assert!(!text.contains(&customer), "{v}");
    assert!(!text.contains("粤B12345"), "{v}");
    // Staff out of scope who sell nowhere are refused; a manager in scope sees it whole,
    // a cashier in scope sees the first 6 and last 4 digits.
    let (_, region2) = scoped_user(&app, "rm2", "region_manager", "region:R2").await;
    let (st, v) = app.get(&format!("/api/v1/cards/{card}"), &region2).await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (_, region1) = scoped_user(&app, "rm1", "region_manager", "region:R1").await;
    let (st, v) = app.get(&format!("/api/v1/cards/{card}"), &region1).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["card_no"], card.as_str());
    let (_, cashier) = scoped_user(&app, "clerk1", "cashier", "station:S001").await;
    let (st, v) = app.get(&format!("/api/v1/cards/{card}"), &cashier).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["card_no"], masked(&card));
    // A cashier of another station is that station's till: the till's view.
    let (_, cashier2) = scoped_user(&app, "clerk2", "cashier", "station:S002").await;
    let (st, v) = app.get(&format!("/api/v1/cards/{card}"), &cashier2).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["customer_id"].is_null(), "{v}");
    assert!(!v.to_string().contains(&card), "{v}");
    // Cross-station card sales still work: the network's cards sell everywhere.
    let mut body = sale_body(
        "X-STATION-1",
        "S002",
        json!({"card_no": card}),
        json!([{"product_code": "GASOLINE_92", "volume_ml": 1_000, "unit_price_fen": 700}]),
    );
    body["payments"] = json!([{"method": "card", "card_no": card, "amount_fen": 700}]);
    let (st, v) = app.post("/api/v1/pos/sales", &app.pos2, body).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    app.assert_clean().await;
}

#[tokio::test]
async fn adjustments_and_the_audit_log_are_listed_within_scope() {
    let app = spawn_app().await;
    let (mine, my_card) = member(&app, "13800000031", "S001", json!({})).await;
    let (theirs, their_card) = member(&app, "13800000032", "S002", json!({})).await;
    for (card, reason) in [
        (&my_card, "pump 1 overcharge"),
        (&their_card, "pump 2 overcharge"),
    ] {
        let (st, v) = app
            .post(
                "/api/v1/adjustments",
                &app.admin,
                json!({"card_no": card, "amount_fen": 100, "reason": reason}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    let (_, manager) = scoped_user(&app, "boss1", "station_manager", "station:S001").await;
    let (st, v) = app.get("/api/v1/adjustments", &manager).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let reasons: Vec<&str> = v["adjustments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["pump 1 overcharge"], "{v}");
    let (_, v) = app.get("/api/v1/adjustments", &app.admin).await;
    assert_eq!(v["adjustments"].as_array().unwrap().len(), 2, "{v}");

    // The admin reads both customers; a region manager of R1 sees the entries about
    // R1's customer and none about R2's, nor about users.
    for id in [&mine, &theirs] {
        let (st, _) = app
            .get(&format!("/api/v1/customers/{id}"), &app.admin)
            .await;
        assert_eq!(st, StatusCode::OK);
    }
    let (_, region1) = scoped_user(&app, "rm1", "region_manager", "region:R1").await;
    let (st, v) = app.get("/api/v1/audit?limit=1000", &region1).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let entries = v["entries"].as_array().unwrap();
    let about = |id: &str| entries.iter().any(|e| e["target_id"] == id);
    assert!(about(&mine), "R1's customer is in the region's log: {v}");
    assert!(!about(&theirs), "R2's customer is not: {v}");
    assert!(
        entries
            .iter()
            .all(|e| e["target_kind"] != "user" || e["actor"] == "user:rm1"),
        "user administration is network-wide (the manager sees only their own): {v}"
    );
    assert!(
        entries.iter().any(|e| e["target_kind"] == "adjustment"),
        "the region's adjustment request is in its log: {v}"
    );
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["target_kind"] == "adjustment")
            .count(),
        1,
        "only the region's adjustment, not R2's: {v}"
    );
    let (st, v) = app
        .get(&format!("/api/v1/audit?target={theirs}"), &region1)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["entries"].as_array().unwrap().len(), 0, "{v}");
    let (_, v) = app
        .get(&format!("/api/v1/audit?target={theirs}"), &app.admin)
        .await;
    assert!(!v["entries"].as_array().unwrap().is_empty(), "{v}");
}

/// The coupons of a customer, by code: state.
async fn coupon_state(app: &App, customer: &str, code: &str) -> String {
    let (st, v) = app
        .get(&format!("/api/v1/customers/{customer}/coupons"), &app.admin)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["coupons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == code)
        .map(|c| c["state"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no coupon {code}: {v}"))
}

async fn audited(app: &App, action: &str, target: &str) -> bool {
    let (st, v) = app
        .get(
            &format!("/api/v1/audit?target={target}&limit=1000"),
            &app.admin,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == action)
}

#[tokio::test]
async fn a_region_managers_coupons_are_limited_scoped_and_approved_above_a_threshold() {
    let app = spawn_app().await;
    let (mine, _) = member(&app, "13800000041", "S001", json!({})).await;
    let (theirs, _) = member(&app, "13800000042", "S002", json!({})).await;
    let (_, rm) = scoped_user(&app, "rm1", "region_manager", "region:R1").await;
    let (_, rm_b) = scoped_user(&app, "rm1b", "region_manager", "region:R1").await;
    let coupon = |code: &str, customer: &str, fen: i64| json!({"code": code, "customer_id": customer, "amount_fen": fen});
    // Above the value limit of a non-admin: refused, whatever the approvals.
    let (st, v) = app
        .post("/api/v1/coupons", &rm, coupon("BIG1", &mine, 60_000))
        .await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    // A customer outside the region: refused.
    let (st, v) = app
        .post("/api/v1/coupons", &rm, coupon("OUT1", &theirs, 1_000))
        .await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    // A bearer coupon (anyone with the code) is network money: not outside company scope.
    let (st, v) = app
        .post(
            "/api/v1/coupons",
            &rm,
            json!({"code": "BEARER1", "amount_fen": 1_000}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Small: issued at once, and audited.
    let (st, v) = app
        .post("/api/v1/coupons", &rm, coupon("SMALL1", &mine, 5_000))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(coupon_state(&app, &mine, "SMALL1").await, "issued");
    assert!(audited(&app, "coupon.issue", &mine).await);
    // Above the approval threshold: pending (no till takes it) until someone else approves.
    let (st, v) = app
        .post("/api/v1/coupons", &rm, coupon("MID1", &mine, 20_000))
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["state"], "pending", "{v}");
    let approval = v["approval_id"].as_str().unwrap().to_string();
    assert_eq!(coupon_state(&app, &mine, "MID1").await, "pending");
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/adjustments/{approval}/approve"),
            Some(&rm),
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
            &format!("/api/v1/adjustments/{approval}/approve"),
            Some(&rm_b),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(coupon_state(&app, &mine, "MID1").await, "issued");
    assert!(audited(&app, "coupon.request", &mine).await);
    assert!(audited(&app, "adjustment.approve", &approval).await);
    // A rejected one is void.
    let (st, v) = app
        .post("/api/v1/coupons", &rm, coupon("MID2", &mine, 20_000))
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let approval = v["approval_id"].as_str().unwrap().to_string();
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/adjustments/{approval}/reject"),
            Some(&rm_b),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(coupon_state(&app, &mine, "MID2").await, "void");
    assert!(audited(&app, "adjustment.reject", &approval).await);
    // Template coupons obey the same limit.
    let (st, t) = app
        .post(
            "/api/v1/loyalty/coupon-templates",
            &app.admin,
            json!({"name": "大额券", "kind": "amount_off", "value": 60_000, "valid_days": 30}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    let (st, v) = app
        .post(
            "/api/v1/loyalty/coupons",
            &rm,
            json!({"template_id": t["template_id"], "customer_id": mine}),
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    // The admin is not limited.
    let (st, v) = app
        .post(
            "/api/v1/coupons",
            &app.admin,
            coupon("ADMIN1", &theirs, 60_000),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    app.assert_clean().await;
}

#[tokio::test]
async fn an_approved_adjustment_respects_the_cards_cap() {
    let app = spawn_app().await;
    // A personal card holds at most 5,000 CNY.
    let card = app.funded_card("13800000051", 490_000).await;
    let (st, a) = app
        .post(
            "/api/v1/adjustments",
            &app.admin,
            json!({"card_no": card, "amount_fen": 20_000, "reason": "goodwill after outage"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    let id = a["id"].as_str().unwrap();
    let admin_checker = app.user("checker", "admin").await;
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/adjustments/{id}/approve"),
            Some(&admin_checker),
            None,
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "face_value_cap"),
        "{v}"
    );
    assert_eq!(app.balance(&card).await, 490_000);
    // Within the cap it goes through.
    let (st, a) = app
        .post(
            "/api/v1/adjustments",
            &app.admin,
            json!({"card_no": card, "amount_fen": 10_000, "reason": "goodwill after outage"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    let id = a["id"].as_str().unwrap();
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/adjustments/{id}/approve"),
            Some(&admin_checker),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(app.balance(&card).await, 500_000);
    app.assert_clean().await;
}

#[tokio::test]
async fn every_money_moving_staff_action_is_audited() {
    let app = spawn_app().await;
    let (customer, card) = member(&app, "13800000061", "S001", json!({})).await;
    let checker = app.user("checker", "admin").await;
    // Credit limit.
    let (st, v) = app
        .put(
            &format!("/api/v1/customers/{customer}/credit"),
            &app.admin,
            json!({"credit_limit_fen": 50_000}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(audited(&app, "credit.limit", &customer).await);
    // Adjustment requested and approved.
    let (st, a) = app
        .post(
            "/api/v1/adjustments",
            &app.admin,
            json!({"card_no": card, "amount_fen": 100, "reason": "pump 3 overcharged"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    let id = a["id"].as_str().unwrap();
    assert!(audited(&app, "adjustment.request", id).await);
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/adjustments/{id}/approve"),
            Some(&checker),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(audited(&app, "adjustment.approve", id).await);
    // Recharge promotion.
    let (st, p) = app
        .post(
            "/api/v1/recharge-promotions",
            &app.admin,
            json!({"name": "充1000送30", "min_amount_fen": 100_000, "bonus_fen": 3_000}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    assert!(audited(&app, "promotion.create", p["id"].as_str().unwrap()).await);
    // Template coupons issued.
    let (st, t) = app
        .post(
            "/api/v1/loyalty/coupon-templates",
            &app.admin,
            json!({"name": "满100减10", "kind": "amount_off", "value": 1_000, "valid_days": 30}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    let (st, v) = app
        .post(
            "/api/v1/loyalty/coupons",
            &app.admin,
            json!({"template_id": t["template_id"], "customer_id": customer}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert!(
        audited(
            &app,
            "loyalty.coupons_issued",
            t["template_id"].as_str().unwrap()
        )
        .await
    );
    // A redemption of points.
    let (st, a) = app
        .post(
            "/api/v1/adjustments",
            &app.admin,
            json!({"customer_id": customer, "points": 500, "reason": "welcome points"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    let (st, _) = app
        .call(
            "POST",
            &format!("/api/v1/adjustments/{}/approve", a["id"].as_str().unwrap()),
            Some(&checker),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, item) = app
        .post(
            "/api/v1/loyalty/catalogue",
            &app.admin,
            json!({"name": "矿泉水", "kind": "gift", "points_cost": 100, "stock": 5}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{item}");
    let (_, clerk) = scoped_user(&app, "clerk", "cashier", "station:S001").await;
    let (st, r) = app
        .post(
            &format!("/api/v1/customers/{customer}/redemptions"),
            &clerk,
            json!({"item_id": item["item_id"], "request_id": "REDEEM-1", "card_no": card}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert!(audited(&app, "loyalty.redemption", &customer).await);
    app.assert_clean().await;
}
