//! Members in the portal (`/m/`): the HTTP side of signing in and of portal sessions
//! (the rate limit per address, the `fc_member` cookie) over `forecourt_app::portal`,
//! and the staff call that sets a member's portal password. The portal's pages
//! (`web::portal`) call these; nothing here renders HTML.
//!
//! The session cookie travels with `Path=/m` only.

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Staff};
use crate::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use forecourt_app::portal::{self, PortalPasswordBody};
use forecourt_store::{Customer, StoreError};

pub use forecourt_app::portal::{
    card_signs_in, check_password_rules, PASSWORD_CHARS_MAX, PASSWORD_CHARS_MIN,
};

/// The portal's session cookie.
pub const MEMBER_COOKIE: &str = "fc_member";

/// Why a sign-in was refused.
#[derive(Debug)]
pub enum Refusal {
    /// An unknown card or phone, a wrong PIN or password, a card that may not sign in,
    /// a locked PIN or a locked password: one answer for all of them.
    Invalid,
    /// Too many attempts from this address.
    RateLimited,
    /// The database failed.
    Failed(ApiError),
}

impl From<portal::Refusal> for Refusal {
    fn from(r: portal::Refusal) -> Self {
        match r {
            portal::Refusal::Invalid => Refusal::Invalid,
            portal::Refusal::Failed(e) => Refusal::Failed(e.into()),
        }
    }
}

fn rate_limit(state: &AppState, source: Option<&str>) -> Result<(), Refusal> {
    let client = source.unwrap_or("local");
    if state.limiter().allow(
        &format!("member-login:{client}"),
        state.config().logins_per_minute,
    ) {
        Ok(())
    } else {
        Err(Refusal::RateLimited)
    }
}

/// Signs in with a card number and its PIN (`portal::sign_in_card`), within the rate
/// limit of the address; returns the member's customer id.
pub async fn sign_in_card(
    state: &AppState,
    source: Option<&str>,
    card_no: &str,
    pin: &str,
) -> Result<String, Refusal> {
    rate_limit(state, source)?;
    Ok(portal::sign_in_card(state.app(), source, card_no, pin).await?)
}

/// Signs in with the member's phone and portal password (`portal::sign_in_phone`),
/// within the rate limit of the address; returns the member's customer id.
pub async fn sign_in_phone(
    state: &AppState,
    source: Option<&str>,
    phone: &str,
    password: &str,
) -> Result<String, Refusal> {
    rate_limit(state, source)?;
    Ok(portal::sign_in_phone(state.app(), source, phone, password).await?)
}

/// Opens a portal session for a member; returns its token (for the cookie only).
pub async fn open_session(state: &AppState, customer_id: &str) -> Result<String, StoreError> {
    portal::open_session(state.app(), customer_id).await
}

/// The member of a live portal session token.
pub async fn session_member(state: &AppState, token: &str) -> Result<Option<Customer>, StoreError> {
    portal::session_member(state.app(), token).await
}

/// Ends a portal session.
pub async fn close_session(state: &AppState, token: &str) -> Result<(), StoreError> {
    portal::close_session(state.app(), token).await
}

/// The `Set-Cookie` value of a new session.
pub fn session_cookie(state: &AppState, token: &str) -> String {
    let cfg = state.config();
    format!(
        "{MEMBER_COOKIE}={token}; Path=/m; HttpOnly; SameSite=Strict; Max-Age={}{}",
        cfg.member_session_ttl_secs,
        if cfg.secure_cookies { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(state: &AppState) -> String {
    format!(
        "{MEMBER_COOKIE}=; Path=/m; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if state.config().secure_cookies {
            "; Secure"
        } else {
            ""
        }
    )
}

/// The CSRF token of a portal session's forms (never equal to a staff session's).
pub fn csrf_token(state: &AppState, token: &str) -> String {
    portal::csrf_token(state.app(), token)
}

pub fn csrf_matches(state: &AppState, token: &str, sent: &str) -> bool {
    portal::csrf_matches(state.app(), token, sent)
}

/// What a signed-in member proves again before changing the portal password.
pub async fn current_secret_matches(
    state: &AppState,
    customer: &Customer,
    secret: &str,
) -> Result<bool, StoreError> {
    portal::current_secret_matches(state.app(), customer, secret).await
}

/// A member sets or changes the portal password from the portal: the other sessions of
/// the member end, this one (`keep`, a token) stays.
pub async fn change_password(
    state: &AppState,
    customer_id: &str,
    password: &str,
    keep: &str,
    source: Option<&str>,
) -> ApiResult<()> {
    Ok(portal::change_password(state.app(), customer_id, password, keep, source).await?)
}

/// `PUT /api/v1/customers/{id}/portal-password`: sets (or with `null` removes) a
/// member's portal password, clears its lockout and ends the member's portal sessions.
pub async fn put_portal_password(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PortalPasswordBody>,
) -> ApiResult<Response> {
    Ok(Json(portal::set_portal_password(state.app(), &me, id, b).await?).into_response())
}

#[cfg(test)]
mod sign_in_cost {
    use serde_json::json;

    /// Time equality is held by structure: every sign-in by password spends exactly one
    /// argon2 verification, whether the user is unknown, the password wrong, the account
    /// locked or the password right.
    #[tokio::test]
    async fn every_sign_in_by_password_spends_one_verification() {
        use crate::extract::{ApiJson, Source};
        use axum::extract::State;
        let url = forecourt_store::testing::fresh_db().await.unwrap();
        let store = forecourt_store::Store::open(&url, forecourt_store::Vault::for_tests())
            .await
            .unwrap();
        for name in ["clerk", "keeper"] {
            crate::api::create_user(&store, name, "cashier", None, "Staff-pass-1234")
                .await
                .unwrap();
        }
        let state = crate::AppState::new(
            store,
            crate::Secret::from_bytes([7; 32]),
            crate::Config {
                logins_per_minute: 1_000,
                ..Default::default()
            },
        );
        let login = |username: &str, password: &str| {
            let body = serde_json::from_value(json!({"username": username, "password": password}))
                .unwrap();
            crate::api::login(State(state.clone()), Source(None), ApiJson(body))
        };
        for _ in 0..10 {
            assert!(login("keeper", "Wrong-pass-1").await.is_err());
        }
        for (username, password, ok) in [
            ("nobody", "Staff-pass-1234", false),
            ("clerk", "Wrong-pass-1", false),
            ("keeper", "Staff-pass-1234", false),
            ("clerk", "Staff-pass-1234", true),
        ] {
            let before = crate::guard::verifications();
            assert_eq!(login(username, password).await.is_ok(), ok, "{username}");
            assert_eq!(
                crate::guard::verifications() - before,
                1,
                "{username} {password}"
            );
        }
        // The portal: an unknown phone costs the same one verification.
        let before = crate::guard::verifications();
        let r = crate::member::sign_in_phone(&state, None, "13900009999", "member-pass-1").await;
        assert!(matches!(r, Err(crate::member::Refusal::Invalid)));
        assert_eq!(crate::guard::verifications() - before, 1);
    }
}
