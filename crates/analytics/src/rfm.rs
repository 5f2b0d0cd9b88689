//! RFM: recency, frequency and monetary value scored in quintiles 1–5 (5 best), and a
//! named segment from the three scores.
//!
//! As of a day (transactions after it are not seen): recency is the days since the last
//! purchase, frequency the number of purchases (two fills on one day are two), monetary
//! the total spent. Scores are by rank among the customers scored: a customer's score is
//! 1 + ⌊5 · k / n⌋ where k is the number of customers strictly worse on that measure, so
//! equal values always get equal scores whatever the input order, and a large tie gets
//! the score of where it starts (if 60 % bought once, they all score 1 on frequency).
//!
//! Segments, first rule that matches, with FM = F + M (2–10):
//!
//! | segment | rule |
//! | --- | --- |
//! | champions | R ≥ 4 and FM ≥ 8 |
//! | loyal | R ≥ 3 and F ≥ 4 |
//! | new | R ≥ 4 and F = 1 |
//! | potential loyalists | R ≥ 4 |
//! | need attention | R = 3 |
//! | can't lose | R = 1 and FM ≥ 8 |
//! | at risk | R ≤ 2 and FM ≥ 6 |
//! | hibernating | R = 2 |
//! | lost | R = 1 |
//!
//! Every combination of scores falls in exactly one segment.

use crate::summary::{visits_until, Histories};
use crate::transactions::{Day, Transactions};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    Champions,
    Loyal,
    New,
    PotentialLoyalists,
    NeedAttention,
    CantLose,
    AtRisk,
    Hibernating,
    Lost,
}

impl Segment {
    pub const ALL: [Segment; 9] = [
        Segment::Champions,
        Segment::Loyal,
        Segment::New,
        Segment::PotentialLoyalists,
        Segment::NeedAttention,
        Segment::CantLose,
        Segment::AtRisk,
        Segment::Hibernating,
        Segment::Lost,
    ];

    /// The segment of a score triple (each 1–5), by the table in the module docs.
    pub fn of(r: u8, f: u8, m: u8) -> Segment {
        let fm = f + m;
        match () {
            _ if r >= 4 && fm >= 8 => Segment::Champions,
            _ if r >= 3 && f >= 4 => Segment::Loyal,
            _ if r >= 4 && f == 1 => Segment::New,
            _ if r >= 4 => Segment::PotentialLoyalists,
            _ if r == 3 => Segment::NeedAttention,
            _ if r <= 1 && fm >= 8 => Segment::CantLose,
            _ if fm >= 6 => Segment::AtRisk,
            _ if r == 2 => Segment::Hibernating,
            _ => Segment::Lost,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Segment::Champions => "champions",
            Segment::Loyal => "loyal",
            Segment::New => "new",
            Segment::PotentialLoyalists => "potential_loyalists",
            Segment::NeedAttention => "need_attention",
            Segment::CantLose => "cant_lose",
            Segment::AtRisk => "at_risk",
            Segment::Hibernating => "hibernating",
            Segment::Lost => "lost",
        }
    }
}

/// One customer's RFM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RfmRow {
    pub customer: u32,
    pub recency_days: u32,
    pub frequency: u32,
    pub monetary: f64,
    pub r: u8,
    pub f: u8,
    pub m: u8,
    pub segment: Segment,
}

/// Quintile scores 1–5 by rank: 1 + ⌊5 · (values strictly worse) / n⌋. Higher values
/// are better unless `lower_is_better`.
pub fn quintile_scores(values: &[f64], lower_is_better: bool) -> Vec<u8> {
    let n = values.len();
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    values
        .iter()
        .map(|v| {
            let worse = if lower_is_better {
                n - sorted.partition_point(|s| s.total_cmp(v).is_le())
            } else {
                sorted.partition_point(|s| s.total_cmp(v).is_lt())
            };
            (1 + 5 * worse / n).min(5) as u8
        })
        .collect()
}

