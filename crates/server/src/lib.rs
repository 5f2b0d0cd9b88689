//! Forecourt's HTTP server: the staff API, the POS API, the OpenAPI document, health
//! and metrics.
//!
//! Handlers are adapters: they extract the caller and the request, call one use case
//! of `forecourt-app` and answer with what it returns (status, headers, cookies).
//! Decisions are made by `forecourt-core` through the use cases; handlers never read or
//! write the store themselves.

pub mod analytics_api;
pub mod api;
pub mod care_api;
pub mod error;
pub mod extract;
pub mod ledger_ops;
pub mod logging;
pub mod loyalty_api;
pub mod marketing;
pub mod marketing_api;
pub mod member;
pub mod metrics;
pub mod pos;
pub mod privacy;
pub mod ratelimit;
pub mod service_desk;
pub mod web;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use forecourt_store::Store;
use std::sync::Arc;

pub use forecourt_app::secret::Secret;
pub use forecourt_app::{
    access, bulk, cache, clock, export, guard, import, loyalty, secret, spend, App,
};

pub use forecourt_app::Config;

struct Inner {
    app: App,
    metrics: metrics::Metrics,
    limiter: ratelimit::RateLimiter,
    scores: web::scores::Scores,
}

/// What every handler gets: the application (store, secret, settings, caches) and what
/// only HTTP needs (metrics, the rate limiter, the console's score cache).
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0.app
    }
}

impl AppState {
    pub fn new(store: Store, secret: Secret, config: Config) -> Self {
        Self::from_app(App::new(store, secret, config))
    }

    pub fn from_app(app: App) -> Self {
        Self(Arc::new(Inner {
            app,
            metrics: metrics::Metrics::default(),
            limiter: Default::default(),
            scores: Default::default(),
        }))
    }

    /// The application the handlers call.
    pub fn app(&self) -> &App {
        &self.0.app
    }

    /// The same server with another clock (the sales import's, which stands at each past
    /// sale's time).
    pub fn with_clock(&self, clock: clock::Clock) -> Self {
        Self::from_app(self.0.app.with_clock(clock))
    }

    /// A live till's `occurred_at`, checked against the server's clock.
    pub fn till_time(&self, field: &str, s: &str) -> Result<clock::TillTime, error::ApiError> {
        Ok(self.0.app.till_time(field, s)?)
    }

    pub fn metrics(&self) -> &metrics::Metrics {
        &self.0.metrics
    }

    pub fn limiter(&self) -> &ratelimit::RateLimiter {
        &self.0.limiter
    }

    /// The members' predictions shown on the console's profile.
    pub fn scores(&self) -> &web::scores::Scores {
        &self.0.scores
    }
}

/// The HTTP form of a use case's [`forecourt_app::Outcome`]: 201, 200 or 202 with its
/// JSON body.
pub fn reply(outcome: forecourt_app::Outcome) -> Response {
    use forecourt_app::Outcome;
    let (status, body) = match outcome {
        Outcome::Created(v) => (StatusCode::CREATED, v),
        Outcome::Done(v) => (StatusCode::OK, v),
        Outcome::Pending(v) => (StatusCode::ACCEPTED, v),
    };
    (status, axum::Json(body)).into_response()
}

const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// `GET /healthz`: 200 while the database answers; 503 with `Retry-After` and
/// `"database": "down"` while it does not (a load balancer takes the server out, and
/// puts it back when the database returns, without a restart).
async fn healthz(State(state): State<AppState>) -> Response {
    let backend = state.store().backend().name();
    match state.store().schema_version().await {
        Ok(v) => (
            StatusCode::OK,
            axum::Json(
                serde_json::json!({"status": "ok", "schema_version": v, "database": backend}),
            ),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            let body = serde_json::json!({
                "status": "unavailable",
                "database": if e.is_unavailable() { "down" } else { "error" },
                "backend": backend,
            });
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(
                    header::RETRY_AFTER,
                    error::DATABASE_RETRY_AFTER_SECS.to_string(),
                )],
                axum::Json(body),
            )
                .into_response()
        }
    }
}

static REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// Keeps a client's `X-Request-Id` only when it looks like an id (at most 64 letters,
/// digits, `-`, `_` or `.`), so that nothing else a client sends reaches the log;
/// otherwise the server makes one.
async fn sanitise_request_id(mut req: axum::extract::Request) -> axum::extract::Request {
    let acceptable = req.headers().get(&REQUEST_ID).is_none_or(|v| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= 64
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    });
    if !acceptable {
        req.headers_mut().remove(&REQUEST_ID);
    }
    req
}

/// The access log: one line per request (target `forecourt::access`) with the method,
/// the route template (never the raw path or query string), the status, the latency and
/// the request id; never a header or a body. tower-http's `TraceLayer` writes it when
/// the response is ready; `SetRequestId` gives every request an id and
/// `PropagateRequestId` returns it in the response's `X-Request-Id`.
fn access_log<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::trace::TraceLayer;
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &axum::extract::Request| {
            let request_id = req
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!(
                target: "forecourt::access",
                "request",
                method = %req.method(),
                route = %metrics::route_of(req),
                request_id = %request_id,
            )
        })
        .on_request(())
        .on_response(
            |res: &Response, latency: std::time::Duration, _span: &tracing::Span| {
                tracing::info!(
                    target: "forecourt::access",
                    status = res.status().as_u16(),
                    latency_ms = latency.as_secs_f64() * 1000.0,
                    "answered"
                );
            },
        )
        .on_body_chunk(())
        .on_eos(())
        // A 5xx is in the access line already, and an internal error logs its cause
        // under its reference: no second line per failure.
        .on_failure(());
    router.layer(
        tower::ServiceBuilder::new()
            .layer(axum::middleware::map_request(sanitise_request_id))
            .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
            .layer(trace)
            .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone())),
    )
}

/// Headers on every response: no sniffing, no framing, no referrer, no caching of
/// personal data; the API serves no active content, so its CSP allows nothing.
async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ] {
        h.entry(name)
            .or_insert(header::HeaderValue::from_static(value));
    }
    res
}

async fn fallback() -> error::ApiError {
    error::ApiError::new("not_found", "no such route; see /api/v1/openapi.json")
}

