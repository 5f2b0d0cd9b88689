//! The staff console (`/`) and the member portal (`/m/`): server-rendered HTML from
//! compiled templates (maud), with no script and every asset in the binary.
//!
//! The console is the API's first client. Every page reads and every form writes
//! through the `/api/v1` handlers, called in the process with the user's own session
//! (see [`Api`]), so roles, scope, masking, validation, idempotency and the audit log
//! are enforced in one place and the console can never see or do more than the API
//! allows. What the API does not have (the dashboard's figures) is read here with the
//! same scope rules.
//!
//! Pages must never hold money logic of their own: they format, they do not decide.

pub mod charts;
pub mod i18n;
pub mod layout;
mod pages;
pub mod portal;
pub mod scores;

use crate::extract::{source, SESSION_COOKIE};
use crate::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use forecourt_store::StaffUser;
pub use i18n::Lang;
use maud::Markup;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use tower::ServiceExt;

/// The cookie that remembers the chosen language.
pub const LANG_COOKIE: &str = "fc_lang";

/// The API router, with its state, for the pages to call in the process.
#[derive(Clone)]
pub struct Api(pub Router);

/// The content security policy of every page: our own styles and images, no script,
/// forms only to ourselves.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's and the portal's routes.
pub fn router(api: Router) -> Router<AppState> {
    pages::routes()
        .route("/assets/{name}", get(asset))
        .route("/lang/{code}", get(set_lang))
        .layer(Extension(Api(api)))
}

/// An HTML page with the page CSP. Links to other sites still send no referrer.
pub fn html(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
            // A page's forms must carry its origin: with `no-referrer` (the API's
            // default) a browser posts `Origin: null`, which sign-in refuses.
            (header::REFERRER_POLICY, "same-origin"),
        ],
        markup.into_string(),
    )
        .into_response()
}

/// A redirect after a successful form (POST-redirect-GET).
///
/// `Redirect::to` panics on a target that is not a valid header value; the targets here
/// are built by the pages, but a value that slipped through must cost the visitor a trip
/// to the dashboard, not the connection, so an invalid one leads to `/`.
pub fn see_other(to: &str) -> Response {
    let to = if HeaderValue::from_str(to).is_ok() {
        to
    } else {
        "/"
    };
    Redirect::to(to).into_response()
}

async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (body, kind): (&'static str, &str) = match name.as_str() {
        "console.css" => (
            include_str!("assets/console.css"),
            "text/css; charset=utf-8",
        ),
        "portal.css" => (include_str!("assets/portal.css"), "text/css; charset=utf-8"),
        "logo.svg" => (include_str!("assets/logo.svg"), "image/svg+xml"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// `GET /lang/{zh-CN|en}?next=/path`: remembers the language for a year.
async fn set_lang(
    axum::extract::Path(code): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let lang = Lang::from_code(&code).unwrap_or_default();
    let next = q.get("next").map(String::as_str).unwrap_or("/");
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        lang.code()
    );
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to(safe_next(next)),
    )
        .into_response()
}

/// Only a path on this site may be a redirect target (no open redirects): `next` itself
/// when [`is_site_path`] holds, otherwise `/`.
pub fn safe_next(next: &str) -> &str {
    safe_next_or(next, "/")
}

/// [`safe_next`] with another fallback (the portal's is `/m/`). Every redirect target
/// taken from a request goes through here.
pub fn safe_next_or<'a>(next: &'a str, fallback: &'a str) -> &'a str {
    if is_site_path(next) {
        next
    } else {
        fallback
    }
}

/// Whether `p` is an absolute path on this site that every browser reads the same way.
///
/// Browsers are lenient with a `Location`: they drop tabs and newlines anywhere (so
/// `/\t/evil` becomes `//evil`, another host), strip leading spaces and control
/// characters, read `\` as `/`, and resolve `..` segments, after which `/..//evil` is
/// `//evil` again. Rather than guess each browser's repairs, only plain printable ASCII
/// is accepted (percent-encoded paths are), with exactly one leading `/`, no `//` and no
/// `\` anywhere, and no `.` or `..` segment (also percent-encoded). A value that is
/// accepted is also always a valid header value, so it cannot make `Redirect` panic.
pub fn is_site_path(p: &str) -> bool {
    let printable = p.bytes().all(|b| b.is_ascii_graphic());
    let path = p.split(['?', '#']).next().unwrap_or("");
    let dot_segment = path.split('/').any(|seg| {
        let seg = seg.to_ascii_lowercase().replace("%2e", ".");
        seg == "." || seg == ".."
    });
    printable && p.starts_with('/') && !p.contains("//") && !p.contains('\\') && !dot_segment
}

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The language of a request: the cookie, else `Accept-Language`, else Chinese.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    if let Some(l) = cookie(headers, LANG_COOKIE).and_then(Lang::from_code) {
        return l;
    }
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::from_accept_language)
        .unwrap_or_default()
}

