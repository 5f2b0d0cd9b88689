//! Money, volume, energy and points as integer newtypes.
//!
//! Money is always an integer number of fen. Arithmetic that could overflow is
//! checked: an overflow is a refusal, never a wrapped number.

use crate::DomainError;
use std::fmt;

macro_rules! integer_unit {
    ($(#[$doc:meta])* $name:ident, $unit:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub i64);

        impl $name {
            pub const ZERO: Self = Self(0);

            pub fn checked_add(self, other: Self) -> Result<Self, DomainError> {
                self.0.checked_add(other.0).map(Self).ok_or(DomainError::Overflow)
            }

            pub fn checked_sub(self, other: Self) -> Result<Self, DomainError> {
                self.0.checked_sub(other.0).map(Self).ok_or(DomainError::Overflow)
            }

            pub fn is_negative(self) -> bool {
                self.0 < 0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} {}", self.0, $unit)
            }
        }
    };
}

integer_unit!(
    /// An amount of money in fen (1/100 CNY).
    Fen,
    "fen"
);
integer_unit!(
    /// A volume of fuel in millilitres.
    Millilitres,
    "ml"
);
integer_unit!(
    /// Loyalty points.
    Points,
    "points"
);

impl Fen {
    /// Formats as yuan with two decimals, for messages shown to people.
    pub fn yuan(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// `round_half_up(a * b / d)` for non-negative `a`, `b` and positive `d`, in 128-bit
/// arithmetic so that the product cannot overflow.
pub fn mul_div_round_half_up(a: i64, b: i64, d: i64) -> Result<i64, DomainError> {
    if a < 0 || b < 0 || d <= 0 {
        return Err(DomainError::Overflow);
    }
    let product = i128::from(a) * i128::from(b);
    let d = i128::from(d);
    let rounded = (product + d / 2) / d;
    i64::try_from(rounded).map_err(|_| DomainError::Overflow)
}

/// The amount of a metered line: `round_half_up(volume * price / 1000)`, where volume is
/// in millilitres (or watt-hours) and the price in fen per litre (or per kWh).
pub fn metered_amount(volume: i64, unit_price_fen: i64) -> Result<Fen, DomainError> {
    mul_div_round_half_up(volume, unit_price_fen, 1000).map(Fen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metered_amount_rounds_half_up() {
        // 30 L at 7.89 CNY/L.
        assert_eq!(metered_amount(30_000, 789).unwrap(), Fen(23_670));
        // 1.5 ml at 1 fen/L is 0.0015 fen: rounds to 0; 500 ml at 1 fen/L is 0.5: up.
        assert_eq!(metered_amount(1, 1).unwrap(), Fen(0));
        assert_eq!(metered_amount(500, 1).unwrap(), Fen(1));
        assert_eq!(metered_amount(499, 1).unwrap(), Fen(0));
        assert_eq!(metered_amount(12_345, 789).unwrap(), Fen(9_740));
    }

    #[test]
    fn yuan_formatting() {
        assert_eq!(Fen(123_456).yuan(), "1234.56");
        assert_eq!(Fen(5).yuan(), "0.05");
        assert_eq!(Fen(-5).yuan(), "-0.05");
    }

    #[test]
    fn overflow_is_an_error() {
        assert!(Fen(i64::MAX).checked_add(Fen(1)).is_err());
        assert!(metered_amount(i64::MAX, i64::MAX).is_err());
        assert!(metered_amount(-1, 5).is_err());
    }
}
