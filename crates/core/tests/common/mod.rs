//! Helpers and proptest strategies shared by the business-time test binaries.
#![allow(dead_code)] // each binary uses its own share of them

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use forecourt_core::business_time::{Calendar, OpeningInterval, WeekHours};
use proptest::prelude::*;

pub const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

pub fn iv(open: &str, close: &str) -> OpeningInterval {
    OpeningInterval::parse(open, close).unwrap()
}

/// A local time in `tz` ("2026-09-30 17:00") as an instant.
pub fn at(tz: Tz, s: &str) -> DateTime<Utc> {
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    tz.from_local_datetime(&naive).unwrap().with_timezone(&Utc)
}

/// A local time in Shanghai as an instant.
pub fn sh(s: &str) -> DateTime<Utc> {
    at(SHANGHAI, s)
}

pub fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Monday to Friday, 08:00–18:00.
pub fn office() -> WeekHours {
    WeekHours::monday_to_friday(&[iv("08:00", "18:00")]).unwrap()
}

pub fn minutes(m: i64) -> TimeDelta {
    TimeDelta::minutes(m)
}

pub const ZONES: [Tz; 6] = [
    chrono_tz::Asia::Shanghai,
    chrono_tz::America::New_York,
    chrono_tz::Europe::London,
    // Half-hour daylight saving.
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::America::Sao_Paulo,
    chrono_tz::UTC,
];

pub fn interval() -> impl Strategy<Value = OpeningInterval> {
    let minutes = prop_oneof![1u16..60, 60u16..=1440];
    (0u16..1440, minutes).prop_map(|(s, m)| OpeningInterval::new(s, m).unwrap())
}

pub fn day_hours() -> impl Strategy<Value = Vec<OpeningInterval>> {
    prop_oneof![
        1 => Just(vec![]),
        1 => Just(vec![OpeningInterval::ALL_DAY]),
        4 => proptest::collection::vec(interval(), 1..=3),
    ]
}

/// A day within 2025–2027.
pub fn day() -> impl Strategy<Value = NaiveDate> {
    (0i64..1095).prop_map(|d| date("2025-01-01") + TimeDelta::days(d))
}

/// Days on which the zones above change their clocks in 2026.
const TRANSITIONS: [&str; 6] = [
    "2026-03-08", // New York, spring
    "2026-03-29", // London, spring
    "2026-04-05", // Lord Howe, autumn (half an hour back)
    "2026-10-04", // Lord Howe, spring
    "2026-10-25", // London, autumn
    "2026-11-01", // New York, autumn
];

/// An instant within 2025–2027, to the second; one in three within two days of a
/// daylight-saving change.
pub fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let origin = at(chrono_tz::UTC, "2025-01-01 00:00");
    prop_oneof![
        2 => (0i64..1095 * 86_400).prop_map(move |s| origin + TimeDelta::seconds(s)),
        1 => (0..TRANSITIONS.len(), -2 * 86_400i64..2 * 86_400).prop_map(|(i, s)| {
            at(chrono_tz::UTC, &format!("{} 00:00", TRANSITIONS[i])) + TimeDelta::seconds(s)
        }),
    ]
}

prop_compose! {
    /// Any calendar: a zone, hours per weekday (none, all day, or up to three
    /// intervals that may overlap or cross midnight), holidays, make-up days and
    /// perhaps their own hours.
    pub fn calendar()(
        zone in 0..ZONES.len(),
        days in proptest::collection::vec(day_hours(), 7),
        holidays in proptest::collection::btree_set(day(), 0..40),
        workdays in proptest::collection::btree_set(day(), 0..10),
        workday_hours in proptest::option::of(day_hours()),
    ) -> Calendar {
        let mut week = WeekHours::closed();
        for (i, d) in days.iter().enumerate() {
            week = week.with_day(Weekday::try_from(i as u8).unwrap(), d).unwrap();
        }
        let workdays: Vec<_> = workdays.difference(&holidays).copied().collect();
        let mut cal = Calendar::new(ZONES[zone], week)
            .with_holidays(holidays)
            .unwrap()
            .with_workdays(workdays)
            .unwrap();
        if let Some(h) = workday_hours {
            cal = cal.with_workday_hours(&h).unwrap();
        }
        cal
    }
}

/// Whether some weekday has an interval of an hour or more, so that the amounts the
/// properties add fit well inside the scan limit.
pub fn has_weekly_hours(cal: &Calendar) -> bool {
    [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ]
    .iter()
    .any(|d| cal.week().on(*d).iter().any(|iv| iv.minutes() >= 60))
}
