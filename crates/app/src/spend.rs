//! Who may spend what a member holds (SPEC F10): the one rule every spend path asks.
//!
//! A phone number, plate or member code is known to many people (a neighbour, a fleet
//! dispatcher, anyone who saw the plate), so it only identifies: the sale earns points
//! and the member's tier discount. Spending the member's coupons, points, credit or money
//! needs the member's card, with its PIN where the card has one, or the member's own
//! portal session.

use crate::error::AppError;

/// How the member of a sale, quote or redemption was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// No member (a walk-in sale).
    Nobody,
    /// Named by phone number, plate or member code only.
    Named,
    /// The member's card was presented; `pin_checked` is true when its PIN was verified
    /// or the card has none.
    Card { pin_checked: bool },
    /// The member's own portal session.
    Portal,
}

impl Presented {
    /// A card presented, its PIN verified in this request (or the card has no PIN).
    pub fn card(has_pin: bool, pin_verified: bool) -> Self {
        Presented::Card {
            pin_checked: !has_pin || pin_verified,
        }
    }

    /// Whether the member's coupons, points, credit or money may be spent.
    pub fn may_spend(self) -> bool {
        matches!(
            self,
            Presented::Card { pin_checked: true } | Presented::Portal
        )
    }

    /// Whether the coupon codes of the member may be shown (to offer them): the card is
    /// in the cashier's hand (its PIN is asked when the sale spends them) or the member
    /// is signed in. A phone number alone never shows a code.
    pub fn may_see_codes(self) -> bool {
        matches!(self, Presented::Card { .. } | Presented::Portal)
    }

    /// Refuses spending `what` unless the member authorised it.
    pub fn require_spend(self, what: &str) -> Result<(), AppError> {
        if self.may_spend() {
            return Ok(());
        }
        let why = match self {
            Presented::Card { .. } => "the card's PIN",
            _ => "the member's card (and its PIN) or the member's own portal session; a phone number, plate or member code only identifies",
        };
        Err(AppError::new(
            "cardholder_required",
            format!("spending {what} needs {why}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_card_with_its_pin_or_the_portal_spends() {
        assert!(!Presented::Nobody.may_spend());
        assert!(!Presented::Named.may_spend());
        assert!(!Presented::card(true, false).may_spend());
        assert!(Presented::card(true, true).may_spend());
        assert!(Presented::card(false, false).may_spend());
        assert!(Presented::Portal.may_spend());
        assert!(!Presented::Named.may_see_codes());
        assert!(Presented::card(true, false).may_see_codes());
        assert_eq!(
            Presented::Named.require_spend("coupons").unwrap_err().code,
            "cardholder_required"
        );
    }
}
