//! Discount coupons (SPEC F5): what a coupon takes off a priced sale.
//!
//! Coupons apply after the tier discount, in the order the till names them, each on
//! the net amount the ones before it left. A coupon that takes nothing off this sale is
//! refused with its reason, so that the till never redeems a coupon for nothing. Every
//! fen of a coupon's discount is placed on a line, so that a refund of a line gives
//! back its share of the discount.

use crate::pricing::{split_proportionally, PricedSale, ProductKind};
use crate::Fen;
use serde::{Deserialize, Serialize};

/// What a coupon takes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CouponKind {
    /// `value` fen off the lines it applies to (all lines unless products are named).
    AmountOff,
    /// `value` fen per litre off fuel lines.
    PerLitreOff,
    /// `value` percent off non-fuel lines (shop goods).
    PercentOffNonFuel,
    /// One car wash free.
    FreeCarWash,
}

impl CouponKind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "amount_off" => Self::AmountOff,
            "per_litre_off" => Self::PerLitreOff,
            "percent_off_non_fuel" => Self::PercentOffNonFuel,
            "free_car_wash" => Self::FreeCarWash,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AmountOff => "amount_off",
            Self::PerLitreOff => "per_litre_off",
            Self::PercentOffNonFuel => "percent_off_non_fuel",
            Self::FreeCarWash => "free_car_wash",
        }
    }
}

/// A coupon the member presents, with its template's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponOffer {
    pub code: String,
    pub kind: CouponKind,
    pub value: i64,
    /// The lines it applies to must come to at least this (after earlier discounts).
    pub min_amount_fen: i64,
    /// Product codes it applies to; empty: every line its kind fits.
    pub products: Vec<String>,
}

/// What a coupon took off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub code: String,
    pub kind: CouponKind,
    pub amount_fen: i64,
}

/// Why a coupon does not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotApplicable {
    pub code: String,
    pub reason: String,
}

fn fits(kind: CouponKind, product_kind: ProductKind, product: &str) -> bool {
    match kind {
        CouponKind::AmountOff => true,
        CouponKind::PerLitreOff => product_kind == ProductKind::Fuel,
        CouponKind::PercentOffNonFuel => product_kind == ProductKind::NonFuel,
        CouponKind::FreeCarWash => product == "CAR_WASH",
    }
}

