//! The staff API: login, users, network, customers and cards.

use crate::access::{require, Action, CardReader, CardView, CustomerView};
use crate::clock;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Caller, Source, Staff, SESSION_COOKIE};
use crate::guard::{self, Judged};
use crate::privacy::audit;
use crate::secret::{new_token, token_hash, valid_pin};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use forecourt_core::ledger::{account, split_card_debit, Transfer, Unit};
use forecourt_core::limits::CardRules;
use forecourt_core::person::mask_phone;
use forecourt_core::{CardKind, CardNo, CardState, Fen, Phone, Plate};
use forecourt_store::audit::AuditEntry;
use forecourt_store::ledger::NewJournal;
use forecourt_store::{
    now_us, Card, Customer, Guesses, NewCard, NewContact, NewCustomer, NewStation, NewVehicle,
    StaffUser, StoreError,
};
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use forecourt_app::input::NAME_CHARS_MAX;
const SEARCH_RESULTS_MAX: i64 = 20;

pub(crate) use forecourt_app::input::{long_text, opt_long_text, opt_text, text};

// ---------------------------------------------------------------- auth and users

pub use forecourt_app::network::{create_station, create_user};

#[derive(Deserialize)]
pub struct LoginBody {
    username: String,
    password: String,
}

/// `POST /api/v1/auth/login` → `{token, expires_at, csrf_token}`. The token works as a
/// bearer token; the same token is set as the console's `HttpOnly`, `SameSite=Strict`
/// session cookie, whose changes must carry `X-CSRF-Token: csrf_token`.
pub async fn login(
    State(state): State<AppState>,
    Source(source): Source,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Response> {
    let store = state.store();
    let cfg = state.config();
    let now = now_us();
    let client = source.clone().unwrap_or_else(|| "local".into());
    if !state
        .limiter()
        .allow(&format!("login:{client}"), cfg.logins_per_minute)
    {
        return Err(ApiError::new(
            "rate_limited",
            "too many sign-in attempts from this address; wait a minute",
        ));
    }
    // An unknown or disabled user, a wrong password and a locked account answer alike,
    // each after one argon2 verification (`guard::judge_password`), so that neither
    // the answer nor its time tells which it was. The lock is in the audit log.
    let refused = || ApiError::new("invalid_credentials", "wrong username or password");
    let user = store
        .user_by_username(body.username.trim())
        .await?
        .filter(|u| !u.disabled);
    let actor = format!("user:{}", body.username.trim());
    let attempt = guard::Attempt {
        actor: &actor,
        source: source.as_deref(),
    };
    let judged = guard::judge_password(
        &state,
        Guesses::StaffPassword,
        user.as_ref()
            .map(|u| (u.user_id.as_str(), u.password_hash.as_str())),
        &body.password,
        &attempt,
    )
    .await?;
    let user = match (judged, user) {
        (Judged::Right, Some(user)) => user,
        (Judged::Wrong(_), Some(user)) => {
            store
                .audit(&AuditEntry {
                    actor: &actor,
                    action: "user.login_failed",
                    target_kind: "user",
                    target_id: Some(&user.user_id),
                    source: source.as_deref(),
                    detail: json!({}),
                })
                .await?;
            return Err(refused());
        }
        _ => return Err(refused()),
    };
    let token = new_token("fcs_");
    let expires_at = now + cfg.session_ttl_secs * 1_000_000;
    let mut tx = store.begin().await?;
    tx.create_session(&token_hash(&token), &user.user_id, expires_at)
        .await?;
    tx.audit(&AuditEntry {
        actor: &format!("user:{}", user.username),
        action: "user.login",
        target_kind: "user",
        target_id: Some(&user.user_id),
        source: source.as_deref(),
        detail: json!({}),
    })
    .await?;
    tx.commit().await?;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        cfg.session_ttl_secs,
        if cfg.secure_cookies { "; Secure" } else { "" }
    );
    let body = json!({"token": token, "expires_at": clock::rfc3339(expires_at), "role": user.role, "csrf_token": state.secret().csrf_token(&token)});
    Ok(([(axum::http::header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// `POST /api/v1/auth/logout`: revokes the caller's token.
pub async fn logout(
    State(state): State<AppState>,
    Staff(_): Staff,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let cookie = headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v);
    let mut tx = state.store().begin().await?;
    for token in [bearer, cookie].into_iter().flatten() {
        tx.revoke_session(&token_hash(token)).await?;
    }
    tx.commit().await?;
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok((
        StatusCode::NO_CONTENT,
        [(axum::http::header::SET_COOKIE, clear)],
    )
        .into_response())
}

/// `GET /api/v1/users`: every staff user with role, scope and lock state (never the
/// password hash).
pub async fn get_users(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    require(&me, Action::ManageUsers)?;
    let now = now_us();
    let users: Vec<Value> = state
        .store()
        .users()
        .await?
        .into_iter()
        .map(|u| json!({"user_id": u.user_id, "username": u.username, "role": u.role, "scope": u.scope, "disabled": u.disabled, "locked": u.locked_until.is_some_and(|t| t > now), "failed_logins": u.failed_logins}))
        .collect();
    Ok(Json(json!({"users": users})).into_response())
}

#[derive(Deserialize)]
pub struct UserBody {
    username: String,
    role: String,
    scope: Option<String>,
    password: String,
    /// Where the service desk's alerts reach the user.
    email: Option<String>,
    phone: Option<String>,
}

/// `POST /api/v1/users` (admin only).
pub async fn post_user(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(body): ApiJson<UserBody>,
) -> ApiResult<Response> {
    require(&me, Action::ManageUsers)?;
    let contact = forecourt_app::service_desk::ContactBody {
        email: body.email.clone(),
        phone: body.phone.clone(),
    };
    // Checked before the user is created, so that a bad address creates nothing.
    let checked = forecourt_app::service_desk::check_contact(&contact)?;
    let id = create_user(
        state.store(),
        &body.username,
        &body.role,
        body.scope.as_deref(),
        &body.password,
    )
    .await?;
    if checked.email.is_some() || checked.phone.is_some() {
        forecourt_app::service_desk::set_staff_contact(
            state.app(),
            &me,
            me.source.as_deref(),
            body.username.trim(),
            contact,
        )
        .await?;
    }
    audit(
        &state,
        &me,
        "user.create",
        "user",
        Some(&id),
        json!({"role": body.role, "scope": body.scope}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "username": body.username.trim(), "role": body.role})),
    )
        .into_response())
}

// ---------------------------------------------------------------- network

#[derive(Deserialize)]
pub struct StationBody {
    code: String,
    name: String,
    region: Option<String>,
    address: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    time_zone: Option<String>,
    province: Option<String>,
    opening_hours: Option<String>,
}

pub async fn post_station(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<StationBody>,
) -> ApiResult<Response> {
    require(&me, Action::ManageNetwork)?;
    let id = create_station(
        state.store(),
        NewStation {
            code: b.code.clone(),
            name: b.name,
            region_code: b.region,
            address: b.address,
            lat: b.lat,
            lon: b.lon,
            time_zone: b.time_zone,
            province: b.province,
            opening_hours: b.opening_hours,
        },
    )
    .await?;
    audit(
        &state,
        &me,
        "station.create",
        "station",
        Some(&id),
        json!({"code": b.code}),
    )
    .await?;
    let s = state.store().station_by_id(&id).await?;
    Ok((StatusCode::CREATED, Json(json!(s))).into_response())
}

pub async fn get_stations(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    require(&me, Action::ViewNetwork)?;
    Ok(Json(json!({"stations": state.store().stations().await?, "regions": state.store().regions().await?})).into_response())
}

pub async fn get_products(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    require(&me, Action::ViewNetwork)?;
    Ok(Json(json!({"products": state.store().products().await?})).into_response())
}

#[derive(Deserialize)]
pub struct ProductBody {
    code: String,
    name: String,
    kind: String,
    category: Option<String>,
}

pub async fn post_product(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<ProductBody>,
) -> ApiResult<Response> {
    require(&me, Action::ManageNetwork)?;
    let code = text("code", &b.code, 32)?;
    let name = text("name", &b.name, NAME_CHARS_MAX)?;
    forecourt_core::pricing::ProductKind::parse(&b.kind)?;
    let category = opt_text("category", &b.category, 32)?;
    let mut tx = state.store().begin().await?;
    let id = match tx
        .create_product(&code, &name, &b.kind, category.as_deref())
        .await
    {
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::new("conflict", format!("product {code} exists")))
        }
        other => other?,
    };
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "code": code}))).into_response())
}

