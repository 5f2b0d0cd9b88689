//! Who may do what: the one table of role × action. Every handler asks [`require`]
//! before it acts. Data scope (region, station, own accounts) arrives with the security
//! work; until then a role's rights apply company-wide.

use crate::error::ApiError;
use forecourt_store::StaffUser;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ManageUsers,
    ManageNetwork,
    ViewNetwork,
    CreateCustomer,
    ViewCustomer,
    /// See personal data (phone, name) unmasked.
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
    RunCheck,
}

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
        "region_manager" => !matches!(action, ManageUsers | ManageNetwork),
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
        ),
        "cashier" => matches!(
            action,
            ViewNetwork | CreateCustomer | ViewCustomer | IssueCard | ViewCard
        ),
        "analyst" => matches!(action, ViewNetwork | ViewCustomer | ViewCard | RunCheck),
        _ => false,
    }
}

pub fn require(user: &StaffUser, action: Action) -> Result<(), ApiError> {
    if allowed(&user.role, action) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "the role {} may not do this ({action:?})",
            user.role
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cashier_cannot_administer() {
        assert!(!allowed("cashier", Action::ManageUsers));
        assert!(!allowed("cashier", Action::SeePersonalData));
        assert!(allowed("cashier", Action::IssueCard));
        assert!(allowed("admin", Action::ManageUsers));
        assert!(!allowed("nobody", Action::ViewCard));
    }
}