async fn method_not_allowed() -> error::ApiError {
    error::ApiError::new("method_not_allowed", "this route does not take this method")
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let body_max = state.config().body_bytes_max;
    let api = Router::new()
        .route("/auth/login", post(api::login))
        .route("/auth/logout", post(api::logout))
        .route("/users", get(api::get_users).post(api::post_user))
        .route("/stations", get(api::get_stations).post(api::post_station))
        .route(
            "/stations/{code}/prices",
            get(api::get_prices).post(api::post_price),
        )
        .route("/products", get(api::get_products).post(api::post_product))
        .route("/tiers", get(api::get_tiers))
        .route("/tiers/{code}", put(loyalty_api::put_tier))
        .route(
            "/loyalty/rules",
            get(loyalty_api::get_rules).post(loyalty_api::post_rule),
        )
        .route("/loyalty/rules/{id}", get(loyalty_api::get_rule))
        .route("/loyalty/settings", get(loyalty_api::get_settings))
        .route("/loyalty/settings/{key}", put(loyalty_api::put_setting))
        .route(
            "/loyalty/coupon-templates",
            get(loyalty_api::get_templates).post(loyalty_api::post_template),
        )
        .route("/loyalty/coupons", post(loyalty_api::post_issue))
        .route(
            "/loyalty/catalogue",
            get(loyalty_api::get_catalogue).post(loyalty_api::post_item),
        )
        .route("/loyalty/run", post(loyalty_api::post_run))
        .route("/analytics/{view}", get(analytics_api::get_view))
        .route("/customers/{id}/points", get(loyalty_api::get_points))
        .route(
            "/customers/{id}/coupons",
            get(loyalty_api::get_member_coupons),
        )
        .route(
            "/customers/{id}/tier",
            post(loyalty_api::post_tier_override),
        )
        .route(
            "/customers/{id}/redemptions",
            post(loyalty_api::post_redemption),
        )
        .route(
            "/redemptions/{id}/cancel",
            post(loyalty_api::cancel_redemption),
        )
        .route(
            "/recharge-promotions",
            get(api::get_promotions).post(api::post_promotion),
        )
        .route("/coupons", post(api::post_coupon))
        .route(
            "/customers",
            get(api::search_customers).post(api::post_customer),
        )
        .route("/customers/{id}", get(api::get_customer))
        .route("/customers/{id}/vehicles", post(api::post_vehicle))
        .route("/customers/{id}/credit", put(api::put_credit))
        .route(
            "/customers/{id}/portal-password",
            put(member::put_portal_password),
        )
        .route(
            "/customers/{id}/credit/payments",
            post(ledger_ops::post_credit_payment),
        )
        .route("/customers/{id}/statement", get(ledger_ops::get_statement))
        .route(
            "/adjustments",
            get(ledger_ops::get_adjustments).post(ledger_ops::post_adjustment),
        )
        .route(
            "/adjustments/{id}/{decision}",
            post(ledger_ops::decide_adjustment),
        )
        .route("/customers/{id}/export", get(privacy::export))
        .route("/customers/{id}/anonymize", post(privacy::anonymize))
        .route("/customers/{id}/consents", post(privacy::post_consent))
        .route("/audit", get(privacy::get_audit))
        .route("/ledger/check", get(privacy::get_check))
        .route("/cards", post(api::post_card))
        .route("/cards/{card_no}", get(api::get_card))
        .route("/cards/{card_no}/state", post(api::post_card_state))
        .route("/cards/{card_no}/replace", post(api::post_replace))
        .route("/cards/{card_no}/register", post(api::post_register))
        .route("/cards/{card_no}/limits", put(api::put_limits))
        .route("/cards/{card_no}/pin", put(api::put_pin))
        .route("/cards/{card_no}/allocations", post(api::post_allocation))
        .route("/calendars/{code}", put(service_desk::put_calendar))
        .route(
            "/stations/{code}/calendar",
            put(service_desk::put_station_calendar),
        )
        .route("/sla-policies/{severity}", put(service_desk::put_policy))
        .route(
            "/tickets",
            get(service_desk::get_tickets).post(service_desk::post_ticket),
        )
        .route("/tickets/{id}", get(service_desk::get_ticket))
        .route("/tickets/{id}/events", post(service_desk::post_event))
        .route("/callbacks", get(service_desk::get_callbacks))
        .route("/care/automations", get(care_api::get_automations))
        .route(
            "/care/automations/{kind}",
            axum::routing::patch(care_api::patch_automation),
        )
        .route(
            "/care/automations/{kind}/messages",
            get(care_api::get_messages),
        )
        .route("/care/runs", post(care_api::post_run))
        .route("/ticket-breaches", get(service_desk::get_breaches))
        .route("/users/{username}/contact", put(service_desk::put_contact))
        .route("/surveys", post(service_desk::post_survey))
        .route(
            "/surveys/{id}/invitations",
            post(service_desk::post_invitations),
        )
        .route("/surveys/{id}/results", get(service_desk::get_results))
        .route(
            "/survey-responses/{token}",
            post(service_desk::post_response),
        )
        .route(
            "/survey-responses/{token}/decline",
            post(service_desk::post_decline),
        )
        .route(
            "/segments",
            get(marketing::get_segments).post(marketing::post_segment),
        )
        .route("/segments/preview", post(marketing::post_preview))
        .route("/segments/{id}", get(marketing::get_segment))
        .route("/segments/{id}/members", get(marketing::get_members))
        .route(
            "/campaigns",
            get(marketing::get_campaigns).post(marketing::post_campaign),
        )
        .route("/campaigns/{id}", get(marketing::get_campaign))
        .route("/campaigns/{id}/launch", post(marketing::post_launch))
        .route("/campaigns/{id}/results", get(marketing::get_results))
        .route(
            "/marketing/settings",
            get(marketing::get_settings).put(marketing::put_settings),
        )
        .route(
            "/customers/{id}/do-not-contact",
            get(marketing::get_do_not_contact).post(marketing::post_do_not_contact),
        )
        .route("/customers/{id}/email", put(marketing::put_email))
        .route("/pos/quotes", post(pos::quote))
        .route("/pos/sales", post(pos::sale))
        .route("/pos/recharges", post(pos::recharge))
        .route("/pos/refunds", post(pos::refund))
        .route("/pos/authorizations", post(pos::authorize))
        .route(
            "/pos/authorizations/{id}/void",
            post(pos::void_authorization),
        )
        .route(
            "/leaflets",
            get(marketing_api::get_leaflets).post(marketing_api::post_leaflet),
        )
        .route("/leaflets/{id}", get(marketing_api::get_leaflet))
        .route("/leaflets/{id}/codes.csv", get(marketing_api::get_codes))
        .route(
            "/partners",
            get(marketing_api::get_partners).post(marketing_api::post_partner),
        )
        .route("/partners/{id}", get(marketing_api::get_partner))
        .route("/partners/{id}/active", put(marketing_api::put_active))
        .route("/partners/{id}/key", post(marketing_api::post_key))
        .route("/partners/{id}/offers", post(marketing_api::post_offer))
        .route(
            "/partners/{id}/statements/{month}",
            get(marketing_api::get_statement),
        )
        .route("/partner/redemptions", post(marketing_api::post_redemption))
        .route(
            "/partner/statements/{month}",
            get(marketing_api::get_own_statement),
        )
        .route("/openapi.json", get(openapi))
        .method_not_allowed_fallback(method_not_allowed);
    // The console and the portal call the API in the process, through this router.
    let api_only = Router::new()
        .nest("/api/v1", api.clone())
        .with_state(state.clone());
    let app = Router::new()
        .nest("/api/v1", api)
        .merge(web::router(api_only))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::render))
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(body_max))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ));
    access_log(app).with_state(state)
}

