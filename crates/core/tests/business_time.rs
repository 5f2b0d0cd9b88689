//! Business time on a station's calendar: worked examples and properties.

mod common;

use chrono::{TimeDelta, Weekday};
use chrono_tz::Tz;
use common::*;
use forecourt_core::business_time::{
    BusinessTimeError, Calendar, DayKind, OpeningInterval, WeekHours,
};
use proptest::prelude::*;

#[test]
fn friday_evening_ticket_is_due_monday_morning() {
    let cal = Calendar::new(SHANGHAI, office());
    // 2025-03-14 is a Friday: 30 minutes on Friday, 90 on Monday from 08:00.
    let due = cal
        .add_business_minutes(sh("2025-03-14 17:30"), 120)
        .unwrap();
    assert_eq!(due, sh("2025-03-17 09:30"));
    assert_eq!(
        cal.business_minutes_between(sh("2025-03-14 17:30"), due)
            .unwrap(),
        120
    );
    // The 30th minute ends at closing time, not at the next opening.
    assert_eq!(
        cal.add_business_minutes(sh("2025-03-14 17:30"), 30)
            .unwrap(),
        sh("2025-03-14 18:00")
    );
    // Opened while closed: the clock starts at the opening.
    assert_eq!(
        cal.add_business_minutes(sh("2025-03-15 11:00"), 60)
            .unwrap(),
        sh("2025-03-17 09:00")
    );
    assert_eq!(
        cal.add_business_minutes(sh("2025-03-15 11:00"), 0).unwrap(),
        sh("2025-03-15 11:00")
    );
}

/// Issue 16, acceptance 1, with the dates given by hand: 1–7 October 2026 holidays,
/// Saturday 10 October a make-up working day, a first response due in four business
/// hours.
#[test]
fn holidays_and_a_make_up_saturday() {
    let cal = Calendar::new(SHANGHAI, office())
        .with_holidays((1..=7).map(|d| date(&format!("2026-10-0{d}"))))
        .unwrap()
        .with_workdays([date("2026-10-10")])
        .unwrap();
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
    assert_eq!(cal.day_kind(date("2026-10-05")), DayKind::Holiday);
    assert_eq!(cal.day_kind(date("2026-10-11")), DayKind::Regular);
    assert!(!cal.is_working_day(date("2026-10-05")));
    assert!(cal.is_working_day(date("2026-10-10")));
    assert!(!cal.is_working_day(date("2026-10-11")));
}

#[test]
fn make_up_day_uses_its_own_hours_when_given() {
    let cal = Calendar::new(SHANGHAI, office())
        .with_workdays([date("2026-10-10")])
        .unwrap()
        .with_workday_hours(&[iv("09:00", "12:00")])
        .unwrap();
    // One hour on Friday, three on the short Saturday, the fifth on Monday.
    assert_eq!(
        cal.add_business_minutes(sh("2026-10-09 17:00"), 240)
            .unwrap(),
        sh("2026-10-10 12:00")
    );
    assert_eq!(
        cal.add_business_minutes(sh("2026-10-09 17:00"), 300)
            .unwrap(),
        sh("2026-10-12 09:00")
    );
    // One date cannot be both.
    assert!(Calendar::new(SHANGHAI, office())
        .with_holidays([date("2026-10-10")])
        .unwrap()
        .with_workdays([date("2026-10-10")])
        .is_err());
}

#[test]
fn a_station_open_24_hours() {
    let cal = Calendar::always_open(SHANGHAI);
    let start = sh("2026-10-01 23:00");
    assert_eq!(
        cal.add_business_minutes(start, 120).unwrap(),
        sh("2026-10-02 01:00")
    );
    assert_eq!(
        cal.business_minutes_between(start, sh("2026-10-08 23:00"))
            .unwrap(),
        7 * 24 * 60
    );
    assert!(cal.is_open_at(sh("2026-10-03 00:00")).unwrap());
}

