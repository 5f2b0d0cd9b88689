use axum::body::Body;
use axum::http::{Request, StatusCode};
use forecourt_server::{AppState, Config, Secret};
use forecourt_store::{testing, Store};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

pub const NOW: &str = "2026-11-20T08:30:00+08:00";
pub const ADMIN_PASSWORD: &str = "Admin-pass-1234";

pub struct App {
    pub url: forecourt_store::DbUrl,
    pub router: axum::Router,
    pub store: Store,
    pub admin: String,
    /// POS token of station S001 (region R1, province 京) and of S002 (region R2, 粤).
    pub pos1: String,
    pub pos2: String,
    /// The server's clock, standing at `NOW` until a test moves it.
    pub clock: forecourt_server::clock::Clock,
}

pub async fn spawn_app() -> App {
    spawn_app_with(Config::default()).await
}

/// `NOW` as microseconds.
pub fn now_us() -> i64 {
    at_us(NOW)
}

/// An RFC 3339 time as microseconds.
pub fn at_us(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .unwrap()
        .timestamp_micros()
}

pub async fn spawn_app_with(mut config: Config) -> App {
    // The server's clock stands at NOW, so that the tills' times in the tests are live.
    config.clock = forecourt_server::clock::Clock::fixed(now_us());
    let clock = config.clock.clone();
    // Server errors are logged; show them when a test fails.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let url = testing::fresh_db().await.expect("fresh database");
    let store = Store::open(&url, forecourt_store::Vault::for_tests())
        .await
        .expect("open");
    forecourt_server::api::create_user(&store, "admin", "admin", None, ADMIN_PASSWORD)
        .await
        .expect("admin");
    let state = AppState::new(store.clone(), Secret::from_bytes([7; 32]), config);
    let router = checked_router(forecourt_server::router(state)).await;
    let mut app = App {
        url: url.clone(),
        router,
        store,
        admin: String::new(),
        pos1: String::new(),
        pos2: String::new(),
        clock,
    };
    app.admin = app.login("admin", ADMIN_PASSWORD).await;
    for (code, region, province) in [("S001", "R1", "京"), ("S002", "R2", "粤")] {
        let (st, v) = app.post("/api/v1/stations", &app.admin.clone(), json!({"code": code, "name": format!("Station {code}"), "region": region, "province": province})).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    app.pos1 = app.pos_token("S001").await;
    app.pos2 = app.pos_token("S002").await;
    app
}

/// `router` with every JSON response it gives checked against the OpenAPI document it
/// serves (see `openapi_check`): a response the document does not allow fails the test
/// at the request.
pub async fn checked_router(router: axum::Router) -> axum::Router {
    let req = Request::get("/api/v1/openapi.json")
        .body(Body::empty())
        .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "GET /api/v1/openapi.json");
    let doc = res.into_body().collect().await.unwrap().to_bytes();
    let checker = crate::openapi_check::checker_for(&doc);
    router.layer(axum::middleware::from_fn_with_state(
        checker,
        crate::openapi_check::check_responses,
    ))
}

impl App {
    /// Moves the server's clock to `t` (RFC 3339), as time passing would.
    pub fn set_now(&self, t: &str) {
        self.clock.set(at_us(t));
    }

