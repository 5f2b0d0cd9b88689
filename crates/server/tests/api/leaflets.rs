//! Leaflets and promo codes, partner merchants (SPEC F7, issue 17 items 5-6) through
//! the real router: seed 001's funnel (600 leaflets → 3 sign-ups = 0.5 %, the cost per
//! new card), a unique code that goes to exactly one of parallel sign-ups, a public
//! code shared, batches scoped to their stations; partners' offers claimed in the
//! portal, redeemed once with the partner's own key (also under parallel requests,
//! never with another partner's key) and the monthly statement in JSON and CSV.

use crate::harness::*;
use crate::portal::{get as page, member, sign_in, web, PIN_A, PIN_B};
use axum::http::StatusCode;
use forecourt_core::promo::parse_code;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// Sends `n` copies of a request at once, each on its own task through a clone of the
/// router, `body(i)` giving the i-th body. Answers every status and body.
async fn parallel(
    app: &App,
    n: usize,
    path: &str,
    token: &str,
    body: impl Fn(usize) -> Value,
) -> Vec<(StatusCode, Value)> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let router = app.router.clone();
        let req = axum::http::Request::post(path)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::from(body(i).to_string()))
            .unwrap();
        tasks.spawn(async move {
            let res = router.oneshot(req).await.unwrap();
            let st = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (st, serde_json::from_slice::<Value>(&bytes).unwrap())
        });
    }
    tasks.join_all().await
}

async fn get_text(app: &App, path: &str, token: &str) -> (StatusCode, String) {
    let req = axum::http::Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    let st = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (st, String::from_utf8_lossy(&bytes).into_owned())
}

async fn batch(app: &App, token: &str, body: Value) -> Value {
    let (st, v) = app.post("/api/v1/leaflets", token, body).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v
}

async fn codes(app: &App, token: &str, id: &str) -> Vec<String> {
    let (st, csv) = get_text(app, &format!("/api/v1/leaflets/{id}/codes.csv"), token).await;
    assert_eq!(st, StatusCode::OK, "{csv}");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("code,used"));
    lines
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect()
}

async fn funnel(app: &App, token: &str, id: &str) -> Value {
    let (st, v) = app.get(&format!("/api/v1/leaflets/{id}"), token).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["funnel"].clone()
}

async fn sign_up(app: &App, phone: &str, code: &str) -> (StatusCode, Value) {
    app.post(
        "/api/v1/customers",
        &app.admin.clone(),
        json!({"kind": "individual", "name": "赵敏", "phone": phone, "home_station": "S001", "promo_code": code}),
    )
    .await
}