#[test]
fn hours_that_cross_midnight_belong_to_the_day_they_start() {
    // Open 06:00 to 02:00 every day, closed on Tuesday 2026-03-10.
    let cal = Calendar::new(
        SHANGHAI,
        WeekHours::every_day(&[iv("06:00", "02:00")]).unwrap(),
    )
    .with_holidays([date("2026-03-10")])
    .unwrap();
    assert!(iv("06:00", "02:00").crosses_midnight());
    // Monday's night runs into the holiday until 02:00.
    assert!(cal.is_open_at(sh("2026-03-10 01:59")).unwrap());
    assert!(!cal.is_open_at(sh("2026-03-10 02:00")).unwrap());
    assert!(!cal.is_open_at(sh("2026-03-10 12:00")).unwrap());
    // Tuesday's night is gone with Tuesday: the next opening is Wednesday 06:00.
    assert_eq!(
        cal.add_business_minutes(sh("2026-03-10 01:00"), 90)
            .unwrap(),
        sh("2026-03-11 06:30")
    );
    // Two intervals a day with a lunch break, given in any order.
    let split = Calendar::new(
        SHANGHAI,
        WeekHours::monday_to_friday(&[iv("13:00", "17:00"), iv("08:30", "11:30")]).unwrap(),
    );
    assert_eq!(
        split
            .add_business_minutes(sh("2026-03-09 11:00"), 60)
            .unwrap(),
        sh("2026-03-09 13:30")
    );
    // Overlapping intervals count once.
    let overlap = Calendar::new(
        SHANGHAI,
        WeekHours::every_day(&[iv("08:00", "12:00"), iv("10:00", "14:00")]).unwrap(),
    );
    assert_eq!(
        overlap
            .business_minutes_between(sh("2026-03-09 00:00"), sh("2026-03-10 00:00"))
            .unwrap(),
        360
    );
}

#[test]
fn opening_times_parse_strictly() {
    assert_eq!(iv("00:00", "24:00"), OpeningInterval::ALL_DAY);
    assert_eq!(iv("22:00", "06:00").minutes(), 480);
    for (o, c) in [
        ("08:00", "08:00"),
        ("00:00", "00:00"),
        ("24:00", "08:00"),
        ("8:00", "18:00"),
        ("08:60", "18:00"),
        ("08:00", "24:01"),
        ("０8:00", "18:00"),
    ] {
        assert!(OpeningInterval::parse(o, c).is_err(), "{o}–{c}");
    }
    assert!(Calendar::parse_time_zone("Asia/Shanghai").is_ok());
    assert!(Calendar::parse_time_zone("Asia/Beijing").is_err());
    assert!(WeekHours::every_day(&[iv("01:00", "02:00"); 9]).is_err());
    assert!(WeekHours::closed()
        .with_day(Weekday::Sun, &[iv("10:00", "16:00")])
        .is_ok());
}

#[test]
fn a_calendar_without_open_hours_fails_instead_of_looping() {
    let cal = Calendar::new(SHANGHAI, WeekHours::closed());
    assert!(matches!(
        cal.add_business_minutes(sh("2026-01-01 00:00"), 1),
        Err(BusinessTimeError::NoOpenHours { .. })
    ));
    assert_eq!(
        cal.add_business_minutes(sh("2026-01-01 00:00"), 0).unwrap(),
        sh("2026-01-01 00:00")
    );
    assert_eq!(
        cal.business_minutes_between(sh("2026-01-01 00:00"), sh("2027-01-01 00:00"))
            .unwrap(),
        0
    );
    // Open only on one make-up Saturday, then never again.
    let once = cal
        .with_workdays([date("2026-10-10")])
        .unwrap()
        .with_workday_hours(&[iv("08:00", "09:00")])
        .unwrap();
    assert_eq!(
        once.add_business_minutes(sh("2026-01-01 00:00"), 60)
            .unwrap(),
        sh("2026-10-10 09:00")
    );
    assert!(once
        .add_business_minutes(sh("2026-01-01 00:00"), 61)
        .is_err());
}

