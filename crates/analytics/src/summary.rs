//! Each customer's purchases in day order, and the per-customer summary of Fader,
//! Hardie & Lee (2005) that BG/NBD and Gamma-Gamma are fitted on.

use crate::transactions::{Day, Transactions};
use serde::{Deserialize, Serialize};

/// Each customer's purchases, as indices into the transaction columns sorted by day
/// (purchases of one day in the order they came). Built once in linear time (a counting
/// sort by customer, then a sort of each customer's few purchases).
#[derive(Debug, Clone)]
pub struct Histories {
    offsets: Vec<usize>,
    order: Vec<u32>,
}

impl Histories {
    pub fn new(tx: &Transactions) -> Self {
        let customers = tx.customers();
        let mut offsets = vec![0usize; customers + 1];
        for &c in &tx.customer {
            offsets[c as usize + 1] += 1;
        }
        for i in 0..customers {
            offsets[i + 1] += offsets[i];
        }
        let mut next = offsets.clone();
        let mut order = vec![0u32; tx.len()];
        for (i, &c) in tx.customer.iter().enumerate() {
            order[next[c as usize]] = i as u32;
            next[c as usize] += 1;
        }
        for c in 0..customers {
            let slice = &mut order[offsets[c]..offsets[c + 1]];
            if !slice
                .windows(2)
                .all(|w| tx.day[w[0] as usize] <= tx.day[w[1] as usize])
            {
                slice.sort_by_key(|&i| tx.day[i as usize]);
            }
        }
        Histories { offsets, order }
    }

    /// The customer's purchases (indices into the transaction columns), by day.
    pub fn of(&self, customer: u32) -> &[u32] {
        &self.order[self.offsets[customer as usize]..self.offsets[customer as usize + 1]]
    }

    pub fn customers(&self) -> usize {
        self.offsets.len() - 1
    }
}

/// Calls `f(day, total amount of the day)` for each distinct purchase day of a history,
/// in order.
pub fn for_each_day(tx: &Transactions, history: &[u32], mut f: impl FnMut(Day, f64)) {
    let mut i = 0;
    while i < history.len() {
        let day = tx.day[history[i] as usize];
        let mut total = 0.0;
        while i < history.len() && tx.day[history[i] as usize] == day {
            total += tx.amount[history[i] as usize];
            i += 1;
        }
        f(day, total);
    }
}

/// One day's purchases of a customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Visit {
    pub day: Day,
    /// Purchases that day.
    pub transactions: u32,
    pub amount: f64,
    /// 0 when the transactions have no volume.
    pub volume: f64,
}

/// The customer's visits (distinct purchase days) up to and including `as_of`, in order,
/// written into `out` (cleared first) so that one buffer serves every customer.
pub fn visits_until(tx: &Transactions, history: &[u32], as_of: Day, out: &mut Vec<Visit>) {
    out.clear();
    for &i in history {
        let i = i as usize;
        let day = tx.day[i];
        if day > as_of {
            break;
        }
        let volume = tx.volume.as_ref().map_or(0.0, |v| v[i]);
        match out.last_mut() {
            Some(last) if last.day == day => {
                last.transactions += 1;
                last.amount += tx.amount[i];
                last.volume += volume;
            }
            _ => out.push(Visit {
                day,
                transactions: 1,
                amount: tx.amount[i],
                volume,
            }),
        }
    }
}

/// The day the descriptive methods look from when none is given: the last purchase day
/// in the data.
pub fn default_as_of(tx: &Transactions) -> Option<Day> {
    tx.day_range().map(|(_, last)| last)
}

/// The unit of time of the models: the day or the week of seven days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
}

impl Period {
    pub fn days(self) -> f64 {
        match self {
            Period::Day => 1.0,
            Period::Week => 7.0,
        }
    }

    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "day" | "days" | "D" => Some(Period::Day),
            "week" | "weeks" | "W" => Some(Period::Week),
            _ => None,
        }
    }
}

/// Per customer, over the calibration period (Fader, Hardie & Lee 2005): purchases on
/// one day count once with their amounts added up, and the first purchase is not a
/// repeat. Times are in periods (days / 7 for weeks). Customers whose first purchase
/// falls after the calibration end, and customers without purchases, are left out.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The customer number (as in the transactions).
    pub customer: Vec<u32>,
    /// x: repeat purchase days in the calibration period.
    pub frequency: Vec<u32>,
    /// t_x: from the first to the last purchase in the calibration period.
    pub recency: Vec<f64>,
    /// T: from the first purchase to the calibration end.
    pub t: Vec<f64>,
    /// The mean value of the repeat purchase days (0 when there is none).
    pub monetary: Vec<f64>,
}

