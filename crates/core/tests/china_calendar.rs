//! The China mainland calendar the product ships, against the oracle's fixture
//! (`scripts/china_calendar.py`, from the `chinesecalendar` package).

mod common;

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};
use common::*;
use forecourt_core::business_time::{
    china_data_years, china_holidays, china_make_up_workdays, Calendar, DayKind, WeekHours,
};

#[derive(serde::Deserialize)]
struct Fixture {
    years: Vec<i32>,
    holidays: Vec<Entry>,
    workdays: Vec<Entry>,
    /// "YYYY-MM" → one character a day, 1 for a working day; and a "note".
    working_days: BTreeMap<String, String>,
}

#[derive(serde::Deserialize)]
struct Entry {
    date: NaiveDate,
    name: String,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("fixtures/china_calendar.json")).unwrap()
}

/// Every day of 2025–2026, working or not, exactly as chinesecalendar says: for the
/// calendar the product ships, and for one built from the fixture's lists.
#[test]
fn china_calendar_matches_the_oracle() {
    let f = fixture();
    assert_eq!(china_data_years(), (f.years[0], *f.years.last().unwrap()));
    let shipped: Vec<_> = china_holidays().map(|(d, n)| (d, n.to_string())).collect();
    let oracle: Vec<_> = f
        .holidays
        .iter()
        .map(|e| (e.date, e.name.clone()))
        .collect();
    assert_eq!(shipped, oracle, "the shipped holidays are the fixture's");
    let shipped: Vec<_> = china_make_up_workdays()
        .map(|(d, n)| (d, n.to_string()))
        .collect();
    let oracle: Vec<_> = f
        .workdays
        .iter()
        .map(|e| (e.date, e.name.clone()))
        .collect();
    assert_eq!(
        shipped, oracle,
        "the shipped make-up days are the fixture's"
    );

    let from_fixture = Calendar::new(SHANGHAI, office())
        .with_holidays(f.holidays.iter().map(|e| e.date))
        .unwrap()
        .with_workdays(f.workdays.iter().map(|e| e.date))
        .unwrap();
    let calendars = [Calendar::china_mainland(office()), from_fixture];
    let mut days = 0;
    let mut off = 0;
    for (month, verdicts) in f.working_days.iter().filter(|(k, _)| k.as_str() != "note") {
        let first = date(&format!("{month}-01"));
        for (i, v) in verdicts.chars().enumerate() {
            let day = first + TimeDelta::days(i as i64);
            assert_eq!(
                day.month(),
                first.month(),
                "{month} has {} days",
                verdicts.len()
            );
            let working = v == '1';
            for cal in &calendars {
                assert_eq!(cal.is_working_day(day), working, "{day}");
            }
            days += 1;
            off += usize::from(!working);
        }
    }
    assert_eq!(days, 365 * 2);
    assert_eq!(off, 234);
    assert!(f
        .workdays
        .iter()
        .all(|e| matches!(e.date.weekday(), Weekday::Sat | Weekday::Sun)));
}

/// Issue 16, acceptance 1 on the shipped calendar: a complaint opened 30 September 2026
/// 17:00 with a four-hour first-response target is due 8 October 11:00; one opened
/// 9 October 17:00 is due on the make-up Saturday, 10 October 11:00.
#[test]
fn national_day_2026() {
    let cal = Calendar::china_mainland(office());
    assert_eq!(
        cal.add_business_minutes(sh("2026-09-30 17:00"), 240)
            .unwrap(),
        sh("2026-10-08 11:00")
    );
    assert_eq!(
        cal.add_business_minutes(sh("2026-10-09 17:00"), 240)
            .unwrap(),
        sh("2026-10-10 11:00")
    );
    assert_eq!(cal.day_kind(date("2026-10-10")), DayKind::MakeUpWorkday);
    // The other make-up day, Sunday 20 September, and Mid-Autumn on Friday 25 September.
    assert_eq!(
        cal.add_business_minutes(sh("2026-09-19 10:00"), 240)
            .unwrap(),
        sh("2026-09-20 12:00")
    );
    assert_eq!(
        cal.add_business_minutes(sh("2026-09-24 17:00"), 120)
            .unwrap(),
        sh("2026-09-28 09:00")
    );
    // 30 September, 8, 9 and 10 October are the working days between.
    assert_eq!(
        cal.business_minutes_between(sh("2026-09-30 08:00"), sh("2026-10-12 08:00"))
            .unwrap(),
        4 * 600
    );
}

/// The 2025 Spring Festival: closed 28 January to 4 February, Sunday 26 January and
/// Saturday 8 February worked.
#[test]
fn spring_festival_2025() {
    let cal = Calendar::china_mainland(office());
    assert!(cal.is_working_day(date("2025-01-26")));
    assert_eq!(
        cal.add_business_minutes(sh("2025-01-27 17:00"), 120)
            .unwrap(),
        sh("2025-02-05 09:00")
    );
    assert!(cal.is_working_day(date("2025-02-08")));
}

#[test]
fn a_24_hour_station_closed_on_public_holidays() {
    let cal = Calendar::china_mainland(WeekHours::all_day());
    assert_eq!(
        cal.add_business_minutes(sh("2026-09-30 23:00"), 120)
            .unwrap(),
        sh("2026-10-08 01:00")
    );
    assert!(!cal.is_open_at(sh("2026-10-03 12:00")).unwrap());
    assert!(cal.is_open_at(sh("2026-10-10 12:00")).unwrap());
}
