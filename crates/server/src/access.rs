//! Who may do what, and where: the one table of role × action, and the data scope of
//! each user (company, region, station, own accounts). Every handler asks [`require`]
//! for the action and one of the `*_in_scope` checks for the data before it acts.

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use forecourt_store::{Card, Customer, StaffUser, Station};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ManageUsers,
    ManageNetwork,
    ViewNetwork,
    CreateCustomer,
    ViewCustomer,
    /// See personal data (phone, name, ID number) unmasked, within the user's scope.
    SeePersonalData,
    IssueCard,
    ManageCard,
    ViewCard,
    ManageCredit,
    ManagePromotions,
    /// Ask for a manual balance or points adjustment (maker).
    RequestAdjustment,
    /// Approve or reject someone else's adjustment (checker).
    ApproveAdjustment,
    /// Record money received from a credit customer.
    ReceiveCreditPayment,
    /// Post sales and recharges at the user's own station (the console's till).
    Sell,
    /// Export everything held about a person (PIPL access right).
    ExportPersonalData,
    /// Erase a person's personal data (PIPL deletion right).
    Anonymize,
    /// Record or withdraw a customer's consent.
    ManageConsent,
    ViewAudit,
    RunCheck,
    /// Network-wide analytics over every member (RFM, ABC, lifecycle, CLV, …).
    ViewAnalytics,
}

impl Action {
    pub const ALL: [Action; 21] = [
        Action::ManageUsers,
        Action::ManageNetwork,
        Action::ViewNetwork,
        Action::CreateCustomer,
        Action::ViewCustomer,
        Action::SeePersonalData,
        Action::IssueCard,
        Action::ManageCard,
        Action::ViewCard,
        Action::ManageCredit,
        Action::ManagePromotions,
        Action::RequestAdjustment,
        Action::ApproveAdjustment,
        Action::ReceiveCreditPayment,
        Action::Sell,
        Action::ExportPersonalData,
        Action::Anonymize,
        Action::ManageConsent,
        Action::ViewAudit,
        Action::RunCheck,
        Action::ViewAnalytics,
    ];
}

/// Staff roles. Members (drivers and company admins) sign in to the member portal with
/// their own credentials and are not staff users.
pub const ROLES: &[&str] = &[
    "admin",
    "analyst",
    "region_manager",
    "station_manager",
    "account_manager",
    "cashier",
];

/// The table. Rows are roles, columns the actions they may take.
pub fn allowed(role: &str, action: Action) -> bool {
    use Action::*;
    match role {
        "admin" => true,
        "region_manager" => !matches!(
            action,
            ManageUsers | ManageNetwork | Sell | RunCheck | ViewAnalytics
        ),
        "station_manager" => matches!(
            action,
            ViewNetwork
                | CreateCustomer
                | ViewCustomer
                | SeePersonalData
                | IssueCard
                | ManageCard
                | ViewCard
                | ManageCredit
                | RequestAdjustment
                | ApproveAdjustment
                | ReceiveCreditPayment
                | Sell
                | ExportPersonalData
                | ManageConsent
        ),
        "account_manager" => matches!(
            action,
            ViewNetwork
                | CreateCustomer
                | ViewCustomer
                | SeePersonalData
                | IssueCard
                | ManageCard
                | ViewCard
                | ManageCredit
                | RequestAdjustment
                | ReceiveCreditPayment
                | ManageConsent
        ),
        "cashier" => matches!(
            action,
            ViewNetwork
                | CreateCustomer
                | ViewCustomer
                | IssueCard
                | ViewCard
                | Sell
                | ManageConsent
        ),
        "analyst" => matches!(
            action,
            ViewNetwork | ViewCustomer | ViewCard | RunCheck | ViewAnalytics
        ),
        _ => false,
    }
}

pub fn require(user: &StaffUser, action: Action) -> ApiResult<()> {
    if allowed(&user.role, action) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "the role {} may not do this ({action:?})",
            user.role
        )))
    }
}

