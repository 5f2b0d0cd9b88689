//! Guess counters under parallel attempts, and sign-in answers that do not tell an
//! unknown account, a wrong secret and a locked account apart.
//!
//! Each concurrency test fires 60 attempts at once through the real router, one of them
//! with the right secret, and counts how many secrets were judged: no more than the limit
//! (5 PINs, 10 passwords) may ever be judged wrong before the lock.

use crate::harness::{code, sale_body, spawn_app, spawn_app_with, App, ADMIN_PASSWORD};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use forecourt_server::Config;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

const ATTEMPTS: usize = 60;
const RIGHT_PIN: &str = "246810";
const STAFF_PASSWORD: &str = "Staff-pass-1234";

/// Sign-ins are rate limited per address (all test requests come from one); these tests
/// are about the counters, so the limiter is opened wide.
fn open_limiter() -> Config {
    Config {
        logins_per_minute: 10_000,
        ..Default::default()
    }
}

/// A status and body as bytes.
struct Raw {
    status: StatusCode,
    body: String,
}

async fn send(app: &App, req: Request<Body>) -> Raw {
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Raw {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn form(path: &str, fields: &[(&str, &str)]) -> Request<Body> {
    let body: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                k,
                v.bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    Request::builder()
        .method("POST")
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

fn api_login(username: &str, password: &str) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri("/api/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"username": username, "password": password}).to_string(),
        ))
        .unwrap()
}

fn portal_card(card_no: &str, pin: &str) -> Request<Body> {
    form(
        "/m/login",
        &[("via", "card"), ("card_no", card_no), ("pin", pin)],
    )
}

fn portal_phone(phone: &str, password: &str) -> Request<Body> {
    form(
        "/m/login",
        &[("via", "phone"), ("phone", phone), ("password", password)],
    )
}

fn console_login(username: &str, password: &str) -> Request<Body> {
    form(
        "/login",
        &[
            ("next", "/"),
            ("username", username),
            ("password", password),
        ],
    )
}

/// The 60 PINs of a burst: all wrong but one, the right one in the middle.
fn pins() -> Vec<String> {
    (0..ATTEMPTS)
        .map(|i| {
            if i == ATTEMPTS / 2 {
                RIGHT_PIN.to_string()
            } else {
                format!("{:06}", 100_000 + i)
            }
        })
        .collect()
}

/// Runs `make(i)` for every attempt at once and returns the answers in order.
async fn burst<F>(app: &Arc<App>, make: F) -> Vec<Raw>
where
    F: Fn(usize) -> Request<Body>,
{
    let mut tasks = Vec::new();
    for i in 0..ATTEMPTS {
        let (app, req) = (app.clone(), make(i));
        tasks.push(tokio::spawn(async move { send(&app, req).await }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// An individual with a personal card holding 500 CNY, with the PIN `RIGHT_PIN`.
async fn pin_card(app: &App, phone: &str) -> (String, String) {
    let customer = app
        .customer(
            "individual",
            phone,
            json!({"name": "李娜", "home_station": "S001"}),
        )
        .await;
    let card = app
        .card(json!({"customer_id": customer, "kind": "personal", "pin": RIGHT_PIN}))
        .await;
    let (st, v) = app.recharge(&card, 50_000, &format!("R-{card}")).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    (customer, card)
}

async fn pin_failures(app: &App, card: &str) -> i64 {
    app.store
        .card_by_no(card)
        .await
        .unwrap()
        .unwrap()
        .pin_failures
}

/// The audit rows of `target` with `action`.
async fn audited(app: &App, target: &str, action: &str) -> Vec<forecourt_store::audit::AuditRow> {
    app.store
        .audit_rows(Some(target), 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == action)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_pins_at_the_till_are_judged_at_most_five_times() {
    let app = Arc::new(spawn_app().await);
    let (_, card) = pin_card(&app, "13300133001").await;
    let pins = pins();
    let answers = burst(&app, |i| {
        let mut body = sale_body(
            &format!("PINX-{i}"),
            "S001",
            json!({"card_no": card}),
            json!([{"product_code": "GASOLINE_92", "volume_ml": 1_000, "unit_price_fen": 789}]),
        );
        body["payments"] =
            json!([{"method": "card", "card_no": card, "amount_fen": 789, "pin": pins[i]}]);
        Request::builder()
            .method("POST")
            .uri("/api/v1/pos/sales")
            .header("authorization", format!("Bearer {}", app.pos1))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    })
    .await;
    let (mut incorrect, mut sold, mut locked) = (0, 0, 0);
    for a in &answers {
        let v: Value = serde_json::from_str(&a.body).unwrap();
        match (a.status, code(&v)) {
            (StatusCode::CREATED, _) => sold += 1,
            (StatusCode::UNPROCESSABLE_ENTITY, "pin_incorrect") => incorrect += 1,
            (StatusCode::LOCKED, "pin_locked") => locked += 1,
            (st, c) => panic!("unexpected {st} {c}: {v}"),
        }
    }
    assert!(
        incorrect + sold <= 5,
        "{incorrect} wrong PINs answered pin_incorrect and {sold} sales went through: \
         at most 5 PINs may be judged before the lock"
    );
    assert_eq!(incorrect + sold + locked, ATTEMPTS);
    // Each wrong PIN judged stays counted on the card: the limit, then the lock. The
    // right PIN gives back only its own try; when that happens after every other
    // attempt was refused, the card stands one short of the lock.
    let failures = pin_failures(&app, &card).await;
    assert!(
        failures == 5 || (sold == 1 && failures == 4),
        "{failures} wrong PINs counted ({sold} sold)"
    );
    assert!(sold <= 1);
    if failures == 5 {
        let (st, v) = app
            .card_sale(
                &card,
                "GASOLINE_92",
                1_000,
                "PINX-after",
                json!({"pin": RIGHT_PIN}),
            )
            .await;
        assert_eq!((st, code(&v)), (StatusCode::LOCKED, "pin_locked"), "{v}");
    }
    assert_eq!(app.balance(&card).await, 50_000 - 789 * sold as i64);
    app.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_portal_card_sign_ins_judge_at_most_five_pins() {
    let app = Arc::new(spawn_app_with(open_limiter()).await);
    let (customer, card) = pin_card(&app, "13300133002").await;
    let pins = pins();
    let answers = burst(&app, |i| portal_card(&card, &pins[i])).await;
    let signed_in = answers
        .iter()
        .filter(|a| a.status == StatusCode::SEE_OTHER)
        .count();
    assert!(answers
        .iter()
        .all(|a| a.status == StatusCode::SEE_OTHER || a.status == StatusCode::UNAUTHORIZED));
    let wrong = audited(&app, &customer, "member.login_failed").await.len();
    assert!(
        wrong <= 5,
        "{wrong} wrong PINs were judged: at most 5 may be before the lock"
    );
    assert!(signed_in <= 1);
    // The right PIN gives back only its own try (see the till's test).
    let failures = pin_failures(&app, &card).await;
    assert!(
        failures == 5 || (signed_in == 1 && failures == 4),
        "{failures} wrong PINs counted ({signed_in} signed in)"
    );
    if failures == 5 {
        let after = send(&app, portal_card(&card, RIGHT_PIN)).await;
        assert_eq!(
            after.status,
            StatusCode::UNAUTHORIZED,
            "locked: {}",
            after.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_staff_logins_judge_at_most_ten_passwords() {
    let app = Arc::new(spawn_app_with(open_limiter()).await);
    app.user("clerk", "cashier").await;
    let user = app.store.user_by_username("clerk").await.unwrap().unwrap();
    let answers = burst(&app, |i| {
        if i == ATTEMPTS / 2 {
            api_login("clerk", STAFF_PASSWORD)
        } else {
            api_login("clerk", &format!("Wrong-pass-{i}"))
        }
    })
    .await;
    let signed_in = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    let wrong = audited(&app, &user.user_id, "user.login_failed")
        .await
        .len();
    assert!(
        wrong <= 10,
        "{wrong} wrong passwords were judged: at most 10 may be before the lock"
    );
    assert!(signed_in <= 1);
    // Locked, unless the right password, giving back its own try, was judged after
    // every other attempt was refused: then the account stands one short of the lock.
    let user = app.store.user_by_username("clerk").await.unwrap().unwrap();
    let locked = user
        .locked_until
        .is_some_and(|t| t > forecourt_store::now_us());
    assert!(
        locked || (signed_in == 1 && wrong == 9),
        "locked {locked}, {wrong} wrong, {signed_in} signed in"
    );
    if locked {
        let after = send(&app, api_login("clerk", STAFF_PASSWORD)).await;
        assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{}", after.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_portal_phone_sign_ins_judge_at_most_ten_passwords() {
    let app = Arc::new(spawn_app_with(open_limiter()).await);
    let (customer, _) = pin_card(&app, "13300133003").await;
    let (st, v) = app
        .put(
            &format!("/api/v1/customers/{customer}/portal-password"),
            &app.admin,
            json!({"password": "member-pass-1"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let answers = burst(&app, |i| {
        if i == ATTEMPTS / 2 {
            portal_phone("13300133003", "member-pass-1")
        } else {
            portal_phone("13300133003", &format!("wrong-pass-{i}"))
        }
    })
    .await;
    let signed_in = answers
        .iter()
        .filter(|a| a.status == StatusCode::SEE_OTHER)
        .count();
    let wrong = audited(&app, &customer, "member.login_failed").await.len();
    assert!(
        wrong <= 10,
        "{wrong} wrong passwords were judged: at most 10 may be before the lock"
    );
    assert!(signed_in <= 1);
    // As for staff: locked, unless the right password gave its try back last.
    let cred = app
        .store
        .member_credential(&customer)
        .await
        .unwrap()
        .unwrap();
    let locked = cred
        .locked_until
        .is_some_and(|t| t > forecourt_store::now_us());
    assert!(
        locked || (signed_in == 1 && wrong == 9),
        "locked {locked}, {wrong} wrong, {signed_in} signed in"
    );
    if locked {
        let after = send(&app, portal_phone("13300133003", "member-pass-1")).await;
        assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{}", after.body);
    }
}

/// Locks `username` with ten wrong passwords.
async fn lock_staff(app: &App, username: &str) {
    for i in 0..10 {
        let a = send(app, api_login(username, &format!("Wrong-pass-{i}"))).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    }
}

#[tokio::test]
async fn staff_sign_in_answers_unknown_wrong_and_locked_alike() {
    let app = spawn_app_with(open_limiter()).await;
    app.user("clerk", "cashier").await;
    app.user("keeper", "cashier").await;
    lock_staff(&app, "keeper").await;

    // The API: the same status and the same bytes.
    let unknown = send(&app, api_login("nobody", STAFF_PASSWORD)).await;
    let wrong = send(&app, api_login("clerk", "Wrong-pass-x")).await;
    let locked = send(&app, api_login("keeper", STAFF_PASSWORD)).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    for (what, a) in [("wrong", &wrong), ("locked", &locked)] {
        assert_eq!(
            (a.status, &a.body),
            (unknown.status, &unknown.body),
            "{what}"
        );
    }

    // The console's form: the same page but for the name typed, which it shows again.
    let pages: Vec<(String, Raw)> = vec![
        (
            "nobody".into(),
            send(&app, console_login("nobody", STAFF_PASSWORD)).await,
        ),
        (
            "clerk".into(),
            send(&app, console_login("clerk", "Wrong-pass-x")).await,
        ),
        (
            "keeper".into(),
            send(&app, console_login("keeper", STAFF_PASSWORD)).await,
        ),
    ];
    let (first_name, first) = &pages[0];
    assert_eq!(first.status, StatusCode::UNAUTHORIZED);
    let norm = |name: &str, r: &Raw| r.body.replace(&format!(r#"value="{name}""#), "value=\"?\"");
    for (name, p) in &pages[1..] {
        assert_eq!(p.status, first.status, "{name}");
        assert_eq!(norm(name, p), norm(first_name, first), "{name}");
    }

    // The owner learns of the lock from the audit log and the users page.
    let keeper = app.store.user_by_username("keeper").await.unwrap().unwrap();
    assert_eq!(audited(&app, &keeper.user_id, "user.locked").await.len(), 1);
    let (st, v) = app.get("/api/v1/users", &app.admin).await;
    assert_eq!(st, StatusCode::OK);
    let row = v
        .as_array()
        .or_else(|| v["users"].as_array())
        .unwrap()
        .iter()
        .find(|u| u["username"] == "keeper")
        .cloned()
        .unwrap();
    assert_eq!(row["locked"], json!(true), "{row}");
    let admin_cookie = {
        let res = app
            .router
            .clone()
            .oneshot(api_login("admin", ADMIN_PASSWORD))
            .await
            .unwrap();
        res.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string()
    };
    let users_page = send(
        &app,
        Request::builder()
            .uri("/admin/users")
            .header(header::COOKIE, admin_cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(users_page.status, StatusCode::OK, "{}", users_page.body);
    let at = users_page.body.find(">keeper<").expect("keeper is listed");
    let row_html = &users_page.body[at..];
    let row_html = &row_html[..row_html.find("</tr>").unwrap()];
    assert!(
        row_html.contains("state lost"),
        "keeper shows as locked: {row_html}"
    );
}

#[tokio::test]
async fn portal_sign_in_answers_unknown_wrong_and_locked_alike() {
    let app = spawn_app_with(open_limiter()).await;
    let (open_id, open_card) = pin_card(&app, "13300133011").await;
    let (locked_id, locked_card) = pin_card(&app, "13300133012").await;
    for (id, pw) in [(&open_id, "member-pass-1"), (&locked_id, "member-pass-2")] {
        let (st, v) = app
            .put(
                &format!("/api/v1/customers/{id}/portal-password"),
                &app.admin,
                json!({"password": pw}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    for i in 0..5 {
        send(
            &app,
            portal_card(&locked_card, &format!("{:06}", 100_000 + i)),
        )
        .await;
    }
    for i in 0..10 {
        send(
            &app,
            portal_phone("13300133012", &format!("wrong-pass-{i}")),
        )
        .await;
    }
    assert_eq!(pin_failures(&app, &locked_card).await, 5);
    let unknown_card = forecourt_core::CardNo::from_body("999988887777666655")
        .unwrap()
        .as_str()
        .to_string();

    // Card and PIN: an unknown card, a wrong PIN and a locked card, with the right PIN.
    let cards = [
        (
            unknown_card.clone(),
            send(&app, portal_card(&unknown_card, RIGHT_PIN)).await,
        ),
        (
            open_card.clone(),
            send(&app, portal_card(&open_card, "000000")).await,
        ),
        (
            locked_card.clone(),
            send(&app, portal_card(&locked_card, RIGHT_PIN)).await,
        ),
    ];
    // Phone and password: an unknown phone, a wrong password, a locked password.
    let phones = [
        (
            "13900009999".to_string(),
            send(&app, portal_phone("13900009999", "member-pass-2")).await,
        ),
        (
            "13300133011".to_string(),
            send(&app, portal_phone("13300133011", "wrong-pass-x")).await,
        ),
        (
            "13300133012".to_string(),
            send(&app, portal_phone("13300133012", "member-pass-2")).await,
        ),
    ];
    for set in [&cards, &phones] {
        let norm = |typed: &str, r: &Raw| {
            r.body
                .replace(&format!(r#"value="{typed}""#), "value=\"?\"")
        };
        let (t0, first) = &set[0];
        assert_eq!(first.status, StatusCode::UNAUTHORIZED, "{}", first.body);
        for (typed, r) in &set[1..] {
            assert_eq!(r.status, first.status, "{typed}: {}", r.body);
            assert_eq!(norm(typed, r), norm(t0, first), "{typed}");
        }
    }
    // The locks are in the audit log.
    assert_eq!(audited(&app, &locked_id, "member.locked").await.len(), 1);
    let card_id = app
        .store
        .card_by_no(&locked_card)
        .await
        .unwrap()
        .unwrap()
        .card_id;
    assert_eq!(audited(&app, &card_id, "card.pin_locked").await.len(), 1);
}
