//! Points lots and their expiry (SPEC F5): every earning is a lot; spending takes from
//! the oldest lots first (FIFO); an expiry policy says when what is left of a lot lapses.
//!
//! Pure: dates are local calendar dates of the network; the caller stores the lots and
//! posts what lapses to the ledger (`points_expire`). Running the expiry twice for the
//! same day finds nothing the second time, because a lot's remainder is what the first
//! run set to zero.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// When points lapse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ExpiryPolicy {
    /// Points never lapse.
    Never,
    /// Points earned in a year lapse at the end of the following year (they are gone
    /// on 1 January of the year after that).
    EndOfYearAfter,
    /// On each clearing day (month, day) — e.g. 30 June and 31 December — points
    /// earned more than `older_than_years` before it lapse at the end of that day.
    FixedClearing {
        days: Vec<(u32, u32)>,
        older_than_years: u32,
    },
}

/// One earning, and what is left of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lot {
    pub lot_id: String,
    pub earned_on: NaiveDate,
    pub points: i64,
    pub remaining: i64,
}

/// What to take from a lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Take {
    pub lot_id: String,
    pub points: i64,
}

/// Takes `amount` from the oldest lots first. `None` when the lots hold less (nothing is
/// taken then).
pub fn take_fifo(lots: &[Lot], amount: i64) -> Option<Vec<Take>> {
    if amount < 0 {
        return None;
    }
    let mut order: Vec<&Lot> = lots.iter().filter(|l| l.remaining > 0).collect();
    order.sort_by(|a, b| a.earned_on.cmp(&b.earned_on).then(a.lot_id.cmp(&b.lot_id)));
    let mut left = amount;
    let mut out = Vec::new();
    for l in order {
        if left == 0 {
            break;
        }
        let t = left.min(l.remaining);
        out.push(Take {
            lot_id: l.lot_id.clone(),
            points: t,
        });
        left -= t;
    }
    (left == 0).then_some(out)
}

/// The last day a lot earned on `earned_on` is good for, under the policy; `None` when
/// it never lapses.
pub fn last_valid_day(policy: &ExpiryPolicy, earned_on: NaiveDate) -> Option<NaiveDate> {
    match policy {
        ExpiryPolicy::Never => None,
        ExpiryPolicy::EndOfYearAfter => NaiveDate::from_ymd_opt(earned_on.year() + 1, 12, 31),
        ExpiryPolicy::FixedClearing {
            days,
            older_than_years,
        } => {
            // The first clearing day on which the lot is older than the limit. A lot of
            // 29 February comes of age on 1 March in a common year.
            let year = earned_on.year() + *older_than_years as i32;
            let limit = earned_on
                .with_year(year)
                .or_else(|| NaiveDate::from_ymd_opt(year, 3, 1))?;
            let mut best: Option<NaiveDate> = None;
            for y in year..=year + 1 {
                for (m, d) in days {
                    let Some(day) = NaiveDate::from_ymd_opt(y, *m, *d) else {
                        continue;
                    };
                    if day > limit && best.is_none_or(|b| day < b) {
                        best = Some(day);
                    }
                }
            }
            best
        }
    }
}

/// What lapses at the end of `today`, or lapsed before and was not yet taken: the
/// remainder of every lot whose last valid day is `today` or earlier.
pub fn lapsing(policy: &ExpiryPolicy, lots: &[Lot], today: NaiveDate) -> Vec<Take> {
    lots.iter()
        .filter(|l| l.remaining > 0)
        .filter(|l| last_valid_day(policy, l.earned_on).is_some_and(|d| d <= today))
        .map(|l| Take {
            lot_id: l.lot_id.clone(),
            points: l.remaining,
        })
        .collect()
}

