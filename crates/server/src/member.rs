//! Members in the portal (`/m/`): how they sign in (a card and its PIN, or their phone
//! and a portal password), their sessions, and the staff call that sets a member's
//! portal password. The portal's pages (`web::portal`) call these; nothing here renders
//! HTML.
//!
//! A portal session is its own kind of session: its token (`fcm_…`) is never a staff
//! token, it is kept as a hash in `member_session`, it travels only in the `fc_member`
//! cookie (`Path=/m`), and its CSRF token is a MAC of `member:` and the token, so that a
//! staff form's token never passes for a member's and the other way round.

use crate::access::{require, require_customer, Action};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Staff};
use crate::secret::{hash_password, new_token, token_hash, verify_password};
use crate::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use forecourt_core::{CardNo, Phone};
use forecourt_store::audit::AuditEntry;
use forecourt_store::{now_us, Card, Customer, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

/// The portal's session cookie.
pub const MEMBER_COOKIE: &str = "fc_member";
/// Portal passwords: at least this many characters, at most [`PASSWORD_CHARS_MAX`].
pub const PASSWORD_CHARS_MIN: usize = 8;
pub const PASSWORD_CHARS_MAX: usize = 200;

/// Why a sign-in was refused.
#[derive(Debug)]
pub enum Refusal {
    /// An unknown card or phone, a wrong PIN or password, a card that may not sign in,
    /// or a locked PIN: one answer for all of them, so that none can be told apart.
    Invalid,
    /// The portal password is locked after too many wrong tries.
    Locked,
    /// Too many attempts from this address.
    RateLimited,
    /// The database failed.
    Failed(ApiError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Failed(e.into())
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Failed(e)
    }
}

/// The rules of a portal password.
pub fn check_password_rules(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < PASSWORD_CHARS_MIN {
        return Err(format!(
            "a portal password has at least {PASSWORD_CHARS_MIN} characters"
        ));
    }
    if n > PASSWORD_CHARS_MAX {
        return Err(format!(
            "a portal password has at most {PASSWORD_CHARS_MAX} characters"
        ));
    }
    if password.trim().is_empty() {
        return Err("a portal password is not only spaces".into());
    }
    Ok(())
}

/// Whether a card may open the portal: a member's own card (not a fleet driver's
/// sub-card, which would show the whole company's account), active or frozen (a frozen
/// card may still look at its balance; the portal changes nothing on a card), with a PIN.
pub fn card_signs_in(card: &Card) -> bool {
    card.customer_id.is_some()
        && card.pin_hash.is_some()
        && matches!(card.kind.as_str(), "personal" | "company" | "fleet_main")
        && matches!(card.state.as_str(), "active" | "frozen")
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

fn actor(customer_id: &str) -> String {
    format!("member:{customer_id}")
}

async fn audit(
    state: &AppState,
    customer_id: &str,
    action: &str,
    source: Option<&str>,
    detail: Value,
) -> Result<(), StoreError> {
    state
        .store()
        .audit(&AuditEntry {
            actor: &actor(customer_id),
            action,
            target_kind: "customer",
            target_id: Some(customer_id),
            source,
            detail,
        })
        .await
        .map(|_| ())
}

/// A live member of the store, or none (unknown or anonymised).
async fn live_customer(state: &AppState, id: &str) -> Result<Option<Customer>, StoreError> {
    Ok(state
        .store()
        .customer(id)
        .await?
        .filter(|c| c.anonymized_at.is_none()))
}

/// Signs in with a card number and its PIN; returns the member's customer id. A wrong
/// PIN counts against the card exactly as at the POS (the card's PIN locks after
/// `Config::pin_tries_max` wrong PINs, for the portal and the tills alike), and a
/// locked PIN refuses.
pub async fn sign_in_card(
    state: &AppState,
    source: Option<&str>,
    card_no: &str,
    pin: &str,
) -> Result<String, Refusal> {
    rate_limit(state, source)?;
    let Ok(no) = CardNo::parse(card_no) else {
        return Err(Refusal::Invalid);
    };
    let Some(card) = state.store().card_by_no(no.as_str()).await? else {
        return Err(Refusal::Invalid);
    };
    if !card_signs_in(&card) {
        return Err(Refusal::Invalid);
    }
    let (Some(customer_id), Some(hash)) = (card.customer_id.as_deref(), &card.pin_hash) else {
        return Err(Refusal::Invalid);
    };
    if live_customer(state, customer_id).await?.is_none() {
        return Err(Refusal::Invalid);
    }
    if card.pin_failures >= state.config().pin_tries_max {
        return Err(Refusal::Invalid);
    }
    if !state.secret().pin_matches(&card.card_id, pin, hash) {
        let mut tx = state.store().begin().await?;
        let failures = tx.record_pin_failure(&card.card_id).await?;
        tx.commit().await?;
        audit(
            state,
            customer_id,
            "member.login_failed",
            source,
            json!({"via": "card", "card_id": card.card_id, "pin_failures": failures}),
        )
        .await?;
        return Err(Refusal::Invalid);
    }
    audit(
        state,
        customer_id,
        "member.login",
        source,
        json!({"via": "card", "card_id": card.card_id}),
    )
    .await?;
    Ok(customer_id.to_string())
}

/// Signs in with the phone on the member's record and the portal password; returns the
/// member's customer id. Wrong passwords lock the password like a staff login
/// (`Config::login_failures_max` tries, then `Config::lockout_secs`).
pub async fn sign_in_phone(
    state: &AppState,
    source: Option<&str>,
    phone: &str,
    password: &str,
) -> Result<String, Refusal> {
    rate_limit(state, source)?;
    let cfg = state.config();
    let candidates = match Phone::parse(phone) {
        Ok(p) => {
            state
                .store()
                .member_credentials_by_phone(p.as_str())
                .await?
        }
        Err(_) => Vec::new(),
    };
    if candidates.is_empty() {
        // Spend the same time as a real check so that phones cannot be probed.
        let _ = verify_password(password, crate::api::DUMMY_HASH);
        return Err(Refusal::Invalid);
    }
    let now = now_us();
    let open: Vec<_> = candidates
        .iter()
        .filter(|c| c.locked_until.is_none_or(|t| t <= now))
        .collect();
    if open.is_empty() {
        return Err(Refusal::Locked);
    }
    if let Some(c) = open
        .iter()
        .find(|c| verify_password(password, &c.password_hash))
    {
        let mut tx = state.store().begin().await?;
        tx.record_member_login_success(&c.customer_id).await?;
        tx.commit().await?;
        audit(
            state,
            &c.customer_id,
            "member.login",
            source,
            json!({"via": "phone"}),
        )
        .await?;
        return Ok(c.customer_id.clone());
    }
    let lock_until = now + cfg.lockout_secs * 1_000_000;
    let mut tx = state.store().begin().await?;
    for c in &open {
        tx.record_member_login_failure(&c.customer_id, cfg.login_failures_max, lock_until)
            .await?;
    }
    tx.commit().await?;
    for c in &open {
        audit(
            state,
            &c.customer_id,
            "member.login_failed",
            source,
            json!({"via": "phone"}),
        )
        .await?;
    }
    Err(Refusal::Invalid)
}

/// Opens a portal session for a member; returns its token (for the cookie only).
pub async fn open_session(state: &AppState, customer_id: &str) -> Result<String, StoreError> {
    let token = new_token("fcm_");
    let expires_at = now_us() + state.config().member_session_ttl_secs * 1_000_000;
    let mut tx = state.store().begin().await?;
    tx.create_member_session(&token_hash(&token), customer_id, expires_at)
        .await?;
    tx.commit().await?;
    Ok(token)
}

/// The member of a live portal session token.
pub async fn session_member(state: &AppState, token: &str) -> Result<Option<Customer>, StoreError> {
    if !token.starts_with("fcm_") {
        return Ok(None);
    }
    let idle_us = state.config().member_session_idle_secs * 1_000_000;
    let Some(id) = state
        .store()
        .member_session(&token_hash(token), now_us(), idle_us)
        .await?
    else {
        return Ok(None);
    };
    live_customer(state, &id).await
}

/// Ends a portal session.
pub async fn close_session(state: &AppState, token: &str) -> Result<(), StoreError> {
    let mut tx = state.store().begin().await?;
    tx.revoke_member_session(&token_hash(token)).await?;
    tx.commit().await
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
    state.secret().csrf_token(&format!("member:{token}"))
}

pub fn csrf_matches(state: &AppState, token: &str, sent: &str) -> bool {
    state
        .secret()
        .csrf_matches(&format!("member:{token}"), sent)
}

/// What a signed-in member proves again before changing the portal password: the
/// current password, or the PIN of one of the member's cards that may sign in.
pub async fn current_secret_matches(
    state: &AppState,
    customer: &Customer,
    secret: &str,
) -> Result<bool, StoreError> {
    let store = state.store();
    let credential = store.member_credential(&customer.customer_id).await?;
    if let Some(c) = &credential {
        let locked = c.locked_until.is_some_and(|t| t > now_us());
        if !locked && verify_password(secret, &c.password_hash) {
            return Ok(true);
        }
    }
    let max = state.config().pin_tries_max;
    for card in store.cards_of_customer(&customer.customer_id).await? {
        if !card_signs_in(&card) || card.pin_failures >= max {
            continue;
        }
        if let Some(h) = &card.pin_hash {
            if state.secret().pin_matches(&card.card_id, secret, h) {
                return Ok(true);
            }
        }
    }
    if credential.is_some() {
        // A wrong answer counts against the password, as a wrong sign-in would.
        let cfg = state.config();
        let mut tx = store.begin().await?;
        tx.record_member_login_failure(
            &customer.customer_id,
            cfg.login_failures_max,
            now_us() + cfg.lockout_secs * 1_000_000,
        )
        .await?;
        tx.commit().await?;
    }
    Ok(false)
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
    check_password_rules(password).map_err(|m| ApiError::validation("password", m))?;
    let hash = hash_password(password).map_err(ApiError::internal)?;
    let mut tx = state.store().begin().await?;
    tx.set_member_password(customer_id, Some(&hash)).await?;
    let ended = tx
        .revoke_member_sessions(customer_id, Some(&token_hash(keep)))
        .await?;
    tx.audit(&AuditEntry {
        actor: &actor(customer_id),
        action: "member.password",
        target_kind: "customer",
        target_id: Some(customer_id),
        source,
        detail: json!({"sessions_ended": ended}),
    })
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct PortalPasswordBody {
    /// The new password, or `null` to remove it (the member then signs in with a card
    /// and its PIN only).
    password: Value,
}

/// `PUT /api/v1/customers/{id}/portal-password`: sets (or with `null` removes) a
/// member's portal password, clears its lockout and ends the member's portal sessions.
pub async fn put_portal_password(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PortalPasswordBody>,
) -> ApiResult<Response> {
    require(&me, Action::ManageCard)?;
    let customer = state
        .store()
        .customer(&id)
        .await?
        .ok_or_else(|| ApiError::new("customer_not_found", "no such customer"))?;
    require_customer(&state, &me, &customer).await?;
    let hash = match &b.password {
        Value::String(p) => {
            check_password_rules(p).map_err(|m| ApiError::validation("password", m))?;
            Some(hash_password(p).map_err(ApiError::internal)?)
        }
        Value::Null => None,
        _ => {
            return Err(ApiError::validation(
                "password",
                "a string, or null to remove the password",
            ))
        }
    };
    if customer.anonymized_at.is_some() && hash.is_some() {
        return Err(ApiError::validation(
            "customer",
            "the customer is anonymised and cannot use the portal",
        ));
    }
    let mut tx = state.store().begin().await?;
    tx.set_member_password(&id, hash.as_deref()).await?;
    let ended = tx.revoke_member_sessions(&id, None).await?;
    tx.audit(&AuditEntry {
        actor: &me.audit_name(),
        action: "customer.portal_password",
        target_kind: "customer",
        target_id: Some(&id),
        source: me.source.as_deref(),
        detail: json!({"set": hash.is_some(), "sessions_ended": ended}),
    })
    .await?;
    tx.commit().await?;
    Ok(Json(json!({
        "customer_id": id,
        "portal_password_set": hash.is_some(),
        "sessions_ended": ended,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        assert!(check_password_rules("1234567").is_err());
        assert!(check_password_rules("        ").is_err());
        assert!(check_password_rules("12345678").is_ok());
        assert!(check_password_rules("会员密码会员密码").is_ok());
        assert!(check_password_rules(&"x".repeat(201)).is_err());
    }
}