#[derive(Deserialize)]
pub struct PriceBody {
    product_code: String,
    unit_price_fen: i64,
    effective_from: Option<String>,
}

/// `POST /api/v1/stations/{code}/prices`: a new price from a time on; history is kept.
pub async fn post_price(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<PriceBody>,
) -> ApiResult<Response> {
    require(&me, Action::ManageNetwork)?;
    let store = state.store();
    let station = store
        .station_by_code(&code)
        .await?
        .ok_or_else(|| ApiError::new("station_not_found", format!("no station {code}")))?;
    crate::access::require_station(&me, &station)?;
    let product = store
        .product_by_code(&b.product_code)
        .await?
        .ok_or_else(|| {
            ApiError::new("unknown_product", format!("no product {}", b.product_code))
        })?;
    if b.unit_price_fen <= 0 || b.unit_price_fen > forecourt_core::pricing::UNIT_PRICE_FEN_MAX {
        return Err(ApiError::validation(
            "unit_price_fen",
            "a positive price in fen",
        ));
    }
    let from = match &b.effective_from {
        Some(t) => clock::parse_time("effective_from", t)?,
        None => now_us(),
    };
    let mut tx = store.begin().await?;
    tx.add_price(
        &station.station_id,
        &product.product_id,
        b.unit_price_fen,
        from,
    )
    .await?;
    let actor = me.audit_name();
    tx.audit(&AuditEntry {
        actor: &actor,
        action: "price.set",
        target_kind: "station",
        target_id: Some(&station.station_id),
        source: me.source.as_deref(),
        detail: json!({"product_code": product.code, "unit_price_fen": b.unit_price_fen, "effective_from": from}),
    })
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({"station_code": code, "product_code": product.code, "unit_price_fen": b.unit_price_fen, "effective_from": clock::rfc3339(from)}))).into_response())
}

#[derive(Deserialize)]
pub struct PriceQuery {
    product: Option<String>,
    at: Option<String>,
}

/// `GET /api/v1/stations/{code}/prices`: the history, and with `at` the prices then.
pub async fn get_prices(
    State(state): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Query(q): Query<PriceQuery>,
) -> ApiResult<Response> {
    if let Caller::Staff(me) = &caller {
        require(me, Action::ViewNetwork)?;
    }
    let store = state.store();
    let station = store
        .station_by_code(&code)
        .await?
        .ok_or_else(|| ApiError::new("station_not_found", format!("no station {code}")))?;
    let history = store
        .prices(&station.station_id, q.product.as_deref())
        .await?;
    let at = match &q.at {
        Some(t) => clock::parse_time("at", t)?,
        None => now_us(),
    };
    let mut current = serde_json::Map::new();
    for p in &history {
        if p.effective_from <= at && !current.contains_key(&p.product_code) {
            current.insert(p.product_code.clone(), json!(p.unit_price_fen));
        }
    }
    let history: Vec<Value> = history
        .iter()
        .map(|p| json!({"product_code": p.product_code, "unit_price_fen": p.unit_price_fen, "effective_from": clock::rfc3339(p.effective_from)}))
        .collect();
    Ok(Json(json!({"station_code": code, "at": clock::rfc3339(at), "current": current, "history": history})).into_response())
}

// ---------------------------------------------------------------- customers

#[derive(Deserialize)]
pub struct VehicleBody {
    plate: String,
    model: Option<String>,
    colour: Option<String>,
    fuel_type: Option<String>,
    tank_capacity_l: Option<f64>,
    tank_capacity_ml: Option<i64>,
}

#[derive(Deserialize)]
pub struct ContactBody {
    name: String,
    phone: Option<String>,
    role: Option<String>,
}

#[derive(Deserialize)]
pub struct CustomerBody {
    kind: String,
    name: String,
    phone: Option<String>,
    #[serde(default)]
    vehicles: Vec<VehicleBody>,
    #[serde(default)]
    contacts: Vec<ContactBody>,
    industry: Option<String>,
    birthday: Option<String>,
    occupation: Option<String>,
    home_station: Option<String>,
    source: Option<String>,
    source_code: Option<String>,
    #[serde(default)]
    consent_marketing: bool,
    #[serde(default)]
    consent_sensitive: bool,
    #[serde(default)]
    tags: Vec<String>,
    notes: Option<String>,
    /// Resident ID number (GB 11643); needs `consent_sensitive`.
    id_number: Option<String>,
    address: Option<String>,
    /// The user id of the account manager who owns the customer.
    account_manager_id: Option<String>,
    /// The member code of the member who referred this one (以老带新).
    referred_by: Option<String>,
}

const INDUSTRIES: &[&str] = &[
    "car_rental",
    "logistics",
    "construction",
    "taxi",
    "bus",
    "government",
    "other",
];
const SOURCES: &[&str] = &[
    "walk_in", "leaflet", "referral", "partner", "census", "other",
];

fn vehicle(v: &VehicleBody) -> ApiResult<NewVehicle> {
    let plate = Plate::parse(&v.plate)?;
    let tank = match (v.tank_capacity_ml, v.tank_capacity_l) {
        (Some(ml), _) => Some(ml),
        (None, Some(l)) => Some((l * 1000.0).round() as i64),
        _ => None,
    };
    if tank.is_some_and(|t| !(1_000..=2_000_000).contains(&t)) {
        return Err(ApiError::validation(
            "vehicles.tank_capacity",
            "1 to 2000 litres",
        ));
    }
    Ok(NewVehicle {
        plate: plate.as_str().to_string(),
        model: opt_text("vehicles.model", &v.model, 64)?,
        colour: opt_text("vehicles.colour", &v.colour, 32)?,
        fuel_type: opt_text("vehicles.fuel_type", &v.fuel_type, 32)?,
        tank_capacity_ml: tank,
    })
}

fn new_member_code() -> String {
    format!("8{:09}", rand::thread_rng().gen_range(0..1_000_000_000u32))
}