#[tokio::test]
async fn seed_001_funnel_600_leaflets_3_cards_half_a_percent() {
    let app = spawn_app().await;
    let b = batch(
        &app,
        &app.admin,
        json!({"name": "十一月小区派发", "stations": ["S001"], "dropped_on": "2026-11-02", "quantity": 600, "cost_fen": 30000}),
    )
    .await;
    let id = b["id"].as_str().unwrap().to_string();
    assert_eq!(b["code_kind"], "unique");
    assert_eq!(b["funnel"]["distributed"], 600);
    assert_eq!(b["funnel"]["signed_up"], 0);
    assert_eq!(b["funnel"]["cost_per_new_card_fen"], Value::Null);

    // 600 distinct codes, each of the alphabet with a good check character.
    let list = codes(&app, &app.admin, &id).await;
    assert_eq!(list.len(), 600);
    let distinct: std::collections::BTreeSet<_> = list.iter().collect();
    assert_eq!(distinct.len(), 600);
    for c in &list {
        assert_eq!(parse_code(c).as_deref(), Some(c.as_str()), "{c}");
        assert!(!c.contains(['0', 'O', '1', 'I']), "{c}");
    }

    // Three customers sign up with a code (typed in lower case with a dash), two of
    // them buy.
    let mut ids = Vec::new();
    for (i, c) in list.iter().take(3).enumerate() {
        let typed = format!("{}-{}", &c[..4], &c[4..]).to_lowercase();
        let (st, v) = sign_up(&app, &format!("1380000410{i}"), &typed).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    let mut spend = 0;
    for (i, id) in ids.iter().take(2).enumerate() {
        let no = app
            .card(json!({"customer_id": id, "kind": "personal"}))
            .await;
        let (st, v) = app.recharge(&no, 50_000, &format!("LR-{i}")).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let (st, v) = app
            .card_sale(&no, "GASOLINE_92", 30_000, &format!("LS-{i}"), json!({}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        spend += v["net_amount_fen"].as_i64().unwrap();
    }
    let f = funnel(&app, &app.admin, &id).await;
    assert_eq!(f["distributed"], 600);
    assert_eq!(f["signed_up"], 3);
    assert_eq!(f["first_sale"], 2);
    assert_eq!(f["spend_fen"], spend);
    assert_eq!(f["conversion_percent"], 0.5);
    assert_eq!(f["cost_per_new_card_fen"], 10_000);
    assert_eq!(f["first_sale_percent"], 66.6667);

    // A used code, a mistyped one and an unknown one are refused; nothing changes.
    let (st, v) = sign_up(&app, "13800004110", &list[0]).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "promo_code_used"),
        "{v}"
    );
    let mut typo = list[3].clone().into_bytes();
    typo.swap(0, 1);
    let typo = String::from_utf8(typo).unwrap();
    if typo != list[3] {
        let (st, v) = sign_up(&app, "13800004111", &typo).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "promo_code_invalid"),
            "{v}"
        );
    }
    let (st, v) = sign_up(&app, "13800004112", "NOSUCHCODE").await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "promo_code_invalid"),
        "{v}"
    );
    for phone in ["13800004110", "13800004111", "13800004112"] {
        let (st, v) = app
            .get(&format!("/api/v1/customers?q={phone}"), &app.admin)
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["customers"].as_array().unwrap().len(), 0, "{phone}: {v}");
    }
    assert_eq!(funnel(&app, &app.admin, &id).await["signed_up"], 3);
    // The customer's source says where they came from; the codes list marks the spent.
    let (_, c) = app
        .get(&format!("/api/v1/customers/{}", ids[0]), &app.admin)
        .await;
    assert_eq!(c["source"], "leaflet", "{c}");
    let (_, csv) = get_text(
        &app,
        &format!("/api/v1/leaflets/{id}/codes.csv"),
        &app.admin,
    )
    .await;
    assert_eq!(csv.matches(",yes").count(), 3);
    app.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_unique_code_goes_to_exactly_one_of_parallel_sign_ups() {
    let app = spawn_app().await;
    let b = batch(
        &app,
        &app.admin,
        json!({"name": "加油站门口", "stations": ["S001"], "dropped_on": "2026-11-10", "quantity": 5}),
    )
    .await;
    let id = b["id"].as_str().unwrap().to_string();
    let code0 = codes(&app, &app.admin, &id).await[0].clone();
    let results = parallel(&app, 8, "/api/v1/customers", &app.admin, |i| {
        json!({"kind": "individual", "name": "钱多多", "phone": format!("1390000500{i}"), "promo_code": code0})
    })
    .await;
    let created = results
        .iter()
        .filter(|(st, _)| *st == StatusCode::CREATED)
        .count();
    let used = results
        .iter()
        .filter(|(st, v)| *st == StatusCode::CONFLICT && code(v) == "promo_code_used")
        .count();
    assert_eq!((created, used), (1, 7), "{results:?}");
    assert_eq!(funnel(&app, &app.admin, &id).await["signed_up"], 1);

    // A public code is shared by everyone who brings it.
    let p = batch(
        &app,
        &app.admin,
        json!({"name": "报纸夹页", "stations": ["S001", "S002"], "dropped_on": "2026-11-11", "quantity": 2000, "code_kind": "public", "public_code": "win-ter26", "cost_fen": 100000}),
    )
    .await;
    assert_eq!(p["public_code"], "WINTER26");
    let results = parallel(&app, 4, "/api/v1/customers", &app.admin, |i| {
        json!({"kind": "individual", "name": "孙丽", "phone": format!("1390000510{i}"), "promo_code": "winter26"})
    })
    .await;
    assert!(
        results.iter().all(|(st, _)| *st == StatusCode::CREATED),
        "{results:?}"
    );
    let f = funnel(&app, &app.admin, p["id"].as_str().unwrap()).await;
    assert_eq!(f["signed_up"], 4);
    assert_eq!(f["conversion_percent"], 0.2);
    assert_eq!(f["cost_per_new_card_fen"], 25_000);
    // The same public code again is refused for another batch.
    let (st, v) = app
        .post(
            "/api/v1/leaflets",
            &app.admin,
            json!({"name": "重复", "stations": ["S001"], "dropped_on": "2026-11-12", "quantity": 10, "code_kind": "public", "public_code": "WINTER26"}),
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::CONFLICT, "conflict"), "{v}");
}