impl Summary {
    pub fn len(&self) -> usize {
        self.customer.len()
    }

    pub fn is_empty(&self) -> bool {
        self.customer.is_empty()
    }
}

/// The calibration summary of every customer who bought on or before `calibration_end`
/// (the end day belongs to the calibration period).
pub fn summarise(
    tx: &Transactions,
    histories: &Histories,
    calibration_end: Day,
    period: Period,
) -> Summary {
    let per = period.days();
    let mut s = Summary::default();
    for c in 0..histories.customers() as u32 {
        let history = histories.of(c);
        let mut first = None;
        let mut last = 0;
        let mut repeats = 0u32;
        let mut repeat_value = 0.0;
        for_each_day(tx, history, |day, total| {
            if day > calibration_end {
                return;
            }
            match first {
                None => first = Some(day),
                Some(_) => {
                    repeats += 1;
                    repeat_value += total;
                }
            }
            last = day;
        });
        let Some(first) = first else { continue };
        s.customer.push(c);
        s.frequency.push(repeats);
        s.recency.push(f64::from(last - first) / per);
        s.t.push(f64::from(calibration_end - first) / per);
        s.monetary.push(if repeats > 0 {
            repeat_value / f64::from(repeats)
        } else {
            0.0
        });
    }
    s
}

/// The calibration summary, in one pass over the transactions when each customer's
/// purchases up to the calibration end come in day order (a file listed by date, or by
/// customer and date), otherwise through [`Histories`]. The same result either way.
pub fn summarise_transactions(tx: &Transactions, calibration_end: Day, period: Period) -> Summary {
    summarise_in_order(tx, calibration_end, period)
        .unwrap_or_else(|| summarise(tx, &Histories::new(tx), calibration_end, period))
}

/// The summary in one pass, reading each purchase once and touching one record of its
/// customer; None as soon as a customer's purchase goes back in time.
pub fn summarise_in_order(
    tx: &Transactions,
    calibration_end: Day,
    period: Period,
) -> Option<Summary> {
    /// A customer so far: first and last day, repeat days, the value of the repeat days
    /// closed, and the total of the last day (added when it closes, as `summarise` adds
    /// whole days).
    #[derive(Clone, Copy)]
    struct Running {
        first: Day,
        last: Day,
        repeats: u32,
        value: f64,
        day_total: f64,
    }
    const NOT_YET: Day = Day::MIN;
    let mut running = vec![
        Running {
            first: NOT_YET,
            last: NOT_YET,
            repeats: 0,
            value: 0.0,
            day_total: 0.0,
        };
        tx.customers()
    ];
    for i in 0..tx.len() {
        let day = tx.day[i];
        if day > calibration_end {
            continue;
        }
        let r = &mut running[tx.customer[i] as usize];
        let amount = tx.amount[i];
        if r.first == NOT_YET {
            (r.first, r.last, r.day_total) = (day, day, amount);
        } else if day == r.last {
            r.day_total += amount;
        } else if day > r.last {
            if r.last != r.first {
                r.value += r.day_total;
            }
            r.repeats += 1;
            (r.last, r.day_total) = (day, amount);
        } else {
            return None;
        }
    }
    let per = period.days();
    let mut s = Summary::default();
    for (c, r) in running.iter().enumerate() {
        if r.first == NOT_YET {
            continue;
        }
        let value = if r.last != r.first {
            r.value + r.day_total
        } else {
            r.value
        };
        s.customer.push(c as u32);
        s.frequency.push(r.repeats);
        s.recency.push(f64::from(r.last - r.first) / per);
        s.t.push(f64::from(calibration_end - r.first) / per);
        s.monetary.push(if r.repeats > 0 {
            value / f64::from(r.repeats)
        } else {
            0.0
        });
    }
    Some(s)
}