/// Where a user's rights apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Company,
    Region(String),
    Station(String),
    /// The customers the user manages as account manager.
    Own,
}

impl Scope {
    pub fn of(user: &StaffUser) -> Scope {
        let s = user.scope.as_str();
        if let Some(code) = s.strip_prefix("region:") {
            Scope::Region(code.to_string())
        } else if let Some(code) = s.strip_prefix("station:") {
            Scope::Station(code.to_string())
        } else if s == "own" {
            Scope::Own
        } else {
            Scope::Company
        }
    }
}

pub fn station_in_scope(user: &StaffUser, station: &Station) -> bool {
    match Scope::of(user) {
        Scope::Company => true,
        Scope::Region(code) => station.region_code.as_deref() == Some(code.as_str()),
        Scope::Station(code) => station.code == code,
        Scope::Own => false,
    }
}

pub fn require_station(user: &StaffUser, station: &Station) -> ApiResult<()> {
    if station_in_scope(user, station) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "station {} is outside your scope ({})",
            station.code, user.scope
        )))
    }
}

/// A customer is in a region's or station's scope through the customer's home station,
/// and in an account manager's through being theirs.
pub async fn customer_in_scope(
    state: &AppState,
    user: &StaffUser,
    c: &Customer,
) -> ApiResult<bool> {
    Ok(match Scope::of(user) {
        Scope::Company => true,
        Scope::Own => c.account_manager_id.as_deref() == Some(user.user_id.as_str()),
        _ => match &c.home_station_id {
            Some(id) => match state.store().station_by_id(id).await? {
                Some(s) => station_in_scope(user, &s),
                None => false,
            },
            None => false,
        },
    })
}

pub async fn require_customer(state: &AppState, user: &StaffUser, c: &Customer) -> ApiResult<()> {
    if customer_in_scope(state, user, c).await? {
        Ok(())
    } else {
        Err(ApiError::forbidden("this customer is outside your scope"))
    }
}

/// A card is in scope through its customer, or, when anonymous, through the station
/// that issued it.
pub async fn require_card(state: &AppState, user: &StaffUser, card: &Card) -> ApiResult<()> {
    if Scope::of(user) == Scope::Company {
        return Ok(());
    }
    let ok = match (&card.customer_id, &card.issued_station_id) {
        (Some(id), _) => match state.store().customer(id).await? {
            Some(c) => customer_in_scope(state, user, &c).await?,
            None => false,
        },
        (None, Some(station)) => match state.store().station_by_id(station).await? {
            Some(s) => station_in_scope(user, &s),
            None => false,
        },
        (None, None) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::forbidden("this card is outside your scope"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cashier_cannot_administer() {
        assert!(!allowed("cashier", Action::ManageUsers));
        assert!(!allowed("cashier", Action::SeePersonalData));
        assert!(!allowed("cashier", Action::ExportPersonalData));
        assert!(allowed("cashier", Action::IssueCard));
        assert!(allowed("cashier", Action::Sell));
        assert!(allowed("admin", Action::ManageUsers));
        assert!(!allowed("nobody", Action::ViewCard));
    }

    #[test]
    fn scopes_parse() {
        let mut u = StaffUser {
            user_id: "u".into(),
            username: "u".into(),
            password_hash: String::new(),
            role: "cashier".into(),
            scope: "station:S001".into(),
            failed_logins: 0,
            locked_until: None,
            disabled: false,
        };
        assert_eq!(Scope::of(&u), Scope::Station("S001".into()));
        u.scope = "region:R1".into();
        assert_eq!(Scope::of(&u), Scope::Region("R1".into()));
        u.scope = "own".into();
        assert_eq!(Scope::of(&u), Scope::Own);
        u.scope = "company".into();
        assert_eq!(Scope::of(&u), Scope::Company);
    }
}
