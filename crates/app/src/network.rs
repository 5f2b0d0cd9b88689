//! The network's people and places: staff users and stations, created the same way by
//! the API, the console and the CLI.

use crate::access::ROLES;
use crate::error::{AppError, AppResult};
use crate::input::{opt_text, text, NAME_CHARS_MAX};
use crate::secret::{check_password_rules, hash_password};
use forecourt_store::{NewStation, StoreError};

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