/// `POST /api/v1/customers`.
pub async fn post_customer(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<CustomerBody>,
) -> ApiResult<Response> {
    require(&me, Action::CreateCustomer)?;
    if b.kind != "individual" && b.kind != "company" {
        return Err(ApiError::validation("kind", "individual or company"));
    }
    let name = text("name", &b.name, NAME_CHARS_MAX)?;
    let phone = match &b.phone {
        Some(p) => Some(Phone::parse(p)?.as_str().to_string()),
        None => None,
    };
    if b.vehicles.len() > 200 || b.contacts.len() > 50 || b.tags.len() > 50 {
        return Err(ApiError::validation(
            "vehicles/contacts/tags",
            "at most 200 vehicles, 50 contacts, 50 tags",
        ));
    }
    let vehicles = b
        .vehicles
        .iter()
        .map(vehicle)
        .collect::<ApiResult<Vec<_>>>()?;
    let mut contacts = Vec::new();
    for c in &b.contacts {
        contacts.push(NewContact {
            name: text("contacts.name", &c.name, NAME_CHARS_MAX)?,
            phone: match &c.phone {
                Some(p) => Some(Phone::parse(p)?.as_str().to_string()),
                None => None,
            },
            role: opt_text("contacts.role", &c.role, 32)?,
        });
    }
    if let Some(i) = &b.industry {
        if !INDUSTRIES.contains(&i.as_str()) {
            return Err(ApiError::validation(
                "industry",
                format!("one of {}", INDUSTRIES.join(", ")),
            ));
        }
    }
    if let Some(s) = &b.source {
        if !SOURCES.contains(&s.as_str()) {
            return Err(ApiError::validation(
                "source",
                format!("one of {}", SOURCES.join(", ")),
            ));
        }
    }
    if let Some(d) = &b.birthday {
        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| ApiError::validation("birthday", "a date YYYY-MM-DD"))?;
    }
    // A station's staff register customers at their station; it must be in scope.
    let home_code = match (&b.home_station, crate::access::Scope::of(&me)) {
        (Some(code), _) => Some(code.clone()),
        (None, crate::access::Scope::Station(code)) => Some(code),
        (None, _) => None,
    };
    let home_station_id = match &home_code {
        Some(code) => {
            let s =
                state.store().station_by_code(code).await?.ok_or_else(|| {
                    ApiError::new("station_not_found", format!("no station {code}"))
                })?;
            // An account manager's customers are theirs wherever they fill up.
            if crate::access::Scope::of(&me) != crate::access::Scope::Own {
                crate::access::require_station(&me, &s)?;
            }
            Some(s.station_id)
        }
        None if matches!(
            crate::access::Scope::of(&me),
            crate::access::Scope::Region(_)
        ) =>
        {
            return Err(ApiError::validation(
                "home_station",
                "name the customer's home station in your region",
            ));
        }
        None => None,
    };
    // An ID number is sensitive personal data (PIPL art. 28-29): kept only with its own
    // consent, and only when it is a valid GB 11643 number.
    let id_number = match opt_text("id_number", &b.id_number, 18)? {
        Some(n) if !b.consent_sensitive => {
            let _ = n;
            return Err(ApiError::validation(
                "id_number",
                "an ID number needs the customer's separate consent (consent_sensitive)",
            ));
        }
        Some(n) => Some(
            forecourt_privacy::parse_id_number(&n)
                .map_err(|e| ApiError::validation("id_number", e))?,
        ),
        None => None,
    };
    let account_manager_id = match (&b.account_manager_id, crate::access::Scope::of(&me)) {
        (Some(id), _) => Some(id.clone()),
        (None, crate::access::Scope::Own) => Some(me.user_id.clone()),
        (None, _) => None,
    };
    let tags = b
        .tags
        .iter()
        .map(|t| text("tags", t, 32))
        .collect::<forecourt_app::AppResult<Vec<_>>>()?;
    let mut customer = NewCustomer {
        member_code: new_member_code(),
        kind: b.kind.clone(),
        name,
        phone,
        industry: b.industry.clone(),
        birthday: b.birthday.clone(),
        occupation: opt_text("occupation", &b.occupation, 64)?,
        home_station_id,
        source: b.source.clone(),
        source_code: opt_text("source_code", &b.source_code, 64)?,
        consent_marketing: b.consent_marketing,
        consent_sensitive: b.consent_sensitive,
        tags,
        notes: opt_long_text("notes", &b.notes, 2000)?,
        id_number,
        address: opt_text("address", &b.address, 200)?,
        account_manager_id,
        vehicles,
        contacts,
    };
    let referrer = match &b.referred_by {
        Some(code) => Some(
            state
                .store()
                .customer_by_member_code(code.trim())
                .await?
                .filter(|c| c.anonymized_at.is_none())
                .ok_or_else(|| {
                    ApiError::validation("referred_by", "no member with this member code")
                })?
                .customer_id,
        ),
        None => None,
    };
    for _ in 0..5 {
        let mut tx = state.store().begin().await?;
        match tx.create_customer(&customer).await {
            Ok(id) => {
                if let Some(r) = &referrer {
                    tx.set_referrer(&id, r).await?;
                }
                let actor = me.audit_name();
                tx.audit(&AuditEntry {
                    actor: &actor,
                    action: "customer.create",
                    target_kind: "customer",
                    target_id: Some(&id),
                    source: me.source.as_deref(),
                    detail: json!({"kind": customer.kind}),
                })
                .await?;
                if b.consent_marketing || b.consent_sensitive {
                    for (purpose, given) in [
                        ("marketing", b.consent_marketing),
                        ("sensitive", b.consent_sensitive),
                    ] {
                        if given {
                            tx.record_consent(&id, purpose, "counter", true, &actor)
                                .await?;
                        }
                    }
                }
                tx.commit().await?;
                let c = state
                    .store()
                    .customer(&id)
                    .await?
                    .ok_or_else(|| ApiError::internal("customer vanished"))?;
                // The creator typed the data in: out of their scope (an account
                // manager who named another manager) it comes back masked, not refused.
                let view = match crate::access::customer_view(&state, &me, &c).await? {
                    CustomerView::Outside => CustomerView::Masked,
                    v => v,
                };
                return Ok((
                    StatusCode::CREATED,
                    Json(profile_json(&state, &me, &c, view).await?),
                )
                    .into_response());
            }
            // A member code collision: draw another.
            Err(StoreError::Conflict(_)) => customer.member_code = new_member_code(),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal("could not draw a free member code"))
}

fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count().clamp(1, 3))),
        None => String::new(),
    }
}

/// The view of a card to staff who passed the card's scope check (a manager sees the
/// whole number, the other roles the first 6 and last 4 digits).
fn in_scope_card_view(me: &StaffUser) -> CardView {
    if crate::access::allowed(&me.role, Action::ManageCard) {
        CardView::Full
    } else {
        CardView::Masked
    }
}

fn card_no_in(view: CardView, no: &str) -> String {
    match CardNo::parse(no) {
        Ok(c) if view.full_number() => c.as_str().to_string(),
        Ok(c) => c.masked(),
        Err(_) => no.to_string(),
    }
}

/// A card as `view` allows: a till of another station learns what a sale needs and
/// neither the customer nor a plate.
async fn card_summary(state: &AppState, view: CardView, c: &Card) -> ApiResult<Value> {
    let store = state.store();
    let funding = match (&c.main_card_id, c.kind.as_str()) {
        (Some(main), "fleet_sub") => match store.card_by_id(main).await? {
            Some(m) if m.balance_mode == "pool" => m,
            _ => c.clone(),
        },
        _ => c.clone(),
    };
    let b = store.card_balance(&funding.card_id).await?;
    let main_no = match &c.main_card_id {
        Some(id) => store
            .card_by_id(id)
            .await?
            .map(|m| card_no_in(view, &m.card_no)),
        None => None,
    };
    let mut limits = json!(c.rules);
    if view == CardView::Till {
        if let Some(plate) = limits.pointer_mut("/plate/value") {
            *plate = json!(plate.as_str().map(mask_plate));
        }
    }
    Ok(json!({
        "card_no": card_no_in(view, &c.card_no),
        "card_no_masked": CardNo::parse(&c.card_no).map(|n| n.masked()).unwrap_or_default(),
        "kind": c.kind,
        "state": c.state,
        "customer_id": if view == CardView::Till { None } else { c.customer_id.clone() },
        "main_card_no": main_no,
        "balance_mode": c.balance_mode,
        "balance_fen": b.available_fen(),
        "paid_fen": b.paid_fen,
        "bonus_fen": b.bonus_fen,
        "held_fen": b.held_fen,
        "shares_main_balance": funding.card_id != c.card_id,
        "cap_fen": c.cap_fen.or_else(|| CardKind::parse(&c.kind).ok().and_then(|k| k.default_cap()).map(|f| f.0)),
        "pin_set": c.pin_hash.is_some(),
        "pin_locked": c.pin_failures >= state.config().pin_tries_max,
        "limits": limits,
        "replaced_by": match &c.replaced_by_card_id { Some(id) => store.card_by_id(id).await?.map(|r| card_no_in(view, &r.card_no)), None => None },
    }))
}