/// What every page knows about its request: the language, the path, and where the
/// request came from.
pub struct Ctx {
    pub lang: Lang,
    pub path: String,
    pub source: Option<String>,
    pub api: Api,
    pub state: AppState,
}

impl Ctx {
    pub fn t(&self, key: &str) -> &'static str {
        i18n::t(self.lang, key)
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let api = parts
            .extensions
            .get::<Api>()
            .cloned()
            .expect("the web router carries the API");
        Ok(Ctx {
            lang: lang_of(&parts.headers),
            path: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into()),
            source: source(parts),
            api,
            state: state.clone(),
        })
    }
}

/// A signed-in staff member on a console page: the context, the user and the session.
pub struct Console {
    pub ctx: Ctx,
    pub user: StaffUser,
    token: String,
}

/// Not signed in (or the session ended): back to the login page, then here again.
pub struct ToLogin(String);

impl IntoResponse for ToLogin {
    fn into_response(self) -> Response {
        let next = percent_encode(&self.0);
        Redirect::to(&format!("/login?next={next}")).into_response()
    }
}

impl FromRequestParts<AppState> for Console {
    type Rejection = ToLogin;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_string) else {
            return Err(ToLogin(ctx.path));
        };
        let idle_us = state.config().session_idle_secs * 1_000_000;
        let user = state
            .store()
            .session_user(
                &crate::secret::token_hash(&token),
                forecourt_store::now_us(),
                idle_us,
            )
            .await
            .ok()
            .flatten();
        match user {
            Some(user) if !user.disabled => Ok(Console { ctx, user, token }),
            _ => Err(ToLogin(ctx.path)),
        }
    }
}

impl Console {
    pub fn t(&self, key: &str) -> &'static str {
        self.ctx.t(key)
    }

    pub fn lang(&self) -> Lang {
        self.ctx.lang
    }

    /// A moment from the API's answer, in `zone`, to the minute (see [`when`]); empty
    /// when the answer has none.
    pub fn when(&self, v: &Value, zone: &str) -> String {
        instant(v)
            .map(|us| when(self.lang(), us, zone, Shown::Minute))
            .unwrap_or_default()
    }

    /// The same, the date only.
    pub fn day(&self, v: &Value, zone: &str) -> String {
        instant(v)
            .map(|us| when(self.lang(), us, zone, Shown::Day))
            .unwrap_or_default()
    }

    /// The token every form of this session carries.
    pub fn csrf(&self) -> String {
        self.ctx.state.secret().csrf_token(&self.token)
    }

    /// Whether a form's CSRF token belongs to this session.
    pub fn csrf_ok(&self, form: &HashMap<String, String>) -> bool {
        let sent = form.get("_csrf").map(String::as_str).unwrap_or("");
        self.ctx.state.secret().csrf_matches(&self.token, sent)
    }

    /// The user as the use cases' caller, with where the request came from.
    pub fn actor(&self) -> crate::access::Actor {
        crate::access::Actor {
            user: self.user.clone(),
            source: self.ctx.source.clone(),
        }
    }

    /// Whether the user's role may take an action (for menus and buttons; the API
    /// decides again on every call).
    pub fn may(&self, action: crate::access::Action) -> bool {
        crate::access::allowed(&self.user.role, action)
    }

    /// Calls the API as this user.
    pub async fn api(&self, method: Method, uri: &str, body: Option<Value>) -> ApiReply {
        let cookie = format!("{SESSION_COOKIE}={}", self.token);
        call(&self.ctx, method, uri, body, Some((&cookie, &self.csrf()))).await
    }

    pub async fn get(&self, uri: &str) -> ApiReply {
        self.api(Method::GET, uri, None).await
    }

    /// A GET whose answer is not JSON (a CSV file): headers and bytes, or the error.
    pub async fn get_raw(&self, uri: &str) -> Result<(HeaderMap, axum::body::Bytes), ApiFailure> {
        let cookie = format!("{SESSION_COOKIE}={}", self.token);
        match call_raw(
            &self.ctx,
            Method::GET,
            uri,
            None,
            Some((&cookie, &self.csrf())),
        )
        .await
        {
            Ok((status, headers, bytes)) if status.is_success() => Ok((headers, bytes)),
            Ok((status, headers, bytes)) => Err(ApiReply {
                status,
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                headers,
            }
            .into_result()
            .err()
            .unwrap_or_else(|| ApiFailure {
                status,
                code: "error".into(),
                message: String::new(),
                details: Value::Null,
            })),
            Err(message) => {
                Err(internal(message)
                    .into_result()
                    .err()
                    .unwrap_or_else(|| ApiFailure {
                        status: StatusCode::INTERNAL_SERVER_ERROR,
                        code: "internal".into(),
                        message: String::new(),
                        details: Value::Null,
                    }))
            }
        }
    }
}

