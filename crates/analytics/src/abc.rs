//! ABC (Pareto) classification of customers by their cumulative contribution to sales.
//!
//! Customers are ranked by what they spent (largest first; equal amounts by customer id,
//! so the result does not depend on input order). Walking down the ranking, a customer is
//! in class A while the cumulative share *before* them is below the A threshold (55 % by
//! default), in B while it is below the B threshold (85 %), and in C after that: the
//! customer who crosses a threshold belongs to the class being filled, so the largest
//! customer is always A. A customer who spent nothing (or whose refunds exceed their
//! purchases) contributes 0 and is C. The ideal split of customers is about 20/40/40.

use crate::summary::{visits_until, Histories};
use crate::transactions::{Day, Transactions};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Class {
    A,
    B,
    C,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::A => "A",
            Class::B => "B",
            Class::C => "C",
        }
    }
}

/// Cumulative shares where A ends and B ends.
#[derive(Debug, Clone, Copy)]
pub struct AbcThresholds {
    pub a: f64,
    pub b: f64,
}

impl Default for AbcThresholds {
    fn default() -> Self {
        AbcThresholds { a: 0.55, b: 0.85 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AbcRow {
    pub customer: u32,
    /// 1 for the largest.
    pub rank: u32,
    pub contribution: f64,
    /// Of the total of positive contributions.
    pub share: f64,
    /// Including this customer.
    pub cumulative_share: f64,
    pub class: Class,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassSummary {
    pub class: Class,
    pub customers: usize,
    pub customer_share: f64,
    pub contribution: f64,
    pub contribution_share: f64,
}

/// A point of the Pareto curve: the top `customer_share` of customers bring
/// `contribution_share` of sales.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    pub customer_share: f64,
    pub contribution_share: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AbcReport {
    /// By rank.
    pub rows: Vec<AbcRow>,
    /// A, B, C.
    pub classes: Vec<ClassSummary>,
    /// 101 points, at 0 %, 1 %, …, 100 % of customers.
    pub curve: Vec<CurvePoint>,
}

/// Classifies every customer with a purchase on or before `as_of` by what they spent up
/// to that day.
pub fn abc(
    tx: &Transactions,
    histories: &Histories,
    as_of: Day,
    thresholds: AbcThresholds,
) -> AbcReport {
    let mut contributions = Vec::new();
    let mut visits = Vec::new();
    for c in 0..histories.customers() as u32 {
        visits_until(tx, histories.of(c), as_of, &mut visits);
        if !visits.is_empty() {
            let total: f64 = visits.iter().map(|v| v.amount).sum();
            contributions.push((c, total.max(0.0)));
        }
    }
    classify(&contributions, |c| tx.name(c), thresholds)
}

/// Classifies `(customer, contribution)` pairs; `name` breaks ties between equal amounts.
pub fn classify<'a>(
    contributions: &[(u32, f64)],
    name: impl Fn(u32) -> &'a str,
    thresholds: AbcThresholds,
) -> AbcReport {
    let mut ranked: Vec<(u32, f64)> = contributions
        .iter()
        .map(|&(c, v)| (c, v.max(0.0)))
        .collect();
    ranked.sort_by(|x, y| y.1.total_cmp(&x.1).then_with(|| name(x.0).cmp(name(y.0))));
    let total: f64 = ranked.iter().map(|r| r.1).sum();
    let n = ranked.len();
    let mut rows = Vec::with_capacity(n);
    let mut cumulative = 0.0;
    for (i, &(customer, contribution)) in ranked.iter().enumerate() {
        let share = if total > 0.0 {
            contribution / total
        } else {
            0.0
        };
        let class = if contribution <= 0.0 {
            Class::C
        } else if cumulative < thresholds.a {
            Class::A
        } else if cumulative < thresholds.b {
            Class::B
        } else {
            Class::C
        };
        cumulative += share;
        rows.push(AbcRow {
            customer,
            rank: i as u32 + 1,
            contribution,
            share,
            cumulative_share: cumulative.min(1.0),
            class,
        });
    }
    let classes = [Class::A, Class::B, Class::C]
        .into_iter()
        .map(|class| {
            let members = rows.iter().filter(|r| r.class == class);
            let customers = members.clone().count();
            let contribution: f64 = members.map(|r| r.contribution).sum();
            ClassSummary {
                class,
                customers,
                customer_share: if n > 0 {
                    customers as f64 / n as f64
                } else {
                    0.0
                },
                contribution,
                contribution_share: if total > 0.0 {
                    contribution / total
                } else {
                    0.0
                },
            }
        })
        .collect();
    let curve = (0..=100)
        .map(|k| {
            let top = (k * n).div_ceil(100);
            CurvePoint {
                customer_share: f64::from(k as u32) / 100.0,
                contribution_share: if top == 0 {
                    0.0
                } else {
                    rows[top - 1].cumulative_share
                },
            }
        })
        .collect();
    AbcReport {
        rows,
        classes,
        curve,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(c: u32) -> &'static str {
        ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"][c as usize]
    }

    #[test]
    fn classes_follow_the_cumulative_share() {
        // Shares 40, 20, 15, 10, 5, 4, 3, 2, 1, 0 %.
        let v = [40.0, 20.0, 15.0, 10.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0];
        let input: Vec<(u32, f64)> = v
            .iter()
            .enumerate()
            .rev()
            .map(|(i, &x)| (i as u32, x))
            .collect();
        let report = classify(&input, names, AbcThresholds::default());
        let classes: Vec<Class> = report.rows.iter().map(|r| r.class).collect();
        // Before: 0 → A, 40 → A (crosses 55), 60 → B, 75 → B, 85 → C …
        use Class::*;
        assert_eq!(classes, [A, A, B, B, C, C, C, C, C, C]);
        assert_eq!(report.rows[0].customer, 0);
        assert!((report.rows[1].cumulative_share - 0.6).abs() < 1e-12);
        let a = &report.classes[0];
        assert_eq!((a.customers, a.customer_share), (2, 0.2));
        assert!((a.contribution_share - 0.6).abs() < 1e-12);
        assert!((report.classes[1].contribution_share - 0.25).abs() < 1e-12);
        assert_eq!(report.classes[2].customers, 6);
        // The curve: 101 points from (0, 0) to (1, 1), rising.
        assert_eq!(report.curve.len(), 101);
        assert_eq!(report.curve[0].contribution_share, 0.0);
        assert!((report.curve[100].contribution_share - 1.0).abs() < 1e-12);
        assert!((report.curve[10].contribution_share - 0.4).abs() < 1e-12);
        assert!(
            (report.curve[15].contribution_share - 0.6).abs() < 1e-12,
            "15 % rounds up to 2 customers"
        );
        assert!(report
            .curve
            .windows(2)
            .all(|w| w[0].contribution_share <= w[1].contribution_share));
    }

    #[test]
    fn ties_are_broken_by_id_and_nothing_spent_is_c() {
        let input = [(3, 10.0), (1, 10.0), (2, -5.0), (0, 10.0)];
        let report = classify(&input, names, AbcThresholds::default());
        let order: Vec<u32> = report.rows.iter().map(|r| r.customer).collect();
        assert_eq!(order, [0, 1, 3, 2]);
        assert_eq!(report.rows[3].class, Class::C);
        assert_eq!(report.rows[3].contribution, 0.0);
        // A one-customer network: that customer is A.
        let one = classify(&[(0, 5.0)], names, AbcThresholds::default());
        assert_eq!(one.rows[0].class, Class::A);
        let empty = classify(&[], names, AbcThresholds::default());
        assert!(empty.rows.is_empty() && empty.curve.iter().all(|p| p.contribution_share == 0.0));
    }

    #[test]
    fn abc_sums_each_customers_purchases_up_to_the_day() {
        let mut tx = Transactions::new(false);
        tx.push("x", 1, 30.0, None);
        tx.push("y", 1, 50.0, None);
        tx.push("x", 2, 30.0, None);
        tx.push("y", 9, 500.0, None);
        let h = Histories::new(&tx);
        let report = abc(&tx, &h, 5, AbcThresholds::default());
        assert_eq!(report.rows[0].customer, 0);
        assert_eq!(report.rows[0].contribution, 60.0);
        assert_eq!(report.rows[1].contribution, 50.0);
    }
}