fn mask_plate(plate: &str) -> String {
    let chars: Vec<char> = plate.chars().collect();
    if chars.len() < 4 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 4))
}

/// A customer's profile; the caller passed [`crate::access::read_customer`], which gave
/// `view`.
async fn profile_json(
    state: &AppState,
    me: &StaffUser,
    c: &Customer,
    view: CustomerView,
) -> ApiResult<Value> {
    let store = state.store();
    let see = view == CustomerView::Full;
    let phone = c
        .phone
        .as_ref()
        .map(|p| if see { p.clone() } else { mask_phone(p) });
    let vehicles: Vec<Value> = store
        .vehicles(&c.customer_id)
        .await?
        .into_iter()
        .map(|v| json!({"vehicle_id": v.vehicle_id, "plate": if see { v.plate.clone() } else { mask_plate(&v.plate) }, "model": v.model, "colour": v.colour, "fuel_type": v.fuel_type, "tank_capacity_ml": v.tank_capacity_ml}))
        .collect();
    let contacts: Vec<Value> = store
        .contacts(&c.customer_id)
        .await?
        .into_iter()
        .map(|k| json!({"name": if see { k.name.clone() } else { mask_name(&k.name) }, "phone": k.phone.map(|p| if see { p } else { mask_phone(&p) }), "role": k.role}))
        .collect();
    let mut cards = Vec::new();
    for card in store.cards_of_customer(&c.customer_id).await? {
        cards.push(card_summary(state, in_scope_card_view(me), &card).await?);
    }
    let tier = store.tier(&c.tier_code).await?;
    let points = store.points_balance(&c.customer_id).await?;
    let credit = store.credit_agreement(&c.customer_id).await?;
    let credit_json = match credit {
        Some((limit, day)) => {
            let owed = store
                .account_totals(&account::customer_credit(&c.customer_id))
                .await?
                .owed();
            json!({"credit_limit_fen": limit, "billing_day": day, "owed_fen": owed, "available_fen": limit - owed})
        }
        None => Value::Null,
    };
    let recent: Vec<Value> = store
        .recent_sales(&c.customer_id, 10)
        .await?
        .into_iter()
        .map(|s| json!({"sale_id": s.sale_id, "station_code": s.station_code, "occurred_at": clock::rfc3339(s.occurred_at), "net_fen": s.net_fen, "points_earned": s.points_earned, "refunded_fen": s.refunded_fen}))
        .collect();
    Ok(json!({
        "id": c.customer_id,
        "member_code": c.member_code,
        "kind": c.kind,
        "name": if see { c.name.clone() } else { mask_name(&c.name) },
        "phone": phone,
        "industry": c.industry,
        "birthday": if see { c.birthday.clone() } else { None },
        "id_number": c.id_number.as_deref().map(forecourt_privacy::mask_id_number),
        "address": if see { c.address.clone() } else { c.address.as_ref().map(|_| "***".to_string()) },
        "account_manager_id": c.account_manager_id,
        "anonymized_at": c.anonymized_at.map(clock::rfc3339),
        "occupation": c.occupation,
        "home_station_id": c.home_station_id,
        "source": c.source,
        "source_code": c.source_code,
        "tier": tier.map(|t| json!({"code": t.code, "name": t.name})),
        "points_balance": points,
        "consent": {"marketing": c.consent_marketing, "sensitive": c.consent_sensitive},
        "tags": c.tags,
        "notes": c.notes,
        "created_at": clock::rfc3339(c.created_at),
        "vehicles": vehicles,
        "contacts": contacts,
        "cards": cards,
        "credit": credit_json,
        "recent_sales": recent,
    }))
}

