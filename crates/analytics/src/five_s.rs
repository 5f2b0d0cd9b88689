//! The 5S view of a customer as of a day: tenure (how long a customer), volume (litres
//! bought), frequency (visits, and visits per 30 days), recency ("time depth": days since
//! the last visit) and contribution (spend, and its share of everyone's).

use crate::summary::{visits_until, Histories};
use crate::transactions::{Day, Transactions};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FiveSRow {
    pub customer: u32,
    /// Days from the first visit to the day looked from.
    pub tenure_days: u32,
    /// Litres (or the volume column's unit); None when the data has no volume.
    pub volume: Option<f64>,
    /// Purchases (two on one day are two).
    pub transactions: u32,
    /// Distinct visit days.
    pub visits: u32,
    /// Visits per 30 days over the tenure, counted as at least 30 days so that a
    /// customer of one day is not a 30-visits-a-month one.
    pub visits_per_30_days: f64,
    pub recency_days: u32,
    pub contribution: f64,
    /// Of the total spend of all customers in the view.
    pub contribution_share: f64,
}

/// The 5S of every customer with a purchase on or before `as_of`.
pub fn five_s(tx: &Transactions, histories: &Histories, as_of: Day) -> Vec<FiveSRow> {
    let mut rows = Vec::new();
    let mut visits = Vec::new();
    for c in 0..histories.customers() as u32 {
        visits_until(tx, histories.of(c), as_of, &mut visits);
        let (Some(first), Some(last)) = (visits.first(), visits.last()) else {
            continue;
        };
        let tenure_days = (as_of - first.day) as u32;
        rows.push(FiveSRow {
            customer: c,
            tenure_days,
            volume: tx
                .volume
                .as_ref()
                .map(|_| visits.iter().map(|v| v.volume).sum()),
            transactions: visits.iter().map(|v| v.transactions).sum(),
            visits: visits.len() as u32,
            visits_per_30_days: visits.len() as f64 * 30.0 / f64::from(tenure_days.max(30)),
            recency_days: (as_of - last.day) as u32,
            contribution: visits.iter().map(|v| v.amount).sum(),
            contribution_share: 0.0,
        });
    }
    let total: f64 = rows.iter().map(|r| r.contribution.max(0.0)).sum();
    if total > 0.0 {
        for r in &mut rows {
            r.contribution_share = r.contribution.max(0.0) / total;
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_five_measures() {
        let mut tx = Transactions::new(true);
        tx.push("a", 0, 300.0, Some(40.0));
        tx.push("a", 0, 20.0, Some(0.0));
        tx.push("a", 45, 280.0, Some(38.0));
        tx.push("a", 89, 300.0, Some(41.0));
        tx.push("b", 88, 100.0, Some(14.0));
        tx.push("a", 95, 999.0, Some(99.0)); // after as_of
        let h = Histories::new(&tx);
        let rows = five_s(&tx, &h, 90);
        let a = &rows[0];
        assert_eq!(
            (a.tenure_days, a.transactions, a.visits, a.recency_days),
            (90, 4, 3, 1)
        );
        assert_eq!(a.volume, Some(119.0));
        assert!((a.visits_per_30_days - 1.0).abs() < 1e-12);
        assert_eq!(a.contribution, 900.0);
        assert!((a.contribution_share - 0.9).abs() < 1e-12);
        let b = &rows[1];
        assert_eq!((b.tenure_days, b.visits), (2, 1));
        assert!(
            (b.visits_per_30_days - 1.0).abs() < 1e-12,
            "a short tenure counts as 30 days"
        );

        let mut no_volume = Transactions::new(false);
        no_volume.push("c", 1, 5.0, None);
        let h = Histories::new(&no_volume);
        assert_eq!(five_s(&no_volume, &h, 1)[0].volume, None);
    }
}
