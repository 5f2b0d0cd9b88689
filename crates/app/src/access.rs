//! Who may do what, and where: the one table of role × action, and the data scope of
//! each user (company, region, station, own accounts). Every handler asks [`require`]
//! for the action and one of the `*_in_scope` checks for the data before it acts.

use crate::error::{AppError, AppResult};
use crate::App;
use forecourt_store::{Card, Customer, StaffUser, Station};

/// A signed-in staff member, and where the request came from: the caller of every
/// staff use case, whose role and scope decide what it may do and see.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: StaffUser,
    pub source: Option<String>,
}

impl std::ops::Deref for Actor {
    type Target = StaffUser;

    fn deref(&self) -> &StaffUser {
        &self.user
    }
}

impl Actor {
    /// How the audit log names this actor.
    pub fn audit_name(&self) -> String {
        format!("user:{}", self.user.username)
    }
}

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
    /// Set the service desk's calendars (and which station runs on which) and SLA
    /// policies: they decide every station's due times, so only admins do.
    ManageServiceDesk,
    /// Open tickets and move them through the workflow, at the stations in scope.
    WorkTickets,
    /// Read tickets of the stations in scope.
    ViewTickets,
    /// Segments and campaigns over the members in scope.
    Market,
    /// Make leaflet batches and read their funnels, at the stations in scope.
    ManageLeaflets,
    /// Partner merchants (商户联盟), their offers, keys and statements: headquarters.
    ManagePartners,
}

impl Action {
    pub const ALL: [Action; 27] = [
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
        Action::ManageServiceDesk,
        Action::WorkTickets,
        Action::ViewTickets,
        Action::Market,
        Action::ManageLeaflets,
        Action::ManagePartners,
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
            ManageUsers
                | ManageNetwork
                | Sell
                | RunCheck
                | ViewAnalytics
                | ManageServiceDesk
                | ManagePartners
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
                | WorkTickets
                | ViewTickets
                | Market
                | ManageLeaflets
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
                | WorkTickets
                | ViewTickets
        ),
        "analyst" => matches!(
            action,
            ViewNetwork | ViewCustomer | ViewCard | RunCheck | ViewAnalytics | ViewTickets
        ),
        _ => false,
    }
}