/// `GET /api/v1/customers/{id}`: the profile, personal data masked unless the role may
/// see it.
pub async fn get_customer(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require(&me, Action::ViewCustomer)?;
    let c = state
        .store()
        .customer(&id)
        .await?
        .ok_or_else(|| ApiError::new("customer_not_found", "no such customer"))?;
    let view = crate::access::read_customer(&state, &me, &c).await?;
    let profile = profile_json(&state, &me, &c, view).await?;
    audit(
        &state,
        &me,
        "customer.read",
        "customer",
        Some(&id),
        json!({"unmasked": view == CustomerView::Full}),
    )
    .await?;
    Ok(Json(profile).into_response())
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

/// `GET /api/v1/customers?q=`: by phone, plate, card number, member code or name.
pub async fn search_customers(
    State(state): State<AppState>,
    Staff(me): Staff,
    Query(SearchQuery { q }): Query<SearchQuery>,
) -> ApiResult<Response> {
    require(&me, Action::ViewCustomer)?;
    let q = q.as_deref().unwrap_or("").trim();
    if q.is_empty() || q.chars().count() > 64 {
        return Err(ApiError::validation("q", "1 to 64 characters"));
    }
    if !state.limiter().allow(
        &format!("lookup:{}", me.user_id),
        state.config().lookups_per_minute,
    ) {
        return Err(ApiError::new(
            "rate_limited",
            "too many lookups; wait a minute",
        ));
    }
    let store = state.store();
    let mut ids: Vec<String> = Vec::new();
    let mut matched = "name";
    if let Ok(phone) = Phone::parse(q) {
        ids = store.customer_ids_by_phone(phone.as_str()).await?;
        matched = "phone";
    } else if let Ok(no) = CardNo::parse(q) {
        ids = store
            .card_by_no(no.as_str())
            .await?
            .and_then(|c| c.customer_id)
            .into_iter()
            .collect();
        matched = "card_no";
    } else if let Ok(plate) = Plate::parse(q) {
        ids = store.customer_ids_by_plate(plate.as_str()).await?;
        matched = "plate";
    } else if let Ok(n) = forecourt_privacy::parse_id_number(q) {
        ids = store.customer_ids_by_id_number(&n).await?;
        matched = "id_number";
    } else if let Some(c) = store.customer_by_member_code(q).await? {
        ids = vec![c.customer_id];
        matched = "member_code";
    }
    if ids.is_empty() && matched == "name" {
        // Names are stored encrypted: the match is on the whole name.
        ids = store.customer_ids_by_name(q, SEARCH_RESULTS_MAX).await?;
    }
    let mut results = Vec::new();
    for id in ids.iter().take(SEARCH_RESULTS_MAX as usize) {
        if let Some(c) = store.customer(id).await? {
            let view = crate::access::customer_view(&state, &me, &c).await?;
            let see = view == CustomerView::Full;
            let vehicles: Vec<String> = store
                .vehicles(id)
                .await?
                .into_iter()
                .map(|v| if see { v.plate } else { mask_plate(&v.plate) })
                .collect();
            let mut row = json!({
                "id": c.customer_id,
                "member_code": c.member_code,
                "kind": c.kind,
                "name": if see { c.name.clone() } else { mask_name(&c.name) },
                "phone": c.phone.as_ref().map(|p| if see { p.clone() } else { mask_phone(p) }),
                "plates": vehicles,
                "tier_code": c.tier_code,
                "in_scope": view != CustomerView::Outside,
            });
            // Out of scope the match is fully masked and names no id or member code:
            // the search says that someone matched, and nothing that leads further.
            if view == CustomerView::Outside {
                row["id"] = Value::Null;
                row["member_code"] = Value::Null;
            }
            results.push(row);
        }
    }
    audit(
        &state,
        &me,
        "customer.search",
        "customer",
        None,
        json!({"matched_by": matched, "results": results.len()}),
    )
    .await?;
    Ok(Json(json!({"matched_by": matched, "customers": results})).into_response())
}

pub async fn post_vehicle(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<VehicleBody>,
) -> ApiResult<Response> {
    require(&me, Action::CreateCustomer)?;
    let customer = state
        .store()
        .customer(&id)
        .await?
        .ok_or_else(|| ApiError::new("customer_not_found", "no such customer"))?;
    crate::access::require_customer(&state, &me, &customer).await?;
    let v = vehicle(&b)?;
    let mut tx = state.store().begin().await?;
    let vid = tx.add_vehicle(&id, &v).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": vid, "plate": v.plate})),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct CreditBody {
    credit_limit_fen: i64,
    #[serde(default = "one")]
    billing_day: i64,
}

fn one() -> i64 {
    1
}

/// `PUT /api/v1/customers/{id}/credit`: the credit (挂账) agreement.
pub async fn put_credit(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<CreditBody>,
) -> ApiResult<Response> {
    require(&me, Action::ManageCredit)?;
    let customer = state
        .store()
        .customer(&id)
        .await?
        .ok_or_else(|| ApiError::new("customer_not_found", "no such customer"))?;
    crate::access::require_customer(&state, &me, &customer).await?;
    if !(0..=1_000_000_000).contains(&b.credit_limit_fen) {
        return Err(ApiError::validation(
            "credit_limit_fen",
            "0 to 10,000,000 CNY",
        ));
    }
    if !(1..=28).contains(&b.billing_day) {
        return Err(ApiError::validation("billing_day", "1 to 28"));
    }
    let mut tx = state.store().begin().await?;
    let owed = tx
        .account_totals(&account::customer_credit(&id))
        .await?
        .owed();
    if owed > b.credit_limit_fen {
        return Err(ApiError::validation(
            "credit_limit_fen",
            format!(
                "the customer owes {} CNY, more than the new limit",
                Fen(owed).yuan()
            ),
        ));
    }
    tx.set_credit_agreement(&id, b.credit_limit_fen, b.billing_day)
        .await?;
    crate::privacy::audit_in(
        &mut tx,
        &me,
        "credit.limit",
        "customer",
        Some(&id),
        json!({"credit_limit_fen": b.credit_limit_fen, "billing_day": b.billing_day}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({"customer_id": id, "credit_limit_fen": b.credit_limit_fen, "billing_day": b.billing_day, "owed_fen": owed})).into_response())
}

// ---------------------------------------------------------------- cards

#[derive(Deserialize)]
pub struct CardBody {
    customer_id: Option<String>,
    kind: String,
    main_card_no: Option<String>,
    limits: Option<CardRules>,
    pin: Option<String>,
    cap_fen: Option<i64>,
    balance_mode: Option<String>,
    /// The issuing station (the scope of an anonymous card); by default the user's.
    station_code: Option<String>,
}

fn card_body(kind: CardKind) -> &'static str {
    match kind {
        CardKind::Personal => "01",
        CardKind::Company => "02",
        CardKind::FleetMain => "03",
        CardKind::FleetSub => "04",
        CardKind::Anonymous => "05",
    }
}

/// A new card number: issuer `1000`, two digits of kind, 12 random digits, check digit.
fn new_card_no(kind: CardKind) -> CardNo {
    let random: u64 = rand::thread_rng().gen_range(0..1_000_000_000_000);
    CardNo::from_body(&format!("1000{}{random:012}", card_body(kind))).expect("18 digits")
}

