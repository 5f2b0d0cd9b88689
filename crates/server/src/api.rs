//! The staff API: sign-in, users, network, customers and cards. Each handler extracts
//! the caller and the request, calls one use case of `forecourt_app` and answers with
//! what it returns; the rate limits per address and per user, and the session cookie,
//! are HTTP's and stay here.

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Caller, Source, Staff, SESSION_COOKIE};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use forecourt_app::access::CardReader;
use forecourt_app::cards::{self, AllocationBody, CardBody, PinBody, RegisterBody, StateBody};
use forecourt_app::clock;
use forecourt_app::customers::{self, CreditBody, CustomerBody, SearchQuery, VehicleBody};
use forecourt_app::network::{
    self, LoginBody, PriceBody, PriceQuery, ProductBody, StationBody, UserBody,
};
use forecourt_app::promotions::{self, CouponBody, PromotionBody};
use forecourt_core::limits::CardRules;
use serde_json::json;

pub use forecourt_app::network::{create_station, create_user};

/// `POST /api/v1/auth/login` → `{token, expires_at, csrf_token}`. The token works as a
/// bearer token; the same token is set as the console's `HttpOnly`, `SameSite=Strict`
/// session cookie, whose changes must carry `X-CSRF-Token: csrf_token`.
pub async fn login(
    State(state): State<AppState>,
    Source(source): Source,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Response> {
    let cfg = state.config();
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
    let session = network::login(state.app(), &body, source.as_deref()).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        session.token,
        cfg.session_ttl_secs,
        if cfg.secure_cookies { "; Secure" } else { "" }
    );
    let body = json!({"token": session.token, "expires_at": clock::rfc3339(session.expires_at), "role": session.role, "csrf_token": session.csrf_token});
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
    let tokens: Vec<&str> = [bearer, cookie].into_iter().flatten().collect();
    network::logout(state.app(), &tokens).await?;
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok((
        StatusCode::NO_CONTENT,
        [(axum::http::header::SET_COOKIE, clear)],
    )
        .into_response())
}

/// `GET /api/v1/stations/{code}/prices`: the history, and with `at` the prices then.
pub async fn get_prices(
    State(state): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Query(q): Query<PriceQuery>,
) -> ApiResult<Response> {
    let staff = match &caller {
        Caller::Staff(me) => Some(&me.user),
        Caller::Pos(_) => None,
    };
    Ok(Json(network::prices(state.app(), staff, code, q).await?).into_response())
}

/// `GET /api/v1/cards/{card_no}` (staff or POS): state, balance, limits and usage; for
/// staff also the card's last sales.
pub async fn get_card(
    State(state): State<AppState>,
    caller: Caller,
    Path(no): Path<String>,
) -> ApiResult<Response> {
    let reader = match &caller {
        Caller::Staff(u) => CardReader::Staff(&u.user),
        Caller::Pos(s) => CardReader::Pos(s),
    };
    Ok(Json(cards::card(state.app(), reader, no).await?).into_response())
}

/// `GET /api/v1/users`: every staff user with role, scope and lock state (never the
/// password hash).
pub async fn get_users(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    Ok(Json(network::users(state.app(), &me).await?).into_response())
}

/// `POST /api/v1/users` (admin only).
pub async fn post_user(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(body): ApiJson<UserBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(
        network::add_user(state.app(), &me, body).await?,
    ))
}

pub async fn post_station(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<StationBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(
        network::add_station(state.app(), &me, b).await?,
    ))
}

pub async fn get_stations(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    Ok(Json(network::stations(state.app(), &me).await?).into_response())
}

pub async fn get_products(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    Ok(Json(network::products(state.app(), &me).await?).into_response())
}

pub async fn post_product(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<ProductBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(
        network::add_product(state.app(), &me, b).await?,
    ))
}

/// `POST /api/v1/stations/{code}/prices`: a new price from a time on; history is kept.
pub async fn post_price(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<PriceBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(
        network::set_price(state.app(), &me, code, b).await?,
    ))
}

/// `POST /api/v1/customers`.
pub async fn post_customer(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<CustomerBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(
        customers::create_customer(state.app(), &me, b).await?,
    ))
}

