//! Members in the portal (`/m/`): how they sign in (a card and its PIN, or their phone
//! and a portal password), their sessions, the change of their password, and the staff
//! use case that sets a member's portal password. Cookies and the rate limit of
//! sign-ins per address are the server's.
//!
//! A portal session is its own kind of session: its token (`fcm_…`) is never a staff
//! token, it is kept as a hash in `member_session`, and its CSRF token is a MAC of
//! `member:` and the token, so that a staff form's token never passes for a member's
//! and the other way round.

use crate::access::{require, require_customer, Action, Actor};
use crate::error::{AppError, AppResult};
use crate::guard::{self, Judged};
use crate::secret::{hash_password, new_token, token_hash};
use crate::App;
use forecourt_core::{CardNo, Phone};
use forecourt_store::audit::AuditEntry;
use forecourt_store::{now_us, Card, Customer, Guesses, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

/// Portal passwords: at least this many characters, at most [`PASSWORD_CHARS_MAX`].
pub const PASSWORD_CHARS_MIN: usize = 8;
pub const PASSWORD_CHARS_MAX: usize = 200;

/// Why a sign-in was refused.
#[derive(Debug)]
pub enum Refusal {
    /// An unknown card or phone, a wrong PIN or password, a card that may not sign in,
    /// a locked PIN or a locked password: one answer for all of them, so that none can
    /// be told apart (the lock is in the audit log).
    Invalid,
    /// The database failed.
    Failed(AppError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Failed(e.into())
    }
}

impl From<AppError> for Refusal {
    fn from(e: AppError) -> Self {
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

fn actor(customer_id: &str) -> String {
    format!("member:{customer_id}")
}

async fn audit(
    app: &App,
    customer_id: &str,
    action: &str,
    source: Option<&str>,
    detail: Value,
) -> Result<(), StoreError> {
    app.store()
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
async fn live_customer(app: &App, id: &str) -> Result<Option<Customer>, StoreError> {
    Ok(app
        .store()
        .customer(id)
        .await?
        .filter(|c| c.anonymized_at.is_none()))
}

/// Signs in with a card number and its PIN; returns the member's customer id. A wrong
/// PIN counts against the card exactly as at the POS, through the same counter
/// (`guard::judge`: the card's PIN locks after `Config::pin_tries_max` wrong PINs, for
/// the portal and the tills alike), and a locked PIN refuses like a wrong one.
pub async fn sign_in_card(
    app: &App,
    source: Option<&str>,
    card_no: &str,
    pin: &str,
) -> Result<String, Refusal> {
    let card = match CardNo::parse(card_no) {
        Ok(no) => app.store().card_by_no(no.as_str()).await?,
        Err(_) => None,
    };
    let mut signs_in = None;
    if let Some(card) = card.filter(card_signs_in) {
        if let (Some(customer_id), Some(hash)) = (card.customer_id.clone(), card.pin_hash.clone()) {
            if live_customer(app, &customer_id).await?.is_some() {
                signs_in = Some((card, customer_id, hash));
            }
        }
    }
    let Some((card, customer_id, hash)) = signs_in else {
        // A PIN check costs a MAC; spend it here too.
        let _ = app.secret().pin_matches("", pin, "");
        return Err(Refusal::Invalid);
    };
    let actor = actor(&customer_id);
    let attempt = guard::Attempt {
        actor: &actor,
        source,
    };
    let judged = guard::judge(app, Guesses::CardPin, &card.card_id, &attempt, || {
        app.secret().pin_matches(&card.card_id, pin, &hash)
    })
    .await?;
    match judged {
        Judged::Right => {
            audit(
                app,
                &customer_id,
                "member.login",
                source,
                json!({"via": "card", "card_id": card.card_id}),
            )
            .await?;
            Ok(customer_id)
        }
        Judged::Wrong(r) => {
            audit(
                app,
                &customer_id,
                "member.login_failed",
                source,
                json!({"via": "card", "card_id": card.card_id, "pin_failures": r.count}),
            )
            .await?;
            Err(Refusal::Invalid)
        }
        Judged::Locked => Err(Refusal::Invalid),
    }
}

/// Signs in with the phone on the member's record and the portal password; returns the
/// member's customer id. Each member the phone may be is judged through its own counter
/// (`guard::judge_password`: `Config::login_failures_max` wrong passwords, then a lock
/// of `Config::lockout_secs`); an unknown phone, a wrong password and a locked password
/// answer alike, each after one argon2 verification per member the phone names (at
/// least one).
pub async fn sign_in_phone(
    app: &App,
    source: Option<&str>,
    phone: &str,
    password: &str,
) -> Result<String, Refusal> {
    let candidates = match Phone::parse(phone) {
        Ok(p) => app.store().member_credentials_by_phone(p.as_str()).await?,
        Err(_) => Vec::new(),
    };
    if candidates.is_empty() {
        guard::password_matches(password, None);
        return Err(Refusal::Invalid);
    }
    let mut wrong = Vec::new();
    for c in &candidates {
        let actor = actor(&c.customer_id);
        let attempt = guard::Attempt {
            actor: &actor,
            source,
        };
        let judged = guard::judge_password(
            app,
            Guesses::MemberPassword,
            Some((&c.customer_id, &c.password_hash)),
            password,
            &attempt,
        )
        .await?;
        match judged {
            Judged::Right => {
                audit(
                    app,
                    &c.customer_id,
                    "member.login",
                    source,
                    json!({"via": "phone"}),
                )
                .await?;
                return Ok(c.customer_id.clone());
            }
            Judged::Wrong(_) => wrong.push(&c.customer_id),
            Judged::Locked => {}
        }
    }
    for id in wrong {
        audit(
            app,
            id,
            "member.login_failed",
            source,
            json!({"via": "phone"}),
        )
        .await?;
    }
    Err(Refusal::Invalid)
}

/// Opens a portal session for a member; returns its token (for the cookie only).
pub async fn open_session(app: &App, customer_id: &str) -> Result<String, StoreError> {
    let token = new_token("fcm_");
    let expires_at = now_us() + app.config().member_session_ttl_secs * 1_000_000;
    let mut tx = app.store().begin().await?;
    tx.create_member_session(&token_hash(&token), customer_id, expires_at)
        .await?;
    tx.commit().await?;
    Ok(token)
}

/// The member of a live portal session token.
pub async fn session_member(app: &App, token: &str) -> Result<Option<Customer>, StoreError> {
    if !token.starts_with("fcm_") {
        return Ok(None);
    }
    let idle_us = app.config().member_session_idle_secs * 1_000_000;
    let Some(id) = app
        .store()
        .member_session(&token_hash(token), now_us(), idle_us)
        .await?
    else {
        return Ok(None);
    };
    live_customer(app, &id).await
}

/// Ends a portal session.
pub async fn close_session(app: &App, token: &str) -> Result<(), StoreError> {
    let mut tx = app.store().begin().await?;
    tx.revoke_member_session(&token_hash(token)).await?;
    tx.commit().await
}

/// The CSRF token of a portal session's forms (never equal to a staff session's).
pub fn csrf_token(app: &App, token: &str) -> String {
    app.secret().csrf_token(&format!("member:{token}"))
}

pub fn csrf_matches(app: &App, token: &str, sent: &str) -> bool {
    app.secret().csrf_matches(&format!("member:{token}"), sent)
}

/// What a signed-in member proves again before changing the portal password: the
/// current password, or the PIN of one of the member's cards that may sign in.
pub async fn current_secret_matches(
    app: &App,
    customer: &Customer,
    secret: &str,
) -> Result<bool, StoreError> {
    // Every secret it could be is reserved on its counter before any is compared (see
    // `guard`). One that matches gives all the tries back; none matching leaves the
    // answer counted against the password and, when it has a PIN's shape, the PINs.
    let store = app.store();
    let actor = actor(&customer.customer_id);
    let attempt = guard::Attempt {
        actor: &actor,
        source: None,
    };
    let mut held = Vec::new();
    let mut right = false;
    if let Some(c) = store.member_credential(&customer.customer_id).await? {
        match guard::reserve(app, Guesses::MemberPassword, &c.customer_id).await? {
            Some(r) => {
                held.push((Guesses::MemberPassword, c.customer_id.clone(), r));
                right |= guard::password_matches(secret, Some(&c.password_hash));
            }
            None => {
                guard::password_matches(secret, None);
            }
        }
    }
    if crate::secret::valid_pin(secret) {
        for card in store.cards_of_customer(&customer.customer_id).await? {
            let Some(hash) = card.pin_hash.as_deref().filter(|_| card_signs_in(&card)) else {
                continue;
            };
            if let Some(r) = guard::reserve(app, Guesses::CardPin, &card.card_id).await? {
                right |= app.secret().pin_matches(&card.card_id, secret, hash);
                held.push((Guesses::CardPin, card.card_id.clone(), r));
            }
        }
    }
    for (counter, id, r) in held {
        guard::settle(app, counter, &id, r, right, &attempt).await?;
    }
    Ok(right)
}

/// A member sets or changes the portal password from the portal: the other sessions of
/// the member end, this one (`keep`, a token) stays.
pub async fn change_password(
    app: &App,
    customer_id: &str,
    password: &str,
    keep: &str,
    source: Option<&str>,
) -> AppResult<()> {
    check_password_rules(password).map_err(|m| AppError::validation("password", m))?;
    let hash = hash_password(password).map_err(AppError::internal)?;
    let mut tx = app.store().begin().await?;
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
    pub password: Value,
}

/// Staff set (or with `null` remove) a member's portal password (cards managers, in
/// scope); this clears its lockout and ends the member's portal sessions.
pub async fn set_portal_password(
    app: &App,
    me: &Actor,
    id: String,
    b: PortalPasswordBody,
) -> AppResult<Value> {
    require(me, Action::ManageCard)?;
    let customer = app
        .store()
        .customer(&id)
        .await?
        .ok_or_else(|| AppError::new("customer_not_found", "no such customer"))?;
    require_customer(app, me, &customer).await?;
    let hash = match &b.password {
        Value::String(p) => {
            check_password_rules(p).map_err(|m| AppError::validation("password", m))?;
            Some(hash_password(p).map_err(AppError::internal)?)
        }
        Value::Null => None,
        _ => {
            return Err(AppError::validation(
                "password",
                "a string, or null to remove the password",
            ))
        }
    };
    if customer.anonymized_at.is_some() && hash.is_some() {
        return Err(AppError::validation(
            "customer",
            "the customer is anonymised and cannot use the portal",
        ));
    }
    let mut tx = app.store().begin().await?;
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
    Ok(json!({
        "customer_id": id,
        "portal_password_set": hash.is_some(),
        "sessions_ended": ended,
    }))
}

// ---------------------------------------------------------------- what the portal shows
//
// Every read below is keyed by the session's customer id: a member sees only their own
// cards, points, coupons and purchases.

/// One of the member's cards as the portal lists it.
pub struct CardRow {
    pub card: Card,
    /// Available fen, or `None` for a sub-card that spends its main card's pool.
    pub balance: Option<i64>,
    pub bonus: i64,
}

/// The member's cards, active ones first, and the money on them all.
pub struct MemberCards {
    pub rows: Vec<CardRow>,
    pub total_fen: i64,
}

/// The member's cards: a sub-card of a pooled main card shows no balance of its own; a
/// cancelled or replaced card is shown only while it still holds money.
pub async fn cards(app: &App, customer_id: &str) -> AppResult<MemberCards> {
    let store = app.store();
    let cards = store.cards_of_customer(customer_id).await?;
    let pools: Vec<&str> = cards
        .iter()
        .filter(|c| c.kind == "fleet_main" && c.balance_mode == "pool")
        .map(|c| c.card_id.as_str())
        .collect();
    let mut rows = Vec::with_capacity(cards.len());
    let mut total = 0i64;
    for card in &cards {
        let pooled = card.kind == "fleet_sub"
            && card
                .main_card_id
                .as_deref()
                .is_some_and(|m| pools.contains(&m));
        let (balance, bonus) = if pooled {
            (None, 0)
        } else {
            let b = store.card_balance(&card.card_id).await?;
            total += b.available_fen();
            (Some(b.available_fen()), b.bonus_fen)
        };
        let gone = matches!(card.state.as_str(), "cancelled" | "replaced");
        if gone && balance.unwrap_or(0) == 0 {
            continue;
        }
        rows.push(CardRow {
            card: card.clone(),
            balance,
            bonus,
        });
    }
    let order = |s: &str| match s {
        "active" => 0,
        "frozen" => 1,
        "lost" => 2,
        _ => 3,
    };
    rows.sort_by_key(|r| order(&r.card.state));
    Ok(MemberCards {
        rows,
        total_fen: total,
    })
}

/// The member's figures in the tier window that starts at `from_us`, and whether the
/// tier was set by hand.
pub async fn tier_figures(
    app: &App,
    customer_id: &str,
    from_us: i64,
) -> AppResult<(forecourt_store::loyalty::WindowMetric, bool)> {
    let mut tx = app.store().begin_read().await?;
    let figures = tx.window_metric(customer_id, from_us, true).await?;
    let ml = tx.member_loyalty(customer_id).await?;
    Ok((figures, ml.tier_override.is_some()))
}

/// The member's points balance and, when points will expire, the first day some do
/// and how many.
pub async fn points_summary(
    app: &App,
    customer_id: &str,
) -> AppResult<(i64, Option<(chrono::NaiveDate, i64)>)> {
    let store = app.store();
    let balance = store.points_balance(customer_id).await?;
    let cfg = crate::loyalty::config(app).await?;
    let lots = store.points_lots(customer_id).await?;
    let mut by_day: std::collections::BTreeMap<chrono::NaiveDate, i64> = Default::default();
    for l in lots.iter().filter(|l| l.remaining > 0) {
        if let Some(d) = forecourt_core::points_expiry::last_valid_day(&cfg.expiry, l.earned_on) {
            *by_day.entry(d).or_default() += l.remaining;
        }
    }
    Ok((balance, by_day.into_iter().next()))
}

/// The member's coupons a till would take now or later: issued and not expired at
/// `now_us`, the soonest to end first.
pub async fn usable_coupons(
    app: &App,
    customer_id: &str,
    now_us: i64,
) -> AppResult<Vec<forecourt_store::loyalty::MemberCoupon>> {
    let mut coupons: Vec<_> = app
        .store()
        .coupons_of(customer_id)
        .await?
        .into_iter()
        .filter(|c| c.state == "issued" && c.valid_until.is_none_or(|u| u > now_us))
        .collect();
    coupons.sort_by_key(|c| c.valid_until.unwrap_or(i64::MAX));
    Ok(coupons)
}

/// The member's last `limit` purchases, with the stations they were made at (by code;
/// none read when there are no purchases).
pub async fn recent_sales(
    app: &App,
    customer_id: &str,
    limit: i64,
) -> AppResult<(
    Vec<forecourt_store::RecentSale>,
    std::collections::HashMap<String, forecourt_store::Station>,
)> {
    let store = app.store();
    let sales = store.recent_sales(customer_id, limit).await?;
    let stations = if sales.is_empty() {
        Default::default()
    } else {
        store
            .stations()
            .await?
            .into_iter()
            .map(|s| (s.code.clone(), s))
            .collect()
    };
    Ok((sales, stations))
}

/// Whether the member has a portal password.
pub async fn has_password(app: &App, customer_id: &str) -> AppResult<bool> {
    Ok(app.store().member_credential(customer_id).await?.is_some())
}

/// One page of the member's points history (`per_page` lines from `offset`, and one
/// more read to tell whether another page follows), with the balance.
pub async fn points_history(
    app: &App,
    customer_id: &str,
    per_page: i64,
    offset: i64,
) -> AppResult<(i64, Vec<forecourt_store::loyalty::PointsMovement>, bool)> {
    let store = app.store();
    let balance = store.points_balance(customer_id).await?;
    let mut lines = store
        .points_history_page(customer_id, per_page + 1, offset)
        .await?;
    let has_more = lines.len() as i64 > per_page;
    lines.truncate(per_page as usize);
    Ok((balance, lines, has_more))
}

/// Every station, and the fuel prices in force at `at_us` by station id.
pub async fn stations_and_fuel_prices(
    app: &App,
    at_us: i64,
) -> AppResult<(
    Vec<forecourt_store::Station>,
    std::collections::HashMap<String, Vec<forecourt_store::portal::CurrentPrice>>,
)> {
    let store = app.store();
    let all = store.stations().await?;
    let mut prices: std::collections::HashMap<String, Vec<_>> = Default::default();
    for p in store.current_prices(at_us).await? {
        if p.product_kind == "fuel" {
            prices.entry(p.station_id.clone()).or_default().push(p);
        }
    }
    Ok((all, prices))
}

// ---------------------------------------------------------------- the inbox

/// The most messages the member's inbox shows.
pub const INBOX_SHOWN: i64 = 50;

/// The member's in-app inbox, newest first.
pub async fn inbox(
    app: &App,
    customer_id: &str,
) -> AppResult<Vec<forecourt_store::outbox::InboxItem>> {
    Ok(app.store().inbox(customer_id, INBOX_SHOWN).await?)
}

/// How many messages of the member's inbox are unread.
pub async fn unread_messages(app: &App, customer_id: &str) -> AppResult<i64> {
    Ok(app.store().inbox_unread(customer_id).await?)
}

/// Opens one message of the member's own inbox and marks it read (the first time).
/// Another member's message, or no message, is `not_found` and changes nothing.
pub async fn open_message(
    app: &App,
    customer_id: &str,
    message_id: &str,
) -> AppResult<forecourt_store::outbox::InboxItem> {
    let not_found = || AppError::new("not_found", "no such message");
    if !app
        .store()
        .mark_inbox_read(customer_id, message_id, app.clock().now_us())
        .await?
    {
        return Err(not_found());
    }
    app.store()
        .inbox_item(customer_id, message_id)
        .await?
        .ok_or_else(not_found)
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
