//! Who may spend what a member holds (SPEC F10): the one rule every spend path asks.
//!
//! The rule is pure and lives in `core` ([`forecourt_core::sale::Presented`]), where the
//! sale's payment decision uses it; the other spend paths (points redemption, the
//! portal) ask the same type.

pub use forecourt_core::sale::Presented;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;

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
        let refused: AppError = Presented::Named
            .require_spend("coupons")
            .unwrap_err()
            .into();
        assert_eq!(refused.code, "cardholder_required");
    }
}