/// `GET /api/v1/customers/{id}`: the profile, personal data masked unless the role may
/// see it.
pub async fn get_customer(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(customers::customer(state.app(), &me, id).await?).into_response())
}

/// `GET /api/v1/customers?q=`: by phone, plate, card number, member code or name.
pub async fn search_customers(
    State(state): State<AppState>,
    Staff(me): Staff,
    Query(SearchQuery { q }): Query<SearchQuery>,
) -> ApiResult<Response> {
    let quota = |me: &forecourt_store::StaffUser| {
        state.limiter().allow(
            &format!("lookup:{}", me.user_id),
            state.config().lookups_per_minute,
        )
    };
    Ok(
        Json(customers::search_customers(state.app(), &me, SearchQuery { q }, quota).await?)
            .into_response(),
    )
}

pub async fn post_vehicle(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<VehicleBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(
        customers::add_vehicle(state.app(), &me, id, b).await?,
    ))
}

/// `PUT /api/v1/customers/{id}/credit`: the credit (挂账) agreement.
pub async fn put_credit(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<CreditBody>,
) -> ApiResult<Response> {
    Ok(Json(customers::set_credit(state.app(), &me, id, b).await?).into_response())
}

/// `POST /api/v1/cards`: issues a card.
pub async fn post_card(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<CardBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(cards::issue_card(state.app(), &me, b).await?))
}

/// `POST /api/v1/cards/{card_no}/state`: freeze, unfreeze, report lost, cancel.
pub async fn post_card_state(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(no): Path<String>,
    ApiJson(b): ApiJson<StateBody>,
) -> ApiResult<Response> {
    Ok(Json(cards::set_card_state(state.app(), &me, no, b).await?).into_response())
}

/// `POST /api/v1/cards/{card_no}/replace`: a new card that carries the balance, rules,
/// PIN-less state and sub-cards; the old one becomes `replaced`.
pub async fn post_replace(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(no): Path<String>,
) -> ApiResult<Response> {
    Ok(crate::reply(
        cards::replace_card(state.app(), &me, no).await?,
    ))
}

/// `POST /api/v1/cards/{card_no}/register`: an anonymous card becomes a personal card
/// of a customer (转卡).
pub async fn post_register(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(no): Path<String>,
    ApiJson(b): ApiJson<RegisterBody>,
) -> ApiResult<Response> {
    Ok(Json(cards::register_card(state.app(), &me, no, b).await?).into_response())
}

/// `PUT /api/v1/cards/{card_no}/limits`: replaces the card's rules.
pub async fn put_limits(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(no): Path<String>,
    ApiJson(rules): ApiJson<CardRules>,
) -> ApiResult<Response> {
    Ok(Json(cards::set_limits(state.app(), &me, no, rules).await?).into_response())
}

/// `PUT /api/v1/cards/{card_no}/pin`: sets, changes or (with `null`) removes the PIN, and
/// unlocks a card locked by wrong PINs.
pub async fn put_pin(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(no): Path<String>,
    ApiJson(b): ApiJson<PinBody>,
) -> ApiResult<Response> {
    Ok(Json(cards::set_pin(state.app(), &me, no, b).await?).into_response())
}

/// `POST /api/v1/cards/{main_card_no}/allocations`: moves money between a fleet main
/// card in allocated mode and one of its sub-cards.
pub async fn post_allocation(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(no): Path<String>,
    ApiJson(b): ApiJson<AllocationBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(
        cards::allocate(state.app(), &me, no, b).await?,
    ))
}

/// `POST /api/v1/recharge-promotions`: "top up 1000, get 30".
pub async fn post_promotion(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<PromotionBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(
        promotions::create_promotion(state.app(), &me, b).await?,
    ))
}

pub async fn get_promotions(
    State(state): State<AppState>,
    Staff(me): Staff,
) -> ApiResult<Response> {
    Ok(Json(promotions::promotions(state.app(), &me).await?).into_response())
}

pub async fn get_tiers(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    Ok(Json(promotions::tiers(state.app(), &me).await?).into_response())
}

/// `POST /api/v1/coupons`: issues an amount-off coupon the POS takes as payment.
pub async fn post_coupon(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<CouponBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(
        promotions::issue_coupon(state.app(), &me, b).await?,
    ))
}
