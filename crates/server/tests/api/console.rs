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
