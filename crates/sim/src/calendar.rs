//! The Chinese calendar as it moves fuel demand: working days, public holidays, the
//! Spring Festival travel rush (春运) and the weeks around it.

use crate::Behaviour;
use chrono::{Datelike, NaiveDate, Weekday};

/// Spring Festival (春节) dates, 2023 to 2030.
const SPRING_FESTIVAL: &[(i32, u32, u32)] = &[
    (2023, 1, 22),
    (2024, 2, 10),
    (2025, 1, 29),
    (2026, 2, 17),
    (2027, 2, 6),
    (2028, 1, 26),
    (2029, 2, 13),
    (2030, 2, 3),
];

/// What kind of day it is for demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Season {
    Ordinary,
    /// The ten days before the Spring Festival: everyone drives home.
    FestivalRush,
    /// The festival week: cities empty, commuters and fleets rest.
    Festival,
    /// The National Day golden week (国庆) and the other short holidays.
    Holiday,
}

fn days_from_festival(date: NaiveDate) -> Option<i64> {
    SPRING_FESTIVAL
        .iter()
        .filter_map(|(y, m, d)| NaiveDate::from_ymd_opt(*y, *m, *d))
        .map(|f| (date - f).num_days())
        .find(|k| (-12..=10).contains(k))
}

/// The season of a date.
pub fn season(date: NaiveDate) -> Season {
    match days_from_festival(date) {
        Some(k) if (-10..0).contains(&k) => return Season::FestivalRush,
        Some(k) if (0..7).contains(&k) => return Season::Festival,
        _ => {}
    }
    let (m, d) = (date.month(), date.day());
    match (m, d) {
        (1, 1) | (4, 4..=6) | (5, 1..=5) | (10, 1..=7) => Season::Holiday,
        _ => Season::Ordinary,
    }
}

/// Monday to Friday outside holidays.
pub fn is_working_day(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
        && matches!(season(date), Season::Ordinary | Season::FestivalRush)
}

/// How much more (above 1) or less (below 1) often a customer of this behaviour fills up
/// on such a day than on an ordinary working day.
pub fn day_factor(behaviour: Behaviour, season: Season, working: bool) -> f64 {
    use Behaviour::*;
    let base = match (behaviour, working) {
        (Commuter | Churner | PriceSensitive, false) => 0.75,
        (Fleet, false) => 0.45,
        (Occasional, false) => 1.35,
        _ => 1.0,
    };
    base * match (behaviour, season) {
        (_, Season::Ordinary) => 1.0,
        (Fleet, Season::FestivalRush) => 1.1,
        (_, Season::FestivalRush) => 1.35,
        (Fleet, Season::Festival) => 0.2,
        (Taxi, Season::Festival) => 0.6,
        (_, Season::Festival) => 0.45,
        (Occasional, Season::Holiday) => 1.4,
        (Fleet, Season::Holiday) => 0.5,
        (_, Season::Holiday) => 0.9,
    }
}

/// The same for anonymous walk-ins.
pub fn walk_in_factor(season: Season, working: bool) -> f64 {
    let base = if working { 1.0 } else { 1.15 };
    base * match season {
        Season::Ordinary => 1.0,
        Season::FestivalRush => 1.4,
        Season::Festival => 0.6,
        Season::Holiday => 1.3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasons() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(season(d(2026, 2, 10)), Season::FestivalRush);
        assert_eq!(season(d(2026, 2, 17)), Season::Festival);
        assert_eq!(season(d(2026, 2, 23)), Season::Festival);
        assert_eq!(season(d(2026, 2, 24)), Season::Ordinary);
        assert_eq!(season(d(2026, 10, 3)), Season::Holiday);
        assert!(!is_working_day(d(2026, 10, 5)));
        assert!(is_working_day(d(2026, 11, 23)));
        assert!(!is_working_day(d(2026, 11, 22)));
    }
}