#[tokio::test]
async fn leaflet_batches_belong_to_their_stations() {
    let app = spawn_app().await;
    let m1 = app
        .scoped_user("m1", "station_manager", "station:S001")
        .await
        .1;
    let m2 = app
        .scoped_user("m2", "station_manager", "station:S002")
        .await
        .1;
    let cashier = app.scoped_user("c1", "cashier", "station:S001").await.1;
    let body = |station: &str| json!({"name": "周末派发", "stations": [station], "dropped_on": "2026-11-14", "quantity": 20, "cost_fen": 2000});
    let mine = batch(&app, &m1, body("S001")).await;
    let id = mine["id"].as_str().unwrap().to_string();
    let (st, v) = app.post("/api/v1/leaflets", &m1, body("S002")).await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (st, v) = app.post("/api/v1/leaflets", &cashier, body("S001")).await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let other = batch(&app, &app.admin, body("S002")).await;

    // Each manager sees their own station's batch; another's answers 404.
    let (st, v) = app.get("/api/v1/leaflets", &m1).await;
    assert_eq!(st, StatusCode::OK);
    let names: Vec<&str> = v["leaflets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![id.as_str()]);
    for path in [
        format!("/api/v1/leaflets/{id}"),
        format!("/api/v1/leaflets/{id}/codes.csv"),
    ] {
        let (st, v) = app.get(&path, &m2).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::NOT_FOUND, "leaflet_not_found"),
            "{v}"
        );
    }
    let (st, _) = app
        .get(
            &format!("/api/v1/leaflets/{}", other["id"].as_str().unwrap()),
            &m2,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = app.get("/api/v1/leaflets", &app.admin).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["leaflets"].as_array().unwrap().len(), 2);
    let (st, v) = app.get("/api/v1/leaflets", &cashier).await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
}

