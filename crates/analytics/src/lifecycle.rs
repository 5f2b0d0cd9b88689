//! Lifecycle stage of each customer as of a day: potential, new, floating, loyal or
//! lapsed. The first rule that matches decides:
//!
//! 1. **potential**: no purchase yet (a registered member who never bought);
//! 2. **lapsed**: no visit for more than `lapse_days`, or, when the customer has a
//!    typical interval (see [`crate::refuel`]), for more than `lapse_multiple` times it
//!    and at least `lapse_min_days`;
//! 3. **new**: the first purchase was less than `new_days` ago;
//! 4. **loyal**: at least `loyal_min_visits` visits in the last `loyal_window_days`, with
//!    intervals between them regular: their coefficient of variation (standard deviation
//!    over mean) at most `loyal_max_cv`;
//! 5. **floating**: everyone else (irregular, or too few recent visits).

use crate::refuel::{typical_interval, RefuelParams};
use crate::summary::{visits_until, Histories};
use crate::transactions::{Day, Transactions};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Potential,
    New,
    Floating,
    Loyal,
    Lapsed,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Potential => "potential",
            Stage::New => "new",
            Stage::Floating => "floating",
            Stage::Loyal => "loyal",
            Stage::Lapsed => "lapsed",
        }
    }
}

/// The rules' parameters; the defaults suit fuel customers, who come every few days to
/// every few weeks.
#[derive(Debug, Clone, Copy)]
pub struct LifecycleParams {
    /// New while the first purchase is less than this many days ago (30).
    pub new_days: u32,
    /// Lapsed after this many days without a visit, whatever the cycle (90).
    pub lapse_days: u32,
    /// Lapsed after this many typical intervals without a visit (3) …
    pub lapse_multiple: f64,
    /// … but never before this many days (14), so a daily taxi is not lapsed after a
    /// long weekend.
    pub lapse_min_days: u32,
    /// Loyal needs this many visits (4) …
    pub loyal_min_visits: usize,
    /// … within this many days (180) …
    pub loyal_window_days: u32,
    /// … with intervals whose coefficient of variation is at most this (0.5).
    pub loyal_max_cv: f64,
    /// How the typical interval is found.
    pub refuel: RefuelParams,
}

