//! Fuel cards: numbers with a Luhn check digit, kinds, states and masking.

use crate::DomainError;
use std::fmt;

/// A 19-digit card number whose last digit is a Luhn check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardNo(String);

impl CardNo {
    pub const LEN: usize = 19;

    /// Parses a card number as typed or scanned: spaces and dashes are ignored.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let digits: String = input.chars().filter(|c| *c != ' ' && *c != '-').collect();
        if digits.len() != Self::LEN || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::invalid(
                "card_no",
                "a card number has 19 digits",
            ));
        }
        if !luhn_valid(&digits) {
            return Err(DomainError::invalid(
                "card_no",
                "the card number's check digit is wrong",
            ));
        }
        Ok(Self(digits))
    }

    /// Builds a card number from an 18-digit body by appending its check digit.
    pub fn from_body(body: &str) -> Result<Self, DomainError> {
        if body.len() != Self::LEN - 1 || !body.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::invalid(
                "card_no",
                "a card number body has 18 digits",
            ));
        }
        let check = luhn_check_digit(body);
        Ok(Self(format!("{body}{check}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as printed on a receipt or shown to a role that may not see it in
    /// full: `1000 01** **** ***4 567`.
    pub fn masked(&self) -> String {
        let s = self.0.as_bytes();
        let mut out = String::with_capacity(24);
        for (i, b) in s.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push(' ');
            }
            if (6..15).contains(&i) {
                out.push('*');
            } else {
                out.push(char::from(*b));
            }
        }
        out
    }

    /// The number grouped in fours for display to a role that may see it.
    pub fn grouped(&self) -> String {
        let mut out = String::with_capacity(24);
        for (i, c) in self.0.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push(' ');
            }
            out.push(c);
        }
        out
    }
}

impl fmt::Display for CardNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True when the digits pass the Luhn check.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// The digit that makes `body` followed by it pass the Luhn check.
pub fn luhn_check_digit(body: &str) -> u8 {
    let mut sum = 0u32;
    for (i, b) in body.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    ((10 - sum % 10) % 10) as u8
}

/// The kinds of card of SPEC F2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardKind {
    Personal,
    Company,
    FleetMain,
    FleetSub,
    Anonymous,
}

impl CardKind {
    pub const ALL: [CardKind; 5] = [
        CardKind::Personal,
        CardKind::Company,
        CardKind::FleetMain,
        CardKind::FleetSub,
        CardKind::Anonymous,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CardKind::Personal => "personal",
            CardKind::Company => "company",
            CardKind::FleetMain => "fleet_main",
            CardKind::FleetSub => "fleet_sub",
            CardKind::Anonymous => "anonymous",
        }
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                DomainError::invalid(
                    "kind",
                    "card kind is one of personal, company, fleet_main, fleet_sub, anonymous",
                )
            })
    }

    /// The default face-value cap (the most a card may hold), following China's
    /// prepaid-card rules: anonymous 1,000 CNY, registered personal 5,000 CNY. Company
    /// and fleet cards are capped by contract, so they have none by default.
    pub fn default_cap(self) -> Option<crate::Fen> {
        match self {
            CardKind::Anonymous => Some(crate::Fen(100_000)),
            CardKind::Personal => Some(crate::Fen(500_000)),
            CardKind::Company | CardKind::FleetMain | CardKind::FleetSub => None,
        }
    }
}

/// The lifecycle state of a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardState {
    Active,
    Frozen,
    Lost,
    Cancelled,
    /// Replaced by another card that carries its balance and history.
    Replaced,
}

impl CardState {
    pub const ALL: [CardState; 5] = [
        CardState::Active,
        CardState::Frozen,
        CardState::Lost,
        CardState::Cancelled,
        CardState::Replaced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CardState::Active => "active",
            CardState::Frozen => "frozen",
            CardState::Lost => "lost",
            CardState::Cancelled => "cancelled",
            CardState::Replaced => "replaced",
        }
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                DomainError::invalid(
                    "state",
                    "card state is one of active, frozen, lost, cancelled",
                )
            })
    }

    /// Whether an operator may move a card from `self` to `to`. Cancelled and replaced
    /// cards are final; a lost card can only be replaced or cancelled, or found again.
    pub fn can_become(self, to: CardState) -> bool {
        use CardState::*;
        matches!(
            (self, to),
            (Active, Frozen)
                | (Active, Lost)
                | (Active, Cancelled)
                | (Active, Replaced)
                | (Frozen, Active)
                | (Frozen, Lost)
                | (Frozen, Cancelled)
                | (Frozen, Replaced)
                | (Lost, Active)
                | (Lost, Cancelled)
                | (Lost, Replaced)
        )
    }

    /// The refusal for a card that cannot pay in this state.
    pub fn check_usable(self) -> Result<(), DomainError> {
        match self {
            CardState::Active => Ok(()),
            other => Err(DomainError::CardNotUsable(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_round_trip() {
        let no = CardNo::from_body("100001234567891234").unwrap();
        assert_eq!(no.as_str().len(), 19);
        assert!(luhn_valid(no.as_str()));
        assert_eq!(CardNo::parse(no.as_str()).unwrap(), no);
        // Any single changed digit is caught.
        let mut bad = no.as_str().as_bytes().to_vec();
        bad[5] = if bad[5] == b'9' { b'0' } else { bad[5] + 1 };
        assert!(CardNo::parse(std::str::from_utf8(&bad).unwrap()).is_err());
    }

    #[test]
    fn known_luhn_numbers() {
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert_eq!(luhn_check_digit("7992739871"), 3);
    }

    #[test]
    fn parse_rejects_bad_shapes() {
        assert!(CardNo::parse("123").is_err());
        assert!(CardNo::parse("10000123456789123a4").is_err());
        let no = CardNo::from_body("100001234567891234").unwrap();
        let spaced = no.grouped();
        assert_eq!(CardNo::parse(&spaced).unwrap(), no);
    }

    #[test]
    fn masking_keeps_prefix_and_tail() {
        let no = CardNo::from_body("100001234567894567").unwrap();
        let m = no.masked();
        assert!(m.starts_with("1000 01** **** ***"));
        assert_eq!(&m[m.len() - 5..], &no.grouped()[no.grouped().len() - 5..]);
        assert_eq!(m.matches('*').count(), 9);
    }

    #[test]
    fn state_transitions() {
        assert!(CardState::Active.can_become(CardState::Frozen));
        assert!(CardState::Frozen.can_become(CardState::Active));
        assert!(!CardState::Cancelled.can_become(CardState::Active));
        assert!(!CardState::Replaced.can_become(CardState::Active));
        assert!(CardState::Frozen.check_usable().is_err());
        assert!(CardState::Active.check_usable().is_ok());
    }
}
