//! The member portal (`/m/`) through the real router: sign-in with a card and its PIN
//! or a phone and a password, sessions and their CSRF tokens, the staff call that sets
//! a portal password, and the pages (only the member's own data, both languages,
//! stations with prices).

use crate::harness::{code, spawn_app, spawn_app_with, App};
use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use forecourt_server::Secret;
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

pub(crate) const PIN_A: &str = "135790";
pub(crate) const PIN_B: &str = "246802";

/// An HTML answer.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn set_cookie(&self) -> &str {
        self.headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The member session's token, from a sign-in's `Set-Cookie`.
    fn member_token(&self) -> String {
        let c = self.set_cookie();
        assert!(
            c.starts_with("fc_member=fcm_"),
            "no session cookie: {c:?}\n{}",
            self.body
        );
        c["fc_member=".len()..]
            .split(';')
            .next()
            .unwrap()
            .to_string()
    }

    /// The hidden `_csrf` of the page's forms.
    pub(crate) fn csrf(&self) -> String {
        let at = self
            .body
            .find(r#"name="_csrf" value=""#)
            .unwrap_or_else(|| panic!("no CSRF field in {}", self.body));
        let rest = &self.body[at + r#"name="_csrf" value=""#.len()..];
        rest.split('"').next().unwrap().to_string()
    }

    /// The text of the page's error notice.
    pub(crate) fn error(&self) -> String {
        let at = self
            .body
            .find(r#"class="notice error""#)
            .unwrap_or_else(|| panic!("no error notice in {}", self.body));
        let rest = &self.body[at..];
        let start = rest.find('>').unwrap() + 1;
        rest[start..].split('<').next().unwrap().to_string()
    }
}

fn form_encode(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A request to the pages, with the member cookie, extra headers and a form.
pub(crate) async fn web(
    app: &App,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    form: Option<&[(&str, &str)]>,
) -> Page {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header(header::COOKIE, format!("fc_member={t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = match form {
        Some(f) => req
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form_encode(f))),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Page {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub(crate) async fn get(app: &App, path: &str, token: Option<&str>) -> Page {
    web(app, "GET", path, token, &[], None).await
}

async fn card_login(app: &App, card_no: &str, pin: &str) -> Page {
    web(
        app,
        "POST",
        "/m/login",
        None,
        &[],
        Some(&[("via", "card"), ("card_no", card_no), ("pin", pin)]),
    )
    .await
}

async fn phone_login(app: &App, phone: &str, password: &str) -> Page {
    web(
        app,
        "POST",
        "/m/login",
        None,
        &[],
        Some(&[("via", "phone"), ("phone", phone), ("password", password)]),
    )
    .await
}

/// Signs in with a card and its PIN; returns the session token.
pub(crate) async fn sign_in(app: &App, card_no: &str, pin: &str) -> String {
    let p = card_login(app, card_no, pin).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), "/m/");
    p.member_token()
}

pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) card: String,
}

/// An individual with a personal card (with a PIN) holding `fen`, at a home station.
pub(crate) async fn member(
    app: &App,
    name: &str,
    phone: &str,
    pin: &str,
    fen: i64,
    home: &str,
) -> Member {
    let id = app
        .customer(
            "individual",
            phone,
            json!({"name": name, "home_station": home}),
        )
        .await;
    let card = app
        .card(json!({"customer_id": id, "kind": "personal", "pin": pin}))
        .await;
    if fen > 0 {
        let (st, v) = app.recharge(&card, fen, &format!("R-{card}")).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    Member { id, card }
}

async fn set_password(app: &App, customer: &str, password: &str) {
    let (st, v) = app
        .put(
            &format!("/api/v1/customers/{customer}/portal-password"),
            &app.admin,
            json!({"password": password}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

/// A card number that passes the check digit but belongs to no card.
fn unknown_card() -> String {
    forecourt_core::CardNo::from_body("999988887777666655")
        .unwrap()
        .as_str()
        .to_string()
}

async fn pin_failures(app: &App, card: &str) -> i64 {
    app.store
        .card_by_no(card)
        .await
        .unwrap()
        .unwrap()
        .pin_failures
}

#[tokio::test]
async fn portal_card_sign_in_counts_wrong_pins_like_the_pos_and_locks() {
    let app = spawn_app().await;
    let a = member(&app, "李娜", "13800001001", PIN_A, 50_000, "S001").await;

    // The form, in Chinese by default.
    let p = get(&app, "/m/login", None).await;
    assert_eq!(p.status, StatusCode::OK);
    for id in [
        r#"id="portal-card-form""#,
        r#"name="card_no" id="portal-card-no""#,
        r#"name="pin" id="portal-pin""#,
        r#"id="portal-card-login""#,
        r#"id="portal-phone-form""#,
        r#"name="phone" id="portal-phone""#,
        r#"name="password" id="portal-password""#,
        r#"id="portal-phone-login""#,
        r#"id="lang-switch""#,
    ] {
        assert!(p.body.contains(id), "{id}");
    }
    assert!(p.body.contains("会员登录"));
    assert!(p.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));

    // A wrong PIN counts on the card, with the same answer as an unknown card.
    let wrong = card_login(&app, &a.card, "000000").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(pin_failures(&app, &a.card).await, 1);
    let unknown = card_login(&app, &unknown_card(), "000000").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.error(), wrong.error());
    let malformed = card_login(&app, "12345", "000000").await;
    assert_eq!(malformed.error(), wrong.error());
    assert!(wrong.set_cookie().is_empty());
    // What was typed comes back, the PIN never does.
    assert!(wrong.body.contains(&format!(r#"value="{}""#, a.card)));
    assert!(!wrong.body.contains("000000"));

    // The right PIN opens a session: an HttpOnly, SameSite=Strict cookie on /m only.
    let ok = card_login(&app, &a.card, PIN_A).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let cookie = ok.set_cookie();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/m", "Max-Age=2592000"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "not behind TLS by default");
    let token = ok.member_token();
    let home = get(&app, "/m/", Some(&token)).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    assert!(home.body.contains(r#"<main id="portal-home">"#));
    assert!(home.body.contains("李娜"));
    assert_eq!(
        pin_failures(&app, &a.card).await,
        1,
        "a right PIN does not clear the count, as at the POS"
    );
    // Already signed in: the form sends the member home.
    let again = get(&app, "/m/login", Some(&token)).await;
    assert_eq!(
        (again.status, again.location()),
        (StatusCode::SEE_OTHER, "/m/")
    );

    // Four more wrong PINs lock the card (5 tries by default), for the portal…
    for _ in 0..4 {
        let p = card_login(&app, &a.card, "111111").await;
        assert_eq!(p.error(), wrong.error());
    }
    assert_eq!(pin_failures(&app, &a.card).await, 5);
    let locked = card_login(&app, &a.card, PIN_A).await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(locked.error(), wrong.error(), "a locked PIN refuses");
    assert_eq!(pin_failures(&app, &a.card).await, 5);
    // …and at the till.
    let (st, v) = app
        .card_sale(
            &a.card,
            "GASOLINE_92",
            10_000,
            "S-locked",
            json!({"pin": PIN_A}),
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::LOCKED, "pin_locked"), "{v}");

    // A station unlocks it (PUT …/pin resets the count); sign-in works again.
    let (st, v) = app
        .put(
            &format!("/api/v1/cards/{}/pin", a.card),
            &app.admin,
            json!({"pin": PIN_A}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    sign_in(&app, &a.card, PIN_A).await;
}

#[tokio::test]
async fn portal_cards_that_may_not_sign_in_get_the_same_answer() {
    let app = spawn_app().await;
    let a = member(&app, "李娜", "13800001002", PIN_A, 0, "S001").await;
    let wrong = card_login(&app, &a.card, "000000").await.error();

    // No PIN set.
    let no_pin = app
        .card(json!({"customer_id": a.id, "kind": "personal"}))
        .await;
    assert_eq!(card_login(&app, &no_pin, "").await.error(), wrong);
    assert_eq!(card_login(&app, &no_pin, "123456").await.error(), wrong);

    // An anonymous card has no member.
    let anon = app
        .card(json!({"kind": "anonymous", "pin": "123456"}))
        .await;
    assert_eq!(card_login(&app, &anon, "123456").await.error(), wrong);

    // A fleet driver's sub-card would show the whole company's account.
    let company = app
        .customer("company", "13800001003", json!({"home_station": "S001"}))
        .await;
    let main = app
        .card(json!({"customer_id": company, "kind": "fleet_main", "pin": "111222"}))
        .await;
    let sub = app
        .card(json!({"customer_id": company, "kind": "fleet_sub", "main_card_no": main, "pin": "333444"}))
        .await;
    assert_eq!(card_login(&app, &sub, "333444").await.error(), wrong);
    assert_eq!(pin_failures(&app, &sub).await, 0, "not even checked");
    sign_in(&app, &main, "111222").await;

    // A frozen card may still look at its balance; a lost one may not sign in.
    let (st, v) = app
        .post(
            &format!("/api/v1/cards/{}/state", a.card),
            &app.admin,
            json!({"state": "frozen", "reason": "test"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let token = sign_in(&app, &a.card, PIN_A).await;
    let home = get(&app, "/m/", Some(&token)).await;
    assert!(home.body.contains("已冻结"), "{}", home.body);
    let (st, v) = app
        .post(
            &format!("/api/v1/cards/{}/state", a.card),
            &app.admin,
            json!({"state": "lost", "reason": "test"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(card_login(&app, &a.card, PIN_A).await.error(), wrong);
}

#[tokio::test]
async fn portal_phone_sign_in_with_a_password_and_its_lockout() {
    let app = spawn_app().await;
    let a = member(&app, "李娜", "13800002001", PIN_A, 0, "S001").await;

    // Without a password the phone cannot sign in; unknown phones answer the same.
    let none = phone_login(&app, "13800002001", "member-pass-1").await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    let unknown = phone_login(&app, "13900009999", "member-pass-1").await;
    assert_eq!(unknown.error(), none.error());
    let junk = phone_login(&app, "not a phone", "member-pass-1").await;
    assert_eq!(junk.error(), none.error());

    set_password(&app, &a.id, "member-pass-1").await;
    let stored = app.store.member_credential(&a.id).await.unwrap().unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"));
    let ok = phone_login(&app, "138 0000 2001", "member-pass-1").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let token = ok.member_token();
    assert_eq!(get(&app, "/m/", Some(&token)).await.status, StatusCode::OK);

    // Ten wrong passwords lock it for 30 minutes, even against the right one.
    for i in 0..10 {
        let p = phone_login(&app, "13800002001", "wrong-password").await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED, "try {i}");
        assert_eq!(p.error(), none.error());
    }
    let locked = phone_login(&app, "13800002001", "member-pass-1").await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED, "{}", locked.body);
    assert_eq!(
        locked.error(),
        none.error(),
        "a lock answers as a wrong password"
    );
    assert!(locked.error().contains("30"), "{}", locked.error());
    // The card still opens the portal.
    sign_in(&app, &a.card, PIN_A).await;
    // A new password from a station clears the lock.
    set_password(&app, &a.id, "member-pass-2").await;
    let ok = phone_login(&app, "13800002001", "member-pass-2").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let audit = app.store.audit_rows(Some(&a.id), 100).await.unwrap();
    for action in [
        "member.login",
        "member.login_failed",
        "customer.portal_password",
    ] {
        assert!(
            audit.iter().any(|r| r.action == action),
            "{action} is audited"
        );
    }
    assert!(
        audit.iter().all(|r| !r.detail.contains("member-pass")),
        "no password in the audit log"
    );
}

#[tokio::test]
async fn portal_sign_in_is_rate_limited_per_address() {
    let app = spawn_app_with(forecourt_server::Config {
        logins_per_minute: 3,
        ..Default::default()
    })
    .await;
    let a = member(&app, "李娜", "13800003001", PIN_A, 0, "S001").await;
    for _ in 0..3 {
        let p = card_login(&app, &unknown_card(), "000000").await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    }
    let p = card_login(&app, &a.card, PIN_A).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.body);
    let p = phone_login(&app, "13800003001", "whatever-1").await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        pin_failures(&app, &a.card).await,
        0,
        "refused before the PIN"
    );
}

#[tokio::test]
async fn portal_password_endpoint_checks_role_scope_and_rules() {
    let app = spawn_app().await;
    let a = member(&app, "李娜", "13800004001", PIN_A, 0, "S001").await;
    let path = format!("/api/v1/customers/{}/portal-password", a.id);
    let body = json!({"password": "member-pass-1"});

    let cashier = app.user("cashier1", "cashier").await;
    let analyst = app.user("analyst1", "analyst").await;
    for token in [&cashier, &analyst] {
        let (st, v) = app.put(&path, token, body.clone()).await;
        assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    }
    let user = |name: &str, scope: &str| json!({"username": name, "role": "station_manager", "scope": scope, "password": "Staff-pass-1234"});
    for (name, scope) in [("sm2", "station:S002"), ("sm1", "station:S001")] {
        let (st, v) = app
            .post("/api/v1/users", &app.admin, user(name, scope))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    let other_station = app.login("sm2", "Staff-pass-1234").await;
    let (st, v) = app.put(&path, &other_station, body.clone()).await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    assert!(app.store.member_credential(&a.id).await.unwrap().is_none());

    let own_station = app.login("sm1", "Staff-pass-1234").await;
    for bad in [
        json!({"password": "short"}),
        json!({"password": 12345678}),
        json!({"password": "        "}),
    ] {
        let (st, v) = app.put(&path, &own_station, bad).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            "{v}"
        );
    }
    let (st, v) = app.put(&path, &own_station, json!({})).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_json"),
        "{v}"
    );
    let (st, v) = app
        .put(
            "/api/v1/customers/00000000-0000-0000-0000-000000000000/portal-password",
            &app.admin,
            body.clone(),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::NOT_FOUND, "customer_not_found")
    );
    let (st, v) = app.call("PUT", &path, None, Some(body.clone())).await;
    assert_eq!((st, code(&v)), (StatusCode::UNAUTHORIZED, "unauthorized"));

    // A member signed in when a station sets or removes the password is signed out.
    let token = sign_in(&app, &a.card, PIN_A).await;
    let (st, v) = app.put(&path, &own_station, body.clone()).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["portal_password_set"], true);
    assert_eq!(v["sessions_ended"], 1);
    let p = get(&app, "/m/", Some(&token)).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(p.location().starts_with("/m/login"));
    assert!(
        p.set_cookie().contains("Max-Age=0"),
        "the stale cookie goes"
    );

    // null removes it.
    let (st, v) = app
        .put(&path, &own_station, json!({"password": null}))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["portal_password_set"], false);
    assert!(app.store.member_credential(&a.id).await.unwrap().is_none());
    let p = phone_login(&app, "13800004001", "member-pass-1").await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn portal_member_sees_only_their_own_data() {
    let app = spawn_app().await;
    let a = member(&app, "李娜", "13800005001", PIN_A, 123_400, "S001").await;
    let b = member(&app, "王芳", "13800005002", PIN_B, 387_600, "S001").await;
    for (m, pin, ml, key) in [(&a, PIN_A, 20_000, "SA"), (&b, PIN_B, 43_210, "SB")] {
        let (st, v) = app
            .card_sale(&m.card, "GASOLINE_92", ml, key, json!({"pin": pin}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    // B has a coupon; A has none.
    let (st, v) = app
        .post(
            "/api/v1/loyalty/coupons",
            &app.admin,
            json!({"template_id": "tier-car-wash", "customer_id": b.id}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let b_coupon = v["coupons"][0]["code"].as_str().unwrap().to_string();
    let a_customer = app.store.customer(&a.id).await.unwrap().unwrap();
    let b_customer = app.store.customer(&b.id).await.unwrap().unwrap();
    let b_masked = forecourt_core::CardNo::parse(&b.card).unwrap().masked();
    let a_masked = forecourt_core::CardNo::parse(&a.card).unwrap().masked();
    let b_balance = app.balance(&b.card).await;
    let a_balance = app.balance(&a.card).await;
    let b_points = app.store.points_balance(&b.id).await.unwrap();

    let token = sign_in(&app, &a.card, PIN_A).await;
    let mut pages = Vec::new();
    for path in [
        "/m/",
        "/m/points",
        "/m/stations",
        "/m/password",
        // Whatever the request names, the session decides whose data it is.
        &format!("/m/?customer_id={}", b.id),
        &format!("/m/points?customer={}&page=1", b.id),
    ] {
        let p = get(&app, path, Some(&token)).await;
        assert_eq!(p.status, StatusCode::OK, "{path}: {}", p.body);
        pages.push((path.to_string(), p.body));
    }
    for (path, body) in &pages {
        for secret in [
            "王芳",
            b.card.as_str(),
            &b_masked,
            &b_customer.member_code,
            &b_coupon,
            &forecourt_server::web::yuan(b_balance),
            "13800005002",
            "138****5002",
        ] {
            assert!(!body.contains(secret), "{path} shows B's {secret}");
        }
        assert!(
            !body.contains(a.card.as_str()),
            "{path}: the card number is masked"
        );
    }
    let home = &pages[0].1;
    assert!(home.contains("李娜"));
    assert!(home.contains(&a_masked));
    assert!(home.contains(&a_customer.member_code));
    assert!(home.contains(&format!(
        r#"id="portal-balance">{}<"#,
        forecourt_server::web::yuan(a_balance)
    )));
    let a_points = app.store.points_balance(&a.id).await.unwrap();
    assert!(a_points > 0 && a_points != b_points);
    assert!(home.contains(&format!(r#"id="portal-points">{a_points}<"#)));
    // The tier and what is still needed, with a bar drawn without inline styles.
    assert!(home.contains(r#"<progress id="portal-tier-progress""#));
    assert!(home.contains("即可升级为 VIP"), "{home}");
    assert!(!home.contains("style="));
    // One purchase of A's (at Station S001), none of B's.
    assert!(home.contains("Station S001"));
    assert!(home.contains("暂无可用优惠券"));
    // Tabs and the sign-out button on every page.
    for (path, body) in &pages {
        for id in [
            "portal-tab-home",
            "portal-tab-points",
            "portal-tab-stations",
            "portal-logout",
            "lang-switch",
        ] {
            assert!(body.contains(id), "{path} lacks {id}");
        }
    }
    // B, signed in, sees the coupon.
    let token_b = sign_in(&app, &b.card, PIN_B).await;
    let home_b = get(&app, "/m/", Some(&token_b)).await;
    assert!(home_b.body.contains(&b_coupon));
    assert!(home_b.body.contains("王芳") && !home_b.body.contains("李娜"));
}

#[tokio::test]
async fn portal_points_history_has_reasons_and_pages() {
    let app = spawn_app().await;
    let a = member(&app, "李娜", "13800006001", PIN_A, 400_000, "S001").await;
    for i in 0..21 {
        let (st, v) = app
            .card_sale(
                &a.card,
                "GASOLINE_92",
                10_000 + i,
                &format!("S{i}"),
                json!({"pin": PIN_A}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    let token = sign_in(&app, &a.card, PIN_A).await;
    let p1 = get(&app, "/m/points", Some(&token)).await;
    assert_eq!(p1.status, StatusCode::OK);
    assert!(p1.body.contains(r#"<main id="portal-points-page">"#));
    assert_eq!(p1.body.matches(r#"<li class="row">"#).count(), 20);
    assert!(p1.body.contains("基础积分"), "every line says why");
    assert!(p1
        .body
        .contains(r#"id="portal-next" href="/m/points?page=2""#));
    assert!(!p1.body.contains("portal-prev"));
    let p2 = get(&app, "/m/points?page=2", Some(&token)).await;
    assert_eq!(p2.body.matches(r#"<li class="row">"#).count(), 1);
    assert!(p2.body.contains("portal-prev") && !p2.body.contains("portal-next"));
    let p9 = get(&app, "/m/points?page=9", Some(&token)).await;
    assert!(p9.body.contains("没有更多记录了"));
    // A member with no points is told how to earn them.
    let b = member(&app, "王芳", "13800006002", PIN_B, 0, "S001").await;
    let token_b = sign_in(&app, &b.card, PIN_B).await;
    let empty = get(&app, "/m/points", Some(&token_b)).await;
    assert!(empty.body.contains("还没有积分记录"));
}

#[tokio::test]
async fn portal_forms_need_the_session_csrf_token() {
    let app = spawn_app().await;
    let a = member(&app, "李娜", "13800007001", PIN_A, 0, "S001").await;
    let token = sign_in(&app, &a.card, PIN_A).await;
    let other = sign_in(&app, &a.card, PIN_A).await;
    let home = get(&app, "/m/", Some(&token)).await;
    let csrf = home.csrf();
    // The staff flavour of a CSRF token for the same token never passes.
    let staff_style = Secret::from_bytes([7; 32]).csrf_token(&token);
    let other_csrf = get(&app, "/m/", Some(&other)).await.csrf();

    for bad in [
        None,
        Some(""),
        Some(staff_style.as_str()),
        Some(other_csrf.as_str()),
    ] {
        let form: Vec<(&str, &str)> = bad.map(|c| vec![("_csrf", c)]).unwrap_or_default();
        let p = web(&app, "POST", "/m/logout", Some(&token), &[], Some(&form)).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{bad:?}");
        let mut pw = form.clone();
        pw.extend([
            ("current", PIN_A),
            ("new_password", "member-pass-1"),
            ("confirm", "member-pass-1"),
        ]);
        let p = web(&app, "POST", "/m/password", Some(&token), &[], Some(&pw)).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{bad:?}");
    }
    assert!(app.store.member_credential(&a.id).await.unwrap().is_none());
    assert_eq!(get(&app, "/m/", Some(&token)).await.status, StatusCode::OK);

    // The password form: the current PIN (or password) is asked again.
    let form = get(&app, "/m/password", Some(&token)).await;
    for id in [
        "portal-password-form",
        "portal-current",
        "portal-new-password",
        "portal-confirm-password",
        "portal-password-save",
    ] {
        assert!(form.body.contains(id), "{id}");
    }
    let post = |fields: Vec<(&'static str, String)>| {
        let app = &app;
        let token = token.clone();
        async move {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            web(app, "POST", "/m/password", Some(&token), &[], Some(&f)).await
        }
    };
    let with = |current: &str, new: &str, confirm: &str| {
        vec![
            ("_csrf", csrf.clone()),
            ("current", current.to_string()),
            ("new_password", new.to_string()),
            ("confirm", confirm.to_string()),
        ]
    };
    let p = post(with("000000", "member-pass-1", "member-pass-1")).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.body.contains("当前密码或卡密码不正确"));
    let p = post(with(PIN_A, "member-pass-1", "member-pass-2")).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    let p = post(with(PIN_A, "short", "short")).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.store.member_credential(&a.id).await.unwrap().is_none());
    let p = post(with(PIN_A, "member-pass-1", "member-pass-1")).await;
    assert_eq!(
        (p.status, p.location()),
        (StatusCode::SEE_OTHER, "/m/?done=password"),
        "{}",
        p.body
    );
    // This session stays, the member's other sessions end.
    let home = get(&app, "/m/?done=password", Some(&token)).await;
    assert!(home.body.contains("登录密码已保存"));
    assert_eq!(
        get(&app, "/m/", Some(&other)).await.status,
        StatusCode::SEE_OTHER
    );
    let ok = phone_login(&app, "13800007001", "member-pass-1").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    // Changing it again takes the current password.
    let p = post(with("member-pass-1", "member-pass-3", "member-pass-3")).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);

    // A sign-in form posted from another site is refused.
    let p = web(
        &app,
        "POST",
        "/m/login",
        None,
        &[
            ("host", "portal.example"),
            ("origin", "https://evil.example"),
        ],
        Some(&[("via", "card"), ("card_no", &a.card), ("pin", PIN_A)]),
    )
    .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.set_cookie().is_empty());

    // Sign out with the token: the session ends and the cookie goes.
    let p = web(
        &app,
        "POST",
        "/m/logout",
        Some(&token),
        &[],
        Some(&[("_csrf", &csrf)]),
    )
    .await;
    assert_eq!(
        (p.status, p.location()),
        (StatusCode::SEE_OTHER, "/m/login")
    );
    assert!(p.set_cookie().starts_with("fc_member=;"));
    assert!(p.set_cookie().contains("Max-Age=0"));
    let p = get(&app, "/m/points", Some(&token)).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/m/login?next=/m/points");
    // A sign-in only ever leads to a portal page.
    let token = sign_in(&app, &a.card, PIN_A).await;
    for (next, to) in [
        ("/m/points", "/m/points"),
        ("/admin/users", "/m/"),
        ("/m/../admin/users", "/m/"),
        ("https://evil.example/m/", "/m/"),
        ("//evil.example/m/", "/m/"),
    ] {
        let p = web(
            &app,
            "POST",
            "/m/login",
            None,
            &[],
            Some(&[
                ("via", "card"),
                ("card_no", &a.card),
                ("pin", PIN_A),
                ("next", next),
            ]),
        )
        .await;
        assert_eq!(
            (p.status, p.location()),
            (StatusCode::SEE_OTHER, to),
            "{next}"
        );
    }
    let p = get(&app, "/m/login?next=%2Fadmin", Some(&token)).await;
    assert_eq!(p.location(), "/m/");
    // Without a session the pages send to the sign-in.
    let p = get(&app, "/m/stations", None).await;
    assert_eq!(p.location(), "/m/login?next=/m/stations");
    let p = web(&app, "POST", "/m/logout", None, &[], Some(&[])).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn portal_pages_speak_chinese_by_default_and_english_on_request() {
    let app = spawn_app().await;
    let a = member(&app, "李娜", "13800008001", PIN_A, 10_000, "S001").await;
    let zh = get(&app, "/m/login", None).await;
    assert!(zh.body.contains(r#"<html lang="zh-CN">"#));
    assert!(zh.body.contains("会员登录") && zh.body.contains("卡号登录"));
    let en = web(
        &app,
        "GET",
        "/m/login",
        None,
        &[("accept-language", "en-US,en;q=0.9")],
        None,
    )
    .await;
    assert!(en.body.contains(r#"<html lang="en">"#));
    assert!(en.body.contains("Member sign-in") && en.body.contains("With your card"));
    assert!(!en.body.contains("会员登录"));
    // A refusal in English.
    let p = web(
        &app,
        "POST",
        "/m/login",
        None,
        &[("accept-language", "en")],
        Some(&[("via", "card"), ("card_no", &a.card), ("pin", "000000")]),
    )
    .await;
    assert!(
        p.error().starts_with("Wrong card number or PIN"),
        "{}",
        p.error()
    );

    let token = sign_in(&app, &a.card, PIN_A).await;
    for (path, zh_text, en_text) in [
        ("/m/", "您好，李娜", "Hello, 李娜"),
        ("/m/points", "可用积分", "Points available"),
        ("/m/stations", "油站与油价", "Stations and prices"),
        ("/m/password", "设置登录密码", "Set a password"),
    ] {
        let zh = get(&app, path, Some(&token)).await;
        assert!(zh.body.contains(zh_text), "{path}: {}", zh.body);
        let en = web(
            &app,
            "GET",
            path,
            Some(&token),
            &[("accept-language", "en")],
            None,
        )
        .await;
        assert!(en.body.contains(en_text), "{path}: {}", en.body);
        // The language cookie wins over the header.
        let cookie = format!("fc_member={token}; fc_lang=en");
        let by_cookie = web(
            &app,
            "GET",
            path,
            None,
            &[("cookie", cookie.as_str()), ("accept-language", "zh-CN")],
            None,
        )
        .await;
        assert!(by_cookie.body.contains(en_text), "{path}");
        assert!(by_cookie.body.contains(r#"href="/lang/zh-CN?next="#));
    }
}

#[tokio::test]
async fn portal_stations_list_todays_prices_nearby_first() {
    let app = spawn_app().await;
    for (code, region, lat, lon, addr) in [
        ("S010", "R1", 39.9087, 116.3975, "北京市东城区长安街 1 号"),
        ("S011", "R1", 39.9200, 116.4300, "北京市朝阳区建国路 88 号"),
        (
            "S012",
            "R3",
            31.2304,
            121.4737,
            "上海市黄浦区人民大道 100 号",
        ),
    ] {
        let (st, v) = app
            .post(
                "/api/v1/stations",
                &app.admin,
                json!({"code": code, "name": format!("站 {code}"), "region": region, "province": "京",
                       "lat": lat, "lon": lon, "address": addr, "opening_hours": "24h"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    for (station, product, fen) in [
        ("S010", "GASOLINE_92", 789),
        ("S010", "DIESEL_0", 745),
        ("S011", "GASOLINE_95", 851),
        ("S012", "GASOLINE_92", 802),
        // Not a fuel grade: not on the list.
        ("S010", "CAR_WASH", 2_500),
    ] {
        let (st, v) = app
            .post(
                &format!("/api/v1/stations/{station}/prices"),
                &app.admin,
                json!({"product_code": product, "unit_price_fen": fen}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    // A price from tomorrow on is not today's.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::hours(20)).to_rfc3339();
    let (st, v) = app
        .post(
            "/api/v1/stations/S010/prices",
            &app.admin,
            json!({"product_code": "GASOLINE_92", "unit_price_fen": 999, "effective_from": tomorrow}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let a = member(&app, "李娜", "13800009001", PIN_A, 0, "S010").await;
    let token = sign_in(&app, &a.card, PIN_A).await;
    let p = get(&app, "/m/stations", Some(&token)).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let body = &p.body;
    assert!(body.contains(r#"<main id="portal-stations">"#));
    for price in ["¥7.89", "¥7.45", "¥8.51", "¥8.02"] {
        assert!(body.contains(price), "{price}");
    }
    assert!(!body.contains("¥9.99") && !body.contains("¥25.00"));
    assert!(body.contains("92# 汽油") && body.contains("0# 柴油"));
    assert!(body.find("92# 汽油") < body.find("0# 柴油"), "petrol first");
    assert!(body.contains("北京市东城区长安街 1 号"));
    // Home first, then its region (nearest first, then those without a place), then
    // the rest.
    let at = |s: &str| body.find(s).unwrap_or_else(|| panic!("{s} missing"));
    assert!(at("portal-nearby") < at("portal-station-S010"));
    assert!(at("portal-station-S010") < at("portal-station-S011"));
    assert!(at("portal-station-S011") < at("portal-station-S001"));
    assert!(at("portal-station-S001") < at("portal-other-stations"));
    assert!(at("portal-other-stations") < at("portal-station-S012"));
    assert!(at("portal-station-S012") < at("portal-station-S002"));
    assert!(body.contains("常去油站"));
    assert!(body.contains(" km<"), "distances from the home station");
    // A station without prices says so.
    assert!(body.contains("今日油价暂未公布"));

    // English grade names.
    let en = web(
        &app,
        "GET",
        "/m/stations",
        Some(&token),
        &[("accept-language", "en")],
        None,
    )
    .await;
    assert!(en.body.contains("92 petrol") && en.body.contains("Near you"));

    // A member without a home station sees every station, and what to do.
    let id = app
        .customer("individual", "13800009002", json!({"name": "王芳"}))
        .await;
    let card = app
        .card(json!({"customer_id": id, "kind": "personal", "pin": PIN_B}))
        .await;
    let token_b = sign_in(&app, &card, PIN_B).await;
    let p = get(&app, "/m/stations", Some(&token_b)).await;
    assert!(p.body.contains("全部油站") && p.body.contains("您还没有常去油站"));
    assert!(!p.body.contains("portal-nearby"));
}

#[tokio::test]
async fn portal_home_shows_the_tier_and_what_is_still_needed() {
    let app = spawn_app().await;
    let a = member(&app, "李娜", "13800010001", PIN_A, 200_000, "S001").await;
    let (st, v) = app
        .card_sale(&a.card, "GASOLINE_92", 30_000, "T1", json!({"pin": PIN_A}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let spent = v["net_amount_fen"].as_i64().unwrap();
    let token = sign_in(&app, &a.card, PIN_A).await;

    // Standard, with the spend still needed for VIP (¥5,000 over 365 days by default).
    let home = get(&app, "/m/", Some(&token)).await.body;
    let need = forecourt_server::web::yuan(500_000 - spent);
    assert!(
        home.contains(&format!("再消费 {need} 即可升级为 VIP")),
        "{home}"
    );
    assert!(home.contains(&format!(r#"max="500000" value="{spent}""#)));
    assert!(home.contains(&forecourt_server::web::yuan(spent)));

    // A lower threshold that the figures already reach: the upgrade is on its way.
    let (st, v) = app
        .put(
            "/api/v1/tiers/vip",
            &app.admin,
            json!({"name": "VIP", "rank": 1, "discount_fen_per_litre": 5, "points_multiplier_permille": 1200, "qualify_spend_fen": 1_000}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let home = get(&app, "/m/", Some(&token)).await.body;
    assert!(home.contains("已达到 VIP 的条件"), "{home}");

    // A tier set by hand: its benefits, and no promise of a change.
    let (st, v) = app
        .post(
            &format!("/api/v1/customers/{}/tier", a.id),
            &app.admin,
            json!({"tier_code": "vip", "reason": "key account"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let home = get(&app, "/m/", Some(&token)).await.body;
    assert!(home.contains(r#"id="portal-tier-name">VIP<"#), "{home}");
    assert!(home.contains("加油每升优惠 ¥0.05") && home.contains("积分 ×1.2"));
    assert!(home.contains("您的等级由油站设定"));
    assert!(!home.contains("portal-tier-progress"));

    // The top tier says so.
    let (st, v) = app
        .post(
            &format!("/api/v1/customers/{}/tier", a.id),
            &app.admin,
            json!({"tier_code": "svip", "reason": "key account"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let en = web(
        &app,
        "GET",
        "/m/",
        Some(&token),
        &[("accept-language", "en")],
        None,
    )
    .await;
    assert!(en.body.contains("You are in the top tier"), "{}", en.body);
}

/// Redirect targets a browser would read as another host (`/m/\t/evil` has no `//`,
/// but `/\t/evil` is `//evil` once the tab is dropped), with control characters, with a
/// scheme, or out of `/m/`. Each lands on the portal's home.
#[tokio::test]
async fn portal_sign_in_targets_stay_in_the_portal() {
    let app = spawn_app().await;
    let a = member(&app, "王芳", "13900139011", PIN_A, 0, "S001").await;
    let hostile = [
        "//evil.example",
        "/\t/evil.example",
        "/\\evil.example",
        "/m/\\..\\..\\evil",
        "/\n/evil.example",
        "/m/\r\nSet-Cookie: x=1",
        "\n",
        " /m/points",
        "https://evil.example/m/",
        "/m/..//evil.example",
        "/m/%2e%2e/admin",
        "/m//evil.example",
        "/m/\u{3000}points",
        "",
    ];
    let all_bytes = |v: &str| v.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let token = sign_in(&app, &a.card, PIN_A).await;
    for bad in hostile {
        // A member already signed in is sent straight on to `next`.
        let p = get(
            &app,
            &format!("/m/login?next={}", all_bytes(bad)),
            Some(&token),
        )
        .await;
        assert_eq!(
            (p.status, p.location()),
            (StatusCode::SEE_OTHER, "/m/"),
            "next={bad:?}"
        );
        let p = get(&app, &format!("/m/login?next={}", all_bytes(bad)), None).await;
        assert_eq!(p.status, StatusCode::OK, "next={bad:?}");
        assert!(
            p.body.contains(r#"name="next" value="/m/""#),
            "next={bad:?}: {}",
            p.body
        );
    }
    // After a sign-in (a few, under the per-address limit).
    for bad in [
        "/\t/evil.example",
        "/m/..//evil.example",
        "/\n/evil.example",
    ] {
        let p = web(
            &app,
            "POST",
            "/m/login",
            None,
            &[],
            Some(&[
                ("via", "card"),
                ("card_no", &a.card),
                ("pin", PIN_A),
                ("next", bad),
            ]),
        )
        .await;
        assert_eq!(
            (p.status, p.location()),
            (StatusCode::SEE_OTHER, "/m/"),
            "sign-in next={bad:?}"
        );
    }
    for good in ["/m/points?page=2", "/m/stations"] {
        let p = get(
            &app,
            &format!("/m/login?next={}", all_bytes(good)),
            Some(&token),
        )
        .await;
        assert_eq!(p.location(), good);
    }
}
