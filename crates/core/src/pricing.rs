//! Pricing of a sale: line amounts, tier discounts, net amount and points earned.
//!
//! The quote and the sale call the same functions with the same inputs, so the quote
//! always promises exactly what the sale then charges.

use crate::money::{metered_amount, Fen, Points};
use crate::DomainError;

/// The most a single line may measure or count; anything above is a typing error.
pub const VOLUME_ML_MAX: i64 = 2_000_000;
pub const QUANTITY_MAX: i64 = 1_000_000;
pub const UNIT_PRICE_FEN_MAX: i64 = 1_000_000;
pub const LINE_AMOUNT_FEN_MAX: i64 = 100_000_000;
pub const LINES_MAX: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductKind {
    /// Liquid or gas fuel sold by the litre (volume in millilitres, price per litre).
    Fuel,
    /// EV charging sold by the kWh (quantity in watt-hours, price per kWh).
    Ev,
    /// Car wash and other services, by the unit.
    Service,
    /// Convenience-store items, by the unit.
    NonFuel,
}

impl ProductKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductKind::Fuel => "fuel",
            ProductKind::Ev => "ev",
            ProductKind::Service => "service",
            ProductKind::NonFuel => "non_fuel",
        }
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "fuel" => Ok(ProductKind::Fuel),
            "ev" => Ok(ProductKind::Ev),
            "service" => Ok(ProductKind::Service),
            "non_fuel" => Ok(ProductKind::NonFuel),
            _ => Err(DomainError::invalid(
                "kind",
                "product kind is fuel, ev, service or non_fuel",
            )),
        }
    }
}

/// One line as the till sends it, with its product looked up.
#[derive(Debug, Clone)]
pub struct LineInput {
    pub product_code: String,
    pub kind: ProductKind,
    pub category: Option<String>,
    pub volume_ml: Option<i64>,
    pub quantity: Option<i64>,
    pub unit_price_fen: i64,
    /// The amount the till charged, which wins over the computed one.
    pub amount_fen: Option<i64>,
}

/// What a tier gives its members at the till.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierBenefit {
    pub code: String,
    pub name: String,
    pub discount_fen_per_litre: i64,
    /// Points multiplier in thousandths (1000 = ×1).
    pub points_multiplier_permille: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub product_code: String,
    pub kind: ProductKind,
    pub category: Option<String>,
    /// Millilitres for fuel, 0 otherwise.
    pub volume_ml: i64,
    /// Units for goods and services, watt-hours for EV charging, 0 for fuel.
    pub quantity: i64,
    pub unit_price_fen: i64,
    pub gross_fen: Fen,
    pub discount_fen: Fen,
    pub net_fen: Fen,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedSale {
    pub lines: Vec<PricedLine>,
    pub gross_fen: Fen,
    pub discount_fen: Fen,
    pub net_fen: Fen,
}

fn bounded(field: &'static str, v: i64, max: i64, what: &str) -> Result<i64, DomainError> {
    if v <= 0 {
        return Err(DomainError::invalid(
            field,
            format!("{what} must be positive"),
        ));
    }
    if v > max {
        return Err(DomainError::invalid(
            field,
            format!("{what} {v} is above the limit of {max}"),
        ));
    }
    Ok(v)
}

/// Prices the lines of a sale for a member of `tier` (or a walk-in customer).
pub fn price_sale(
    lines: &[LineInput],
    tier: Option<&TierBenefit>,
) -> Result<PricedSale, DomainError> {
    if lines.is_empty() {
        return Err(DomainError::invalid(
            "lines",
            "a sale needs at least one line",
        ));
    }
    if lines.len() > LINES_MAX {
        return Err(DomainError::invalid(
            "lines",
            format!("a sale has at most {LINES_MAX} lines"),
        ));
    }
    let mut out = Vec::with_capacity(lines.len());
    let (mut gross, mut discount) = (Fen::ZERO, Fen::ZERO);
    for line in lines {
        let priced = price_line(line, tier)?;
        gross = gross.checked_add(priced.gross_fen)?;
        discount = discount.checked_add(priced.discount_fen)?;
        out.push(priced);
    }
    Ok(PricedSale {
        lines: out,
        gross_fen: gross,
        discount_fen: discount,
        net_fen: gross.checked_sub(discount)?,
    })
}

