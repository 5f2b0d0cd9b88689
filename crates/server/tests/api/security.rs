//! Security and privacy: the role × action table cell by cell, data scope, personal data
//! at rest, sessions, rate limits, audit, and the PIPL rights.

use crate::harness::*;
use axum::http::StatusCode;
use forecourt_server::access::{allowed, Action};
use serde_json::{json, Value};

/// What each role is tested as: its scope, chosen so that the test customer (home
/// station S001, owned by the account manager) is inside it.
const ROLES: [(&str, &str); 6] = [
    ("admin", "company"),
    ("analyst", "company"),
    ("region_manager", "region:R1"),
    ("station_manager", "station:S001"),
    ("account_manager", "own"),
    ("cashier", "station:S001"),
];

struct Fixture {
    customer: String,
    card: String,
}

async fn user_with_scope(app: &App, name: &str, role: &str, scope: &str) -> (String, String) {
    app.scoped_user(name, role, scope).await
}

async fn fixture(app: &App, owner: &str, phone: &str) -> Fixture {
    let customer = app
        .customer(
            "individual",
            phone,
            json!({"home_station": "S001", "account_manager_id": owner}),
        )
        .await;
    let card = app
        .card(json!({"customer_id": customer, "kind": "personal"}))
        .await;
    app.put(
        &format!("/api/v1/customers/{customer}/credit"),
        &app.admin,
        json!({"credit_limit_fen": 10_000}),
    )
    .await;
    Fixture { customer, card }
}

/// A request that exercises `action`, returning its status and body.
async fn exercise(
    app: &App,
    token: &str,
    action: Action,
    f: &Fixture,
    n: usize,
) -> (StatusCode, Value) {
    let c = &f.customer;
    let card = &f.card;
    match action {
        Action::ManageUsers => app.post("/api/v1/users", token, json!({"username": format!("u{n}"), "role": "cashier", "password": "Staff-pass-1234"})).await,
        Action::ManageNetwork => app.post("/api/v1/products", token, json!({"code": format!("P{n}"), "name": "x", "kind": "non_fuel"})).await,
        Action::ViewNetwork => app.get("/api/v1/stations", token).await,
        Action::CreateCustomer => app.post("/api/v1/customers", token, json!({"kind": "individual", "name": "新客", "home_station": "S001"})).await,
        Action::ViewCustomer | Action::SeePersonalData => app.get(&format!("/api/v1/customers/{c}"), token).await,
        Action::IssueCard => app.post("/api/v1/cards", token, json!({"customer_id": c, "kind": "personal"})).await,
        Action::ManageCard => app.put(&format!("/api/v1/cards/{card}/limits"), token, json!({})).await,
        Action::ViewCard => app.get(&format!("/api/v1/cards/{card}"), token).await,
        Action::ManageCredit => app.put(&format!("/api/v1/customers/{c}/credit"), token, json!({"credit_limit_fen": 10_000})).await,
        Action::ManagePromotions => app.post("/api/v1/coupons", token, json!({"code": format!("C{n}"), "amount_fen": 100})).await,
        Action::RequestAdjustment => app.post("/api/v1/adjustments", token, json!({"card_no": card, "amount_fen": 1, "reason": "matrix test"})).await,
        Action::ApproveAdjustment => {
            let (_, a) = app.post("/api/v1/adjustments", &app.admin, json!({"card_no": card, "amount_fen": 1, "reason": "matrix test"})).await;
            app.call("POST", &format!("/api/v1/adjustments/{}/reject", a["id"].as_str().unwrap()), Some(token), None).await
        }
        Action::ReceiveCreditPayment => app.post(&format!("/api/v1/customers/{c}/credit/payments"), token, json!({"amount_fen": 1, "method": "cash"})).await,
        Action::Sell => {
            let body = sale_body("q", "S001", json!({"card_no": card}), json!([{"product_code": "GASOLINE_92", "volume_ml": 1000, "unit_price_fen": 700}]));
            app.post("/api/v1/pos/quotes", token, body).await
        }
        Action::ExportPersonalData => app.get(&format!("/api/v1/customers/{c}/export"), token).await,
        Action::Anonymize => app.call("POST", &format!("/api/v1/customers/{c}/anonymize"), Some(token), None).await,
        Action::ManageConsent => app.post(&format!("/api/v1/customers/{c}/consents"), token, json!({"purpose": "marketing", "channel": "counter", "granted": true})).await,
        Action::ViewAudit => app.get("/api/v1/audit", token).await,
        Action::RunCheck => app.get("/api/v1/ledger/check", token).await,
        Action::ViewAnalytics => app.get("/api/v1/analytics/rfm", token).await,
        Action::ManageServiceDesk => app.put("/api/v1/sla-policies/low", token, json!({"first_response_minutes": 480, "resolution_minutes": 2880})).await,
        Action::WorkTickets => app.post("/api/v1/tickets", token, json!({"kind": "inquiry", "channel": "counter", "station_code": "S001", "category": "other", "severity": "low", "description": "matrix test"})).await,
        Action::ViewTickets => app.get("/api/v1/tickets?station=S001", token).await,
        Action::Market => app.post("/api/v1/segments/preview", token, json!({"filter": {}})).await,
        Action::ManageLeaflets => app.post("/api/v1/leaflets", token, json!({"name": "matrix", "stations": ["S001"], "dropped_on": "2026-11-01", "quantity": 2})).await,
        Action::ManagePartners => app.post("/api/v1/partners", token, json!({"name": format!("P{n}"), "category": "other"})).await,
    }
}

