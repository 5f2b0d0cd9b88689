//! The console's dashboard: the figures of the last days over the stations (or, for an
//! account manager, the customers) in the user's scope.

use crate::access::Scope;
use crate::error::AppResult;
use crate::App;
use forecourt_store::dashboard::{DashScope, Dashboard};
use forecourt_store::StaffUser;

/// What the user's scope covers on the dashboard.
pub async fn scope_of(app: &App, user: &StaffUser) -> AppResult<DashScope> {
    Ok(match Scope::of(user) {
        Scope::Company => DashScope::All,
        Scope::Own => DashScope::Manager(user.user_id.clone()),
        Scope::Region(code) => DashScope::Stations(
            app.store()
                .stations()
                .await?
                .into_iter()
                .filter(|s| s.region_code.as_deref() == Some(code.as_str()))
                .map(|s| s.station_id)
                .collect(),
        ),
        Scope::Station(code) => DashScope::Stations(
            app.store()
                .stations()
                .await?
                .into_iter()
                .filter(|s| s.code == code)
                .map(|s| s.station_id)
                .collect(),
        ),
    })
}

/// The dashboard's figures from `from_us` to `to_us` (days cut at `offset_us` from UTC)
/// in the user's scope; a member lapses after `lapse_days` without a visit.
pub async fn figures(
    app: &App,
    user: &StaffUser,
    from_us: i64,
    to_us: i64,
    offset_us: i64,
    lapse_days: i64,
) -> AppResult<(DashScope, Dashboard)> {
    let scope = scope_of(app, user).await?;
    let d = app
        .store()
        .dashboard(&scope, from_us, to_us, offset_us, lapse_days)
        .await?;
    Ok((scope, d))
}