/// `POST /api/v1/cards`: issues a card.
pub async fn post_card(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<CardBody>,
) -> ApiResult<Response> {
    require(&me, Action::IssueCard)?;
    let kind = CardKind::parse(&b.kind)?;
    let store = state.store();
    let customer = match &b.customer_id {
        Some(id) => Some(
            store
                .customer(id)
                .await?
                .ok_or_else(|| ApiError::new("customer_not_found", "no such customer"))?,
        ),
        None => None,
    };
    let main =
        match &b.main_card_no {
            Some(no) => {
                let no = CardNo::parse(no)?;
                Some(store.card_by_no(no.as_str()).await?.ok_or_else(|| {
                    ApiError::new("card_not_found", "no main card with this number")
                })?)
            }
            None => None,
        };
    match (kind, &customer, &main) {
        (CardKind::Anonymous, Some(_), _) => {
            return Err(ApiError::validation(
                "customer_id",
                "an anonymous card has no customer; register it later",
            ))
        }
        (CardKind::Personal, Some(c), _) if c.kind != "individual" => {
            return Err(ApiError::validation(
                "kind",
                "a personal card is for an individual",
            ))
        }
        (CardKind::Company | CardKind::FleetMain, Some(c), _) if c.kind != "company" => {
            return Err(ApiError::validation(
                "kind",
                "company and fleet cards are for companies",
            ))
        }
        (CardKind::Personal | CardKind::Company | CardKind::FleetMain, None, _) => {
            return Err(ApiError::validation(
                "customer_id",
                "this card kind needs a customer",
            ))
        }
        (CardKind::FleetSub, _, None) => {
            return Err(ApiError::validation(
                "main_card_no",
                "a sub-card names its fleet main card",
            ))
        }
        (CardKind::FleetSub, _, Some(m)) if m.kind != "fleet_main" => {
            return Err(ApiError::validation(
                "main_card_no",
                "the main card is not a fleet main card",
            ))
        }
        (CardKind::FleetSub, Some(c), Some(m))
            if m.customer_id.as_deref() != Some(c.customer_id.as_str()) =>
        {
            return Err(ApiError::validation(
                "customer_id",
                "a sub-card belongs to its main card's customer",
            ))
        }
        (k, _, Some(_)) if k != CardKind::FleetSub => {
            return Err(ApiError::validation(
                "main_card_no",
                "only sub-cards have a main card",
            ))
        }
        _ => {}
    }
    if let Some(m) = &main {
        CardState::parse(&m.state)?.check_usable()?;
    }
    let rules = b.limits.unwrap_or_default();
    rules.validate()?;
    if let Some(pin) = &b.pin {
        if !valid_pin(pin) {
            return Err(ApiError::validation("pin", "a PIN is 6 digits"));
        }
    }
    if b.cap_fen.is_some_and(|c| c <= 0) {
        return Err(ApiError::validation("cap_fen", "a positive amount"));
    }
    if b.cap_fen.is_some() && matches!(kind, CardKind::Anonymous | CardKind::Personal) {
        return Err(ApiError::validation(
            "cap_fen",
            "personal and anonymous cards follow the prepaid-card caps",
        ));
    }
    let balance_mode = b.balance_mode.clone().unwrap_or_else(|| "pool".into());
    if balance_mode != "pool" && balance_mode != "allocated" {
        return Err(ApiError::validation("balance_mode", "pool or allocated"));
    }
    if let Some(c) = &customer {
        crate::access::require_customer(&state, &me, c).await?;
    }
    if let Some(m) = &main {
        crate::access::require_card(&state, &me, m).await?;
    }
    let issued_code = match (&b.station_code, crate::access::Scope::of(&me)) {
        (Some(code), _) => Some(code.clone()),
        (None, crate::access::Scope::Station(code)) => Some(code),
        _ => None,
    };
    let issued_station_id = match &issued_code {
        Some(code) => {
            let s = store
                .station_by_code(code)
                .await?
                .ok_or_else(|| ApiError::new("station_not_found", format!("no station {code}")))?;
            crate::access::require_station(&me, &s)?;
            Some(s.station_id)
        }
        None if customer.is_none()
            && main.is_none()
            && crate::access::Scope::of(&me) != crate::access::Scope::Company =>
        {
            return Err(ApiError::validation(
                "station_code",
                "name the station that issues the card",
            ));
        }
        None => None,
    };
    let customer_id = customer
        .map(|c| c.customer_id)
        .or_else(|| main.as_ref().and_then(|m| m.customer_id.clone()));
    for _ in 0..5 {
        let no = new_card_no(kind);
        let mut tx = store.begin().await?;
        let new = NewCard {
            card_no: no.as_str().to_string(),
            kind: kind.as_str().to_string(),
            customer_id: customer_id.clone(),
            main_card_id: main.as_ref().map(|m| m.card_id.clone()),
            balance_mode: balance_mode.clone(),
            cap_fen: b.cap_fen,
            rules: rules.clone(),
            pin_hash: None,
            issued_station_id: issued_station_id.clone(),
        };
        match tx.create_card(&new).await {
            Ok(id) => {
                if let Some(pin) = &b.pin {
                    tx.set_card_pin(&id, Some(&state.secret().pin_hash(&id, pin)))
                        .await?;
                }
                let actor = me.audit_name();
                tx.audit(&AuditEntry {
                    actor: &actor,
                    action: "card.issue",
                    target_kind: "card",
                    target_id: Some(&id),
                    source: me.source.as_deref(),
                    detail: json!({"kind": kind.as_str()}),
                })
                .await?;
                tx.commit().await?;
                let card = store
                    .card_by_id(&id)
                    .await?
                    .ok_or_else(|| ApiError::internal("card vanished"))?;
                let mut out = card_summary(&state, in_scope_card_view(&me.user), &card).await?;
                // The issuing clerk sees the full number once, to hand the card over.
                out["card_no"] = json!(card.card_no);
                out["id"] = json!(id);
                return Ok((StatusCode::CREATED, Json(out)).into_response());
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal("could not draw a free card number"))
}

/// A card the caller may manage: it exists and is in the caller's scope.
async fn managed_card(state: &AppState, me: &StaffUser, no: &str) -> ApiResult<Card> {
    let card = card_by_path(state, no).await?;
    crate::access::require_card(state, me, &card).await?;
    Ok(card)
}

async fn card_by_path(state: &AppState, no: &str) -> ApiResult<Card> {
    let no = CardNo::parse(no)
        .map_err(|_| ApiError::new("card_not_found", "no card with this number"))?;
    state
        .store()
        .card_by_no(no.as_str())
        .await?
        .ok_or_else(|| ApiError::new("card_not_found", "no card with this number"))
}

/// The sales a card's answer lists for staff.
const RECENT_CARD_SALES: i64 = 10;

/// `GET /api/v1/cards/{card_no}` (staff or POS): state, balance, limits and usage; for
/// staff also the card's last sales.
pub async fn get_card(
    State(state): State<AppState>,
    caller: Caller,
    Path(no): Path<String>,
) -> ApiResult<Response> {
    let reader = match &caller {
        Caller::Staff(u) => {
            require(u, Action::ViewCard)?;
            CardReader::Staff(&u.user)
        }
        Caller::Pos(s) => CardReader::Pos(s),
    };
    let card = card_by_path(&state, &no).await?;
    let view = crate::access::read_card(&state, reader, &card).await?;
    let mut out = card_summary(&state, view, &card).await?;
    let tz = match &caller {
        Caller::Pos(s) => s.time_zone.clone(),
        Caller::Staff(_) => "Asia/Shanghai".to_string(),
    };
    let local = clock::local(&tz, now_us());
    let (sales_today, amount_today, volume_today) = state
        .store()
        .card_usage(&card.card_id, local.day_start_us, local.day_end_us)
        .await?;
    let (_, amount_month, _) = state
        .store()
        .card_usage(&card.card_id, local.month_start_us, local.month_end_us)
        .await?;
    out["usage"] = json!({"sales_today": sales_today, "amount_today_fen": amount_today, "volume_today_ml": volume_today, "amount_month_fen": amount_month});
    // Staff see the card's last sales, each with its station (whose time zone the
    // console shows it in); a till needs none of them to sell.
    if matches!(caller, Caller::Staff(_)) {
        let recent: Vec<Value> = state
            .store()
            .recent_card_sales(&card.card_id, RECENT_CARD_SALES)
            .await?
            .into_iter()
            .map(|s| json!({"sale_id": s.sale_id, "station_code": s.station_code, "occurred_at": clock::rfc3339(s.occurred_at), "net_fen": s.net_fen, "points_earned": s.points_earned, "refunded_fen": s.refunded_fen}))
            .collect();
        out["recent_sales"] = json!(recent);
    }
    if card.kind == "fleet_main" {
        let mut subs = Vec::new();
        for s in state.store().sub_cards(&card.card_id).await? {
            subs.push(card_summary(&state, view, &s).await?);
        }
        out["sub_cards"] = json!(subs);
    }
    Ok(Json(out).into_response())
}

#[derive(Deserialize)]
pub struct StateBody {
    state: String,
    reason: Option<String>,
}

/// `POST /api/v1/cards/{card_no}/state`: freeze, unfreeze, report lost, cancel.
pub async fn post_card_state(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(no): Path<String>,
    ApiJson(b): ApiJson<StateBody>,
) -> ApiResult<Response> {
    require(&me, Action::ManageCard)?;
    let to = CardState::parse(&b.state)?;
    if to == CardState::Replaced {
        return Err(ApiError::validation(
            "state",
            "replace a card with POST /api/v1/cards/{card_no}/replace",
        ));
    }
    opt_long_text("reason", &b.reason, 200)?;
    let found = managed_card(&state, &me, &no).await?;
    let mut tx = state.store().begin().await?;
    let card = tx.lock_card(&found.card_id).await?;
    let from = CardState::parse(&card.state)?;
    if from == to {
        return Ok(Json(
            json!({"card_no": card_no_in(in_scope_card_view(&me.user), &card.card_no), "state": to.as_str()}),
        )
        .into_response());
    }
    if !from.can_become(to) {
        return Err(ApiError::new(
            "card_not_usable",
            format!("a {} card cannot become {}", from.as_str(), to.as_str()),
        ));
    }
    if to == CardState::Cancelled {
        let b = tx.card_balance(&card.card_id).await?;
        if b.available_fen() + b.held_fen > 0 {
            return Err(ApiError::new(
                "card_has_balance",
                format!(
                    "the card holds {} CNY: refund or move it first",
                    Fen(b.available_fen() + b.held_fen).yuan()
                ),
            ));
        }
    }
    tx.set_card_state(&card.card_id, to.as_str(), None).await?;
    if to == CardState::Active {
        tx.reset_pin_failures(&card.card_id).await?;
    }
    tx.commit().await?;
    audit(
        &state,
        &me,
        "card.state",
        "card",
        Some(&found.card_id),
        json!({}),
    )
    .await?;
    Ok(
        Json(json!({"card_no": card_no_in(in_scope_card_view(&me.user), &card.card_no), "state": to.as_str()}))
            .into_response(),
    )
}

/// `POST /api/v1/cards/{card_no}/replace`: a new card that carries the balance, rules,
/// PIN-less state and sub-cards; the old one becomes `replaced`.
pub async fn post_replace(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(no): Path<String>,
) -> ApiResult<Response> {
    require(&me, Action::ManageCard)?;
    let found = managed_card(&state, &me, &no).await?;
    let kind = CardKind::parse(&found.kind)?;
    let mut tx = state.store().begin().await?;
    let old = tx.lock_card(&found.card_id).await?;
    let from = CardState::parse(&old.state)?;
    if !from.can_become(CardState::Replaced) {
        return Err(ApiError::new(
            "card_not_usable",
            format!("a {} card cannot be replaced", from.as_str()),
        ));
    }
    let b = tx.card_balance(&old.card_id).await?;
    if b.held_fen > 0 {
        return Err(ApiError::new(
            "card_not_usable",
            "a pump authorisation is pending on the card; wait for it to finish",
        ));
    }
    let new_no = new_card_no(kind);
    let new_id = tx
        .create_card(&NewCard {
            card_no: new_no.as_str().to_string(),
            kind: old.kind.clone(),
            customer_id: old.customer_id.clone(),
            main_card_id: old.main_card_id.clone(),
            balance_mode: old.balance_mode.clone(),
            cap_fen: old.cap_fen,
            rules: old.rules.clone(),
            pin_hash: None,
            issued_station_id: old.issued_station_id.clone(),
        })
        .await?;
    let mut transfers = Vec::new();
    if b.paid_fen > 0 {
        transfers.push(Transfer::new(
            account::card_paid(&old.card_id),
            account::card_paid(&new_id),
            b.paid_fen,
            Unit::Fen,
        ));
    }
    if b.bonus_fen > 0 {
        transfers.push(Transfer::new(
            account::card_bonus(&old.card_id),
            account::card_bonus(&new_id),
            b.bonus_fen,
            Unit::Fen,
        ));
    }
    tx.post(
        &NewJournal {
            idempotency_key: format!("replace:{}", old.card_id),
            kind: "allocation",
            station_id: None,
            occurred_at: now_us(),
            memo: Some("card replacement".into()),
        },
        &transfers,
        false,
    )
    .await?;
    tx.set_card_state(&old.card_id, CardState::Replaced.as_str(), Some(&new_id))
        .await?;
    tx.move_sub_cards(&old.card_id, &new_id).await?;
    tx.commit().await?;
    let card = state
        .store()
        .card_by_id(&new_id)
        .await?
        .ok_or_else(|| ApiError::internal("card vanished"))?;
    let mut out = card_summary(&state, in_scope_card_view(&me.user), &card).await?;
    out["card_no"] = json!(card.card_no);
    out["replaces"] = json!(card_no_in(in_scope_card_view(&me.user), &old.card_no));
    audit(
        &state,
        &me,
        "card.replace",
        "card",
        Some(&old.card_id),
        json!({}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

#[derive(Deserialize)]
pub struct RegisterBody {
    customer_id: String,
}

/// `POST /api/v1/cards/{card_no}/register`: an anonymous card becomes a personal card
/// of a customer (转卡).
pub async fn post_register(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(no): Path<String>,
    ApiJson(b): ApiJson<RegisterBody>,
) -> ApiResult<Response> {
    require(&me, Action::ManageCard)?;
    let found = managed_card(&state, &me, &no).await?;
    let customer = state
        .store()
        .customer(&b.customer_id)
        .await?
        .ok_or_else(|| ApiError::new("customer_not_found", "no such customer"))?;
    crate::access::require_customer(&state, &me, &customer).await?;
    if customer.kind != "individual" {
        return Err(ApiError::validation(
            "customer_id",
            "an anonymous card is registered to an individual",
        ));
    }
    let mut tx = state.store().begin().await?;
    let card = tx.lock_card(&found.card_id).await?;
    if card.kind != "anonymous" {
        return Err(ApiError::new(
            "card_not_usable",
            "only anonymous cards are registered",
        ));
    }
    CardState::parse(&card.state)?.check_usable()?;
    tx.register_card(&card.card_id, &customer.customer_id, None)
        .await?;
    tx.commit().await?;
    let card = state
        .store()
        .card_by_id(&card.card_id)
        .await?
        .ok_or_else(|| ApiError::internal("card vanished"))?;
    audit(
        &state,
        &me,
        "card.register",
        "card",
        Some(&found.card_id),
        json!({}),
    )
    .await?;
    Ok(Json(card_summary(&state, in_scope_card_view(&me.user), &card).await?).into_response())
}

/// `PUT /api/v1/cards/{card_no}/limits`: replaces the card's rules.
pub async fn put_limits(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(no): Path<String>,
    ApiJson(rules): ApiJson<CardRules>,
) -> ApiResult<Response> {
    require(&me, Action::ManageCard)?;
    rules.validate()?;
    let found = managed_card(&state, &me, &no).await?;
    let mut tx = state.store().begin().await?;
    tx.lock_card(&found.card_id).await?;
    tx.set_card_rules(&found.card_id, &rules).await?;
    tx.commit().await?;
    audit(
        &state,
        &me,
        "card.limits",
        "card",
        Some(&found.card_id),
        json!({}),
    )
    .await?;
    Ok(
        Json(json!({"card_no": card_no_in(in_scope_card_view(&me.user), &found.card_no), "limits": rules}))
            .into_response(),
    )
}

#[derive(Deserialize)]
pub struct PinBody {
    pin: Option<String>,
}

/// `PUT /api/v1/cards/{card_no}/pin`: sets, changes or (with `null`) removes the PIN, and
/// unlocks a card locked by wrong PINs.
pub async fn put_pin(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(no): Path<String>,
    ApiJson(b): ApiJson<PinBody>,
) -> ApiResult<Response> {
    require(&me, Action::ManageCard)?;
    if let Some(p) = &b.pin {
        if !valid_pin(p) {
            return Err(ApiError::validation("pin", "a PIN is 6 digits"));
        }
    }
    let found = managed_card(&state, &me, &no).await?;
    let mut tx = state.store().begin().await?;
    tx.lock_card(&found.card_id).await?;
    let hash = b
        .pin
        .as_ref()
        .map(|p| state.secret().pin_hash(&found.card_id, p));
    tx.set_card_pin(&found.card_id, hash.as_deref()).await?;
    tx.commit().await?;
    audit(
        &state,
        &me,
        "card.pin",
        "card",
        Some(&found.card_id),
        json!({}),
    )
    .await?;
    Ok(Json(
        json!({"card_no": card_no_in(in_scope_card_view(&me.user), &found.card_no), "pin_set": hash.is_some()}),
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct AllocationBody {
    sub_card_no: String,
    /// Positive: from the main card to the sub-card (圈存); negative: back.
    amount_fen: i64,
    #[serde(default)]
    request_id: Option<String>,
}

/// `POST /api/v1/cards/{main_card_no}/allocations`: moves money between a fleet main
/// card in allocated mode and one of its sub-cards.
pub async fn post_allocation(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(no): Path<String>,
    ApiJson(b): ApiJson<AllocationBody>,
) -> ApiResult<Response> {
    require(&me, Action::ManageCard)?;
    if b.amount_fen == 0 || b.amount_fen.abs() > 100_000_000 {
        return Err(ApiError::validation(
            "amount_fen",
            "a non-zero amount up to 1,000,000 CNY",
        ));
    }
    let main = managed_card(&state, &me, &no).await?;
    let sub = card_by_path(&state, &b.sub_card_no).await?;
    if main.kind != "fleet_main" || main.balance_mode != "allocated" {
        return Err(ApiError::new(
            "card_not_usable",
            "allocation needs a fleet main card in allocated mode",
        ));
    }
    if sub.main_card_id.as_deref() != Some(main.card_id.as_str()) {
        return Err(ApiError::validation(
            "sub_card_no",
            "the card is not a sub-card of this main card",
        ));
    }
    let key = match &b.request_id {
        Some(k) => format!("allocation:{}:{}", main.card_id, text("request_id", k, 64)?),
        None => format!("allocation:{}", forecourt_store::new_id()),
    };
    let mut tx = state.store().begin().await?;
    let mut ids = [main.card_id.clone(), sub.card_id.clone()];
    ids.sort();
    for id in &ids {
        let c = tx.lock_card(id).await?;
        CardState::parse(&c.state)?.check_usable()?;
    }
    let (from, to) = if b.amount_fen > 0 {
        (&main.card_id, &sub.card_id)
    } else {
        (&sub.card_id, &main.card_id)
    };
    let amount = b.amount_fen.abs();
    let bal = tx.card_balance(from).await?;
    let (p, bonus) = split_card_debit(bal.paid_fen, bal.bonus_fen, amount)?;
    let mut transfers = Vec::new();
    if p > 0 {
        transfers.push(Transfer::new(
            account::card_paid(from),
            account::card_paid(to),
            p,
            Unit::Fen,
        ));
    }
    if bonus > 0 {
        transfers.push(Transfer::new(
            account::card_bonus(from),
            account::card_bonus(to),
            bonus,
            Unit::Fen,
        ));
    }
    match tx
        .post(
            &NewJournal {
                idempotency_key: key,
                kind: "allocation",
                station_id: None,
                occurred_at: now_us(),
                memo: None,
            },
            &transfers,
            false,
        )
        .await
    {
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::new("conflict", "this request_id was used before"))
        }
        other => other?,
    };
    let main_after = tx.card_balance(&main.card_id).await?;
    let sub_after = tx.card_balance(&sub.card_id).await?;
    tx.commit().await?;
    audit(
        &state,
        &me,
        "card.allocation",
        "card",
        Some(&main.card_id),
        json!({}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"main_balance_fen": main_after.available_fen(), "sub_balance_fen": sub_after.available_fen()}))).into_response())
}

#[derive(Deserialize)]
pub struct PromotionBody {
    name: String,
    min_amount_fen: i64,
    bonus_fen: i64,
    valid_from: Option<String>,
    valid_until: Option<String>,
}

/// `POST /api/v1/recharge-promotions`: "top up 1000, get 30".
pub async fn post_promotion(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<PromotionBody>,
) -> ApiResult<Response> {
    require(&me, Action::ManagePromotions)?;
    let name = text("name", &b.name, NAME_CHARS_MAX)?;
    if b.min_amount_fen <= 0 || b.bonus_fen < 0 || b.bonus_fen > b.min_amount_fen {
        return Err(ApiError::validation(
            "min_amount_fen/bonus_fen",
            "a positive minimum and a bonus between 0 and the minimum",
        ));
    }
    let from = match &b.valid_from {
        Some(t) => clock::parse_time("valid_from", t)?,
        None => now_us(),
    };
    let until = match &b.valid_until {
        Some(t) => Some(clock::parse_time("valid_until", t)?),
        None => None,
    };
    if until.is_some_and(|u| u <= from) {
        return Err(ApiError::validation("valid_until", "after valid_from"));
    }
    let mut tx = state.store().begin().await?;
    let id = tx
        .create_promotion(&name, b.min_amount_fen, b.bonus_fen, from, until)
        .await?;
    crate::privacy::audit_in(
        &mut tx,
        &me,
        "promotion.create",
        "promotion",
        Some(&id),
        json!({"min_amount_fen": b.min_amount_fen, "bonus_fen": b.bonus_fen, "valid_from": from, "valid_until": until}),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "name": name, "min_amount_fen": b.min_amount_fen, "bonus_fen": b.bonus_fen}))).into_response())
}