fn price_line(line: &LineInput, tier: Option<&TierBenefit>) -> Result<PricedLine, DomainError> {
    let price = bounded(
        "unit_price_fen",
        line.unit_price_fen,
        UNIT_PRICE_FEN_MAX,
        "the unit price",
    )?;
    let (volume_ml, quantity, computed) = match line.kind {
        ProductKind::Fuel => {
            let v = line.volume_ml.ok_or_else(|| {
                DomainError::invalid(
                    "volume_ml",
                    format!("{} is sold by volume: send volume_ml", line.product_code),
                )
            })?;
            let v = bounded("volume_ml", v, VOLUME_ML_MAX, "the volume")?;
            (v, 0, metered_amount(v, price)?)
        }
        ProductKind::Ev => {
            let wh = line.quantity.or(line.volume_ml).ok_or_else(|| {
                DomainError::invalid(
                    "quantity",
                    "EV charging is sold by energy: send quantity in watt-hours",
                )
            })?;
            let wh = bounded("quantity", wh, QUANTITY_MAX, "the energy")?;
            (0, wh, metered_amount(wh, price)?)
        }
        ProductKind::Service | ProductKind::NonFuel => {
            let q = bounded(
                "quantity",
                line.quantity.unwrap_or(1),
                QUANTITY_MAX,
                "the quantity",
            )?;
            let amount = q.checked_mul(price).ok_or(DomainError::Overflow)?;
            (0, q, Fen(amount))
        }
    };
    let gross = match line.amount_fen {
        Some(a) if a < 0 => {
            return Err(DomainError::invalid(
                "amount_fen",
                "the amount must not be negative",
            ))
        }
        Some(a) if a > LINE_AMOUNT_FEN_MAX => {
            return Err(DomainError::invalid(
                "amount_fen",
                format!("the amount {a} is above the limit of {LINE_AMOUNT_FEN_MAX}"),
            ))
        }
        Some(a) => Fen(a),
        None => computed,
    };
    if gross.0 > LINE_AMOUNT_FEN_MAX {
        return Err(DomainError::invalid(
            "lines",
            "the line amount is above the limit",
        ));
    }
    // Tier discounts are per litre of fuel and never exceed the line.
    let discount = match (line.kind, tier) {
        (ProductKind::Fuel, Some(t)) if t.discount_fen_per_litre > 0 => Fen(
            crate::money::mul_div_round_half_up(volume_ml, t.discount_fen_per_litre, 1000)?
                .min(gross.0),
        ),
        _ => Fen::ZERO,
    };
    Ok(PricedLine {
        product_code: line.product_code.clone(),
        kind: line.kind,
        category: line.category.clone(),
        volume_ml,
        quantity,
        unit_price_fen: price,
        gross_fen: gross,
        discount_fen: discount,
        net_fen: gross.checked_sub(discount)?,
    })
}

/// Points earned on `eligible` net spend: one point per whole yuan times the tier
/// multiplier, rounded down once per sale.
pub fn points_earned(eligible: Fen, multiplier_permille: i64) -> Points {
    if eligible.0 <= 0 || multiplier_permille <= 0 {
        return Points::ZERO;
    }
    let p = i128::from(eligible.0) * i128::from(multiplier_permille) / 100_000;
    Points(i64::try_from(p).unwrap_or(i64::MAX))
}