/// Every cell of the role × action table: allowed actions are not refused, the rest
/// are 403. Personal data is a view, not a call: it shows up unmasked or masked.
#[tokio::test]
async fn every_cell_of_the_role_action_table() {
    let app = spawn_app().await;
    let mut n = 0;
    for (role, scope) in ROLES {
        let (user_id, token) = user_with_scope(&app, &format!("matrix-{role}"), role, scope).await;
        for action in Action::ALL {
            n += 1;
            // A fresh customer each time, so that an anonymisation does not spoil the next.
            let f = fixture(&app, &user_id, &format!("1391{:07}", n)).await;
            let (st, v) = exercise(&app, &token, action, &f, n).await;
            let mut expected = allowed(role, action);
            // Selling needs a station: company- and region-wide roles sell through a POS.
            if action == Action::Sell && !scope.starts_with("station:") {
                expected = false;
            }
            if action == Action::SeePersonalData {
                assert_eq!(st, StatusCode::OK, "{role} views the customer: {v}");
                let unmasked = !v["phone"].as_str().unwrap().contains('*');
                assert_eq!(unmasked, expected, "{role} × SeePersonalData: {v}");
            } else if expected {
                assert_ne!(
                    st,
                    StatusCode::FORBIDDEN,
                    "{role} × {action:?} should be allowed: {v}"
                );
                assert!(
                    st.is_success() || st == StatusCode::UNPROCESSABLE_ENTITY,
                    "{role} × {action:?}: {st} {v}"
                );
            } else {
                assert_eq!(
                    (st, code(&v)),
                    (StatusCode::FORBIDDEN, "forbidden"),
                    "{role} × {action:?} should be refused"
                );
            }
        }
    }
    app.assert_clean().await;
}

