//! The one way a guessed secret is judged: a card's PIN at the till or in the portal, a
//! staff password, a member's portal password.
//!
//! [`judge`] reserves a try on the secret's counter ([`Store::reserve_guess`], committed
//! on its own) before anything is compared, so that parallel attempts cannot all read
//! the same count and be judged: no more than the limit (`Config::pin_tries_max` PINs,
//! `Config::login_failures_max` passwords) of wrong secrets is ever judged before the
//! lock. A wrong secret stays counted; a right one gives back only the try it reserved.
//! The try that locks a counter writes the lock to the audit log, where the owner (or
//! the staff who look after them) learn of it, since the sign-in answer does not say.
//!
//! Passwords are compared by [`password_matches`] only, which spends one argon2
//! verification whatever the case (an unknown account or a locked one is verified
//! against a dummy hash), so that a sign-in costs the same time whether the account
//! exists, is locked, or the password is wrong.

use crate::App;
use forecourt_store::audit::AuditEntry;
use forecourt_store::{now_us, Guesses, Reserved, StoreError};
use serde_json::json;
use std::sync::LazyLock;

/// What judging a secret found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    /// The secret is right; its try was given back.
    Right,
    /// The secret is wrong and stays counted.
    Wrong(Reserved),
    /// The counter is locked: nothing was compared.
    Locked,
}

/// Who is trying, for the audit entry of a lock.
pub struct Attempt<'a> {
    pub actor: &'a str,
    pub source: Option<&'a str>,
}

fn limit(state: &App, counter: Guesses) -> i64 {
    match counter {
        Guesses::CardPin => state.config().pin_tries_max,
        Guesses::StaffPassword | Guesses::MemberPassword => state.config().login_failures_max,
    }
}

/// Reserves a try on `id`'s counter (committed on its own); `None` when it is locked.
/// Every reserved try is then [`settle`]d.
pub async fn reserve(
    state: &App,
    counter: Guesses,
    id: &str,
) -> Result<Option<Reserved>, StoreError> {
    let now = now_us();
    let lock_until = now + state.config().lockout_secs * 1_000_000;
    state
        .store()
        .reserve_guess(counter, id, limit(state, counter), now, lock_until)
        .await
}

/// Settles a reserved try once its secret is judged: a right one gives its try back, a
/// wrong one stays counted, and the wrong one that locked the counter is audited.
pub async fn settle(
    state: &App,
    counter: Guesses,
    id: &str,
    reserved: Reserved,
    right: bool,
    attempt: &Attempt<'_>,
) -> Result<Judged, StoreError> {
    let store = state.store();
    if right {
        store
            .release_guess(counter, id, limit(state, counter))
            .await?;
        return Ok(Judged::Right);
    }
    if reserved.locks {
        let (action, target_kind) = match counter {
            Guesses::CardPin => ("card.pin_locked", "card"),
            Guesses::StaffPassword => ("user.locked", "user"),
            Guesses::MemberPassword => ("member.locked", "customer"),
        };
        store
            .audit(&AuditEntry {
                actor: attempt.actor,
                action,
                target_kind,
                target_id: Some(id),
                source: attempt.source,
                detail: json!({"failures": reserved.count}),
            })
            .await?;
    }
    Ok(Judged::Wrong(reserved))
}

/// Reserves a try on `id`'s counter, then (only with a try reserved) asks `is_right`,
/// and settles the try.
pub async fn judge(
    state: &App,
    counter: Guesses,
    id: &str,
    attempt: &Attempt<'_>,
    is_right: impl FnOnce() -> bool,
) -> Result<Judged, StoreError> {
    let Some(reserved) = reserve(state, counter, id).await? else {
        return Ok(Judged::Locked);
    };
    let right = is_right();
    settle(state, counter, id, reserved, right, attempt).await
}

/// An argon2id hash of a random password, made with the same parameters as every stored
/// password, for the checks that have no real hash to spend their time on.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    crate::secret::hash_password(&crate::secret::new_token("dummy_"))
        .expect("hashing a random password")
});

/// Whether `password` matches `stored`; with no stored hash (an unknown or locked
/// account) it is checked against a dummy hash and never matches. Either way exactly one
/// argon2 verification is spent: every sign-in by password goes through here.
pub fn password_matches(password: &str, stored: Option<&str>) -> bool {
    VERIFICATIONS.with(|n| n.set(n.get() + 1));
    let matched = crate::secret::verify_password(password, stored.unwrap_or(&DUMMY_HASH));
    matched && stored.is_some()
}

/// Judges a password against its counter: an unknown account (`id == None`) and a
/// locked one spend the same one verification as a wrong password.
pub async fn judge_password(
    state: &App,
    counter: Guesses,
    account: Option<(&str, &str)>,
    password: &str,
    attempt: &Attempt<'_>,
) -> Result<Judged, StoreError> {
    let Some((id, hash)) = account else {
        password_matches(password, None);
        return Ok(Judged::Locked);
    };
    let mut compared = false;
    let judged = judge(state, counter, id, attempt, || {
        compared = true;
        password_matches(password, Some(hash))
    })
    .await?;
    if !compared {
        password_matches(password, None);
    }
    Ok(judged)
}

thread_local! {
    /// argon2 verifications spent on this thread: the tests that hold sign-ins to equal
    /// cost count them (a thread-local add is nothing beside a verification).
    static VERIFICATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// argon2 verifications spent on this thread so far.
pub fn verifications() -> u64 {
    VERIFICATIONS.with(|n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let real = crate::secret::hash_password("Staff-pass-1234").unwrap();
        let params = |h: &str| h.split('$').nth(3).unwrap().to_string();
        assert_eq!(params(&DUMMY_HASH), params(&real));
        let before = verifications();
        assert!(!password_matches("Staff-pass-1234", None));
        assert!(password_matches("Staff-pass-1234", Some(&real)));
        assert!(!password_matches("wrong", Some(&real)));
        assert_eq!(verifications() - before, 3);
    }
}
