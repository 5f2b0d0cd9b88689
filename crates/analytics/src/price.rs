//! Price sensitivity per customer: who fills up right before an announced price rise,
//! and who comes only when there is a discount.
//!
//! **Pre-rise fills.** Given the days on which price rises take effect, the days
//! `1..=window_days` before each (by default the two days before) are *pre-rise days*.
//! For a customer with fuel fills on `n` distinct days, `k` of them pre-rise days, over
//! a span from their first to their last fill of which a share `b` of the days are
//! pre-rise days, the **lift** is `(k / n) / b`: 1 for a driver who ignores prices,
//! above 1 for one who pulls fills forward. A customer is a **pre-rise filler** when
//! `n ≥ min_fills` (8), `k ≥ min_pre_rise_fills` (3) and lift ≥ `min_lift` (2).
//!
//! **Discounts.** The share of a customer's purchases (lines) with a discount above 0; a
//! customer is **discount-only** with at least `min_purchases` (3) purchases and a share
//! of at least `min_discount_share` (0.9).
//!
//! Rise days can be given (announcements are public) or found in the sales with
//! [`infer_rises`].

use crate::sales::SaleRow;
use crate::transactions::Day;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PriceParams {
    pub window_days: u32,
    pub min_fills: u32,
    pub min_pre_rise_fills: u32,
    pub min_lift: f64,
    pub min_purchases: u32,
    pub min_discount_share: f64,
}