/// The API's answer to an in-process call.
pub struct ApiReply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

/// An API error as a page shows it.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// The figures behind the refusal, as the API gave them (`error.details`).
    pub details: Value,
}

impl ApiReply {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The body of a success, or the error.
    pub fn into_result(self) -> Result<Value, ApiFailure> {
        if self.ok() {
            Ok(self.body)
        } else {
            Err(ApiFailure {
                status: self.status,
                code: self.body["error"]["code"]
                    .as_str()
                    .unwrap_or("error")
                    .to_string(),
                message: self.body["error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                details: self.body["error"]["details"].clone(),
            })
        }
    }
}

/// Calls the API router in the process. `session` is the cookie header and the CSRF
/// token of a signed-in user.
pub async fn call(
    ctx: &Ctx,
    method: Method,
    uri: &str,
    body: Option<Value>,
    session: Option<(&str, &str)>,
) -> ApiReply {
    match call_raw(ctx, method, uri, body, session).await {
        Ok((status, headers, bytes)) => ApiReply {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            headers,
        },
        Err(message) => internal(message),
    }
}

/// The API's answer as it is: status, headers and body bytes.
async fn call_raw(
    ctx: &Ctx,
    method: Method,
    uri: &str,
    body: Option<Value>,
    session: Option<(&str, &str)>,
) -> Result<(StatusCode, HeaderMap, axum::body::Bytes), String> {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some((cookie, csrf)) = session {
        req = req
            .header(header::COOKIE, cookie)
            .header(crate::extract::CSRF_HEADER, csrf);
    }
    let body = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let mut req = req
        .body(body)
        .map_err(|e| format!("bad request to the API: {e}"))?;
    // The audit log names where the person is, not the server itself.
    if let Some(ip) = ctx.source.as_deref().and_then(|s| s.parse().ok()) {
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 0)));
    }
    let res = match ctx.api.0.clone().oneshot(req).await {
        Ok(r) => r,
        Err(e) => match e {},
    };
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .map_err(|e| format!("reading the API's answer: {e}"))?
        .to_bytes();
    Ok((status, headers, bytes))
}

fn internal(message: String) -> ApiReply {
    tracing::error!(%message, "console call to the API failed");
    ApiReply {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        body: serde_json::json!({"error": {"code": "internal", "message": ""}}),
        headers: HeaderMap::new(),
    }
}

/// Percent-encodes a query value.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Fen as yuan with two decimals and thousands separators: `¥1,234.56`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let f = fen.unsigned_abs();
    format!("{sign}¥{}.{:02}", group(f / 100), f % 100)
}

/// Millilitres as litres with two decimals.
pub fn litres(ml: i64) -> String {
    let sign = if ml < 0 { "-" } else { "" };
    let m = ml.unsigned_abs();
    format!("{sign}{}.{:02} L", group(m / 1000), (m % 1000) / 10)
}

/// An integer with thousands separators.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn int(n: i64) -> String {
    if n < 0 {
        format!("-{}", group(n.unsigned_abs()))
    } else {
        group(n as u64)
    }
}

/// Reads a value of a JSON object as i64 (0 when absent).
pub fn i(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or(0)
}

/// Reads a value of a JSON object as text ("" when absent; numbers and booleans as
/// written).
pub fn s(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// How much of a moment a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// `2026-11-20 16:29`
    Minute,
    /// `2026-11-20`
    Day,
}

/// Every time a person sees on a page goes through here. `at_us` (UTC microseconds) is
/// shown in `zone`, the time zone that owns the moment (a sale's station, a card's
/// issuing station, the network's for staff actions), as people read it: no `T`, no
/// `Z`, no seconds, no offset. When that zone's clock differs from the network's at
/// that moment, the zone's name follows in the page's language, so that two times on
/// one screen never silently disagree.
pub fn when(lang: Lang, at_us: i64, zone: &str, shown: Shown) -> String {
    use chrono::{DateTime, Offset, Utc};
    let utc = DateTime::<Utc>::from_timestamp_micros(at_us).unwrap_or_default();
    let local = utc.with_timezone(&crate::clock::tz(zone));
    let text = match shown {
        Shown::Minute => local.format("%Y-%m-%d %H:%M"),
        Shown::Day => local.format("%Y-%m-%d"),
    }
    .to_string();
    let network = utc.with_timezone(&crate::clock::tz(crate::clock::NETWORK_TZ));
    if local.offset().fix() == network.offset().fix() {
        text
    } else {
        format!("{text} ({})", zone_name(lang, zone))
    }
}