    pub async fn pos_token(&self, station: &str) -> String {
        let s = self.store.station_by_code(station).await.unwrap().unwrap();
        let token = forecourt_server::secret::new_token("fcp_");
        let mut tx = self.store.begin().await.unwrap();
        tx.create_pos_token(
            &forecourt_server::secret::token_hash(&token),
            &s.station_id,
            None,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        token
    }

    pub async fn login(&self, user: &str, password: &str) -> String {
        let (st, v) = self
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"username": user, "password": password})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "login {user}: {v}");
        v["token"].as_str().unwrap().to_string()
    }

    /// A user of `role` within `scope` (`station:S001`, `region:R1`, …): its id and a
    /// session token.
    pub async fn scoped_user(&self, name: &str, role: &str, scope: &str) -> (String, String) {
        let (st, v) = self
            .post(
                "/api/v1/users",
                &self.admin,
                json!({"username": name, "role": role, "scope": scope, "password": "Staff-pass-1234"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        (
            v["id"].as_str().unwrap().to_string(),
            self.login(name, "Staff-pass-1234").await,
        )
    }

    /// A user of `role` with a session token.
    pub async fn user(&self, name: &str, role: &str) -> String {
        let (st, v) = self
            .post(
                "/api/v1/users",
                &self.admin,
                json!({"username": name, "role": role, "password": "Staff-pass-1234"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        self.login(name, "Staff-pass-1234").await
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, v)
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call("PUT", path, Some(token), Some(body)).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn customer(&self, kind: &str, phone: &str, extra: Value) -> String {
        let mut body = json!({"kind": kind, "name": if kind == "company" { "顺达物流有限公司" } else { "张伟" }, "phone": phone});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        let (st, v) = self.post("/api/v1/customers", &self.admin, body).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    pub async fn card(&self, body: Value) -> String {
        let (st, v) = self.post("/api/v1/cards", &self.admin, body).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        v["card_no"].as_str().unwrap().to_string()
    }

    /// An individual with a personal card holding `fen`.
    pub async fn funded_card(&self, phone: &str, fen: i64) -> String {
        let c = self.customer("individual", phone, json!({})).await;
        let no = self
            .card(json!({"customer_id": c, "kind": "personal"}))
            .await;
        if fen > 0 {
            let (st, v) = self.recharge(&no, fen, &format!("R-{no}")).await;
            assert_eq!(st, StatusCode::CREATED, "{v}");
        }
        no
    }

    pub async fn recharge(&self, card_no: &str, fen: i64, key: &str) -> (StatusCode, Value) {
        self.post(
            "/api/v1/pos/recharges",
            &self.pos1.clone(),
            json!({"pos_txn_id": key, "station_code": "S001", "occurred_at": NOW, "card_no": card_no, "amount_fen": fen, "payments": [{"method": "cash", "amount_fen": fen}]}),
        )
        .await
    }

    pub async fn balance(&self, card_no: &str) -> i64 {
        let (st, v) = self
            .get(&format!("/api/v1/cards/{card_no}"), &self.admin)
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        v["balance_fen"].as_i64().unwrap()
    }

    /// Quotes a fuel sale on a card and pays the quoted amount with the card.
    pub async fn card_sale(
        &self,
        card_no: &str,
        product: &str,
        ml: i64,
        key: &str,
        extra: Value,
    ) -> (StatusCode, Value) {
        let mut body = sale_body(
            key,
            "S001",
            json!({"card_no": card_no}),
            json!([{"product_code": product, "volume_ml": ml, "unit_price_fen": 789}]),
        );
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        let (st, q) = self
            .post("/api/v1/pos/quotes", &self.pos1.clone(), body.clone())
            .await;
        if st != StatusCode::OK {
            return (st, q);
        }
        let pin = body.get("pin").cloned().unwrap_or(Value::Null);
        body["payments"] = json!([{"method": "card", "card_no": card_no, "amount_fen": q["net_amount_fen"], "pin": pin}]);
        self.post("/api/v1/pos/sales", &self.pos1.clone(), body)
            .await
    }

    pub async fn assert_clean(&self) {
        let report = self.store.check().await.unwrap();
        assert!(report.is_clean(), "forecourt check: {:?}", report.problems);
    }
}

pub fn sale_body(key: &str, station: &str, customer: Value, lines: Value) -> Value {
    json!({"pos_txn_id": key, "station_code": station, "occurred_at": NOW, "customer": customer, "lines": lines})
}

pub fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<no error code>")
}

impl App {
    /// Everything stored, as bytes: the SQLite file with its WAL, or on PostgreSQL every
    /// row of every table as text (what a dump would hold).
    pub async fn raw_dump(&self) -> Vec<u8> {
        match forecourt_store::testing::backend() {
            forecourt_store::Backend::Sqlite => {
                let path = self.url.sqlite_path().unwrap().to_string();
                let mut bytes = std::fs::read(&path).unwrap();
                if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
                    bytes.extend(wal);
                }
                bytes
            }
            forecourt_store::Backend::Postgres => forecourt_store::testing::pg_dump_text(&self.url)
                .await
                .into_bytes(),
        }
    }
}
