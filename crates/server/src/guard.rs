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

use crate::AppState;
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

fn limit(state: &AppState, counter: Guesses) -> i64 {
    match counter {
        Guesses::CardPin => state.config().pin_tries_max,
        Guesses::StaffPassword | Guesses::MemberPassword => state.config().login_failures_max,
    }
}

/// Reserves a try on `id`'s counter (committed on its own); `None` when it is locked.
/// Every reserved try is then [`settle`]d.
pub async fn reserve(
    state: &AppState,
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
    state: &AppState,
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
    state: &AppState,
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
    #[cfg(test)]
    tests::VERIFICATIONS.with(|n| n.set(n.get() + 1));
    let matched = crate::secret::verify_password(password, stored.unwrap_or(&DUMMY_HASH));
    matched && stored.is_some()
}

/// Judges a password against its counter: an unknown account (`id == None`) and a
/// locked one spend the same one verification as a wrong password.
pub async fn judge_password(
    state: &AppState,
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// argon2 verifications spent on this thread (tests run each on their own).
        pub(crate) static VERIFICATIONS: Cell<u64> = const { Cell::new(0) };
    }

    pub(crate) fn verifications() -> u64 {
        VERIFICATIONS.with(|n| n.get())
    }

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
        let state = AppState::new(
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
            let before = verifications();
            assert_eq!(login(username, password).await.is_ok(), ok, "{username}");
            assert_eq!(verifications() - before, 1, "{username} {password}");
        }
        // The portal: an unknown phone costs the same one verification.
        let before = verifications();
        let r = crate::member::sign_in_phone(&state, None, "13900009999", "member-pass-1").await;
        assert!(matches!(r, Err(crate::member::Refusal::Invalid)));
        assert_eq!(verifications() - before, 1);
    }
}
