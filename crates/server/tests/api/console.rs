//! The staff console through the real router, as a browser uses it: cookies, forms with
//! CSRF tokens, redirects. Each test checks what the page shows and what the ledger or
//! the rules hold afterwards.

use crate::harness::{spawn_app, App, ADMIN_PASSWORD, NOW};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use std::collections::HashMap;
use tower::ServiceExt;

/// A cookie jar and the last page, enough to drive server-rendered forms.
struct Browser<'a> {
    app: &'a App,
    cookies: HashMap<String, String>,
    lang: Option<&'static str>,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
    content_type: String,
    referrer_policy: String,
}

impl Page {
    /// The value of the hidden CSRF field of the page's first form.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"_csrf\" value=\"")
            .expect("a form with a CSRF field");
        let rest = &self.body[at + 20..];
        rest[..rest.find('"').unwrap()].to_string()
    }

    fn has(&self, needle: &str) -> bool {
        self.body.contains(needle)
    }
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                forecourt_server::web::percent_encode(v).replace('/', "%2F")
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl<'a> Browser<'a> {
    fn new(app: &'a App) -> Self {
        Browser {
            app,
            cookies: HashMap::new(),
            lang: None,
        }
    }

    async fn send(&mut self, method: &str, path: &str, body: Option<String>) -> Page {
        let mut req = Request::builder().method(method).uri(path);
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header(header::COOKIE, jar.join("; "));
        }
        if let Some(l) = self.lang {
            req = req.header(header::ACCEPT_LANGUAGE, l);
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(b)),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let res = self.app.router.clone().oneshot(req).await.unwrap();
        for c in res.headers().get_all(header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (kv, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let status = res.status();
        let location = res
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string());
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let referrer_policy = res
            .headers()
            .get(header::REFERRER_POLICY)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        Page {
            status,
            location,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            content_type,
            referrer_policy,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send("GET", path, None).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.send("POST", path, Some(form(fields))).await
    }

    async fn sign_in(&mut self, user: &str, password: &str) {
        let p = self
            .post(
                "/login",
                &[("username", user), ("password", password), ("next", "/")],
            )
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
        assert!(self.cookies.contains_key("fc_session"));
    }
}

async fn staff(app: &App, name: &str, role: &str, scope: &str) {
    let (st, v) = app
        .post(
            "/api/v1/users",
            &app.admin,
            json!({"username": name, "role": role, "scope": scope, "password": "Staff-pass-1234"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
}

async fn sale(
    app: &App,
    pos: &str,
    station: &str,
    key: &str,
    customer: serde_json::Value,
    ml: i64,
) {
    let body = json!({"pos_txn_id": key, "station_code": station, "occurred_at": crate::harness::NOW, "customer": customer,
        "lines": [{"product_code": "GASOLINE_92", "volume_ml": ml, "unit_price_fen": 800}]});
    let (st, q) = app.post("/api/v1/pos/quotes", pos, body.clone()).await;
    assert_eq!(st, StatusCode::OK, "{q}");
    let mut body = body;
    body["payments"] = json!([{"method": "cash", "amount_fen": q["net_amount_fen"]}]);
    let (st, v) = app.post("/api/v1/pos/sales", pos, body).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn pages_need_a_session_and_sign_in_answers_in_the_visitors_language() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    let p = b.get("/customers?q=1").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(
        p.location.as_deref(),
        Some("/login?next=/customers%3Fq%3D1")
    );

    let p = b.get("/login").await;
    assert!(
        p.has("<html lang=\"zh-CN\"") && p.has("登录"),
        "Chinese by default"
    );
    // With `no-referrer` a browser would post the form with `Origin: null`, which
    // sign-in refuses as another site's.
    assert_eq!(p.referrer_policy, "same-origin");
    let p = b
        .post(
            "/login",
            &[
                ("username", "admin"),
                ("password", "wrong-pass-1"),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.has("用户名或密码错误"));
    assert!(!b.cookies.contains_key("fc_session"));

    b.lang = Some("en-GB,en;q=0.9");
    let p = b
        .post(
            "/login",
            &[
                ("username", "admin"),
                ("password", "wrong-pass-1"),
                ("next", "/"),
            ],
        )
        .await;
    assert!(p.has("Wrong username or password"), "{}", p.body);

    // A redirect target off the site is ignored.
    let p = b
        .post(
            "/login",
            &[
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/"));
    let p = b.get("/").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.has("<html lang=\"en\"") && p.has("Dashboard"));
    assert!(p.content_type.starts_with("text/html"));

    // The switch remembers Chinese against the browser's English.
    let p = b.get("/lang/zh-CN?next=/customers").await;
    assert_eq!(p.location.as_deref(), Some("/customers"));
    let p = b.get("/customers").await;
    assert!(p.has("客户查询"), "{}", p.body);

    // Signing out needs the form's token and ends the session.
    let p = b.post("/logout", &[("_csrf", "forged")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let token = b.get("/").await.csrf();
    let p = b.post("/logout", &[("_csrf", &token)]).await;
    assert_eq!(p.location.as_deref(), Some("/login"));
    assert_eq!(b.get("/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_dashboard_shows_charts_of_the_users_own_stations_only() {
    let app = spawn_app().await;
    staff(&app, "mgr1", "station_manager", "station:S001").await;
    app.customer("individual", "13800000101", json!({"home_station": "S001"}))
        .await;
    sale(
        &app,
        &app.pos1,
        "S001",
        "d-1",
        json!({"phone": "13800000101"}),
        10_000,
    )
    .await; // 80.00
    sale(&app, &app.pos1, "S001", "d-2", json!(null), 5_000).await; // 40.00
    sale(&app, &app.pos2, "S002", "d-3", json!(null), 100_000).await; // 800.00

    let mut b = Browser::new(&app);
    b.sign_in("mgr1", "Staff-pass-1234").await;
    let p = b.get("/").await;
    assert_eq!(p.status, StatusCode::OK);
    for id in [
        "chart-sales",
        "chart-products",
        "chart-share",
        "chart-new",
        "chart-tiers",
    ] {
        assert!(p.has(&format!("id=\"{id}\"")), "{id} missing");
    }
    assert!(p.body.matches("<svg class=\"chart\"").count() >= 5);
    // The sales at S002 are not the manager's.
    assert!(
        p.has("id=\"kpi-net\">¥120.00<"),
        "{}",
        &p.body[p.body.find("kpi-net").unwrap()..][..60]
    );
    // One member sale of 80.00 out of 120.00.
    assert!(p.has("<b>66.7%</b>"), "member share");
    assert!(!p.has("id=\"admin-menu\""));

    let mut admin = Browser::new(&app);
    admin.sign_in("admin", ADMIN_PASSWORD).await;
    let p = admin.get("/").await;
    assert!(p.has("id=\"kpi-net\">¥920.00<"));
    assert!(p.has("id=\"admin-menu\""));
}

#[tokio::test]
async fn a_cashier_sees_masked_phones_and_no_administration() {
    let app = spawn_app().await;
    staff(&app, "cash1", "cashier", "station:S001").await;
    let id = app
        .customer("individual", "13912345678", json!({"home_station": "S001"}))
        .await;
    let mut b = Browser::new(&app);
    b.sign_in("cash1", "Staff-pass-1234").await;
    // One search, one match: straight to the profile.
    let p = b.get("/customers?q=13912345678").await;
    assert_eq!(
        p.location.as_deref(),
        Some(format!("/customers/{id}").as_str())
    );
    let p = b.get(&format!("/customers/{id}")).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.has("139****5678"));
    assert!(!p.has("13912345678"));
    assert!(
        !p.has("id=\"admin-menu\"")
            && !p.has("href=\"/admin/users\"")
            && !p.has("href=\"/loyalty\"")
    );
    // The role table lets cashiers issue cards at the till, but not manage them.
    assert!(p.has("issue-card-form"));
    for path in ["/admin/users", "/admin/audit", "/loyalty", "/analytics/rfm"] {
        assert_eq!(b.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }

    let mut m = Browser::new(&app);
    staff(&app, "mgr1", "station_manager", "station:S001").await;
    m.sign_in("mgr1", "Staff-pass-1234").await;
    let p = m.get(&format!("/customers/{id}")).await;
    assert!(p.has("13912345678") && p.has("issue-card-form"));
}

#[tokio::test]
async fn issuing_and_recharging_a_card_in_the_console_posts_once_and_checks_input() {
    let app = spawn_app().await;
    staff(&app, "mgr1", "station_manager", "station:S001").await;
    let id = app
        .customer("individual", "13700000001", json!({"home_station": "S001"}))
        .await;
    let mut b = Browser::new(&app);
    b.sign_in("mgr1", "Staff-pass-1234").await;
    let profile = b.get(&format!("/customers/{id}")).await;
    let token = profile.csrf();

    let p = b
        .post(
            "/cards",
            &[
                ("_csrf", &token),
                ("customer_id", &id),
                ("kind", "personal"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let loc = p.location.unwrap();
    assert!(loc.ends_with("?done=issued"), "{loc}");
    let no = loc
        .trim_start_matches("/cards/")
        .trim_end_matches("?done=issued")
        .to_string();
    let page = b.get(&loc).await;
    assert!(page.has("id=\"recharge-form\""));
    let request_id = {
        let at = page.body.find("name=\"request_id\" value=\"").unwrap() + 24;
        page.body[at..at + 36].to_string()
    };

    // Without the token nothing happens.
    let p = b
        .post(
            &format!("/cards/{no}/recharge"),
            &[
                ("amount", "500"),
                ("method", "cash"),
                ("request_id", &request_id),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // A bad amount is refused with a clear message.
    let p = b
        .post(
            &format!("/cards/{no}/recharge"),
            &[
                ("_csrf", &token),
                ("amount", "abc"),
                ("method", "cash"),
                ("request_id", &request_id),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.has("金额格式不正确"));
    assert_eq!(app.balance(&no).await, 0);

    let fields = [
        ("_csrf", token.as_str()),
        ("amount", "500.00"),
        ("method", "wechat"),
        ("request_id", request_id.as_str()),
    ];
    let p = b.post(&format!("/cards/{no}/recharge"), &fields).await;
    assert_eq!(
        p.location.as_deref(),
        Some(format!("/cards/{no}?done=recharged").as_str()),
        "{}",
        p.body
    );
    // The same form sent twice (a double click) posts once.
    let p = b.post(&format!("/cards/{no}/recharge"), &fields).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(app.balance(&no).await, 50_000);
    let page = b.get(&format!("/cards/{no}?done=recharged")).await;
    assert!(page.has("id=\"card-balance\">¥500.00<") && page.has("notice ok"));

    // Freeze, then a recharge is refused by the API's rules.
    let p = b
        .post(
            &format!("/cards/{no}/state"),
            &[
                ("_csrf", &token),
                ("state", "frozen"),
                ("reason", "customer asked"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let p = b
        .post(
            &format!("/cards/{no}/recharge"),
            &[
                ("_csrf", &token),
                ("amount", "1"),
                ("method", "cash"),
                ("request_id", "other-request"),
            ],
        )
        .await;
    assert!(p.status.is_client_error());
    assert!(p.has("该卡已冻结"), "{}", p.body);
    assert_eq!(app.balance(&no).await, 50_000);
    app.assert_clean().await;
}

#[tokio::test]
async fn a_rule_changed_in_the_console_is_a_new_version_and_bad_json_changes_nothing() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    b.sign_in("admin", ADMIN_PASSWORD).await;
    let p = b.get("/loyalty").await;
    assert_eq!(p.status, StatusCode::OK);
    let needle = "class=\"rule-link\" href=\"/loyalty/rules/";
    let at = p.body.find(needle).expect("the base rule is listed") + needle.len();
    let rule_id = p.body[at..][..p.body[at..].find('"').unwrap()].to_string();
    let token = p.csrf();
    let page = b.get(&format!("/loyalty/rules/{rule_id}")).await;
    assert!(page.has("id=\"rule-form\"") && page.has("id=\"rule-json\""));

    let p = b
        .post(
            &format!("/loyalty/rules/{rule_id}"),
            &[
                ("_csrf", &token),
                ("kind", "earn"),
                ("name", "Base"),
                ("active", "1"),
                ("rule", "{not json"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.has("不是有效的 JSON"));
    let (_, v) = app
        .get(&format!("/api/v1/loyalty/rules/{rule_id}"), &app.admin)
        .await;
    assert_eq!(v["versions"].as_array().unwrap().len(), 1);

    let body = r#"{"basis": "per_yuan", "points_per_unit": 2}"#;
    let p = b
        .post(
            &format!("/loyalty/rules/{rule_id}"),
            &[
                ("_csrf", &token),
                ("kind", "earn"),
                ("name", "Double base"),
                ("active", "1"),
                ("rule", body),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert!(p.location.unwrap().starts_with("/loyalty?done=rule"));
    let (_, v) = app
        .get(&format!("/api/v1/loyalty/rules/{rule_id}"), &app.admin)
        .await;
    let versions = v["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions
        .iter()
        .any(|r| r["name"] == "Double base" && r["body"]["points_per_unit"] == 2));
    let p = b.get("/loyalty?done=rule").await;
    assert!(p.has("Double base") && p.has("v2"));

    // A tier's row saves through its own form.
    let p = b.get("/loyalty").await;
    assert!(p.has("id=\"tier-vip\"") && p.has("form=\"tier-vip\""));
    let p = b
        .post(
            "/loyalty/tiers/vip",
            &[
                ("_csrf", &token),
                ("name", "VIP"),
                ("rank", "1"),
                ("discount", "0.08"),
                ("multiplier", "1300"),
                ("qualify_spend", "6000"),
                ("qualify_litres", "0"),
                ("qualify_visits", "0"),
                ("car_washes", "0"),
            ],
        )
        .await;
    assert_eq!(
        p.location.as_deref(),
        Some("/loyalty?done=tier_saved"),
        "{}",
        p.body
    );
    let (_, v) = app.get("/api/v1/tiers", &app.admin).await;
    let vip = v["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["code"] == "vip")
        .unwrap()
        .clone();
    assert_eq!(
        (
            vip["discount_fen_per_litre"].as_i64(),
            vip["qualify_spend_fen"].as_i64()
        ),
        (Some(8), Some(600_000))
    );
    let p = b
        .post(
            "/loyalty/tiers/vip",
            &[("_csrf", &token), ("name", "VIP"), ("rank", "x")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);

    // A new bonus rule that can never fire is refused with the API's reason.
    let never = r#"{"conditions": {"weekdays": [9]}, "bonus": {"kind": "fixed", "points": 5}}"#;
    let p = b
        .post(
            "/loyalty/rules/new-rule",
            &[
                ("_csrf", &token),
                ("kind", "bonus"),
                ("name", "Never"),
                ("active", "1"),
                ("rule", never),
            ],
        )
        .await;
    assert!(p.status.is_client_error(), "{}", p.status);
    assert!(p.has("notice error"));
}

#[tokio::test]
async fn analytics_pages_draw_charts_and_download_csv() {
    let app = spawn_app().await;
    let c1 = app.customer("individual", "13600000001", json!({})).await;
    app.customer("individual", "13600000002", json!({})).await;
    sale(
        &app,
        &app.pos1,
        "S001",
        "a-1",
        json!({"phone": "13600000001"}),
        40_000,
    )
    .await;
    sale(
        &app,
        &app.pos1,
        "S001",
        "a-2",
        json!({"phone": "13600000002"}),
        10_000,
    )
    .await;
    let mut b = Browser::new(&app);
    b.sign_in("admin", ADMIN_PASSWORD).await;
    for view in ["rfm", "abc", "lifecycle"] {
        let p = b.get(&format!("/analytics/{view}")).await;
        assert_eq!(p.status, StatusCode::OK, "{view}");
        assert!(p.has("id=\"analytics-chart\""), "{view}: {}", p.body);
        assert!(
            p.has("id=\"analytics-chart\"") && p.has("<svg class=\"chart\""),
            "{view}"
        );
        assert!(
            p.has(&format!("/customers/{c1}")),
            "{view} links the customer"
        );
    }
    let p = b.get("/analytics/abc").await;
    assert!(
        p.has("55% · A") && p.has("85% · B"),
        "the ABC curve shows the 55/85 guides"
    );
    let p = b.get("/analytics/rfm?format=csv").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.content_type.starts_with("text/csv"));
    let mut lines = p.body.lines();
    let head = lines.next().unwrap();
    assert!(
        head.contains("customer") && head.contains("segment"),
        "{head}"
    );
    assert_eq!(lines.count(), 2);
    let _ = NOW;
}

#[tokio::test]
async fn users_and_the_audit_log_for_administrators() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    b.sign_in("admin", ADMIN_PASSWORD).await;
    let p = b.get("/admin/users").await;
    assert!(p.has("id=\"role-matrix\"") && p.has("id=\"users\""));
    let token = p.csrf();
    let p = b
        .post(
            "/admin/users",
            &[
                ("_csrf", &token),
                ("username", "new.cashier"),
                ("role", "cashier"),
                ("scope", "station:S001"),
                ("password", "short"),
            ],
        )
        .await;
    assert!(p.status.is_client_error());
    assert!(p.has("notice error"));
    let p = b
        .post(
            "/admin/users",
            &[
                ("_csrf", &token),
                ("username", "new.cashier"),
                ("role", "cashier"),
                ("scope", "station:S001"),
                ("password", "Cashier-pass-2026"),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/admin/users?done=user"));
    assert!(b.get("/admin/users").await.has("new.cashier"));
    let p = b.get("/admin/audit").await;
    // Each action by its name in the page's language, with its code beside it.
    for (label, code) in [("新建用户", "user.create"), ("登录", "user.login")] {
        let cell = format!("{label}<br><small class=\"muted\"><code>{code}</code></small>");
        assert!(p.has(&cell), "no {cell} in {}", p.body);
    }
}

#[tokio::test]
async fn a_cashier_registers_a_member_at_the_counter() {
    let app = spawn_app().await;
    staff(&app, "cash1", "cashier", "station:S001").await;
    let mut b = Browser::new(&app);
    b.sign_in("cash1", "Staff-pass-1234").await;
    let p = b.get("/customers").await;
    assert!(p.has("id=\"new-customer-form\""));
    let token = p.csrf();
    let p = b
        .post(
            "/customers",
            &[
                ("_csrf", &token),
                ("kind", "individual"),
                ("name", "李娜"),
                ("phone", "12345"),
                ("plate", "京A12345"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p.has("notice error") && p.has("value=\"李娜\""),
        "the form keeps what was typed"
    );
    let p = b
        .post(
            "/customers",
            &[
                ("_csrf", &token),
                ("kind", "individual"),
                ("name", "李娜"),
                ("phone", "13511112222"),
                ("plate", "京A12345"),
                ("consent_marketing", "1"),
            ],
        )
        .await;
    let loc = p.location.expect("to the new profile");
    assert!(loc.ends_with("?done=customer"), "{loc}");
    let id = loc
        .trim_start_matches("/customers/")
        .trim_end_matches("?done=customer");
    let (_, v) = app
        .get(&format!("/api/v1/customers/{id}"), &app.admin)
        .await;
    assert_eq!(v["phone"], "13511112222");
    assert_eq!(v["vehicles"][0]["plate"], "京A12345");
    assert_eq!(v["consent"]["marketing"], true);
    // At the cashier's own station, so the cashier finds the member by plate at once.
    let p = b.get("/customers?q=%E4%BA%ACA12345").await;
    assert_eq!(
        p.location.as_deref(),
        Some(format!("/customers/{id}").as_str())
    );
}

/// A recharge over a personal card's cap names the personal card's cap (5,000 元) and
/// the balance it would reach, not the anonymous card's 1,000 元; the API carries the
/// figures in `error.details`.
#[tokio::test]
async fn a_recharge_over_the_cap_names_the_cards_own_cap() {
    let app = spawn_app().await;
    staff(&app, "mgr1", "station_manager", "station:S001").await;
    let id = app
        .customer("individual", "13700000002", json!({"home_station": "S001"}))
        .await;
    let mut b = Browser::new(&app);
    b.sign_in("mgr1", "Staff-pass-1234").await;
    let profile = b.get(&format!("/customers/{id}")).await;
    let token = profile.csrf();
    let p = b
        .post(
            "/cards",
            &[
                ("_csrf", &token),
                ("customer_id", &id),
                ("kind", "personal"),
            ],
        )
        .await;
    let loc = p.location.unwrap();
    let no = loc
        .trim_start_matches("/cards/")
        .trim_end_matches("?done=issued")
        .to_string();
    let fields = [
        ("_csrf", token.as_str()),
        ("amount", "5200"),
        ("method", "cash"),
        ("request_id", "cap-request"),
    ];
    let p = b.post(&format!("/cards/{no}/recharge"), &fields).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(
        p.has("¥5,000.00") && p.has("¥5,200.00"),
        "the personal card's cap and the balance it would reach: {}",
        p.body
    );
    assert!(!p.has("1000 元"), "{}", p.body);
    assert_eq!(app.balance(&no).await, 0);

    // The API gives the same figures to any client.
    let (st, v) = app
        .post(
            "/api/v1/pos/recharges",
            &app.pos1.clone(),
            json!({"pos_txn_id": "cap-api", "station_code": "S001", "occurred_at": NOW,
                   "card_no": no, "amount_fen": 520_000,
                   "payments": [{"method": "cash", "amount_fen": 520_000}]}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "face_value_cap");
    assert_eq!(v["error"]["details"]["cap_fen"], 500_000);
    assert_eq!(v["error"]["details"]["would_be_fen"], 520_000);
}

/// Redirect targets a browser would read as another host (`/\t/evil` is `//evil` once
/// the tab is dropped), with control characters, or with a scheme. Each lands on the
/// default page instead.
const HOSTILE_NEXT: &[&str] = &[
    "//evil.example",
    "/\t/evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\n",
    "\t/evil.example",
    " /evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "/..//evil.example",
    "/%2e%2e//evil.example",
    "/customers//evil.example",
    "/\u{3000}/evil.example",
    "/\u{85}/evil.example",
    "evil.example",
    "",
];

/// Percent-encodes every byte, so that the decoded query value is exactly `v`.
fn query_value(v: &str) -> String {
    v.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test]
async fn redirect_targets_from_requests_stay_on_the_site() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    for bad in HOSTILE_NEXT {
        // The language switch (no session needed); `/%0A…` used to make it panic.
        let p = b.get(&format!("/lang/en?next={}", query_value(bad))).await;
        assert_eq!(
            (p.status, p.location.as_deref()),
            (StatusCode::SEE_OTHER, Some("/")),
            "/lang next={bad:?}"
        );
        // The sign-in form carries only a safe target into its hidden field.
        let p = b.get(&format!("/login?next={}", query_value(bad))).await;
        assert_eq!(p.status, StatusCode::OK, "/login next={bad:?}");
        assert!(
            p.has(r#"name="next" value="/""#),
            "/login next={bad:?}: {}",
            p.body
        );
    }
    // The same after a successful staff sign-in (each one a fresh browser).
    for bad in HOSTILE_NEXT {
        let mut b = Browser::new(&app);
        let p = b
            .post(
                "/login",
                &[
                    ("username", "admin"),
                    ("password", ADMIN_PASSWORD),
                    ("next", bad),
                ],
            )
            .await;
        assert_eq!(
            (p.status, p.location.as_deref()),
            (StatusCode::SEE_OTHER, Some("/")),
            "sign-in next={bad:?}"
        );
        assert!(b.cookies.contains_key("fc_session"), "sign-in next={bad:?}");
    }
    // Good targets are kept.
    for good in [
        "/customers?q=1",
        "/cards/6200001234?done=recharged",
        "/audit",
    ] {
        let p = b
            .get(&format!("/lang/zh-CN?next={}", query_value(good)))
            .await;
        assert_eq!(p.location.as_deref(), Some(good));
        let mut b = Browser::new(&app);
        let p = b
            .post(
                "/login",
                &[
                    ("username", "admin"),
                    ("password", ADMIN_PASSWORD),
                    ("next", good),
                ],
            )
            .await;
        assert_eq!(p.location.as_deref(), Some(good), "sign-in next={good:?}");
    }
}

/// What a person reads on a page: the text between the tags, entities as written.
fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            _ if !in_tag => out.push(ch),
            _ => {}
        }
    }
    out
}

/// The first time in `text` written as engineers write it: ISO 8601 with its `T`
/// (`2026-11-20T08:30`), a clock time ending in `Z` or `+00:00`, or microseconds since
/// the epoch (16 digits, the years 2017 to 2033).
fn engineers_time(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let digits = |from: usize, n: usize| {
        from + n <= b.len() && b[from..from + n].iter().all(u8::is_ascii_digit)
    };
    let around = |at: usize| {
        let from = text.floor_char_boundary(at.saturating_sub(20));
        let to = text.ceil_char_boundary((at + 30).min(text.len()));
        text[from..to].to_string()
    };
    for i in 0..b.len() {
        // 2026-11-20T08:30
        if digits(i, 4)
            && b.get(i + 4) == Some(&b'-')
            && digits(i + 5, 2)
            && b.get(i + 7) == Some(&b'-')
            && digits(i + 8, 2)
            && b.get(i + 10) == Some(&b'T')
            && digits(i + 11, 2)
            && b.get(i + 13) == Some(&b':')
            && digits(i + 14, 2)
        {
            return Some(around(i));
        }
        // 08:30Z, 08:30:00Z, 08:30:00.123456Z, 08:30:00+00:00
        if digits(i, 2) && b.get(i + 2) == Some(&b':') && digits(i + 3, 2) {
            let mut j = i + 5;
            if b.get(j) == Some(&b':') && digits(j + 1, 2) {
                j += 3;
                if b.get(j) == Some(&b'.') {
                    j += 1;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                }
            }
            if b.get(j) == Some(&b'Z') || text[j.min(text.len())..].starts_with("+00:00") {
                return Some(around(i));
            }
        }
        // 1763598600000000
        let starts = i == 0 || !b[i - 1].is_ascii_digit();
        if starts
            && b[i] == b'1'
            && digits(i, 16)
            && (b'5'..=b'9').contains(&b[i + 1])
            && !digits(i + 16, 1)
        {
            return Some(around(i));
        }
    }
    None
}

/// The current minute, in UTC: a sale's time that any till clock check accepts.
fn this_minute() -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound, TimeDelta};
    chrono::Utc::now()
        .duration_trunc(TimeDelta::minutes(1))
        .unwrap()
}

fn shown(at: chrono::DateTime<chrono::Utc>, zone: chrono_tz::Tz) -> String {
    at.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string()
}

/// Adds station S003 in Xinjiang (UTC+6, two hours behind the network's clock) and
/// returns its POS token.
async fn urumqi_station(app: &App) -> String {
    let (st, v) = app
        .post(
            "/api/v1/stations",
            &app.admin,
            json!({"code": "S003", "name": "Station S003", "region": "R3", "province": "新", "time_zone": "Asia/Urumqi"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    app.pos_token("S003").await
}

/// A card sale at `at` on a station's till, paid with the card and its PIN.
async fn card_sale_at(app: &App, pos: &str, station: &str, card: &str, key: &str, at: &str) {
    // A live till's time is the server's own (within a few minutes).
    app.set_now(at);
    let body = json!({"pos_txn_id": key, "station_code": station, "occurred_at": at, "customer": {"card_no": card},
        "lines": [{"product_code": "GASOLINE_92", "volume_ml": 10_000, "unit_price_fen": 800}]});
    let (st, q) = app.post("/api/v1/pos/quotes", pos, body.clone()).await;
    assert_eq!(st, StatusCode::OK, "{q}");
    let mut body = body;
    body["payments"] = json!([{"method": "card", "card_no": card, "amount_fen": q["net_amount_fen"], "pin": "135790"}]);
    let (st, v) = app.post("/api/v1/pos/sales", pos, body).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn a_sale_reads_the_same_local_time_on_the_profile_the_card_and_in_the_portal() {
    let app = spawn_app().await;
    let pos3 = urumqi_station(&app).await;
    let id = app
        .customer(
            "individual",
            "13800007001",
            json!({"name": "周敏", "home_station": "S001"}),
        )
        .await;
    let card = app
        .card(json!({"customer_id": id, "kind": "personal", "pin": "135790"}))
        .await;
    let (st, v) = app.recharge(&card, 100_000, "R-times").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    // One sale at a Beijing-time station and one in Xinjiang, at the same known UTC
    // instant (given to the tills in UTC, as some send it).
    let at = this_minute();
    let at_text = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    card_sale_at(&app, &app.pos1, "S001", &card, "T-BJ", &at_text).await;
    card_sale_at(&app, &pos3, "S003", &card, "T-XJ", &at_text).await;
    let beijing = shown(at, chrono_tz::Asia::Shanghai);
    let xinjiang = shown(at, chrono_tz::Asia::Urumqi);
    let utc = shown(at, chrono_tz::UTC);
    assert!(beijing != xinjiang && beijing != utc);

    let mut b = Browser::new(&app);
    b.sign_in("admin", ADMIN_PASSWORD).await;
    let profile = b.get(&format!("/customers/{id}")).await;
    let card_page = b.get(&format!("/cards/{card}")).await;
    let portal_login = b
        .post(
            "/m/login",
            &[("via", "card"), ("card_no", &card), ("pin", "135790")],
        )
        .await;
    assert_eq!(
        portal_login.status,
        StatusCode::SEE_OTHER,
        "{}",
        portal_login.body
    );
    let portal = b.get("/m/").await;
    for (name, page) in [
        ("profile", &profile),
        ("card page", &card_page),
        ("portal", &portal),
    ] {
        assert_eq!(page.status, StatusCode::OK, "{name}: {}", page.body);
        let text = visible_text(&page.body);
        // The Beijing sale in Beijing time, unlabelled (it is the network's clock);
        // the Xinjiang sale in Xinjiang time, with the zone's name.
        assert!(
            text.contains(&format!("{beijing} ")) && !text.contains(&format!("{beijing} (")),
            "{name} does not show the sale at {beijing} Beijing time: {text}"
        );
        assert!(
            text.contains(&format!("{xinjiang} (新疆时间)")),
            "{name} does not show the Xinjiang sale at {xinjiang} Xinjiang time: {text}"
        );
        assert!(
            !text.contains(&utc),
            "{name} shows the UTC time {utc}: {text}"
        );
    }
    // The label speaks the page's language.
    b.lang = Some("en");
    b.cookies.remove("fc_lang");
    let card_en = visible_text(&b.get(&format!("/cards/{card}")).await.body);
    assert!(
        card_en.contains(&format!("{xinjiang} (Xinjiang time)")),
        "{card_en}"
    );
}

#[tokio::test]
async fn the_audit_log_shows_network_local_time() {
    let app = spawn_app().await;
    urumqi_station(&app).await;
    // A price from a time on, at the Xinjiang station: its audit detail holds the time.
    let from = this_minute() + chrono::TimeDelta::hours(3);
    let (st, v) = app
        .post(
            "/api/v1/stations/S003/prices",
            &app.admin,
            json!({"product_code": "GASOLINE_92", "unit_price_fen": 812, "effective_from": from.to_rfc3339()}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let mut b = Browser::new(&app);
    b.sign_in("admin", ADMIN_PASSWORD).await;
    let (st, audit) = app.get("/api/v1/audit?limit=50", &app.admin).await;
    assert_eq!(st, StatusCode::OK, "{audit}");
    let entries = audit["entries"].as_array().unwrap();
    let price = entries
        .iter()
        .find(|e| e["action"] == "price.set")
        .expect("the price change is audited");
    let at = chrono::DateTime::parse_from_rfc3339(price["at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let page = b.get("/admin/audit").await;
    assert_eq!(page.status, StatusCode::OK);
    let text = visible_text(&page.body);
    let network = shown(at, chrono_tz::Asia::Shanghai);
    assert!(
        text.contains(&network),
        "the audit log does not show {network} (network time): {text}"
    );
    assert!(
        !text.contains(&shown(at, chrono_tz::UTC)),
        "the audit log shows UTC: {text}"
    );
    // The price's start, in the station's time and labelled, not as microseconds.
    let starts = format!("{} (新疆时间)", shown(from, chrono_tz::Asia::Urumqi));
    assert!(text.contains(&starts), "no {starts} in {text}");
    assert_eq!(engineers_time(&text), None);
}

/// Every console page of docs/console.md this test can reach, with a sale, a
/// coupon, a rule and audit entries to show: none shows a time as engineers write it.
#[tokio::test]
async fn no_console_page_shows_an_engineers_time() {
    assert_eq!(
        engineers_time("at 2026-11-20T08:30 here").as_deref(),
        Some("at 2026-11-20T08:30 here")
    );
    assert!(engineers_time("08:30:00.5Z").is_some());
    assert!(engineers_time("08:30+00:00").is_some());
    assert!(engineers_time("\"effective_from\":1763598600000000}").is_some());
    assert_eq!(
        engineers_time("2026-11-20 16:30 · ¥1,234.56 · 6217001234567890"),
        None
    );

    let app = spawn_app().await;
    let pos3 = urumqi_station(&app).await;
    let id = app
        .customer(
            "individual",
            "13800007002",
            json!({"name": "孙丽", "home_station": "S003"}),
        )
        .await;
    let card = app
        .card(json!({"customer_id": id, "kind": "personal", "pin": "135790"}))
        .await;
    let (st, v) = app.recharge(&card, 100_000, "R-scan").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let at = this_minute().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    card_sale_at(&app, &pos3, "S003", &card, "T-SCAN", &at).await;
    let (st, v) = app
        .post(
            "/api/v1/loyalty/coupons",
            &app.admin,
            json!({"template_id": "tier-car-wash", "customer_id": id}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = app
        .post(
            "/api/v1/stations/S003/prices",
            &app.admin,
            json!({"product_code": "GASOLINE_92", "unit_price_fen": 812}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, rules) = app.get("/api/v1/loyalty/rules", &app.admin).await;
    assert_eq!(st, StatusCode::OK, "{rules}");
    let rule = rules["rules"][0]["rule_id"].as_str().map(str::to_string);

    let mut b = Browser::new(&app);
    let mut paths: Vec<String> = vec!["/login".into()];
    b.sign_in("admin", ADMIN_PASSWORD).await;
    paths.extend(
        [
            "/",
            "/customers",
            "/customers?q=13800007002",
            "/cards",
            "/loyalty",
            "/loyalty/rules/new",
            "/analytics",
            "/analytics/rfm",
            "/analytics/abc",
            "/analytics/lifecycle",
            "/analytics/clv",
            "/analytics/churn",
            "/analytics/forecast",
            "/admin/users",
            "/admin/audit",
            "/tickets",
            "/tickets/new",
            "/admin/service-desk",
            "/surveys",
        ]
        .map(String::from),
    );
    let (st, t) = app
        .post(
            "/api/v1/tickets",
            &app.admin,
            json!({"kind": "complaint", "channel": "counter", "station_code": "S003", "category": "metering",
                   "severity": "high", "customer_id": id, "description": "计量不准"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    paths.push(format!("/tickets/{}", t["id"].as_str().unwrap()));
    paths.push(format!("/customers/{id}"));
    paths.push(format!("/cards/{card}"));
    if let Some(r) = rule {
        paths.push(format!("/loyalty/rules/{r}"));
    }
    for lang in ["zh-CN", "en"] {
        for path in &paths {
            let p = b.get(&format!("/lang/{lang}?next=/")).await;
            assert_eq!(p.status, StatusCode::SEE_OTHER);
            let mut p = b.get(path).await;
            // A search with one match opens the profile.
            if p.status == StatusCode::SEE_OTHER {
                p = b.get(p.location.as_deref().unwrap_or("/")).await;
            }
            // A view short of data explains itself with a 4xx page, still a page.
            assert!(
                !p.status.is_server_error(),
                "{path}: {} {}",
                p.status,
                p.body
            );
            assert!(p.content_type.starts_with("text/html"), "{path}");
            let text = visible_text(&p.body);
            assert_eq!(
                engineers_time(&text),
                None,
                "{path} ({lang}) shows a time as engineers write it"
            );
        }
    }
}

#[tokio::test]
async fn the_console_shows_another_stations_customer_masked_and_refuses_the_profile() {
    let app = spawn_app().await;
    staff(&app, "mgr1", "station_manager", "station:S001").await;
    let theirs = app
        .customer("individual", "13912340002", json!({"home_station": "S002"}))
        .await;
    let mut m = Browser::new(&app);
    m.sign_in("mgr1", "Staff-pass-1234").await;
    // One match, but outside the scope: listed masked, with no way to the profile.
    let p = m.get("/customers?q=13912340002").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.location.is_none());
    // (The search box keeps what was typed; the results show only the masked phone.)
    assert!(p.has("139****0002") && p.has("不在您的管辖范围"));
    assert!(!p.has(&format!("/customers/{theirs}")));
    let p = m.get(&format!("/customers/{theirs}")).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(!p.has("13912340002"));
}

/// A name typed into the console's form with a NUL (`%00`), a tab or a bidirectional
/// override is refused with the form shown again, and no customer is created.
#[tokio::test]
async fn a_console_form_refuses_a_name_with_nul_tab_or_override() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    b.sign_in("admin", ADMIN_PASSWORD).await;
    let token = b.get("/customers").await.csrf();
    for (name, phone) in [
        ("%E5%BC%A0%00%E4%BC%9F", "13900139031"),
        ("%E5%BC%A0%09%E4%BC%9F", "13900139032"),
        ("%E5%BC%A0%E2%80%AE%E4%BC%9F", "13900139033"),
    ] {
        let p = b
            .send(
                "POST",
                "/customers",
                Some(format!(
                    "_csrf={token}&kind=individual&name={name}&phone={phone}"
                )),
            )
            .await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(p.has("notice error"), "{name}: {}", p.body);
        let (st, v) = app
            .get(&format!("/api/v1/customers?q={phone}"), &app.admin)
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert!(!v.to_string().contains(phone), "nothing was created: {v}");
    }
    // The same form with an ordinary name registers the member.
    let p = b
        .post(
            "/customers",
            &[
                ("_csrf", &token),
                ("kind", "individual"),
                ("name", "阿卜杜·热合曼"),
                ("phone", "13900139034"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
}

/// The ticket's id from the page a new ticket or a step redirected to.
fn ticket_of(p: &Page) -> String {
    let to = p.location.as_deref().expect("a redirect to the ticket");
    let rest = to.strip_prefix("/tickets/").expect("to a ticket page");
    rest.split('?').next().unwrap().to_string()
}

/// The state label the ticket page shows.
fn ticket_state(p: &Page) -> String {
    let at = p.body.find("id=\"ticket-state\">").expect("a ticket state");
    let rest = &p.body[at + "id=\"ticket-state\">".len()..];
    rest[..rest.find('<').unwrap()].to_string()
}

/// Posts one step from the ticket's page (with its CSRF token).
async fn ticket_step(b: &mut Browser<'_>, id: &str, fields: &[(&str, &str)]) -> Page {
    let csrf = b.get(&format!("/tickets/{id}")).await.csrf();
    let mut f = vec![("_csrf", csrf.as_str())];
    f.extend_from_slice(fields);
    b.post(&format!("/tickets/{id}/events"), &f).await
}

/// A station manager takes a complaint at the counter, for a member found by phone,
/// and walks it through the workflow; each page shows the state's label, the steps
/// the state allows, and a close before the callback is refused with the reason and
/// changes nothing.
#[tokio::test]
async fn a_complaint_taken_at_the_counter_goes_through_the_workflow_in_the_console() {
    let app = spawn_app().await;
    staff(&app, "mgr1", "station_manager", "station:S001").await;
    app.customer(
        "individual",
        "13800009001",
        json!({"name": "周明", "home_station": "S001"}),
    )
    .await;
    let mut b = Browser::new(&app);
    b.sign_in("mgr1", "Staff-pass-1234").await;
    let p = b.get("/tickets").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.has("工单") && p.has("href=\"/tickets/new\""));
    let p = b.get("/tickets/new").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let csrf = p.csrf();
    // A time received that is not a time: the form again, nothing opened.
    let p = b
        .post(
            "/tickets/new",
            &[
                ("_csrf", &csrf),
                ("station", "S001"),
                ("kind", "complaint"),
                ("channel", "counter"),
                ("category", "fuel_quality"),
                ("severity", "high"),
                ("description", "加油后车辆抖动"),
                ("received_at", "yesterday"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.has("受理时间不是有效的日期和时间"));
    let (_, list) = app.get("/api/v1/tickets", &app.admin).await;
    assert_eq!(list["tickets"].as_array().unwrap().len(), 0);
    // Taken by phone at 08:00 station time (Shanghai), half an hour before now.
    let p = b
        .post(
            "/tickets/new",
            &[
                ("_csrf", &csrf),
                ("station", "S001"),
                ("kind", "complaint"),
                ("channel", "phone"),
                ("category", "fuel_quality"),
                ("severity", "high"),
                ("phone", "13800009001"),
                ("description", "加油后车辆抖动"),
                ("received_at", "2026-11-20T08:00"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let id = ticket_of(&p);
    let (st, t) = app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await;
    assert_eq!(st, StatusCode::OK, "{t}");
    assert_eq!(t["opened_at"], "2026-11-20T00:00:00Z");
    assert!(t["customer_id"].is_string(), "{t}");
    let p = b.get(&format!("/tickets/{id}?done=opened")).await;
    assert_eq!(ticket_state(&p), "已受理");
    assert!(p.has("周明") && p.has("2026-11-20 08:00") && p.has("电话"));
    assert!(
        !visible_text(&p.body).contains(id.as_str()),
        "the ticket's id is not shown"
    );
    assert!(p.has("id=\"step-investigate\"") && !p.has("id=\"step-implement\""));
    // The queue lists it with its labels and its local due times.
    let q = b.get("/tickets").await;
    assert!(
        q.has(&format!("/tickets/{id}")) && q.has("投诉") && q.has("油品质量") && q.has("周明")
    );

    for (action, label) in [
        ("respond", "已受理"),
        ("investigate", "调查中"),
        ("propose", "已制定方案"),
        ("implement", "实施中"),
    ] {
        let note = format!("{action} ok");
        let p = ticket_step(&mut b, &id, &[("action", action), ("note", &note)]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{action}: {}", p.body);
        let p = b.get(p.location.as_deref().unwrap()).await;
        assert_eq!(ticket_state(&p), label, "after {action}");
        assert!(p.has("class=\"notice ok\""), "{action}");
    }
    // Closing before the callback: refused with the reason, the state as it was.
    let p = ticket_step(&mut b, &id, &[("action", "close")]).await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.body);
    assert!(p.has("投诉须先完成回访才能关闭"), "{}", p.body);
    assert_eq!(ticket_state(&p), "实施中");
    // A step the state does not allow is refused the same way.
    let p = ticket_step(&mut b, &id, &[("action", "investigate")]).await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    assert!(p.has("工单当前状态下不能执行这一步"));
    let p = ticket_step(
        &mut b,
        &id,
        &[
            ("action", "callback"),
            ("csat", "4"),
            ("note", "客户表示满意"),
        ],
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let p = b.get(p.location.as_deref().unwrap()).await;
    assert_eq!(ticket_state(&p), "回访中");
    assert!(p.has("满意度 4/5") && p.has("客户表示满意"));
    let p = ticket_step(&mut b, &id, &[("action", "close")]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let p = b.get(p.location.as_deref().unwrap()).await;
    assert_eq!(ticket_state(&p), "已关闭");
    assert!(p.has("id=\"step-reopen\"") && !p.has("id=\"step-close\""));
    // The history names every step in words.
    for label in [
        "受理",
        "响应",
        "调查",
        "制定解决方案",
        "实施",
        "回访",
        "关闭",
    ] {
        assert!(p.has(label), "{label}");
    }
    b.lang = Some("en");
    let p = b.get(&format!("/tickets/{id}")).await;
    assert_eq!(ticket_state(&p), "Closed");
    assert!(p.has("Fuel quality") && p.has("Satisfaction 4/5"));
}

/// Tickets are the station's: a manager of another station gets 404 for the page and
/// the steps, a cashier works the tickets but sees no administration, and two closes
/// sent at once close the ticket once.
#[tokio::test]
async fn ticket_pages_are_scoped_and_a_double_close_closes_once() {
    let app = spawn_app().await;
    staff(&app, "mgr1", "station_manager", "station:S001").await;
    staff(&app, "mgr2", "station_manager", "station:S002").await;
    staff(&app, "cash1", "cashier", "station:S001").await;
    let (st, t) = app
        .post(
            "/api/v1/tickets",
            &app.admin,
            json!({"kind": "suggestion", "channel": "counter", "station_code": "S001", "category": "waiting",
                   "severity": "normal", "description": "多开一个收银台"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    let id = t["id"].as_str().unwrap().to_string();

    let mut other = Browser::new(&app);
    other.sign_in("mgr2", "Staff-pass-1234").await;
    let p = other.get(&format!("/tickets/{id}")).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(p.has("没有这张工单") && !p.has("多开一个收银台"));
    let q = other.get("/tickets").await;
    assert_eq!(q.status, StatusCode::OK);
    assert!(!q.has(&format!("/tickets/{id}")));
    let csrf = q.csrf();
    let p = other
        .post(
            &format!("/tickets/{id}/events"),
            &[("_csrf", &csrf), ("action", "close")],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let (_, t) = app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await;
    assert_eq!(t["state"], "accepted");
    // The other station's manager may not open a ticket at S001 either.
    let p = other.get("/tickets/new").await;
    assert!(!p.has("value=\"S001\""));

    let mut cashier = Browser::new(&app);
    cashier.sign_in("cash1", "Staff-pass-1234").await;
    let p = cashier.get("/tickets").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.has(&format!("/tickets/{id}")) && p.has("建议"));
    assert!(
        !p.has("id=\"breaches\""),
        "a station's user sees no breaches table"
    );
    let p = cashier.get("/admin/service-desk").await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(!p.has("action=\"/admin/service-desk"));
    let csrf = p.csrf();
    let p = cashier
        .post(
            "/admin/service-desk/policies",
            &[("_csrf", &csrf), ("severity", "normal"), ("fr_hours", "1")],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // Survey results yes, the builder no.
    let p = cashier.get("/surveys").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(!p.has("id=\"survey-form\""));
    assert!(!cashier
        .get("/tickets")
        .await
        .has("href=\"/admin/service-desk\""));

    // Two closes at once (a double click): one closes, the other is refused.
    let csrf = cashier.get(&format!("/tickets/{id}")).await.csrf();
    let path = format!("/tickets/{id}/events");
    let fields = [("_csrf", csrf.as_str()), ("action", "close")];
    let mut second = Browser {
        app: &app,
        cookies: cashier.cookies.clone(),
        lang: None,
    };
    let (a, b) = tokio::join!(cashier.post(&path, &fields), second.post(&path, &fields));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::SEE_OTHER, StatusCode::CONFLICT]);
    let (_, t) = app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await;
    assert_eq!(t["state"], "closed");
    let closes = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "close")
        .count();
    assert_eq!(closes, 1);

    // Head office sees every station's breaches and can filter by station.
    let mut admin = Browser::new(&app);
    admin.sign_in("admin", ADMIN_PASSWORD).await;
    let p = admin.get("/tickets?station=S002").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(!p.has(&format!("/tickets/{id}")));
    let p = admin.get("/tickets?station=S001&state=closed").await;
    assert!(p.has(&format!("/tickets/{id}")) && p.has("id=\"breaches\""));
}

/// The service desk's settings and surveys through forms: a calendar with a holiday
/// and a make-up working day, a station assigned to it, a severity's targets in hours
/// and minutes, a survey built from rows, its results and invitations.
#[tokio::test]
async fn an_administrator_sets_calendars_targets_and_builds_a_survey() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    b.sign_in("admin", ADMIN_PASSWORD).await;
    let p = b.get("/admin/service-desk").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.has("id=\"sla-policies\"") && p.has("星期一"));
    let csrf = p.csrf();
    let mut fields: Vec<(String, String)> = [
        ("_csrf", csrf.as_str()),
        ("code", "office"),
        ("timezone", "Asia/Shanghai"),
        ("holidays", "2026-10-01\n2026-10-02"),
        ("workdays", "2026-10-10"),
        ("mode_sat", "closed"),
        ("mode_sun", "closed"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for d in ["mon", "tue", "wed", "thu", "fri"] {
        fields.push((format!("mode_{d}"), "hours".into()));
        fields.push((format!("open_{d}"), "08:00".into()));
        fields.push((format!("close_{d}"), "18:00".into()));
    }
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let p = b.post("/admin/service-desk/calendars", &refs).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    // A bad date: the page again with the reason, nothing stored.
    let p = b
        .post(
            "/admin/service-desk/calendars",
            &[
                ("_csrf", &csrf),
                ("code", "broken"),
                ("timezone", "Asia/Shanghai"),
                ("holidays", "2026-13-40"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.has("class=\"notice error\""));
    let p = b
        .post(
            "/admin/service-desk/stations",
            &[
                ("_csrf", &csrf),
                ("station", "S001"),
                ("calendar", "office"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let p = b
        .post(
            "/admin/service-desk/policies",
            &[
                ("_csrf", &csrf),
                ("severity", "normal"),
                ("fr_hours", "2"),
                ("fr_minutes", "30"),
                ("res_hours", "24"),
                ("res_minutes", "0"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let p = b.get("/admin/service-desk?done=policy").await;
    assert!(p.has("2026-10-10") && p.has("2026-10-02") && p.has("服务时限已保存"));
    assert!(!p.has("broken"));
    // A ticket at S001 now takes 150 business minutes on the office calendar.
    let (st, t) = app
        .post(
            "/api/v1/tickets",
            &app.admin,
            json!({"kind": "inquiry", "channel": "counter", "station_code": "S001", "category": "invoice",
                   "severity": "normal", "description": "发票"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    assert_eq!(t["first_response_minutes"], 150);
    assert_eq!(t["resolution_minutes"], 1440);

    let p = b.get("/surveys").await;
    assert!(p.has("id=\"survey-form\""));
    let p = b
        .post(
            "/surveys",
            &[
                ("_csrf", &csrf),
                ("name", "季度满意度"),
                ("kind_0", "nps"),
                ("text_0", "您有多大可能推荐我们？"),
                ("kind_1", "rating"),
                ("text_1", "服务评分"),
                ("kind_2", "choice"),
                ("text_2", "您常加哪种油？"),
                ("options_2", "92号，95号，柴油"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let to = p.location.unwrap();
    let p = b.get(&to).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.has("季度满意度") && p.has("id=\"survey-n\">0<"));
    // A choice without options is refused with the form kept.
    let p = b
        .post(
            "/surveys",
            &[
                ("_csrf", &csrf),
                ("name", "坏问卷"),
                ("kind_0", "choice"),
                ("text_0", "选哪个"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.has("value=\"坏问卷\""));
    let p = b.get("/surveys").await;
    assert!(p.has("季度满意度") && !p.has(">坏问卷<"));
}

/// A survey's results page: figures over the answers in the user's scope, small samples
/// marked; a station manager sees only the station's answers.
#[tokio::test]
async fn survey_results_are_shown_in_the_users_scope_with_small_samples_marked() {
    let app = spawn_app().await;
    staff(&app, "mgr2", "station_manager", "station:S002").await;
    let (st, v) = app
        .post(
            "/api/v1/surveys",
            &app.admin,
            json!({"name": "加油体验", "questions": [
                {"kind": "nps", "text": "推荐意愿"}, {"kind": "rating", "text": "满意度"}]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let survey = v["id"].as_str().unwrap().to_string();
    let mut people = Vec::new();
    for (i, station) in ["S001", "S001", "S001", "S002"].iter().enumerate() {
        people.push(
            app.customer(
                "individual",
                &format!("1380000{:04}", 8100 + i),
                json!({"home_station": station}),
            )
            .await,
        );
    }
    let (st, v) = app
        .post(
            &format!("/api/v1/surveys/{survey}/invitations"),
            &app.admin,
            json!({ "customer_ids": people }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    for (inv, (nps, rating)) in
        v["invitations"]
            .as_array()
            .unwrap()
            .iter()
            .zip([(10, 5), (9, 4), (0, 1), (10, 5)])
    {
        let token = inv["token"].as_str().expect("invited");
        let (st, v) = app
            .call(
                "POST",
                &format!("/api/v1/survey-responses/{token}"),
                None,
                Some(json!({ "answers": [nps, rating] })),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    let mut admin = Browser::new(&app);
    admin.sign_in("admin", ADMIN_PASSWORD).await;
    let p = admin.get("/surveys").await;
    assert!(p.has(&format!("href=\"/surveys/{survey}\"")) && p.has("加油体验"));
    let p = admin.get(&format!("/surveys/{survey}")).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.has("id=\"survey-n\">4<"), "four answers");
    // NPS (3 promoters − 1 detractor) / 4 = 50; CSAT 3 of 4 = 75 %.
    assert!(
        p.has(">50.0") && p.has("75.0%"),
        "{}",
        visible_text(&p.body)
    );
    assert!(p.has("样本偏少") && p.has("svg") && p.has("id=\"survey-by-month\""));
    assert_eq!(engineers_time(&visible_text(&p.body)), None);
    // The month as readers write it, the figures by their Chinese names.
    let text = visible_text(&p.body);
    assert!(
        text.contains("2026年11月") && !text.contains("2026-11"),
        "{text}"
    );
    assert!(
        text.contains("净推荐值（NPS）") && text.contains("满意度（CSAT）"),
        "{text}"
    );

    let mut m2 = Browser::new(&app);
    m2.sign_in("mgr2", "Staff-pass-1234").await;
    let p = m2.get(&format!("/surveys/{survey}")).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.has("id=\"survey-n\">1<"), "only S002's answer");
    assert!(!p.has("id=\"survey-form\""));
    assert!(p.has("id=\"invite-form\""), "a station manager may invite");
}

#[tokio::test]
async fn care_automations_are_set_with_forms_and_sent_from_the_console() {
    let app = spawn_app().await;
    let phone = "13966660001";
    let today =
        forecourt_server::clock::local(forecourt_server::clock::NETWORK_TZ, app.clock.now_us())
            .date;
    let birthday = format!("1990-{}", today.format("%m-%d"));
    let (st, v) = app
        .post(
            "/api/v1/customers",
            &app.admin,
            json!({"kind": "individual", "name": "王芳", "phone": phone, "birthday": birthday, "consent_marketing": true}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let customer = v["id"].as_str().unwrap().to_string();

    // A station manager does not run promotions: no menu entry, and the page refuses.
    staff(&app, "care.mgr", "station_manager", "station:S001").await;
    let mut m = Browser::new(&app);
    m.sign_in("care.mgr", "Staff-pass-1234").await;
    assert!(!m.get("/").await.has("href=\"/care\""));
    assert_eq!(m.get("/care").await.status, StatusCode::FORBIDDEN);

    let mut b = Browser::new(&app);
    b.sign_in("admin", ADMIN_PASSWORD).await;
    let p = b.get("/care").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    for label in ["生日祝福", "余额不足提醒", "流失挽回", "余额低于（元）"] {
        assert!(p.has(label), "no {label}");
    }
    // The threshold in 元 as people type it; a word instead of an amount is refused
    // and changes nothing.
    let token = p.csrf();
    let save = |threshold: &'static str| {
        let token = token.clone();
        async move {
            (
                "low_balance",
                vec![
                    ("_csrf", token),
                    ("enabled", "1".to_string()),
                    ("channel", "inbox".to_string()),
                    ("message", "{name}，{detail}".to_string()),
                    ("threshold", threshold.to_string()),
                ],
            )
        }
    };
    let (kind, fields) = save("五十").await;
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = b.post(&format!("/care/{kind}"), &fields).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.has("请填写金额（元）"), "{}", p.body);
    let (_, list) = app.get("/api/v1/care/automations", &app.admin).await;
    let low = |l: &serde_json::Value| {
        l["automations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == "low_balance")
            .unwrap()
            .clone()
    };
    assert_eq!(low(&list)["threshold"], 10_000);
    let (kind, fields) = save("50.5").await;
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = b.post(&format!("/care/{kind}"), &fields).await;
    assert_eq!(
        p.location.as_deref(),
        Some("/care?done=saved"),
        "{}",
        p.body
    );
    let (_, list) = app.get("/api/v1/care/automations", &app.admin).await;
    assert_eq!(low(&list)["threshold"], 5_050);
    assert!(b.get("/care").await.has("value=\"50.50\""));

    // Switching the birthday greeting off (an unticked box is absent from the form).
    let p = b
        .post(
            "/care/birthday",
            &[
                ("_csrf", &token),
                ("channel", "inbox"),
                ("message", "{name}，生日快乐！"),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/care?done=saved"));
    let p = b.post("/care/run", &[("_csrf", &token)]).await;
    assert!(p.has("新发出 0 条"), "{}", p.body);
    // On again: today's run greets the member once, however often it is pressed.
    let p = b
        .post(
            "/care/birthday",
            &[
                ("_csrf", &token),
                ("enabled", "1"),
                ("channel", "inbox"),
                ("message", "{name}，生日快乐！"),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/care?done=saved"));
    let p = b.post("/care/run", &[("_csrf", &token)]).await;
    assert!(p.has("新发出 1 条"), "{}", p.body);
    let p = b.post("/care/run", &[("_csrf", &token)]).await;
    assert!(p.has("新发出 0 条"), "{}", p.body);
    let inbox = app.store.inbox(&customer, 10).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert!(
        inbox[0].body.starts_with("王芳，生日快乐！") && inbox[0].body.contains("/u/"),
        "the greeting with its unsubscribe link: {}",
        inbox[0].body
    );
    // What it sent: the member by number, the channel and state in words.
    let p = b.get("/care/birthday").await;
    assert_eq!(p.status, StatusCode::OK);
    let member_code = app
        .store
        .customer(&customer)
        .await
        .unwrap()
        .unwrap()
        .member_code;
    assert!(p.has(&member_code) && p.has("会员站内信") && p.has("已发送"));
    assert!(
        !visible_text(&p.body).contains(&customer),
        "no customer id on the page"
    );
    // Without the form's token nothing is saved.
    let p = b
        .post("/care/birthday", &[("enabled", "1"), ("channel", "sms")])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
}

/// Leaflets in the console (issue 17 item 5): a station manager records a drop by form
/// and reads its funnel; a member registered at the counter with one of its codes is
/// the batch's sign-up; another station's manager gets 404; partners and their offers
/// by form, the partner's key shown once, for administrators only.
#[tokio::test]
async fn leaflets_and_partners_by_form() {
    let app = spawn_app().await;
    staff(&app, "mgr1", "station_manager", "station:S001").await;
    staff(&app, "mgr2", "station_manager", "station:S002").await;
    let mut b = Browser::new(&app);
    b.sign_in("mgr1", "Staff-pass-1234").await;
    let p = b.get("/leaflets").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.has("href=\"/leaflets\"") && p.has("id=\"leaflet-form\""));
    assert!(!p.has("href=\"/partners\""), "partners are headquarters'");
    let token = p.csrf();
    // A wrong cost changes nothing and keeps what was typed.
    let p = b
        .post(
            "/leaflets",
            &[
                ("_csrf", &token),
                ("name", "小区派发"),
                ("dropped_on", "2026-11-02"),
                ("quantity", "600"),
                ("cost", "三百"),
                ("code_kind", "unique"),
                ("station_S001", "1"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.has("notice error") && p.has("value=\"小区派发\""));
    let p = b
        .post(
            "/leaflets",
            &[
                ("_csrf", &token),
                ("name", "小区派发"),
                ("dropped_on", "2026-11-02"),
                ("quantity", "600"),
                ("cost", "300"),
                ("code_kind", "unique"),
                ("station_S001", "1"),
            ],
        )
        .await;
    let loc = p.location.expect("to the funnel");
    let id = loc
        .trim_start_matches("/leaflets/")
        .trim_end_matches("?done=created")
        .to_string();
    let (_, batch) = app.get(&format!("/api/v1/leaflets/{id}"), &app.admin).await;
    assert_eq!(batch["quantity"], 600);
    // The codes for the printer come from the API with the console's session.
    let p = b.get(&format!("/api/v1/leaflets/{id}/codes.csv")).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.content_type.starts_with("text/csv"));
    let first = p
        .body
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();

    // At the counter, a member brings the leaflet.
    let p = b.get("/customers").await;
    assert!(p.has("id=\"new-customer-promo\""));
    let token = p.csrf();
    let p = b
        .post(
            "/customers",
            &[
                ("_csrf", &token),
                ("kind", "individual"),
                ("name", "周杰"),
                ("phone", "13511113333"),
                ("promo_code", &first.to_lowercase()),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    // The same code again: a clear message, nothing made.
    let p = b
        .post(
            "/customers",
            &[
                ("_csrf", &token),
                ("kind", "individual"),
                ("name", "周杰伦"),
                ("phone", "13511114444"),
                ("promo_code", &first),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    assert!(p.has("已经被使用过"), "{}", p.body);

    let p = b.get(&loc).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.has("id=\"funnel-signed-up\">1<"), "{}", p.body);
    assert!(p.has("id=\"funnel-conversion\">0.17%<"), "{}", p.body);
    assert!(p.has("id=\"funnel-cost-per-card\">¥300.00<"), "{}", p.body);
    assert!(p.has("<svg"), "a chart");

    let mut other = Browser::new(&app);
    other.sign_in("mgr2", "Staff-pass-1234").await;
    assert_eq!(other.get(&loc).await.status, StatusCode::NOT_FOUND);
    assert_eq!(other.get("/partners").await.status, StatusCode::FORBIDDEN);

    // Headquarters add a partner and an offer.
    let mut hq = Browser::new(&app);
    hq.sign_in("admin", ADMIN_PASSWORD).await;
    let p = hq.get("/partners").await;
    let token = p.csrf();
    let p = hq
        .post(
            "/partners",
            &[
                ("_csrf", &token),
                ("name", "洁车坊"),
                ("category", "car_wash"),
                ("contact", "王经理 010-88886666"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.body);
    assert!(p.has("id=\"partner-key\"") && p.has("fpk_"), "{}", p.body);
    let (_, list) = app.get("/api/v1/partners", &app.admin).await;
    let pid = list["partners"][0]["id"].as_str().unwrap().to_string();
    let p = hq
        .post(
            &format!("/partners/{pid}/offers"),
            &[
                ("_csrf", &token),
                ("title", "洗车8折"),
                ("description", "持卡会员洗车享8折"),
                ("valid_from", "2026-11-01"),
                ("valid_until", "2026-11-30"),
                ("per_member_limit", "1"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let p = hq.get(p.location.as_deref().unwrap()).await;
    assert!(
        p.has("洗车8折") && p.has("所有持卡会员") && p.has("洗车"),
        "{}",
        p.body
    );
    assert!(p.has("本月核销 0 次"), "{}", p.body);
    assert!(!p.has("fpk_"), "the key is shown once");
}