/// Splits `total` over `weights` in proportion, by largest remainder, so that the parts
/// add up to `total` exactly. Used to refund a part of a sale to each of its payments.
pub fn split_proportionally(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    if sum == 0 || total <= 0 {
        return vec![0; weights.len()];
    }
    let mut parts: Vec<(usize, i64, i128)> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let exact = i128::from(total) * i128::from((*w).max(0));
            (i, (exact / sum) as i64, exact % sum)
        })
        .collect();
    let mut left = total - parts.iter().map(|p| p.1).sum::<i64>();
    parts.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    for p in parts.iter_mut() {
        if left == 0 {
            break;
        }
        p.1 += 1;
        left -= 1;
    }
    parts.sort_by_key(|p| p.0);
    parts.into_iter().map(|p| p.1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fuel(ml: i64, price: i64) -> LineInput {
        LineInput {
            product_code: "GASOLINE_95".into(),
            kind: ProductKind::Fuel,
            category: None,
            volume_ml: Some(ml),
            quantity: None,
            unit_price_fen: price,
            amount_fen: None,
        }
    }

    fn vip() -> TierBenefit {
        TierBenefit {
            code: "vip".into(),
            name: "VIP".into(),
            discount_fen_per_litre: 10,
            points_multiplier_permille: 1500,
        }
    }

    #[test]
    fn walk_in_pays_the_pump_price() {
        let s = price_sale(&[fuel(30_000, 789)], None).unwrap();
        assert_eq!(s.net_fen, Fen(23_670));
        assert_eq!(s.discount_fen, Fen::ZERO);
    }

    #[test]
    fn tier_discount_per_litre() {
        let s = price_sale(&[fuel(30_000, 789)], Some(&vip())).unwrap();
        assert_eq!(s.discount_fen, Fen(300));
        assert_eq!(s.net_fen, Fen(23_370));
    }

    #[test]
    fn the_tills_amount_wins() {
        let mut l = fuel(30_000, 789);
        l.amount_fen = Some(23_600);
        assert_eq!(price_sale(&[l], None).unwrap().net_fen, Fen(23_600));
    }

    #[test]
    fn absurd_lines_are_refused() {
        assert!(price_sale(&[fuel(-5_000, 789)], None).is_err());
        assert!(price_sale(&[fuel(0, 789)], None).is_err());
        assert!(price_sale(&[fuel(VOLUME_ML_MAX + 1, 789)], None).is_err());
        assert!(price_sale(&[fuel(1_000, -1)], None).is_err());
        assert!(price_sale(&[fuel(1_000, UNIT_PRICE_FEN_MAX + 1)], None).is_err());
        assert!(price_sale(&[], None).is_err());
        let mut l = fuel(1_000, 789);
        l.volume_ml = None;
        assert!(price_sale(&[l], None).is_err());
    }

    #[test]
    fn goods_by_quantity() {
        let l = LineInput {
            product_code: "WATER".into(),
            kind: ProductKind::NonFuel,
            category: Some("drinks".into()),
            volume_ml: None,
            quantity: Some(3),
            unit_price_fen: 250,
            amount_fen: None,
        };
        let s = price_sale(&[l], Some(&vip())).unwrap();
        assert_eq!(s.net_fen, Fen(750));
        assert_eq!(
            s.discount_fen,
            Fen::ZERO,
            "per-litre discounts do not apply to goods"
        );
    }

    #[test]
    fn points_round_down_once_per_sale() {
        assert_eq!(points_earned(Fen(23_670), 1000), Points(236));
        assert_eq!(points_earned(Fen(99), 1000), Points(0));
        assert_eq!(points_earned(Fen(23_670), 1500), Points(355));
        assert_eq!(points_earned(Fen(-100), 1000), Points(0));
    }

    proptest! {
        #[test]
        fn proportional_split_adds_up(total in 0i64..10_000_000, weights in proptest::collection::vec(0i64..1_000_000, 1..6)) {
            let parts = split_proportionally(total, &weights);
            let sum: i64 = weights.iter().sum();
            if sum > 0 {
                prop_assert_eq!(parts.iter().sum::<i64>(), total);
            }
            for (p, w) in parts.iter().zip(&weights) {
                prop_assert!(*p >= 0);
                if *w == 0 { prop_assert_eq!(*p, 0); }
            }
        }

        #[test]
        fn discounts_never_exceed_the_line(ml in 1i64..VOLUME_ML_MAX, price in 1i64..2_000, disc in 0i64..5_000) {
            let tier = TierBenefit { discount_fen_per_litre: disc, ..vip() };
            let s = price_sale(&[fuel(ml, price)], Some(&tier)).unwrap();
            prop_assert!(s.net_fen.0 >= 0);
            prop_assert!(s.discount_fen.0 <= s.gross_fen.0);
            prop_assert_eq!(s.gross_fen.0 - s.discount_fen.0, s.net_fen.0);
        }
    }
}