impl Default for LifecycleParams {
    fn default() -> Self {
        LifecycleParams {
            new_days: 30,
            lapse_days: 90,
            lapse_multiple: 3.0,
            lapse_min_days: 14,
            loyal_min_visits: 4,
            loyal_window_days: 180,
            loyal_max_cv: 0.5,
            refuel: RefuelParams::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LifecycleRow {
    pub customer: u32,
    pub stage: Stage,
    pub visits: usize,
    pub first_visit: Option<Day>,
    pub last_visit: Option<Day>,
    pub days_since_last_visit: Option<u32>,
    pub typical_interval_days: Option<f64>,
    /// The coefficient of variation of the intervals within the loyalty window.
    pub interval_cv: Option<f64>,
}

/// The stage of every known customer (with or without purchases) as of `as_of`.
pub fn lifecycle(
    tx: &Transactions,
    histories: &Histories,
    as_of: Day,
    params: &LifecycleParams,
) -> Vec<LifecycleRow> {
    let mut rows = Vec::with_capacity(histories.customers());
    let mut visits = Vec::new();
    for c in 0..histories.customers() as u32 {
        visits_until(tx, histories.of(c), as_of, &mut visits);
        let (Some(first), Some(last)) = (visits.first(), visits.last()) else {
            rows.push(LifecycleRow {
                customer: c,
                stage: Stage::Potential,
                visits: 0,
                first_visit: None,
                last_visit: None,
                days_since_last_visit: None,
                typical_interval_days: None,
                interval_cv: None,
            });
            continue;
        };
        let since = (as_of - last.day) as u32;
        let intervals: Vec<f64> = visits
            .windows(2)
            .map(|w| f64::from(w[1].day - w[0].day))
            .collect();
        let typical = typical_interval(&intervals, &params.refuel);
        let window_start = as_of - params.loyal_window_days as Day;
        let recent: Vec<f64> = visits
            .windows(2)
            .filter(|w| w[0].day > window_start)
            .map(|w| f64::from(w[1].day - w[0].day))
            .collect();
        let recent_visits = visits.iter().filter(|v| v.day > window_start).count();
        let cv = coefficient_of_variation(&recent);
        let lapsed = since > params.lapse_days
            || typical.is_some_and(|t| {
                f64::from(since) > (params.lapse_multiple * t).max(f64::from(params.lapse_min_days))
            });
        let stage = if lapsed {
            Stage::Lapsed
        } else if ((as_of - first.day) as u32) < params.new_days {
            Stage::New
        } else if recent_visits >= params.loyal_min_visits
            && cv.is_some_and(|cv| cv <= params.loyal_max_cv)
        {
            Stage::Loyal
        } else {
            Stage::Floating
        };
        rows.push(LifecycleRow {
            customer: c,
            stage,
            visits: visits.len(),
            first_visit: Some(first.day),
            last_visit: Some(last.day),
            days_since_last_visit: Some(since),
            typical_interval_days: typical,
            interval_cv: cv,
        });
    }
    rows
}

/// Standard deviation over mean of at least two values; None otherwise.
fn coefficient_of_variation(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if mean <= 0.0 {
        return None;
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some(var.sqrt() / mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages(tx: &Transactions, as_of: Day) -> Vec<(String, Stage)> {
        let h = Histories::new(tx);
        lifecycle(tx, &h, as_of, &LifecycleParams::default())
            .into_iter()
            .map(|r| (tx.name(r.customer).to_owned(), r.stage))
            .collect()
    }

    #[test]
    fn each_rule_in_turn() {
        let mut tx = Transactions::new(false);
        tx.add_customer("member");
        tx.push("first_week", 195, 100.0, None);
        for d in (0..=196).step_by(7) {
            tx.push("commuter", d, 300.0, None);
        }
        for d in [0, 3, 40, 41, 90, 150, 151, 190] {
            tx.push("irregular", d, 200.0, None);
        }
        for d in (0..=140).step_by(7) {
            tx.push("gone_quiet", d, 300.0, None); // weekly until day 140
        }
        tx.push("long_ago", 20, 100.0, None);
        tx.push("commuter", 230, 1.0, None); // after as_of
        let s = stages(&tx, 200);
        let stage = |name: &str| s.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(stage("member"), Stage::Potential);
        assert_eq!(stage("first_week"), Stage::New);
        assert_eq!(stage("commuter"), Stage::Loyal);
        assert_eq!(stage("irregular"), Stage::Floating);
        // Weekly, then 60 days away: more than 3 × 7 days (and 14).
        assert_eq!(stage("gone_quiet"), Stage::Lapsed);
        // One visit 180 days ago: no cycle, but over 90 days.
        assert_eq!(stage("long_ago"), Stage::Lapsed);
    }

    #[test]
    fn short_cycles_lapse_no_sooner_than_the_floor() {
        let mut tx = Transactions::new(false);
        for d in 0..100 {
            tx.push("taxi", d, 400.0, None);
        }
        // Daily, last seen on day 99: on day 109, 10 days away is > 3 × 1 but < 14.
        assert_eq!(stages(&tx, 109)[0].1, Stage::Loyal);
        assert_eq!(stages(&tx, 114)[0].1, Stage::Lapsed);
    }

    #[test]
    fn the_coefficient_of_variation() {
        assert_eq!(coefficient_of_variation(&[7.0]), None);
        assert_eq!(coefficient_of_variation(&[7.0, 7.0, 7.0]), Some(0.0));
        let cv = coefficient_of_variation(&[2.0, 4.0, 6.0]).unwrap();
        assert!((cv - 0.5).abs() < 1e-12);
    }
}