/// RFM of every customer with a purchase on or before `as_of`, in customer order.
pub fn rfm(tx: &Transactions, histories: &Histories, as_of: Day) -> Vec<RfmRow> {
    let mut rows = Vec::new();
    let mut visits = Vec::new();
    for c in 0..histories.customers() as u32 {
        visits_until(tx, histories.of(c), as_of, &mut visits);
        let Some(last) = visits.last() else { continue };
        rows.push(RfmRow {
            customer: c,
            recency_days: (as_of - last.day) as u32,
            frequency: visits.iter().map(|v| v.transactions).sum(),
            monetary: visits.iter().map(|v| v.amount).sum(),
            r: 0,
            f: 0,
            m: 0,
            segment: Segment::Lost,
        });
    }
    let recency: Vec<f64> = rows.iter().map(|r| f64::from(r.recency_days)).collect();
    let frequency: Vec<f64> = rows.iter().map(|r| f64::from(r.frequency)).collect();
    let monetary: Vec<f64> = rows.iter().map(|r| r.monetary).collect();
    let (rs, fs, ms) = (
        quintile_scores(&recency, true),
        quintile_scores(&frequency, false),
        quintile_scores(&monetary, false),
    );
    for (i, row) in rows.iter_mut().enumerate() {
        row.r = rs[i];
        row.f = fs[i];
        row.m = ms[i];
        row.segment = Segment::of(rs[i], fs[i], ms[i]);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quintiles_split_evenly_and_ties_score_alike() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quintile_scores(&v, false), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        assert_eq!(quintile_scores(&v, true), [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]);
        // Order of input does not matter; equal values score alike.
        let v = [3.0, 1.0, 3.0, 2.0, 3.0, 1.0, 9.0, 3.0, 3.0, 3.0];
        let s = quintile_scores(&v, false);
        // Three values are below 3.0, so every 3.0 scores 1 + ⌊5·3/10⌋ = 2.
        assert_eq!(s, [2, 1, 2, 2, 2, 1, 5, 2, 2, 2]);
        let s = quintile_scores(&v, true);
        // Worse (larger) than 3.0: only the 9.0 → 1 + 5·1/10 = 1.
        assert_eq!(s[0], 1);
        assert_eq!(s[6], 1);
        assert_eq!(s[1], 5);
        assert_eq!(quintile_scores(&[4.0; 7], false), [1; 7]);
        assert!(quintile_scores(&[], false).is_empty());
    }

    #[test]
    fn every_score_triple_has_one_segment_and_the_table_holds() {
        let mut seen = std::collections::HashSet::new();
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    seen.insert(Segment::of(r, f, m));
                }
            }
        }
        assert_eq!(seen.len(), Segment::ALL.len(), "every segment is reachable");
        assert_eq!(Segment::of(5, 5, 5), Segment::Champions);
        assert_eq!(Segment::of(3, 5, 1), Segment::Loyal);
        assert_eq!(Segment::of(5, 1, 5), Segment::New);
        assert_eq!(Segment::of(4, 3, 2), Segment::PotentialLoyalists);
        assert_eq!(Segment::of(3, 2, 2), Segment::NeedAttention);
        assert_eq!(Segment::of(1, 5, 4), Segment::CantLose);
        assert_eq!(Segment::of(2, 5, 5), Segment::AtRisk);
        assert_eq!(Segment::of(1, 3, 3), Segment::AtRisk);
        assert_eq!(Segment::of(2, 2, 1), Segment::Hibernating);
        assert_eq!(Segment::of(1, 1, 2), Segment::Lost);
    }

    #[test]
    fn rfm_reads_the_history_as_of_a_day() {
        let mut tx = Transactions::new(false);
        // Ten customers: customer k bought k times, the last on day 100 − 10k, 10 each.
        for k in 1..=10u32 {
            for j in 0..k {
                tx.push(&format!("c{k}"), 100 - 10 * k as i32 - j as i32, 10.0, None);
            }
        }
        tx.push("c1", 200, 1_000.0, None); // after as_of: unseen
        tx.add_customer("never");
        let h = Histories::new(&tx);
        let rows = rfm(&tx, &h, 100);
        assert_eq!(rows.len(), 10);
        let c10 = &rows[9];
        assert_eq!(
            (c10.recency_days, c10.frequency, c10.monetary),
            (100, 10, 100.0)
        );
        assert_eq!((c10.r, c10.f, c10.m), (1, 5, 5));
        assert_eq!(c10.segment, Segment::CantLose);
        let c1 = &rows[0];
        assert_eq!((c1.recency_days, c1.frequency, c1.monetary), (10, 1, 10.0));
        assert_eq!((c1.r, c1.f, c1.m), (5, 1, 1));
        assert_eq!(c1.segment, Segment::New);
    }
}