pub async fn get_promotions(
    State(state): State<AppState>,
    Staff(me): Staff,
) -> ApiResult<Response> {
    require(&me, Action::ViewNetwork)?;
    let promotions: Vec<Value> = state
        .store()
        .recharge_promotions()
        .await?
        .into_iter()
        .map(|p| {
            json!({
                "promotion_id": p.promotion_id,
                "name": p.name,
                "min_amount_fen": p.min_amount_fen,
                "bonus_fen": p.bonus_fen,
                "valid_from": clock::rfc3339(p.valid_from),
                "valid_until": p.valid_until.map(clock::rfc3339),
            })
        })
        .collect();
    Ok(Json(json!({ "promotions": promotions })).into_response())
}

pub async fn get_tiers(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    require(&me, Action::ViewNetwork)?;
    Ok(Json(json!({"tiers": state.store().tiers().await?})).into_response())
}

#[derive(Deserialize)]
pub struct CouponBody {
    code: String,
    customer_id: Option<String>,
    amount_fen: i64,
    valid_from: Option<String>,
    valid_until: Option<String>,
}

/// `POST /api/v1/coupons`: issues an amount-off coupon the POS takes as payment.
pub async fn post_coupon(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<CouponBody>,
) -> ApiResult<Response> {
    require(&me, Action::ManagePromotions)?;
    let code = text("code", &b.code, 32)?;
    if b.amount_fen <= 0 || b.amount_fen > 10_000_000 {
        return Err(ApiError::validation("amount_fen", "1 fen to 100,000 CNY"));
    }
    let in_scope = match &b.customer_id {
        Some(id) => {
            let c = state
                .store()
                .customer(id)
                .await?
                .ok_or_else(|| ApiError::new("customer_not_found", "no such customer"))?;
            Some(crate::access::customer_in_scope(&state, &me, &c).await?)
        }
        None => None,
    };
    let how = crate::access::coupon_issue(&state, &me, in_scope, Some(b.amount_fen))?;
    let from = match &b.valid_from {
        Some(t) => clock::parse_time("valid_from", t)?,
        None => now_us(),
    };
    let until = match &b.valid_until {
        Some(t) => Some(clock::parse_time("valid_until", t)?),
        None => None,
    };
    if until.is_some_and(|u| u <= from) {
        return Err(ApiError::validation("valid_until", "after valid_from"));
    }
    let mut tx = state.store().begin().await?;
    match tx
        .issue_coupon(&code, b.customer_id.as_deref(), b.amount_fen, from, until)
        .await
    {
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::new("conflict", format!("coupon {code} exists")))
        }
        other => other?,
    };
    let approval = match how {
        crate::access::CouponIssue::Now => None,
        crate::access::CouponIssue::NeedsApproval => Some(
            tx.hold_coupon_for_approval(
                &code,
                &format!("coupon {code} of {} CNY", Fen(b.amount_fen).yuan()),
                &me.user_id,
            )
            .await?,
        ),
    };
    // The coupon and its audit entry are one write: neither stands without the other.
    let actor = me.audit_name();
    tx.audit(&AuditEntry {
        actor: &actor,
        action: if approval.is_some() {
            "coupon.request"
        } else {
            "coupon.issue"
        },
        target_kind: if b.customer_id.is_some() {
            "customer"
        } else {
            "coupon"
        },
        target_id: Some(b.customer_id.as_deref().unwrap_or(&code)),
        source: me.source.as_deref(),
        detail: json!({"code": code, "amount_fen": b.amount_fen, "approval_id": approval}),
    })
    .await?;
    tx.commit().await?;
    Ok(match approval {
        None => (
            StatusCode::CREATED,
            Json(json!({"code": code, "amount_fen": b.amount_fen, "state": "issued"})),
        ),
        Some(id) => (
            StatusCode::ACCEPTED,
            Json(
                json!({"code": code, "amount_fen": b.amount_fen, "state": "pending", "approval_id": id}),
            ),
        ),
    }
    .into_response())
}
