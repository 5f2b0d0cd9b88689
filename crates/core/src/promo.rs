//! Promo codes (leaflet codes, partner redemption codes) and the leaflet funnel
//! (SPEC F7; seed 001: 600 leaflets → 3 cards = 0.5 %).
//!
//! A code is typed by a person at the counter or in the portal: eight characters from
//! an alphabet without the look-alikes 0/O and 1/I, the last one a Luhn mod 32 check
//! character, so that a mistyped character or two swapped neighbours are caught before
//! any lookup. Seven random characters give 2^35 codes: guessing one of a batch of 600
//! takes about 57 million tries.

use crate::error::DomainError;

/// The code alphabet: 32 characters, no 0, O, 1 or I.
pub const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Random characters of a code (a check character follows).
pub const RANDOM_CHARS: usize = 7;
/// The length of a code as printed.
pub const CODE_CHARS: usize = RANDOM_CHARS + 1;

fn value_of(c: u8) -> Option<usize> {
    ALPHABET.iter().position(|&a| a == c)
}

/// The Luhn mod 32 check character of `body` (characters of [`ALPHABET`]).
fn check_char(body: &[u8]) -> u8 {
    let n = ALPHABET.len();
    let mut factor = 2;
    let mut sum = 0;
    for &c in body.iter().rev() {
        let v = value_of(c).unwrap_or(0) * factor;
        sum += v / n + v % n;
        factor = if factor == 2 { 1 } else { 2 };
    }
    ALPHABET[(n - sum % n) % n]
}

/// A code from seven random bytes (each taken mod 32, which is unbiased).
pub fn code_from(random: [u8; RANDOM_CHARS]) -> String {
    let mut body: Vec<u8> = random
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()])
        .collect();
    body.push(check_char(&body));
    String::from_utf8(body).expect("the alphabet is ASCII")
}

/// A code as a person typed it: spaces and dashes dropped, upper case. `None` when it
/// cannot be one of ours (wrong length, a character outside the alphabet, or a wrong
/// check character).
pub fn parse_code(typed: &str) -> Option<String> {
    let s: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let bytes = s.as_bytes();
    if bytes.len() != CODE_CHARS || bytes.iter().any(|b| value_of(*b).is_none()) {
        return None;
    }
    (check_char(&bytes[..RANDOM_CHARS]) == bytes[RANDOM_CHARS]).then_some(s)
}

/// A public code chosen by staff (e.g. `SPRING26`): 4 to 16 letters and digits, upper
/// case; spaces and dashes dropped.
pub fn public_code(typed: &str) -> Result<String, DomainError> {
    let s: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !(4..=16).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(DomainError::invalid(
            "public_code",
            "4 to 16 letters and digits",
        ));
    }
    Ok(s)
}

/// Normalises a code typed at the counter: a batch's unique code, or a public one.
pub fn typed_code(typed: &str) -> Option<String> {
    parse_code(typed).or_else(|| public_code(typed).ok())
}

/// One leaflet batch's funnel: leaflets distributed, customers who signed up with a
/// code, those of them who bought since, what they spent, and the printing cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FunnelCounts {
    pub distributed: i64,
    pub signed_up: i64,
    pub first_sale: i64,
    pub spend_fen: i64,
    pub cost_fen: i64,
}

/// The funnel's ratios.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FunnelRatios {
    /// Sign-ups per leaflet, in percent (600 → 3 is 0.5).
    pub conversion_percent: f64,
    /// Of those who signed up, the share who bought, in percent.
    pub first_sale_percent: Option<f64>,
    /// Printing cost per sign-up (a new card), in fen, rounded half up.
    pub cost_per_new_card_fen: Option<i64>,
    /// Spend per fen of printing cost.
    pub return_on_cost: Option<f64>,
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

pub fn funnel(c: FunnelCounts) -> FunnelRatios {
    FunnelRatios {
        conversion_percent: if c.distributed > 0 {
            round4(c.signed_up as f64 * 100.0 / c.distributed as f64)
        } else {
            0.0
        },
        first_sale_percent: (c.signed_up > 0)
            .then(|| round4(c.first_sale as f64 * 100.0 / c.signed_up as f64)),
        cost_per_new_card_fen: (c.signed_up > 0)
            .then(|| (c.cost_fen + c.signed_up / 2) / c.signed_up),
        return_on_cost: (c.cost_fen > 0).then(|| round4(c.spend_fen as f64 / c.cost_fen as f64)),
    }
}

/// Partner categories (商户联盟).
pub const PARTNER_CATEGORIES: &[&str] = &[
    "insurance",
    "car_wash",
    "restaurant",
    "repair",
    "retail",
    "other",
];

/// Whether a member qualifies for an offer: the offer names tiers (empty: every
/// member who holds a usable card) and the member must hold one.
pub fn offer_qualifies(tiers: &[String], member_tier: Option<&str>, holds_card: bool) -> bool {
    holds_card && (tiers.is_empty() || member_tier.is_some_and(|t| tiers.iter().any(|x| x == t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_catch_typos() {
        let c = code_from([0, 1, 2, 3, 4, 5, 200]);
        assert_eq!(c.len(), CODE_CHARS);
        assert_eq!(parse_code(&c).as_deref(), Some(c.as_str()));
        assert_eq!(
            parse_code(&format!(" {}-{} ", &c[..4], &c[4..]).to_lowercase()).as_deref(),
            Some(c.as_str())
        );
        // every single-character change is caught
        for i in 0..CODE_CHARS {
            for &a in ALPHABET {
                let mut b = c.clone().into_bytes();
                if b[i] == a {
                    continue;
                }
                b[i] = a;
                assert_eq!(parse_code(std::str::from_utf8(&b).unwrap()), None);
            }
        }
        // adjacent transpositions of different characters are caught
        let mut b = c.clone().into_bytes();
        b.swap(0, 1);
        assert_eq!(parse_code(std::str::from_utf8(&b).unwrap()), None);
        assert_eq!(parse_code("0O1I2345"), None);
        assert_eq!(parse_code("ABC"), None);
    }

    #[test]
    fn codes_never_hold_look_alikes() {
        for seed in 0..=255u8 {
            let c = code_from([seed; RANDOM_CHARS]);
            assert!(!c.contains(['0', 'O', '1', 'I']), "{c}");
        }
    }

    #[test]
    fn seed_001_funnel() {
        let r = funnel(FunnelCounts {
            distributed: 600,
            signed_up: 3,
            first_sale: 2,
            spend_fen: 90_000,
            cost_fen: 30_000,
        });
        assert_eq!(r.conversion_percent, 0.5);
        assert_eq!(r.cost_per_new_card_fen, Some(10_000));
        assert_eq!(r.first_sale_percent, Some(66.6667));
        assert_eq!(r.return_on_cost, Some(3.0));
        let none = funnel(FunnelCounts {
            distributed: 600,
            ..Default::default()
        });
        assert_eq!(none.cost_per_new_card_fen, None);
        assert_eq!(none.conversion_percent, 0.0);
    }

    #[test]
    fn public_codes_and_qualification() {
        assert_eq!(public_code("spring-26").unwrap(), "SPRING26");
        assert!(public_code("A!").is_err());
        assert!(offer_qualifies(&[], None, true));
        assert!(!offer_qualifies(&[], None, false));
        assert!(offer_qualifies(&["gold".into()], Some("gold"), true));
        assert!(!offer_qualifies(&["gold".into()], Some("silver"), true));
    }
}