/// For each customer of `summary`, the purchase days after the calibration end up to and
/// including `holdout_end`: what the models predict, to compare.
pub fn holdout_purchases(
    tx: &Transactions,
    histories: &Histories,
    summary: &Summary,
    calibration_end: Day,
    holdout_end: Day,
) -> Vec<u32> {
    summary
        .customer
        .iter()
        .map(|&c| {
            let mut n = 0;
            for_each_day(tx, histories.of(c), |day, _| {
                if day > calibration_end && day <= holdout_end {
                    n += 1;
                }
            });
            n
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transactions::day_of;
    use chrono::NaiveDate;

    fn d(s: &str) -> Day {
        day_of(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    #[test]
    fn same_day_purchases_count_once_and_the_first_is_not_a_repeat() {
        let mut tx = Transactions::new(false);
        // Out of order on purpose.
        tx.push("a", d("2024-01-15"), 10.0, None);
        tx.push("a", d("2024-01-01"), 99.0, None);
        tx.push("a", d("2024-01-15"), 5.0, None);
        tx.push("a", d("2024-01-29"), 30.0, None);
        tx.push("a", d("2024-02-20"), 1000.0, None); // after the calibration end
        tx.push("b", d("2024-01-08"), 7.0, None);
        tx.push("b", d("2024-01-08"), 8.0, None);
        tx.push("late", d("2024-03-01"), 1.0, None);
        tx.add_customer("never");
        let h = Histories::new(&tx);
        let end = d("2024-02-05");
        let s = summarise(&tx, &h, end, Period::Week);
        assert_eq!(s.customer, [0, 1], "late and never are left out");
        // a: first on Jan 1; repeats on Jan 15 (10 + 5) and Jan 29 (30).
        assert_eq!(s.frequency, [2, 0]);
        assert_eq!(s.recency, [4.0, 0.0]);
        assert_eq!(s.t, [35.0 / 7.0, 28.0 / 7.0]);
        assert_eq!(s.monetary, [22.5, 0.0]);

        let days = summarise(&tx, &h, end, Period::Day);
        assert_eq!(days.recency, [28.0, 0.0]);
        assert_eq!(days.t, [35.0, 28.0]);

        // A purchase on the calibration end day is in the calibration period.
        let s = summarise(&tx, &h, d("2024-01-29"), Period::Day);
        assert_eq!(s.frequency[0], 2);
        assert_eq!(s.recency[0], s.t[0]);

        let holdout = holdout_purchases(
            &tx,
            &h,
            &summarise(&tx, &h, end, Period::Week),
            end,
            d("2024-12-31"),
        );
        assert_eq!(holdout, [1, 0]);
    }

    #[test]
    fn the_one_pass_summary_equals_the_general_one() {
        let mut rng = crate::generate::Rng::new(3);
        let mut tx = Transactions::new(false);
        for _ in 0..20_000 {
            let c = format!("c{}", rng.next_u64() % 3_000);
            let day = (rng.next_u64() % 400) as Day;
            tx.push(&c, day, (rng.uniform() * 100.0).round() / 4.0, None);
        }
        tx.add_customer("never");
        let h = Histories::new(&tx);
        // Out of order: refused, and the general path taken.
        assert!(summarise_in_order(&tx, 250, Period::Week).is_none());
        let general = summarise(&tx, &h, 250, Period::Week);
        let either = summarise_transactions(&tx, 250, Period::Week);
        assert_eq!(either.monetary, general.monetary);
        // In date order: the same numbers to the last bit.
        let sorted = tx.sorted_by_day();
        let fast = summarise_in_order(&sorted, 250, Period::Week).expect("in order");
        assert_eq!(fast.customer, general.customer);
        assert_eq!(fast.frequency, general.frequency);
        assert_eq!(fast.recency, general.recency);
        assert_eq!(fast.t, general.t);
        assert_eq!(fast.monetary, general.monetary);
        // Later purchases out of order do not matter.
        let mut late = sorted.clone();
        late.push("c1", 300, 1.0, None);
        late.push("c1", 299, 1.0, None);
        assert!(summarise_in_order(&late, 250, Period::Week).is_some());
    }

    #[test]
    fn histories_sort_each_customer_by_day_and_keep_same_day_order() {
        let mut tx = Transactions::new(false);
        tx.push("a", 5, 1.0, None);
        tx.push("b", 3, 2.0, None);
        tx.push("a", 2, 3.0, None);
        tx.push("a", 5, 4.0, None);
        let h = Histories::new(&tx);
        assert_eq!(h.of(0), [2, 0, 3]);
        assert_eq!(h.of(1), [1]);
        let mut days = Vec::new();
        for_each_day(&tx, h.of(0), |day, total| days.push((day, total)));
        assert_eq!(days, [(2, 3.0), (5, 5.0)]);
        let mut visits = Vec::new();
        visits_until(&tx, h.of(0), 5, &mut visits);
        assert_eq!(visits.len(), 2);
        assert_eq!(
            (visits[1].day, visits[1].transactions, visits[1].amount),
            (5, 2, 5.0)
        );
        visits_until(&tx, h.of(0), 4, &mut visits);
        assert_eq!(visits.len(), 1, "a later day is not seen from day 4");
        assert_eq!(default_as_of(&tx), Some(5));
    }
}