/// A chart's day label (`11-20`): `day` counts local calendar days from 1970-01-01 in
/// the zone the figures were grouped in, so it is already the day people lived.
pub fn chart_day(day: i64) -> String {
    (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(day))
        .format("%m-%d")
        .to_string()
}

/// A time zone as people call it (北京时间, Urumqi time): the catalogue's name for
/// the zones stations use, else the zone's city in a sentence of the catalogue.
pub fn zone_name(lang: Lang, zone: &str) -> String {
    let zone = crate::clock::tz(zone).name();
    i18n::lookup(lang, &format!("zone.{zone}"))
        .map(str::to_string)
        .unwrap_or_else(|| {
            let city = zone.rsplit('/').next().unwrap_or(zone).replace('_', " ");
            i18n::fill(i18n::t(lang, "zone.other"), &[("city", &city)])
        })
}

/// A moment as the API gives it to a page (RFC 3339 text or UTC microseconds), for
/// [`when`]; `None` when absent or unreadable.
pub fn instant(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(t) => chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.timestamp_micros()),
        _ => None,
    }
}

/// The stations' time zones, for pages that show each time in the zone that owns it.
/// A station not found (or a moment that belongs to none) takes the network's zone.
#[derive(Debug, Default)]
pub struct Zones {
    by_code: HashMap<String, String>,
    by_id: HashMap<String, String>,
}

impl Zones {
    /// Every station's zone. The list is small and not personal data; a failed read
    /// leaves every time in the network's zone (labelled as such), never a wrong one
    /// shown as right.
    pub async fn load(state: &AppState) -> Zones {
        let stations = state.store().stations().await.unwrap_or_default();
        Zones {
            by_code: stations
                .iter()
                .map(|s| (s.code.clone(), s.time_zone.clone()))
                .collect(),
            by_id: stations
                .into_iter()
                .map(|s| (s.station_id, s.time_zone))
                .collect(),
        }
    }

    /// The zone of the station with this code.
    pub fn of_code(&self, code: &str) -> &str {
        self.by_code
            .get(code)
            .map(String::as_str)
            .unwrap_or(crate::clock::NETWORK_TZ)
    }

    /// The zone of the station with this id, if any.
    pub fn of_id(&self, id: Option<&str>) -> &str {
        id.and_then(|id| self.by_id.get(id))
            .map(String::as_str)
            .unwrap_or(crate::clock::NETWORK_TZ)
    }
}

/// Parses a yuan amount as typed into a form (`100`, `100.5`, `1,000.00`) into fen.
pub fn parse_yuan(text: &str) -> Option<i64> {
    let t: String = text.trim().chars().filter(|c| *c != ',').collect();
    let t = t.strip_prefix('¥').unwrap_or(&t);
    if t.is_empty() || t.starts_with('-') {
        return None;
    }
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, f),
        None => (t, ""),
    };
    if frac.len() > 2 || !whole.chars().all(|c| c.is_ascii_digit()) || whole.is_empty() {
        return None;
    }
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_and_writes() {
        assert_eq!(yuan(123456), "¥1,234.56");
        assert_eq!(yuan(-5), "-¥0.05");
        assert_eq!(litres(40_125), "40.12 L");
        assert_eq!(parse_yuan("100"), Some(10_000));
        assert_eq!(parse_yuan("1,000.5"), Some(100_050));
        assert_eq!(parse_yuan("¥0.01"), Some(1));
        for bad in ["", "-1", "1.234", "abc", "1.2.3", ".5"] {
            assert_eq!(parse_yuan(bad), None, "{bad}");
        }
    }

    #[test]
    fn redirects_stay_on_the_site() {
        assert_eq!(safe_next("/customers?q=1"), "/customers?q=1");
        assert_eq!(
            safe_next("/cards/62001234?done=1"),
            "/cards/62001234?done=1"
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "",
            "/\t/evil.example",
            "/\n/evil.example",
            " /evil",
            "/..//evil.example",
            "/%2e%2E/x",
            "/./x",
            "/\u{3000}/evil",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
        assert_eq!(safe_next_or("//evil", "/m/"), "/m/");
    }
}