/// Serves until Ctrl-C or SIGTERM, expiring stale pump holds every 30 seconds.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    let sweeper_state = state.clone();
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
        loop {
            tick.tick().await;
            // The rate limiter forgets the keys whose allowance is whole again.
            sweeper_state.limiter().sweep();
            match forecourt_app::pos::expire_holds(&sweeper_state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "released expired pump holds"),
                Err(e) => tracing::warn!(error = %e.message, "expiring pump holds failed"),
            }
        }
    });
    // The profile's predictions (and the members' sales the analytics read) are fitted
    // shortly after start, so that the first profile opened already has them.
    let warm_state = state.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        let _ = warm_state.scores().get(&warm_state, "");
    });
    // The loyalty run (expiry, tier review, monthly car washes) once a day for the day
    // that ended; it is idempotent, so a restart that runs it again changes nothing.
    let loyalty_state = state.clone();
    let loyalty_run = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
        let mut last = None;
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let today = clock::network_today();
            let Some(day) = today.pred_opt() else {
                continue;
            };
            if last == Some(day) {
                continue;
            }
            match loyalty_api::daily_run(loyalty_state.store(), day).await {
                Ok(r) => {
                    loyalty_state.cache().loyalty.invalidate();
                    tracing::info!(report = ?r, "loyalty daily run");
                    last = Some(day);
                }
                Err(e) => tracing::warn!(error = %e.message, "loyalty daily run failed"),
            }
        }
    });
    // The care automations (birthdays, reminders, win-back, …) once a day from 09:00
    // network time; a run is idempotent, so a restart that runs the day again sends
    // nothing twice.
    let care_state = state.clone();
    let care_run = tokio::spawn(async move {
        let mut last = None;
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            let now = care_state.app().clock().now_us();
            let local = clock::local(clock::NETWORK_TZ, now);
            if last == Some(local.date) || local.minute_of_day < 9 * 60 {
                continue;
            }
            match forecourt_app::care::run(care_state.app(), local.date).await {
                Ok(r) => {
                    tracing::info!(date = %r.date, queued = r.queued(), "care automations run");
                    last = Some(local.date);
                }
                Err(e) => tracing::warn!(error = %e.message, "care automations run failed"),
            }
        }
    });
    let app = router(state);
    // Answers go out at once: without TCP_NODELAY a response written in two parts
    // waits for the till's delayed ACK (40 ms on Linux) before its second part leaves.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY on a connection");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await?;
    sweeper.abort();
    loyalty_run.abort();
    care_run.abort();
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