/// Applies the coupons to the sale in order; on a refusal the sale is left as it was.
pub fn apply(sale: &mut PricedSale, offers: &[CouponOffer]) -> Result<Vec<Applied>, NotApplicable> {
    let mut work = sale.clone();
    let mut out = Vec::with_capacity(offers.len());
    for o in offers {
        let refuse = |reason: &str| NotApplicable {
            code: o.code.clone(),
            reason: reason.to_string(),
        };
        let eligible: Vec<usize> = work
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                fits(o.kind, l.kind, &l.product_code)
                    && (o.products.is_empty() || o.products.contains(&l.product_code))
                    && l.net_fen.0 > 0
            })
            .map(|(i, _)| i)
            .collect();
        if eligible.is_empty() {
            return Err(refuse("the sale has nothing this coupon applies to"));
        }
        let base: i64 = eligible.iter().map(|i| work.lines[*i].net_fen.0).sum();
        if base < o.min_amount_fen {
            return Err(refuse(&format!(
                "the coupon needs at least {} CNY of what it applies to",
                Fen(o.min_amount_fen).yuan()
            )));
        }
        let value = o.value.max(0);
        let parts: Vec<i64> = match o.kind {
            CouponKind::AmountOff => {
                let weights: Vec<i64> = eligible.iter().map(|i| work.lines[*i].net_fen.0).collect();
                split_proportionally(value.min(base), &weights)
            }
            CouponKind::PerLitreOff => eligible
                .iter()
                .map(|i| {
                    let l = &work.lines[*i];
                    let off = i128::from(l.volume_ml) * i128::from(value) / 1000;
                    i64::try_from(off).unwrap_or(i64::MAX).min(l.net_fen.0)
                })
                .collect(),
            CouponKind::PercentOffNonFuel => eligible
                .iter()
                .map(|i| {
                    let l = &work.lines[*i];
                    let off = i128::from(l.net_fen.0) * i128::from(value.min(100)) / 100;
                    i64::try_from(off).unwrap_or(0)
                })
                .collect(),
            CouponKind::FreeCarWash => {
                let mut v = vec![0; eligible.len()];
                let l = &work.lines[eligible[0]];
                v[0] = l.unit_price_fen.min(l.net_fen.0);
                v
            }
        };
        let total: i64 = parts.iter().sum();
        if total <= 0 {
            return Err(refuse("the coupon takes nothing off this sale"));
        }
        for (i, part) in eligible.iter().zip(&parts) {
            let l = &mut work.lines[*i];
            l.discount_fen = Fen(l.discount_fen.0 + part);
            l.net_fen = Fen(l.net_fen.0 - part);
        }
        work.discount_fen = Fen(work.discount_fen.0 + total);
        work.net_fen = Fen(work.net_fen.0 - total);
        out.push(Applied {
            code: o.code.clone(),
            kind: o.kind,
            amount_fen: total,
        });
    }
    *sale = work;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{price_sale, LineInput};
    use proptest::prelude::*;

    fn line(
        code: &str,
        kind: ProductKind,
        volume_ml: Option<i64>,
        qty: Option<i64>,
        price: i64,
    ) -> LineInput {
        LineInput {
            product_code: code.into(),
            kind,
            category: None,
            volume_ml,
            quantity: qty,
            unit_price_fen: price,
            amount_fen: None,
        }
    }

    fn basket() -> PricedSale {
        price_sale(
            &[
                line("GASOLINE_92", ProductKind::Fuel, Some(40_000), None, 750),
                line("WATER", ProductKind::NonFuel, None, Some(2), 300),
                line("CAR_WASH", ProductKind::Service, None, Some(1), 2500),
            ],
            None,
        )
        .unwrap()
    }

    fn offer(kind: CouponKind, value: i64) -> CouponOffer {
        CouponOffer {
            code: "C1".into(),
            kind,
            value,
            min_amount_fen: 0,
            products: vec![],
        }
    }

    #[test]
    fn each_kind_takes_what_it_says() {
        let mut s = basket();
        let a = apply(&mut s, &[offer(CouponKind::PerLitreOff, 20)]).unwrap();
        assert_eq!(a[0].amount_fen, 800); // 40 L × 0.20
        assert_eq!(s.lines[0].discount_fen, Fen(800));
        let mut s = basket();
        let a = apply(&mut s, &[offer(CouponKind::PercentOffNonFuel, 50)]).unwrap();
        assert_eq!(a[0].amount_fen, 300);
        assert_eq!(s.lines[1].net_fen, Fen(300));
        let mut s = basket();
        let a = apply(&mut s, &[offer(CouponKind::FreeCarWash, 1)]).unwrap();
        assert_eq!(a[0].amount_fen, 2500);
        assert_eq!(s.lines[2].net_fen, Fen(0));
        let mut s = basket();
        let a = apply(&mut s, &[offer(CouponKind::AmountOff, 1000)]).unwrap();
        assert_eq!(a[0].amount_fen, 1000);
        assert_eq!(s.net_fen, Fen(30_000 + 600 + 2500 - 1000));
    }

    #[test]
    fn a_coupon_that_takes_nothing_is_refused_and_changes_nothing() {
        let fuel_only = price_sale(
            &[line("DIESEL_0", ProductKind::Fuel, Some(10_000), None, 700)],
            None,
        )
        .unwrap();
        let mut s = fuel_only.clone();
        let e = apply(
            &mut s,
            &[
                offer(CouponKind::AmountOff, 100),
                offer(CouponKind::FreeCarWash, 1),
            ],
        )
        .unwrap_err();
        assert!(e.reason.contains("nothing"), "{e:?}");
        assert_eq!(s, fuel_only);
        let mut min = offer(CouponKind::AmountOff, 100);
        min.min_amount_fen = 10_000;
        let e = apply(&mut s, &[min]).unwrap_err();
        assert!(e.reason.contains("at least 100"), "{e:?}");
        let mut other = offer(CouponKind::AmountOff, 100);
        other.products = vec!["GASOLINE_95".into()];
        assert!(apply(&mut s, &[other]).is_err());
    }

    proptest! {
        #[test]
        fn totals_stay_consistent_and_never_negative(
            litres in 0i64..80_000, water in 0i64..5, wash in 0i64..2,
            offers in proptest::collection::vec((0usize..4, 1i64..5_000), 0..4),
        ) {
            let mut lines = vec![line("GASOLINE_95", ProductKind::Fuel, Some(litres.max(1)), None, 800)];
            if water > 0 { lines.push(line("WATER", ProductKind::NonFuel, None, Some(water), 300)); }
            if wash > 0 { lines.push(line("CAR_WASH", ProductKind::Service, None, Some(wash), 2000)); }
            let before = price_sale(&lines, None).unwrap();
            let kinds = [CouponKind::AmountOff, CouponKind::PerLitreOff, CouponKind::PercentOffNonFuel, CouponKind::FreeCarWash];
            let offers: Vec<CouponOffer> = offers.iter().enumerate().map(|(i, (k, v))| CouponOffer {
                code: format!("C{i}"), kind: kinds[*k], value: *v, min_amount_fen: 0, products: vec![],
            }).collect();
            let mut s = before.clone();
            match apply(&mut s, &offers) {
                Ok(applied) => {
                    let off: i64 = applied.iter().map(|a| a.amount_fen).sum();
                    prop_assert!(applied.iter().all(|a| a.amount_fen > 0));
                    prop_assert_eq!(s.net_fen.0, before.net_fen.0 - off);
                    prop_assert_eq!(s.gross_fen, before.gross_fen);
                    prop_assert_eq!(s.lines.iter().map(|l| l.net_fen.0).sum::<i64>(), s.net_fen.0);
                    prop_assert_eq!(s.lines.iter().map(|l| l.discount_fen.0).sum::<i64>(), s.discount_fen.0);
                    prop_assert!(s.lines.iter().all(|l| l.net_fen.0 >= 0 && l.net_fen.0 + l.discount_fen.0 == l.gross_fen.0));
                }
                Err(_) => prop_assert_eq!(s, before),
            }
        }
    }
}