pub fn require(user: &StaffUser, action: Action) -> AppResult<()> {
    if allowed(&user.role, action) {
        Ok(())
    } else {
        Err(AppError::forbidden(format!(
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
        Self::parse(&user.scope)
    }

    /// A scope as stored (`company`, `region:CODE`, `station:CODE`, `own`).
    pub fn parse(s: &str) -> Scope {
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
    scope_holds_station(&Scope::of(user), station)
}

pub fn require_station(user: &StaffUser, station: &Station) -> AppResult<()> {
    if station_in_scope(user, station) {
        Ok(())
    } else {
        Err(AppError::forbidden(format!(
            "station {} is outside your scope ({})",
            station.code, user.scope
        )))
    }
}

/// Whether a scope holds a customer: region and station scopes through the customer's
/// home station, an account manager's (`Own`, with the manager's user id) through being
/// theirs.
async fn scope_holds_customer(
    state: &App,
    scope: &Scope,
    user_id: Option<&str>,
    c: &Customer,
) -> AppResult<bool> {
    Ok(match scope {
        Scope::Company => true,
        Scope::Own => user_id.is_some() && c.account_manager_id.as_deref() == user_id,
        Scope::Region(_) | Scope::Station(_) => match &c.home_station_id {
            Some(id) => match state.store().station_by_id(id).await? {
                Some(s) => scope_holds_station(scope, &s),
                None => false,
            },
            None => false,
        },
    })
}

fn scope_holds_station(scope: &Scope, station: &Station) -> bool {
    match scope {
        Scope::Company => true,
        Scope::Region(code) => station.region_code.as_deref() == Some(code.as_str()),
        Scope::Station(code) => &station.code == code,
        Scope::Own => false,
    }
}

/// Whether a scope holds a card: through its customer, or, when anonymous, through the
/// station that issued it.
async fn scope_holds_card(
    state: &App,
    scope: &Scope,
    user_id: Option<&str>,
    card: &Card,
) -> AppResult<bool> {
    if *scope == Scope::Company {
        return Ok(true);
    }
    Ok(match (&card.customer_id, &card.issued_station_id) {
        (Some(id), _) => match state.store().customer(id).await? {
            Some(c) => scope_holds_customer(state, scope, user_id, &c).await?,
            None => false,
        },
        (None, Some(station)) => match state.store().station_by_id(station).await? {
            Some(s) => scope_holds_station(scope, &s),
            None => false,
        },
        (None, None) => false,
    })
}

/// A customer is in a region's or station's scope through the customer's home station,
/// and in an account manager's through being theirs.
pub async fn customer_in_scope(state: &App, user: &StaffUser, c: &Customer) -> AppResult<bool> {
    scope_holds_customer(state, &Scope::of(user), Some(&user.user_id), c).await
}

pub async fn require_customer(state: &App, user: &StaffUser, c: &Customer) -> AppResult<()> {
    if customer_in_scope(state, user, c).await? {
        Ok(())
    } else {
        Err(AppError::forbidden("this customer is outside your scope"))
    }
}

pub async fn card_in_scope(state: &App, user: &StaffUser, card: &Card) -> AppResult<bool> {
    scope_holds_card(state, &Scope::of(user), Some(&user.user_id), card).await
}

/// A card is in scope through its customer, or, when anonymous, through the station
/// that issued it.
pub async fn require_card(state: &App, user: &StaffUser, card: &Card) -> AppResult<()> {
    if card_in_scope(state, user, card).await? {
        Ok(())
    } else {
        Err(AppError::forbidden("this card is outside your scope"))
    }
}

// Scoped reads. Every handler that returns a customer, a card, an adjustment or an
// audit row asks one of the functions below what the caller may see of it, so that
// the rule is decided in one place and not per handler:
//
// - a customer's profile out of scope is refused (403); in a search, an out-of-scope
//   match is listed fully masked, without its id or member code, so that a search
//   neither leaks personal data nor leads to the profile;
// - a card out of scope is refused to staff, except to the staff of one station who
//   sell there (they are that station's till), who see what a till sees;
// - a till (a POS token, or station staff selling) of another station sees what a sale
//   needs: state, balance, limits, the number masked, no customer id and no plate;
// - adjustments and audit entries out of scope are left out of lists.

/// What a caller may see of a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerView {
    /// In scope, and the role may see personal data: everything unmasked.
    Full,
    /// In scope, personal data masked (the role may not see it).
    Masked,
    /// Out of scope: a profile is refused, a search lists it fully masked.
    Outside,
}

pub async fn customer_view(state: &App, user: &StaffUser, c: &Customer) -> AppResult<CustomerView> {
    Ok(if !customer_in_scope(state, user, c).await? {
        CustomerView::Outside
    } else if allowed(&user.role, Action::SeePersonalData) {
        CustomerView::Full
    } else {
        CustomerView::Masked
    })
}

/// The view of a customer whose profile is read: refused out of scope.
pub async fn read_customer(state: &App, user: &StaffUser, c: &Customer) -> AppResult<CustomerView> {
    match customer_view(state, user, c).await? {
        CustomerView::Outside => Err(AppError::forbidden("this customer is outside your scope")),
        v => Ok(v),
    }
}

/// Who reads a card.
#[derive(Clone, Copy)]
pub enum CardReader<'a> {
    Staff(&'a StaffUser),
    /// A station's POS token.
    Pos(&'a Station),
}

/// What a caller may see of a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardView {
    /// In scope and allowed to manage the card, or the till of the card's own station:
    /// the whole number and the customer.
    Full,
    /// In scope, but the role has no use for the whole number (first 6 and last 4
    /// digits shown).
    Masked,
    /// A till of another station: state, balance and limits, the number masked, no
    /// customer id and no plate.
    Till,
}

impl CardView {
    pub fn full_number(self) -> bool {
        self == CardView::Full
    }
}

/// The view of a card, or a refusal for staff out of its scope.
pub async fn read_card(state: &App, reader: CardReader<'_>, card: &Card) -> AppResult<CardView> {
    match reader {
        CardReader::Pos(station) => {
            let scope = Scope::Station(station.code.clone());
            Ok(if scope_holds_card(state, &scope, None, card).await? {
                CardView::Full
            } else {
                CardView::Till
            })
        }
        CardReader::Staff(user) => {
            if card_in_scope(state, user, card).await? {
                Ok(if allowed(&user.role, Action::ManageCard) {
                    CardView::Full
                } else {
                    CardView::Masked
                })
            } else if allowed(&user.role, Action::Sell)
                && matches!(Scope::of(user), Scope::Station(_))
            {
                // Cards of the whole network are sold on at every station: the staff
                // of one station are its till, and see what a till sees.
                Ok(CardView::Till)
            } else {
                Err(AppError::forbidden("this card is outside your scope"))
            }
        }
    }
}

/// Whether an adjustment (or a coupon awaiting approval) is in the user's scope,
/// through its card or its customer. One without either is network-wide.
pub async fn adjustment_in_scope(
    state: &App,
    user: &StaffUser,
    a: &forecourt_store::Adjustment,
) -> AppResult<bool> {
    if Scope::of(user) == Scope::Company {
        return Ok(true);
    }
    if let Some(id) = &a.card_id {
        return Ok(match state.store().card_by_id(id).await? {
            Some(card) => card_in_scope(state, user, &card).await?,
            None => false,
        });
    }
    if let Some(id) = &a.customer_id {
        return Ok(match state.store().customer(id).await? {
            Some(c) => customer_in_scope(state, user, &c).await?,
            None => false,
        });
    }
    Ok(false)
}

/// Whether an audit entry is in the user's scope: the user's own actions, and entries
/// about a customer, card, adjustment or station in scope. Entries about users, rules
/// and settings are network-wide: only a company-wide user sees them.
pub async fn audit_in_scope(
    state: &App,
    user: &StaffUser,
    row: &forecourt_store::audit::AuditRow,
) -> AppResult<bool> {
    if Scope::of(user) == Scope::Company || row.actor == format!("user:{}", user.username) {
        return Ok(true);
    }
    let Some(id) = row.target_id.as_deref() else {
        return Ok(false);
    };
    let store = state.store();
    Ok(match row.target_kind.as_str() {
        "customer" => match store.customer(id).await? {
            Some(c) => customer_in_scope(state, user, &c).await?,
            None => false,
        },
        "card" => {
            let card = match store.card_by_id(id).await? {
                Some(c) => Some(c),
                None => store.card_by_no(id).await?,
            };
            match card {
                Some(card) => card_in_scope(state, user, &card).await?,
                None => false,
            }
        }
        "adjustment" | "coupon" => match store.adjustment(id).await? {
            Some(a) => adjustment_in_scope(state, user, &a).await?,
            None => false,
        },
        "station" => match store.station_by_id(id).await? {
            Some(s) => station_in_scope(user, &s),
            None => false,
        },
        _ => false,
    })
}

/// How a coupon may go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponIssue {
    /// Issued at once.
    Now,
    /// Held `pending` until someone else approves it.
    NeedsApproval,
}

/// The rules of coupons issued by staff, the same as any other money-moving action:
/// an admin issues freely; anyone else names a customer in their scope (a bearer
/// coupon, good to whoever holds the code, is network money), stays within the value
/// limit, and above the approval threshold needs a second person. `value_fen` is the
/// coupon's money value (`None` for coupons not worth a fixed amount: per-litre,
/// percent, car wash).
pub fn coupon_issue(
    state: &App,
    user: &StaffUser,
    customer_in_scope: Option<bool>,
    value_fen: Option<i64>,
) -> AppResult<CouponIssue> {
    if user.role == "admin" {
        return Ok(CouponIssue::Now);
    }
    match customer_in_scope {
        None => {
            return Err(AppError::validation(
                "customer_id",
                "a coupon issued by anyone but an admin names a customer in your scope",
            ))
        }
        Some(false) => {
            return Err(AppError::forbidden("this customer is outside your scope"));
        }
        Some(true) => {}
    }
    let config = state.config();
    match value_fen {
        Some(v) if v > config.coupon_staff_max_fen => Err(AppError::forbidden(format!(
            "a coupon you issue is worth at most {} CNY",
            forecourt_core::Fen(config.coupon_staff_max_fen).yuan()
        ))),
        Some(v) if v > config.coupon_approval_above_fen => Ok(CouponIssue::NeedsApproval),
        _ => Ok(CouponIssue::Now),
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
