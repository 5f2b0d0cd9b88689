//! The network's people and places: staff sign-in and sessions, staff users, stations,
//! products and prices; users and stations are created the same way by the API, the
//! console and the CLI.

use crate::access::{require, Action, Actor, ROLES};
use crate::audit::audit;
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::guard::{self, Judged};
use crate::input::{opt_text, text, NAME_CHARS_MAX};
use crate::secret::{check_password_rules, hash_password, new_token, token_hash};
use crate::{App, Outcome};
use forecourt_store::audit::AuditEntry;
use forecourt_store::{now_us, Guesses, NewStation, StaffUser, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

/// Validates and creates a staff user; shared by the API and the CLI.
pub async fn create_user(
    store: &forecourt_store::Store,
    username: &str,
    role: &str,
    scope: Option<&str>,
    password: &str,
) -> AppResult<String> {
    let username = text("username", username, 64)?;
    if !username
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(AppError::validation(
            "username",
            "letters, digits, '.', '_' and '-' only",
        ));
    }
    if !ROLES.contains(&role) {
        return Err(AppError::validation(
            "role",
            format!("one of {}", ROLES.join(", ")),
        ));
    }
    let scope = scope.unwrap_or("company");
    let scope_ok = scope == "company"
        || scope == "own"
        || scope
            .strip_prefix("region:")
            .or_else(|| scope.strip_prefix("station:"))
            .is_some_and(|c| !c.is_empty());
    if !scope_ok {
        return Err(AppError::validation(
            "scope",
            "company, own, region:CODE or station:CODE",
        ));
    }
    check_password_rules(password).map_err(|m| AppError::validation("password", m))?;
    let hash = hash_password(password).map_err(AppError::internal)?;
    let mut tx = store.begin().await?;
    let id = match tx.create_user(&username, &hash, role, scope).await {
        Err(StoreError::Conflict(_)) => {
            return Err(AppError::new(
                "conflict",
                format!("the username {username} is taken"),
            ))
        }
        other => other?,
    };
    tx.commit().await?;
    Ok(id)
}

/// Validates and creates a station; shared by the API and the CLI.
pub async fn create_station(store: &forecourt_store::Store, s: NewStation) -> AppResult<String> {
    let code = text("code", &s.code, 32)?;
    if !code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(AppError::validation(
            "code",
            "letters, digits, '-' and '_' only",
        ));
    }
    let name = text("name", &s.name, NAME_CHARS_MAX)?;
    // The other labels of a station are shown on receipts, reports and the console too.
    opt_text("region", &s.region_code, 64)?;
    opt_text("province", &s.province, 32)?;
    opt_text("address", &s.address, 200)?;
    opt_text("opening_hours", &s.opening_hours, 200)?;
    if let Some(tz) = &s.time_zone {
        if tz.parse::<chrono_tz::Tz>().is_err() {
            return Err(AppError::validation(
                "time_zone",
                "an IANA time zone such as Asia/Shanghai",
            ));
        }
    }
    if s.lat.is_some_and(|v| !(-90.0..=90.0).contains(&v))
        || s.lon.is_some_and(|v| !(-180.0..=180.0).contains(&v))
    {
        return Err(AppError::validation(
            "lat/lon",
            "latitude -90..90, longitude -180..180",
        ));
    }
    let mut tx = store.begin().await?;
    let id = match tx
        .create_station(&NewStation {
            code: code.clone(),
            name,
            ..s
        })
        .await
    {
        Err(StoreError::Conflict(_)) => {
            return Err(AppError::new("conflict", format!("station {code} exists")))
        }
        other => other?,
    };
    tx.commit().await?;
    Ok(id)
}

#[derive(Deserialize)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
}

/// A staff session just opened: its token (a bearer token, and the console's session
/// cookie), when it ends, the user's role and the CSRF token of cookie requests.
pub struct Session {
    pub token: String,
    pub expires_at: i64,
    pub role: String,
    pub csrf_token: String,
}

/// Signs a staff user in. An unknown or disabled user, a wrong password and a locked
/// account answer alike, each after one argon2 verification (`guard::judge_password`),
/// so that neither the answer nor its time tells which it was. The lock is in the
/// audit log.
pub async fn login(app: &App, body: &LoginBody, source: Option<&str>) -> AppResult<Session> {
    let store = app.store();
    let cfg = app.config();
    let now = now_us();
    let refused = || AppError::new("invalid_credentials", "wrong username or password");
    let user = store
        .user_by_username(body.username.trim())
        .await?
        .filter(|u| !u.disabled);
    let actor = format!("user:{}", body.username.trim());
    let attempt = guard::Attempt {
        actor: &actor,
        source,
    };
    let judged = guard::judge_password(
        app,
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
                    source,
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
        source,
        detail: json!({}),
    })
    .await?;
    tx.commit().await?;
    let csrf_token = app.secret().csrf_token(&token);
    Ok(Session {
        token,
        expires_at,
        role: user.role,
        csrf_token,
    })
}