/// Applies takes to lots (what a spend or an expiry did).
pub fn apply(lots: &mut [Lot], takes: &[Take]) {
    for t in takes {
        if let Some(l) = lots.iter_mut().find(|l| l.lot_id == t.lot_id) {
            l.remaining -= t.points.min(l.remaining);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).unwrap()
    }

    fn lot(id: &str, on: NaiveDate, points: i64) -> Lot {
        Lot {
            lot_id: id.into(),
            earned_on: on,
            points,
            remaining: points,
        }
    }

    #[test]
    fn spending_takes_the_oldest_first() {
        let lots = vec![lot("b", d(2025, 5, 1), 100), lot("a", d(2024, 3, 1), 50)];
        let takes = take_fifo(&lots, 120).unwrap();
        assert_eq!(
            takes,
            vec![
                Take {
                    lot_id: "a".into(),
                    points: 50
                },
                Take {
                    lot_id: "b".into(),
                    points: 70
                }
            ]
        );
        assert_eq!(take_fifo(&lots, 151), None, "more than the lots hold");
    }

    #[test]
    fn end_of_the_year_after() {
        let p = ExpiryPolicy::EndOfYearAfter;
        assert_eq!(last_valid_day(&p, d(2025, 1, 3)), Some(d(2026, 12, 31)));
        assert_eq!(last_valid_day(&p, d(2025, 12, 31)), Some(d(2026, 12, 31)));
        let lots = vec![lot("a", d(2024, 6, 1), 10), lot("b", d(2025, 6, 1), 20)];
        assert_eq!(
            lapsing(&p, &lots, d(2025, 12, 31)),
            vec![Take {
                lot_id: "a".into(),
                points: 10
            }]
        );
        assert!(lapsing(&p, &lots, d(2025, 12, 30)).is_empty());
        assert!(lapsing(&ExpiryPolicy::Never, &lots, d(2099, 1, 1)).is_empty());
    }

    #[test]
    fn fixed_clearing_days_for_points_over_two_years_old() {
        // CNPC-style: every 30 June and 31 December, points older than two years.
        let p = ExpiryPolicy::FixedClearing {
            days: vec![(6, 30), (12, 31)],
            older_than_years: 2,
        };
        assert_eq!(last_valid_day(&p, d(2024, 3, 15)), Some(d(2026, 6, 30)));
        assert_eq!(last_valid_day(&p, d(2024, 8, 1)), Some(d(2026, 12, 31)));
        assert_eq!(last_valid_day(&p, d(2024, 6, 30)), Some(d(2026, 12, 31)));
        // A leap day comes of age on 1 March.
        assert_eq!(last_valid_day(&p, d(2024, 2, 29)), Some(d(2026, 6, 30)));
    }

    #[test]
    fn expiring_twice_finds_nothing_the_second_time() {
        let p = ExpiryPolicy::EndOfYearAfter;
        let mut lots = vec![
            lot("a", d(2023, 1, 1), 40),
            lot("b", d(2024, 1, 1), 60),
            lot("c", d(2026, 1, 1), 5),
        ];
        let spent = take_fifo(&lots, 30).unwrap();
        apply(&mut lots, &spent);
        let first = lapsing(&p, &lots, d(2025, 12, 31));
        assert_eq!(first.iter().map(|t| t.points).sum::<i64>(), 10 + 60);
        apply(&mut lots, &first);
        assert!(lapsing(&p, &lots, d(2025, 12, 31)).is_empty());
        assert_eq!(lots.iter().map(|l| l.remaining).sum::<i64>(), 5);
    }

    proptest! {
        #[test]
        fn fifo_takes_exactly_the_amount_oldest_first(
            sizes in prop::collection::vec((0i64..500, 0u32..1_000), 1..12),
            amount in 0i64..3_000,
        ) {
            let lots: Vec<Lot> = sizes
                .iter()
                .enumerate()
                .map(|(i, (p, day))| lot(&format!("l{i:02}"), d(2024, 1, 1) + chrono::Duration::days(i64::from(*day)), *p))
                .collect();
            let held: i64 = lots.iter().map(|l| l.remaining).sum();
            match take_fifo(&lots, amount) {
                None => prop_assert!(amount > held),
                Some(takes) => {
                    prop_assert_eq!(takes.iter().map(|t| t.points).sum::<i64>(), amount);
                    // Every lot but the last taken is emptied, and none newer is touched
                    // before an older one is.
                    let mut after = lots.clone();
                    apply(&mut after, &takes);
                    prop_assert!(after.iter().all(|l| l.remaining >= 0));
                    if let Some(last) = takes.last() {
                        let last_day = lots.iter().find(|l| l.lot_id == last.lot_id).unwrap().earned_on;
                        for l in &after {
                            if l.earned_on < last_day {
                                prop_assert_eq!(l.remaining, 0);
                            }
                        }
                    }
                }
            }
        }

        #[test]
        fn expiry_is_idempotent_and_never_touches_valid_lots(
            sizes in prop::collection::vec((1i64..500, 0u32..2_000), 1..12),
            today_offset in 0u32..2_500,
        ) {
            let p = ExpiryPolicy::FixedClearing { days: vec![(6, 30), (12, 31)], older_than_years: 2 };
            let mut lots: Vec<Lot> = sizes
                .iter()
                .enumerate()
                .map(|(i, (pts, day))| lot(&format!("l{i}"), d(2022, 1, 1) + chrono::Duration::days(i64::from(*day)), *pts))
                .collect();
            let today = d(2022, 1, 1) + chrono::Duration::days(i64::from(today_offset));
            let first = lapsing(&p, &lots, today);
            for t in &first {
                let l = lots.iter().find(|l| l.lot_id == t.lot_id).unwrap();
                prop_assert!(last_valid_day(&p, l.earned_on).unwrap() <= today);
                // A lapsing lot is more than two years old on its clearing day.
                prop_assert!(today > l.earned_on + chrono::Duration::days(365 * 2));
            }
            apply(&mut lots, &first);
            prop_assert!(lapsing(&p, &lots, today).is_empty());
        }
    }
}