#[test]
fn daylight_saving_jumps() {
    let ny: Tz = chrono_tz::America::New_York;
    let utc = |s: &str| at(chrono_tz::UTC, s);
    // Always open equals wall-clock time across both jumps.
    let always = Calendar::always_open(ny);
    let start = at(ny, "2026-03-07 12:00");
    assert_eq!(
        always.add_business_minutes(start, 48 * 60).unwrap(),
        start + minutes(48 * 60)
    );
    // Spring forward (2026-03-08, 02:00 EST → 03:00 EDT at 07:00 UTC): 01:00–04:00 is
    // two hours long, and 02:30–05:00 opens at the jump.
    let night = Calendar::new(ny, WeekHours::every_day(&[iv("01:00", "04:00")]).unwrap());
    assert_eq!(
        night
            .business_minutes_between(utc("2026-03-08 00:00"), utc("2026-03-09 00:00"))
            .unwrap(),
        120
    );
    let gap = Calendar::new(ny, WeekHours::every_day(&[iv("02:30", "05:00")]).unwrap());
    assert_eq!(
        gap.add_business_minutes(utc("2026-03-08 00:00"), 1)
            .unwrap(),
        utc("2026-03-08 07:01")
    );
    // A closed gap: 02:10–02:50 does not happen that night.
    let swallowed = Calendar::new(ny, WeekHours::every_day(&[iv("02:10", "02:50")]).unwrap());
    assert_eq!(
        swallowed
            .business_minutes_between(utc("2026-03-08 00:00"), utc("2026-03-09 00:00"))
            .unwrap(),
        0
    );
    // Fall back (2026-11-01, 02:00 EDT → 01:00 EST at 06:00 UTC): 01:00–04:00 opens at
    // the first 01:00 and is four hours long, 00:00–04:00 five; a whole day is 25.
    assert_eq!(
        night
            .business_minutes_between(utc("2026-11-01 00:00"), utc("2026-11-02 00:00"))
            .unwrap(),
        240
    );
    let early = Calendar::new(ny, WeekHours::every_day(&[iv("00:00", "04:00")]).unwrap());
    assert_eq!(
        early
            .business_minutes_between(utc("2026-11-01 00:00"), utc("2026-11-02 00:00"))
            .unwrap(),
        300
    );
    let whole = Calendar::new(
        ny,
        WeekHours::every_day(&[OpeningInterval::ALL_DAY]).unwrap(),
    )
    .with_holidays([date("2026-10-31"), date("2026-11-02")])
    .unwrap();
    assert_eq!(
        whole
            .business_minutes_between(utc("2026-10-30 00:00"), utc("2026-11-05 00:00"))
            .unwrap(),
        // 1 November is 25 hours long; the other open days are cut at the range's ends.
        (at(ny, "2026-11-02 00:00") - at(ny, "2026-11-01 00:00")).num_minutes()
            + (utc("2026-11-05 00:00") - at(ny, "2026-11-03 00:00")).num_minutes()
            + (at(ny, "2026-10-31 00:00") - utc("2026-10-30 00:00")).num_minutes()
    );
    assert_eq!(
        (at(ny, "2026-11-02 00:00") - at(ny, "2026-11-01 00:00")).num_minutes(),
        25 * 60
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn adding_business_minutes_round_trips(
        cal in calendar(),
        start in instant(),
        m1 in 0u32..20_000,
        m2 in 0u32..20_000,
    ) {
        prop_assume!(has_weekly_hours(&cal));
        let due = cal.add_business_minutes(start, m1).unwrap();
        prop_assert!(due >= start);
        prop_assert_eq!(cal.business_time_between(start, due).unwrap(), minutes(i64::from(m1)));
        prop_assert_eq!(cal.business_minutes_between(due, start).unwrap(), -i64::from(m1));
        // Monotonic in the minutes.
        let other = cal.add_business_minutes(start, m2).unwrap();
        if m1 <= m2 { prop_assert!(due <= other) } else { prop_assert!(due >= other) }
        // Adding in two steps is adding once.
        prop_assert_eq!(cal.add_business_minutes(due, m2).unwrap(),
            cal.add_business_minutes(start, m1 + m2).unwrap());
        // A positive amount ends inside or at the end of open time (everything here is
        // in whole seconds, so the last second before the due time was open).
        if m1 > 0 {
            let second = TimeDelta::seconds(1);
            prop_assert_eq!(cal.business_time_between(due - second, due).unwrap(), second);
        }
    }

    #[test]
    fn business_time_between_adds_up(cal in calendar(), a in instant(), b in instant(), c in instant()) {
        let ab = cal.business_time_between(a, b).unwrap();
        let bc = cal.business_time_between(b, c).unwrap();
        prop_assert_eq!(cal.business_time_between(a, c).unwrap(), ab + bc);
        prop_assert!(ab.abs() <= (b - a).abs());
    }

    #[test]
    fn always_open_is_wall_clock_time(zone in 0..ZONES.len(), a in instant(), b in instant(), m in 0u32..200_000) {
        let cal = Calendar::always_open(ZONES[zone]);
        prop_assert_eq!(cal.add_business_minutes(a, m).unwrap(), a + minutes(i64::from(m)));
        prop_assert_eq!(cal.business_time_between(a, b).unwrap(), b - a);
        prop_assert!(cal.is_open_at(a).unwrap());
    }

    #[test]
    fn open_at_agrees_with_business_time(cal in calendar(), t in instant()) {
        // Open at an instant exactly when the next second is all business time.
        let second = TimeDelta::seconds(1);
        let open = cal.is_open_at(t).unwrap();
        let ahead = cal.business_time_between(t, t + second).unwrap();
        prop_assert_eq!(open, ahead == second, "{} {:?}", t, ahead);
    }
}