#[tokio::test]
async fn a_cashier_of_one_station_sells_there_and_nowhere_else() {
    let app = spawn_app().await;
    let (_, cashier) = user_with_scope(&app, "clerk", "cashier", "station:S001").await;
    let mine = app
        .customer("individual", "13700000001", json!({"home_station": "S001"}))
        .await;
    let theirs = app
        .customer("individual", "13700000002", json!({"home_station": "S002"}))
        .await;
    let card = app
        .card(json!({"customer_id": mine, "kind": "personal"}))
        .await;
    app.recharge(&card, 10_000, "CASH-R").await;
    // Looks the customer up (masked) and sells at the till of S001.
    let (st, v) = app.get("/api/v1/customers?q=13700000001", &cashier).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["customers"][0]["phone"], "137****0001");
    let mut body = sale_body(
        "TILL-1",
        "S001",
        json!({"card_no": card}),
        json!([{"product_code": "GASOLINE_92", "volume_ml": 5_000, "unit_price_fen": 742}]),
    );
    body["payments"] = json!([{"method": "card", "card_no": card, "amount_fen": 3_710}]);
    let (st, v) = app.post("/api/v1/pos/sales", &cashier, body.clone()).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    // Refused: another station's till, another station's customer, staff and rules.
    body["pos_txn_id"] = json!("TILL-2");
    body["station_code"] = json!("S002");
    let (st, v) = app.post("/api/v1/pos/sales", &cashier, body).await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "wrong_station"));
    let (st, _) = app
        .post(
            "/api/v1/cards",
            &cashier,
            json!({"customer_id": theirs, "kind": "personal"}),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "issuing a card for another station's customer"
    );
    let (st, _) = app
        .post(
            "/api/v1/customers",
            &cashier,
            json!({"kind": "individual", "name": "x", "home_station": "S002"}),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "registering a customer at another station"
    );
    let (st, _) = app
        .post(
            "/api/v1/users",
            &cashier,
            json!({"username": "x", "role": "admin", "password": "Staff-pass-1234"}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = app
        .put(
            &format!("/api/v1/cards/{card}/limits"),
            &cashier,
            json!({"amount_per_sale_fen": {"value": 1}}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "changing card rules");
    let (st, _) = app
        .post(
            "/api/v1/recharge-promotions",
            &cashier,
            json!({"name": "x", "min_amount_fen": 100, "bonus_fen": 1}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "changing promotion rules");
    let (st, _) = app
        .get(&format!("/api/v1/customers/{mine}/export"), &cashier)
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "exporting personal data");
    // A station manager of S001 sees S001's customers unmasked; S002's profile is
    // outside the scope and refused (a search lists it fully masked).
    let (_, manager) = user_with_scope(&app, "boss", "station_manager", "station:S001").await;
    let (_, v) = app
        .get(&format!("/api/v1/customers/{mine}"), &manager)
        .await;
    assert_eq!(v["phone"], "13700000001");
    let (st, v) = app
        .get(&format!("/api/v1/customers/{theirs}"), &manager)
        .await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (_, v) = app.get("/api/v1/customers?q=13700000002", &manager).await;
    assert_eq!(v["customers"][0]["phone"], "137****0002");
    app.assert_clean().await;
}

#[tokio::test]
async fn thirty_wrong_passwords_lock_the_account() {
    let app = spawn_app().await;
    user_with_scope(&app, "target", "cashier", "station:S001").await;
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let (st, _) = app
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"username": "target", "password": "guess-123456"})),
            )
            .await;
        statuses.push(st);
    }
    assert!(statuses.iter().all(|s| *s != StatusCode::OK));
    let (st, v) = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "target", "password": "Staff-pass-1234"})),
        )
        .await;
    assert!(
        st == StatusCode::UNAUTHORIZED || st == StatusCode::TOO_MANY_REQUESTS,
        "the right password after 30 wrong ones: {st} {v}"
    );
}

#[tokio::test]
async fn logins_and_lookups_are_rate_limited() {
    let app = spawn_app_with(forecourt_server::Config {
        lookups_per_minute: 3,
        logins_per_minute: 5,
        ..Default::default()
    })
    .await;
    for i in 0..3 {
        let (st, _) = app
            .get(&format!("/api/v1/customers?q=1380000000{i}"), &app.admin)
            .await;
        assert_eq!(st, StatusCode::OK);
    }
    let (st, v) = app.get("/api/v1/customers?q=13800000009", &app.admin).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let mut last = StatusCode::OK;
    for _ in 0..6 {
        last = app
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"username": "nobody", "password": "x"})),
            )
            .await
            .0;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_token_for_changes() {
    let app = spawn_app().await;
    let req = axum::http::Request::post("/api/v1/auth/login")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string(),
        ))
        .unwrap();
    let res = tower::ServiceExt::oneshot(app.router.clone(), req)
        .await
        .unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let body: Value = serde_json::from_slice(
        &http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes(),
    )
    .unwrap();
    let session = cookie.split(';').next().unwrap().to_string();
    let csrf = body["csrf_token"].as_str().unwrap();
    let send = |method: &str, path: &str, csrf: Option<&str>, body: Option<Value>| {
        let mut r = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("cookie", &session);
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        let r = match body {
            Some(b) => r
                .header("content-type", "application/json")
                .body(axum::body::Body::from(b.to_string())),
            None => r.body(axum::body::Body::empty()),
        };
        tower::ServiceExt::oneshot(app.router.clone(), r.unwrap())
    };
    assert_eq!(
        send("GET", "/api/v1/stations", None, None)
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "reads need no CSRF token"
    );
    let coupon = json!({"code": "CSRF-1", "amount_fen": 100});
    assert_eq!(
        send("POST", "/api/v1/coupons", None, Some(coupon.clone()))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(
            "POST",
            "/api/v1/coupons",
            Some("00ff"),
            Some(coupon.clone())
        )
        .await
        .unwrap()
        .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send("POST", "/api/v1/coupons", Some(csrf), Some(coupon))
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn idle_sessions_end() {
    let app = spawn_app().await;
    assert_eq!(
        app.get("/api/v1/stations", &app.admin).await.0,
        StatusCode::OK
    );
    // The same database served with no idle time allowed: the session has been idle.
    let state = forecourt_server::AppState::new(
        app.store.clone(),
        forecourt_server::Secret::from_bytes([7; 32]),
        forecourt_server::Config {
            session_idle_secs: 0,
            ..Default::default()
        },
    );
    let idle = App {
        url: app.url.clone(),
        router: crate::harness::checked_router(forecourt_server::router(state)).await,
        store: app.store.clone(),
        admin: app.admin.clone(),
        pos1: String::new(),
        pos2: String::new(),
        clock: app.clock.clone(),
    };
    let (st, v) = idle.get("/api/v1/stations", &idle.admin).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNAUTHORIZED, "unauthorized"),
        "a session idle longer than allowed ends"
    );
}