async fn partner(app: &App, name: &str, category: &str) -> (String, String) {
    let (st, v) = app
        .post(
            "/api/v1/partners",
            &app.admin,
            json!({"name": name, "category": category, "contact": "王经理 010-88886666"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    (
        v["id"].as_str().unwrap().to_string(),
        v["api_key"].as_str().unwrap().to_string(),
    )
}

async fn offer(app: &App, partner: &str, body: Value) -> String {
    let (st, v) = app
        .post(
            &format!("/api/v1/partners/{partner}/offers"),
            &app.admin,
            body,
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_string()
}

/// Claims an offer in the portal and answers the member's newest code.
async fn claim(app: &App, token: &str, offer: &str) -> String {
    let list = page(app, "/m/offers", Some(token)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let csrf = list.csrf();
    let p = web(
        app,
        "POST",
        &format!("/m/offers/{offer}/claim"),
        Some(token),
        &[],
        Some(&[("_csrf", &csrf)]),
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let after = page(app, "/m/offers?done=claimed", Some(token)).await;
    let at = after
        .body
        .find(r#"<code class="redemption-code">"#)
        .unwrap_or_else(|| panic!("{}", after.body));
    let rest = &after.body[at + r#"<code class="redemption-code">"#.len()..];
    rest.split('<').next().unwrap().replace(' ', "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partner_redeems_its_own_codes_once_with_its_own_key() {
    let app = spawn_app().await;
    let (wash, wash_key) = partner(&app, "洁车坊", "car_wash").await;
    let (_insure, insure_key) = partner(&app, "平安车险", "insurance").await;
    let o = offer(
        &app,
        &wash,
        json!({"title": "洗车8折", "description": "持卡会员洗车享8折", "valid_from": "2026-11-01", "valid_until": "2026-11-30", "per_member_limit": 1}),
    )
    .await;
    let gold_only = offer(
        &app,
        &wash,
        json!({"title": "精洗免费", "description": "SVIP 会员", "valid_from": "2026-11-01", "valid_until": "2026-11-30", "tiers": ["svip"]}),
    )
    .await;
    let a = member(&app, "李娜", "13800006001", PIN_A, 0, "S001").await;
    let b = member(&app, "王强", "13800006002", PIN_B, 0, "S002").await;
    let ta = sign_in(&app, &a.card, PIN_A).await;
    let tb = sign_in(&app, &b.card, PIN_B).await;

    // The portal lists the offer the member qualifies for, in words, at 390 px.
    let list = page(&app, "/m/offers", Some(&ta)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("洗车8折") && list.body.contains("洁车坊"));
    assert!(list.body.contains("洗车"), "category label");
    assert!(
        !list.body.contains("精洗免费"),
        "an SVIP-only offer to a base member"
    );
    // The offer's id only in the form's address, never in the words.
    assert_eq!(
        list.body.matches(o.as_str()).count(),
        list.body
            .matches(&format!("action=\"/m/offers/{o}/claim\""))
            .count(),
        "{}",
        list.body
    );
    let code_a = claim(&app, &ta, &o).await;
    assert!(parse_code(&code_a).is_some(), "{code_a}");
    let code_b = claim(&app, &tb, &o).await;
    // The limit: a second claim is refused with words, and no code is added.
    let csrf = page(&app, "/m/offers", Some(&ta)).await.csrf();
    let again = web(
        &app,
        "POST",
        &format!("/m/offers/{o}/claim"),
        Some(&ta),
        &[],
        Some(&[("_csrf", &csrf)]),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("已经领取过"), "{}", again.body);
    let (st, _) = {
        let p = web(
            &app,
            "POST",
            &format!("/m/offers/{gold_only}/claim"),
            Some(&ta),
            &[],
            Some(&[("_csrf", &csrf)]),
        )
        .await;
        (p.status, p.body)
    };
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);

    // Another partner's key cannot redeem it; a staff token is no partner key; a
    // partner key reaches no staff route.
    let (st, v) = app
        .post(
            "/api/v1/partner/redemptions",
            &insure_key,
            json!({"code": code_a}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::NOT_FOUND, "redemption_not_found"),
        "{v}"
    );
    let (st, v) = app
        .post(
            "/api/v1/partner/redemptions",
            &app.admin,
            json!({"code": code_a}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNAUTHORIZED, "unauthorized"),
        "{v}"
    );
    for path in [
        "/api/v1/partners",
        "/api/v1/leaflets",
        "/api/v1/customers?q=13800006001",
    ] {
        let (st, v) = app.get(path, &wash_key).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{path}: {v}"
        );
    }

    // Eight parallel redemptions of one code: exactly one.
    let results = parallel(&app, 8, "/api/v1/partner/redemptions", &wash_key, |i| {
        // as the cashier types it: spaced, some in lower case
        let c = format!("{} {}", &code_a[..4], &code_a[4..]);
        json!({ "code": if i % 2 == 0 { c.to_lowercase() } else { c } })
    })
    .await;
    let ok: Vec<_> = results
        .iter()
        .filter(|(st, _)| *st == StatusCode::OK)
        .collect();
    let used = results
        .iter()
        .filter(|(st, v)| *st == StatusCode::CONFLICT && code(v) == "redemption_used")
        .count();
    assert_eq!((ok.len(), used), (1, 7), "{results:?}");
    assert_eq!(ok[0].1["offer_title"], "洗车8折");
    // The member sees it used.
    let mine = page(&app, "/m/offers", Some(&ta)).await;
    assert!(mine.body.contains("已使用"), "{}", mine.body);

    // The statement of November: one redemption, in JSON and CSV, for the partner and
    // for headquarters; December is empty.
    let (st, v) = app
        .get("/api/v1/partner/statements/2026-11", &wash_key)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["total"], 1);
    assert_eq!(v["by_offer"][0]["redemptions"], 1);
    assert_eq!(v["redemptions"][0]["code"], code_a);
    let (st, hq) = app
        .get(
            &format!("/api/v1/partners/{wash}/statements/2026-11"),
            &app.admin,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(hq, v);
    let (st, csv) = get_text(&app, "/api/v1/partner/statements/2026-11.csv", &wash_key).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains(&code_a) && csv.contains("洗车8折"), "{csv}");
    let (_, dec) = app
        .get("/api/v1/partner/statements/2026-12", &wash_key)
        .await;
    assert_eq!(dec["total"], 0);
    let (st, v) = app
        .get("/api/v1/partner/statements/2026-13", &wash_key)
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (_, insure_stmt) = app
        .get("/api/v1/partner/statements/2026-11", &insure_key)
        .await;
    assert_eq!(insure_stmt["total"], 0);

    // After the offer's last day the other member's code has expired.
    app.set_now("2026-12-01T09:00:00+08:00");
    let (st, v) = app
        .post(
            "/api/v1/partner/redemptions",
            &wash_key,
            json!({"code": code_b}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::GONE, "redemption_expired"),
        "{v}"
    );

    // A new key replaces the old one at once; a partner switched off has no access.
    let (st, v) = app
        .post(
            &format!("/api/v1/partners/{wash}/key"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let new_key = v["api_key"].as_str().unwrap().to_string();
    let (st, _) = app
        .get("/api/v1/partner/statements/2026-11", &wash_key)
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = app
        .get("/api/v1/partner/statements/2026-11", &new_key)
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = app
        .put(
            &format!("/api/v1/partners/{wash}/active"),
            &app.admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["active"], false);
    let (st, _) = app
        .get("/api/v1/partner/statements/2026-11", &new_key)
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn partners_are_headquarters_own() {
    let app = spawn_app().await;
    let (id, _) = partner(&app, "好味餐厅", "restaurant").await;
    let region = app.scoped_user("r1", "region_manager", "region:R1").await.1;
    let m1 = app
        .scoped_user("m1", "station_manager", "station:S001")
        .await
        .1;
    for token in [&region, &m1] {
        let (st, v) = app.get("/api/v1/partners", token).await;
        assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
        let (st, v) = app
            .post(
                &format!("/api/v1/partners/{id}/offers"),
                token,
                json!({"title": "x", "description": "y", "valid_from": "2026-11-01", "valid_until": "2026-11-30"}),
            )
            .await;
        assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
        let (st, _) = app
            .get(&format!("/api/v1/partners/{id}/statements/2026-11"), token)
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
    }
    let (st, v) = app.get("/api/v1/partners", &app.admin).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["partners"][0]["contact"], "王经理 010-88886666");
    assert!(
        v["partners"][0].get("api_key").is_none(),
        "the key is shown once"
    );
    let (st, v) = app
        .post(
            &format!("/api/v1/partners/{id}/offers"),
            &app.admin,
            json!({"title": "满100减20", "description": "凭码", "valid_from": "2026-11-30", "valid_until": "2026-11-01"}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "{v}"
    );
}