/// Revokes staff session tokens (the bearer token and the console's cookie, either or
/// both).
pub async fn logout(app: &App, tokens: &[&str]) -> AppResult<()> {
    let mut tx = app.store().begin().await?;
    for token in tokens {
        tx.revoke_session(&token_hash(token)).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `GET /api/v1/users`: every staff user with role, scope and lock state (never the
/// password hash).
pub async fn users(app: &App, me: &Actor) -> AppResult<Value> {
    require(me, Action::ManageUsers)?;
    let now = now_us();
    let users: Vec<Value> = app
        .store()
        .users()
        .await?
        .into_iter()
        .map(|u| json!({"user_id": u.user_id, "username": u.username, "role": u.role, "scope": u.scope, "disabled": u.disabled, "locked": u.locked_until.is_some_and(|t| t > now), "failed_logins": u.failed_logins}))
        .collect();
    Ok(json!({"users": users}))
}

#[derive(Deserialize)]
pub struct UserBody {
    pub username: String,
    pub role: String,
    pub scope: Option<String>,
    pub password: String,
    /// Where the service desk's alerts reach the user.
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// `POST /api/v1/users` (admin only).
pub async fn add_user(app: &App, me: &Actor, body: UserBody) -> AppResult<Outcome> {
    require(me, Action::ManageUsers)?;
    let contact = crate::service_desk::ContactBody {
        email: body.email.clone(),
        phone: body.phone.clone(),
    };
    // Checked before the user is created, so that a bad address creates nothing.
    let checked = crate::service_desk::check_contact(&contact)?;
    let id = create_user(
        app.store(),
        &body.username,
        &body.role,
        body.scope.as_deref(),
        &body.password,
    )
    .await?;
    if checked.email.is_some() || checked.phone.is_some() {
        crate::service_desk::set_staff_contact(
            app,
            me,
            me.source.as_deref(),
            body.username.trim(),
            contact,
        )
        .await?;
    }
    audit(
        app,
        me,
        "user.create",
        "user",
        Some(&id),
        json!({"role": body.role, "scope": body.scope}),
    )
    .await?;
    Ok(Outcome::Created(
        json!({"id": id, "username": body.username.trim(), "role": body.role}),
    ))
}

#[derive(Deserialize)]
pub struct StationBody {
    pub code: String,
    pub name: String,
    pub region: Option<String>,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub time_zone: Option<String>,
    pub province: Option<String>,
    pub opening_hours: Option<String>,
}

pub async fn add_station(app: &App, me: &Actor, b: StationBody) -> AppResult<Outcome> {
    require(me, Action::ManageNetwork)?;
    let id = create_station(
        app.store(),
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
        app,
        me,
        "station.create",
        "station",
        Some(&id),
        json!({"code": b.code}),
    )
    .await?;
    let s = app.store().station_by_id(&id).await?;
    Ok(Outcome::Created(json!(s)))
}

pub async fn stations(app: &App, me: &Actor) -> AppResult<Value> {
    require(me, Action::ViewNetwork)?;
    Ok(json!({"stations": app.store().stations().await?, "regions": app.store().regions().await?}))
}

pub async fn products(app: &App, me: &Actor) -> AppResult<Value> {
    require(me, Action::ViewNetwork)?;
    Ok(json!({"products": app.store().products().await?}))
}

#[derive(Deserialize)]
pub struct ProductBody {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub category: Option<String>,
}

pub async fn add_product(app: &App, me: &Actor, b: ProductBody) -> AppResult<Outcome> {
    require(me, Action::ManageNetwork)?;
    let code = text("code", &b.code, 32)?;
    let name = text("name", &b.name, NAME_CHARS_MAX)?;
    forecourt_core::pricing::ProductKind::parse(&b.kind)?;
    let category = opt_text("category", &b.category, 32)?;
    let mut tx = app.store().begin().await?;
    let id = match tx
        .create_product(&code, &name, &b.kind, category.as_deref())
        .await
    {
        Err(StoreError::Conflict(_)) => {
            return Err(AppError::new("conflict", format!("product {code} exists")))
        }
        other => other?,
    };
    tx.commit().await?;
    Ok(Outcome::Created(json!({"id": id, "code": code})))
}

#[derive(Deserialize)]
pub struct PriceBody {
    pub product_code: String,
    pub unit_price_fen: i64,
    pub effective_from: Option<String>,
}

/// `POST /api/v1/stations/{code}/prices`: a new price from a time on; history is kept.
pub async fn set_price(app: &App, me: &Actor, code: String, b: PriceBody) -> AppResult<Outcome> {
    require(me, Action::ManageNetwork)?;
    let store = app.store();
    let station = store
        .station_by_code(&code)
        .await?
        .ok_or_else(|| AppError::new("station_not_found", format!("no station {code}")))?;
    crate::access::require_station(me, &station)?;
    let product = store
        .product_by_code(&b.product_code)
        .await?
        .ok_or_else(|| {
            AppError::new("unknown_product", format!("no product {}", b.product_code))
        })?;
    if b.unit_price_fen <= 0 || b.unit_price_fen > forecourt_core::pricing::UNIT_PRICE_FEN_MAX {
        return Err(AppError::validation(
            "unit_price_fen",
            "a positive price in fen",
        ));
    }
    let from = match &b.effective_from {
        Some(t) => clock::parse_moment("effective_from", t)?,
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
    Ok(Outcome::Created(
        json!({"station_code": code, "product_code": product.code, "unit_price_fen": b.unit_price_fen, "effective_from": clock::rfc3339(from)}),
    ))
}

#[derive(Deserialize)]
pub struct PriceQuery {
    pub product: Option<String>,
    pub at: Option<String>,
}

/// `GET /api/v1/stations/{code}/prices`: the history, and with `at` the prices then.
/// Staff need to see the network (`staff`); a till (`None`) reads its prices freely.
pub async fn prices(
    app: &App,
    staff: Option<&StaffUser>,
    code: String,
    q: PriceQuery,
) -> AppResult<Value> {
    if let Some(me) = staff {
        require(me, Action::ViewNetwork)?;
    }
    let store = app.store();
    let station = store
        .station_by_code(&code)
        .await?
        .ok_or_else(|| AppError::new("station_not_found", format!("no station {code}")))?;
    let history = store
        .prices(&station.station_id, q.product.as_deref())
        .await?;
    let at = match &q.at {
        Some(t) => clock::parse_moment("at", t)?,
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
    Ok(
        json!({"station_code": code, "at": clock::rfc3339(at), "current": current, "history": history}),
    )
}