#[tokio::test]
async fn every_response_carries_security_headers() {
    let app = spawn_app().await;
    let res = tower::ServiceExt::oneshot(
        app.router.clone(),
        axum::http::Request::get("/healthz")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    for h in [
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "content-security-policy",
        "cache-control",
    ] {
        assert!(res.headers().contains_key(h), "{h}");
    }
}

#[tokio::test]
async fn id_numbers_need_their_own_consent_and_a_valid_check_digit() {
    let app = spawn_app().await;
    let base = json!({"kind": "individual", "name": "赵敏", "home_station": "S001"});
    let with = |extra: Value| {
        let mut b = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let (st, v) = app
        .post(
            "/api/v1/customers",
            &app.admin,
            with(json!({"id_number": "11010519491231002X"})),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "no consent: {v}"
    );
    let (st, v) = app
        .post(
            "/api/v1/customers",
            &app.admin,
            with(json!({"id_number": "110105194912310021", "consent_sensitive": true})),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "wrong check digit: {v}"
    );
    let (st, v) = app
        .post(
            "/api/v1/customers",
            &app.admin,
            with(json!({"id_number": "11010519491231002x", "consent_sensitive": true})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["id_number"], "110105********002X", "shown masked");
    let id = v["id"].as_str().unwrap().to_string();
    let (_, found) = app
        .get("/api/v1/customers?q=11010519491231002X", &app.admin)
        .await;
    assert_eq!(
        (
            found["matched_by"].as_str(),
            found["customers"][0]["id"].as_str()
        ),
        (Some("id_number"), Some(id.as_str()))
    );
    // Withdrawing the consent erases the number.
    let (st, _) = app
        .post(
            &format!("/api/v1/customers/{id}/consents"),
            &app.admin,
            json!({"purpose": "sensitive", "channel": "counter", "granted": false}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, v) = app
        .get(&format!("/api/v1/customers/{id}"), &app.admin)
        .await;
    assert_eq!(v["id_number"], Value::Null);
    assert_eq!(v["consent"]["sensitive"], false);
}

#[tokio::test]
async fn export_and_anonymisation_keep_the_ledger_whole() {
    let app = spawn_app().await;
    let id = app.customer("individual", "13566667777", json!({"name": "钱多多", "home_station": "S001", "vehicles": [{"plate": "京N55555"}], "consent_marketing": true})).await;
    let card = app.card(json!({"customer_id": id, "kind": "personal", "limits": {"plate": {"value": "京N55555"}}})).await;
    app.recharge(&card, 50_000, "ANON-R").await;
    let (st, s) = app
        .card_sale(
            &card,
            "GASOLINE_95",
            20_000,
            "ANON-S",
            json!({"plate": "京N55555"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{s}");
    let (st, e) = app
        .get(&format!("/api/v1/customers/{id}/export"), &app.admin)
        .await;
    assert_eq!(st, StatusCode::OK, "{e}");
    assert_eq!(e["customer"]["name"], "钱多多");
    assert_eq!(e["customer"]["phone"], "13566667777");
    assert_eq!(e["vehicles"][0]["plate"], "京N55555");
    assert_eq!(e["cards"][0]["card_no"], card.as_str());
    assert_eq!(e["sales"].as_array().unwrap().len(), 1);
    assert!(
        e["ledger_movements"].as_array().unwrap().len() >= 3,
        "recharge, sale, points: {e}"
    );
    assert_eq!(e["consents"][0]["purpose"], "marketing");
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/customers/{id}/anonymize"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, e) = app
        .get(&format!("/api/v1/customers/{id}/export"), &app.admin)
        .await;
    assert_ne!(e["customer"]["name"], "钱多多");
    assert_eq!(e["customer"]["phone"], Value::Null);
    assert!(e["vehicles"].as_array().unwrap().is_empty());
    assert_eq!(
        e["cards"][0]["balance_fen"],
        50_000 - 15_780,
        "the money stays with the card"
    );
    assert_eq!(
        e["cards"][0]["limits"]["plate"],
        Value::Null,
        "the bound plate is erased"
    );
    let (_, found) = app.get("/api/v1/customers?q=13566667777", &app.admin).await;
    assert!(
        found["customers"].as_array().unwrap().is_empty(),
        "the phone no longer finds anyone"
    );
    let (_, found) = app
        .get(
            &format!("/api/v1/customers?q={}", "%E4%BA%ACN55555"),
            &app.admin,
        )
        .await;
    assert!(
        found["customers"].as_array().unwrap().is_empty(),
        "nor does the plate"
    );
    app.assert_clean().await;
    let report = app.store.verify_audit().await.unwrap();
    assert_eq!(report.broken_at, None);
    let (_, log) = app
        .get(&format!("/api/v1/audit?target={id}"), &app.admin)
        .await;
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["customer.create", "customer.export", "customer.anonymize"] {
        assert!(actions.contains(&a), "{a} is audited: {actions:?}");
    }
}

/// A copy of the database shows no customer's name, phone or plate; lookups still work.
#[tokio::test]
async fn personal_data_is_not_stored_in_plain_text() {
    let app = spawn_app().await;
    let (name, phone, plate, id_number) =
        ("欧阳明月", "13912349876", "沪K73519", "11010519491231002X");
    let id = app
        .customer("individual", phone, json!({"name": name, "vehicles": [{"plate": plate}], "contacts": [{"name": "司马光", "phone": "13655554444"}], "id_number": id_number, "consent_sensitive": true, "address": "上海市浦东新区世纪大道100号"}))
        .await;
    let card = app
        .card(json!({"customer_id": id, "kind": "personal", "limits": {"plate": {"value": plate}}}))
        .await;
    let (_, found) = app
        .get(&format!("/api/v1/customers?q={phone}"), &app.admin)
        .await;
    assert_eq!(
        found["customers"][0]["id"],
        id.as_str(),
        "lookup by phone still finds the customer"
    );
    let (_, v) = app.get(&format!("/api/v1/cards/{card}"), &app.admin).await;
    assert_eq!(
        v["limits"]["plate"]["value"], plate,
        "the card's bound plate reads back"
    );
    let needles = [
        name,
        phone,
        plate,
        id_number,
        "司马光",
        "13655554444",
        "世纪大道",
    ];
    let haystack = app.raw_dump().await;
    for n in needles {
        assert!(
            !haystack.windows(n.len()).any(|w| w == n.as_bytes()),
            "{n} is stored in plain text"
        );
    }
    // The scan itself works: a value stored in the clear (the member code) is found.
    let (_, p) = app
        .get(&format!("/api/v1/customers/{id}"), &app.admin)
        .await;
    let member_code = p["member_code"].as_str().unwrap();
    assert!(haystack
        .windows(member_code.len())
        .any(|w| w == member_code.as_bytes()));
}

#[tokio::test]
async fn a_phone_number_never_authorises_credit() {
    let app = spawn_app().await;
    let company = app
        .customer("company", "13811112222", json!({"home_station": "S001"}))
        .await;
    let main = app
        .card(json!({"customer_id": company, "kind": "fleet_main"}))
        .await;
    app.put(
        &format!("/api/v1/customers/{company}/credit"),
        &app.admin,
        json!({"credit_limit_fen": 100_000}),
    )
    .await;
    let sale = |key: &str, customer: Value| {
        let mut b = sale_body(
            key,
            "S001",
            customer,
            json!([{"product_code": "DIESEL_0", "volume_ml": 10_000, "unit_price_fen": 700}]),
        );
        b["payments"] = json!([{"method": "credit", "amount_fen": 7_000}]);
        b
    };
    let (st, v) = app
        .post(
            "/api/v1/pos/sales",
            &app.pos1,
            sale("PH-1", json!({"phone": "13811112222"})),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "{v}"
    );
    let (st, v) = app
        .post(
            "/api/v1/pos/sales",
            &app.pos1,
            sale("PH-2", json!({"card_no": main})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    app.assert_clean().await;
}