impl Default for PriceParams {
    fn default() -> Self {
        PriceParams {
            window_days: 2,
            min_fills: 8,
            min_pre_rise_fills: 3,
            min_lift: 2.0,
            min_purchases: 3,
            min_discount_share: 0.9,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceRow {
    pub customer: String,
    /// Distinct days with a fuel fill.
    pub fill_days: u32,
    pub pre_rise_fill_days: u32,
    /// The share of the days of the customer's span that are pre-rise days.
    pub base_rate: f64,
    /// None when the span has no pre-rise day.
    pub lift: Option<f64>,
    pub purchases: u32,
    pub discounted_purchases: u32,
    pub discount_share: f64,
    pub pre_rise_filler: bool,
    pub discount_only: bool,
}

/// The pre-rise days of the rises.
pub fn pre_rise_days(rises: &[Day], window_days: u32) -> BTreeSet<Day> {
    rises
        .iter()
        .flat_map(|&r| (1..=window_days as Day).map(move |k| r - k))
        .collect()
}

/// Every member's price sensitivity, ordered by customer id.
pub fn price_sensitivity(rows: &[SaleRow], rises: &[Day], params: &PriceParams) -> Vec<PriceRow> {
    let pre = pre_rise_days(rises, params.window_days);
    #[derive(Default)]
    struct Acc {
        fill_days: BTreeSet<Day>,
        purchases: u32,
        discounted: u32,
    }
    let mut by: BTreeMap<&str, Acc> = BTreeMap::new();
    for r in rows {
        let Some(c) = r.customer.as_deref() else {
            continue;
        };
        let a = by.entry(c).or_default();
        a.purchases += 1;
        if r.discount_fen > 0 {
            a.discounted += 1;
        }
        if r.is_fuel() {
            a.fill_days.insert(r.day());
        }
    }
    by.into_iter()
        .map(|(customer, a)| {
            let n = a.fill_days.len() as u32;
            let k = a.fill_days.iter().filter(|d| pre.contains(d)).count() as u32;
            let base_rate = match (a.fill_days.first(), a.fill_days.last()) {
                (Some(&first), Some(&last)) => {
                    pre.range(first..=last).count() as f64 / f64::from(last - first + 1)
                }
                _ => 0.0,
            };
            let lift = (n > 0 && base_rate > 0.0).then(|| f64::from(k) / f64::from(n) / base_rate);
            let discount_share = if a.purchases == 0 {
                0.0
            } else {
                f64::from(a.discounted) / f64::from(a.purchases)
            };
            PriceRow {
                customer: customer.to_owned(),
                fill_days: n,
                pre_rise_fill_days: k,
                base_rate,
                lift,
                purchases: a.purchases,
                discounted_purchases: a.discounted,
                discount_share,
                pre_rise_filler: n >= params.min_fills
                    && k >= params.min_pre_rise_fills
                    && lift.is_some_and(|l| l >= params.min_lift),
                discount_only: a.purchases >= params.min_purchases
                    && discount_share >= params.min_discount_share,
            }
        })
        .collect()
}

/// How the whole network's fuel volume responds to each rise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiseResponse {
    pub rise: Day,
    /// Mean litres a day in the pre-rise window.
    pub pre_rise_litres_per_day: f64,
    /// Mean litres a day in the 28 days before the window that are not pre-rise days
    /// of any rise.
    pub baseline_litres_per_day: f64,
    /// The first over the second; None without baseline days.
    pub lift: Option<f64>,
}

/// The network's fuel volume before each rise against the weeks before it.
pub fn rise_response(rows: &[SaleRow], rises: &[Day], window_days: u32) -> Vec<RiseResponse> {
    let pre = pre_rise_days(rises, window_days);
    let mut litres: HashMap<Day, f64> = HashMap::new();
    for r in rows.iter().filter(|r| r.is_fuel()) {
        *litres.entry(r.day()).or_default() += r.volume_ml as f64 / 1000.0;
    }
    let Some((&first, &last)) = litres.keys().min().zip(litres.keys().max()) else {
        return Vec::new();
    };
    let on = |d: Day| litres.get(&d).copied().unwrap_or(0.0);
    let w = window_days as Day;
    rises
        .iter()
        .filter(|&&r| r - w >= first && r - 1 <= last)
        .map(|&rise| {
            let window: Vec<f64> = (rise - w..rise).map(on).collect();
            let base: Vec<f64> = (rise - w - 28..rise - w)
                .filter(|d| *d >= first && !pre.contains(d))
                .map(on)
                .collect();
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
            let (p, b) = (mean(&window), mean(&base));
            RiseResponse {
                rise,
                pre_rise_litres_per_day: p,
                baseline_litres_per_day: b,
                lift: (!base.is_empty() && b > 0.0).then(|| p / b),
            }
        })
        .collect()
}

/// The days on which the price of `product` per litre went up: a day whose most common
/// price (amount over volume, to the fen) at some station is higher than that
/// station's on the day before. Prices move at midnight and nationally, so one station
/// selling the product every day is enough to see each move.
pub fn infer_rises(rows: &[SaleRow], product: &str) -> Vec<Day> {
    // (station, day) → price → lines at that price.
    let mut prices: BTreeMap<(&str, Day), HashMap<i64, u32>> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.product == product && r.volume_ml > 0 && r.discount_fen == 0)
    {
        let per_litre = ((r.net_fen as f64) * 1000.0 / r.volume_ml as f64).round() as i64;
        *prices
            .entry((r.station.as_str(), r.day()))
            .or_default()
            .entry(per_litre)
            .or_default() += 1;
    }
    let modal: BTreeMap<(&str, Day), i64> = prices
        .into_iter()
        .map(|(k, counts)| {
            let (&p, _) = counts
                .iter()
                .max_by_key(|(p, n)| (**n, std::cmp::Reverse(**p)))
                .expect("at least one price");
            (k, p)
        })
        .collect();
    let mut rises = BTreeSet::new();
    for (&(station, day), &price) in &modal {
        if modal
            .get(&(station, day - 1))
            .is_some_and(|&before| price > before)
        {
            rises.insert(day);
        }
    }
    rises.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sales::parse_local_time;
    use crate::transactions::{date_of, day_of};

    fn fill(customer: &str, day: Day, fen_per_litre: i64, discount: i64) -> SaleRow {
        SaleRow {
            time: date_of(day).and_hms_opt(9, 0, 0).unwrap(),
            station: "S1".into(),
            region: None,
            product: "G92".into(),
            kind: "fuel".into(),
            payment: "card".into(),
            customer: Some(customer.into()),
            net_fen: 40 * fen_per_litre - discount,
            volume_ml: 40_000,
            discount_fen: discount,
        }
    }

    #[test]
    fn a_driver_who_fills_before_rises_is_flagged_and_a_regular_is_not() {
        let start = day_of(parse_local_time("2024-01-01").unwrap().date());
        // A rise every 14 days from day 14: pre-rise days 12, 13, 26, 27, … (1 in 7).
        let rises: Vec<Day> = (1..=12).map(|k| start + 14 * k).collect();
        let mut rows = Vec::new();
        // A regular every 7 days from day 3: 3, 10, 17, 24, … never pre-rise (12, 13 mod 14).
        for k in 0..24 {
            rows.push(fill("regular", start + 3 + 7 * k, 700, 0));
        }
        // The watcher fills on the day before each rise, and once in between.
        for k in 1..=12 {
            rows.push(fill("watcher", start + 14 * k - 1, 700, 0));
            rows.push(fill("watcher", start + 14 * k - 7, 700, 0));
        }
        // A bargain hunter: every purchase discounted.
        for k in 0..5 {
            rows.push(fill("bargain", start + 30 * k + 5, 700, 200));
        }
        let out = price_sensitivity(&rows, &rises, &PriceParams::default());
        let by: HashMap<&str, &PriceRow> = out.iter().map(|r| (r.customer.as_str(), r)).collect();
        let watcher = by["watcher"];
        assert_eq!((watcher.fill_days, watcher.pre_rise_fill_days), (24, 12));
        assert!(watcher.lift.unwrap() > 3.0, "{:?}", watcher.lift);
        assert!(watcher.pre_rise_filler && !watcher.discount_only);
        let regular = by["regular"];
        assert_eq!(regular.pre_rise_fill_days, 0);
        assert_eq!(regular.lift, Some(0.0));
        assert!(!regular.pre_rise_filler && !regular.discount_only);
        let bargain = by["bargain"];
        assert_eq!(bargain.discount_share, 1.0);
        assert!(bargain.discount_only && !bargain.pre_rise_filler);
    }

    #[test]
    fn base_rate_is_the_share_of_pre_rise_days_in_the_span() {
        let rows = vec![fill("a", 0, 700, 0), fill("a", 9, 700, 0)];
        // Rise on day 5: days 3 and 4 are pre-rise, 2 of the 10 days 0..=9.
        let out = price_sensitivity(&rows, &[5], &PriceParams::default());
        assert_eq!(out[0].base_rate, 0.2);
        assert_eq!(out[0].lift, Some(0.0));
        let out = price_sensitivity(&rows, &[50], &PriceParams::default());
        assert_eq!(out[0].lift, None);
    }

    #[test]
    fn rises_are_found_from_prices_per_litre() {
        let mut rows = Vec::new();
        let price = |d: Day| match d {
            0..=9 => 700,
            10..=19 => 720,
            20..=29 => 690,
            _ => 705,
        };
        for d in 0..40 {
            rows.push(fill("a", d, price(d), 0));
            // A discounted line at another price does not count.
            rows.push(fill("b", d, price(d) + 50, 100));
        }
        assert_eq!(infer_rises(&rows, "G92"), vec![10, 30]);
        assert!(infer_rises(&rows, "DIESEL").is_empty());
    }

    #[test]
    fn the_network_fills_more_before_a_rise() {
        let mut rows = Vec::new();
        for d in 0..60 {
            let n = if d == 38 || d == 39 { 3 } else { 1 };
            for _ in 0..n {
                rows.push(fill("a", d, 700, 0));
            }
        }
        let r = rise_response(&rows, &[40], 2);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].pre_rise_litres_per_day, 120.0);
        assert_eq!(r[0].baseline_litres_per_day, 40.0);
        assert_eq!(r[0].lift, Some(3.0));
    }
}
