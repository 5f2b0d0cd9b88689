//! SLA clocks, pauses, warnings and the escalation ladder: worked examples (issue 16's
//! acceptance among them) and properties.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use forecourt_core::business_time::{Calendar, WeekHours};
use forecourt_core::sla::{
    EscalationLadder, EscalationLevel, Pause, Severity, SlaClock, SlaPolicy,
};
use proptest::prelude::*;

fn pause(from: &str, until: Option<&str>) -> Pause {
    Pause {
        from: sh(from),
        until: until.map(sh),
    }
}

#[test]
fn a_pause_spanning_a_night_counts_only_its_business_hours() {
    let cal = Calendar::new(SHANGHAI, office());
    let started = sh("2026-03-09 09:00"); // a Monday
    let plain = SlaClock::new(&cal, started, 600, &[]).unwrap();
    assert_eq!(plain.due_at(started).unwrap(), sh("2026-03-10 09:00"));
    // Waiting for the customer from Monday 17:00 to Tuesday 09:00: two business hours,
    // not sixteen wall-clock ones.
    let night = pause("2026-03-09 17:00", Some("2026-03-10 09:00"));
    let later = sh("2026-03-12 12:00");
    let clock = SlaClock::new(&cal, started, 600, &[night]).unwrap();
    assert_eq!(clock.paused(later).unwrap(), minutes(120));
    assert_eq!(clock.due_at(later).unwrap(), sh("2026-03-10 11:00"));
    assert_eq!(clock.elapsed(sh("2026-03-10 11:00")).unwrap(), minutes(600));
    // At a 24-hour station the same night is sixteen hours.
    let always = Calendar::always_open(SHANGHAI);
    let clock = SlaClock::new(&always, started, 600, &[night]).unwrap();
    assert_eq!(clock.paused(later).unwrap(), minutes(16 * 60));
    assert_eq!(clock.due_at(later).unwrap(), sh("2026-03-10 11:00"));
}

/// Issue 16, acceptance 2: two waits of two business hours each move the resolution due
/// time by exactly four business hours.
#[test]
fn every_pause_adds_up() {
    let cal = Calendar::new(SHANGHAI, office());
    let started = sh("2026-03-09 09:00");
    let target = 1_440; // 24 business hours: due Wednesday 13:00 without pauses
    let due = SlaClock::new(&cal, started, target, &[])
        .unwrap()
        .due_at(started)
        .unwrap();
    assert_eq!(due, sh("2026-03-11 13:00"));
    let pauses = [
        // Monday 16:00–18:00: two hours.
        pause("2026-03-09 16:00", Some("2026-03-09 18:00")),
        // Tuesday 17:00 to Wednesday 09:00: one hour each side of the night.
        pause("2026-03-10 17:00", Some("2026-03-11 09:00")),
    ];
    let now = sh("2026-03-20 12:00");
    let clock = SlaClock::new(&cal, started, target, &pauses).unwrap();
    assert_eq!(clock.paused(now).unwrap(), minutes(240));
    let moved = clock.due_at(now).unwrap();
    assert_eq!(moved, sh("2026-03-11 17:00"));
    assert_eq!(cal.business_minutes_between(due, moved).unwrap(), 240);
    // Given in any order, and overlapping ones count once.
    let mut shuffled = vec![
        pauses[1],
        pauses[0],
        pause("2026-03-09 16:30", Some("2026-03-09 17:30")),
    ];
    assert_eq!(
        SlaClock::new(&cal, started, target, &shuffled)
            .unwrap()
            .due_at(now)
            .unwrap(),
        moved
    );
    // An open pause must be the latest one, and a pause cannot end before it starts.
    shuffled.push(pause("2026-03-09 10:00", None));
    assert!(SlaClock::new(&cal, started, target, &shuffled).is_err());
    assert!(SlaClock::new(
        &cal,
        started,
        target,
        &[pause("2026-03-10 10:00", Some("2026-03-10 09:00"))]
    )
    .is_err());
}

#[test]
fn an_open_pause_holds_the_clock() {
    let cal = Calendar::new(SHANGHAI, office());
    let started = sh("2026-03-09 09:00");
    let waiting = [pause("2026-03-11 12:00", None)];
    let clock = SlaClock::new(&cal, started, 1_440, &waiting).unwrap();
    assert!(clock.is_paused(sh("2026-03-13 12:00")));
    assert!(!clock.is_paused(sh("2026-03-11 11:59")));
    // While it lasts, the due time is where it would be if the clock ran again now, and
    // it never breaches.
    assert_eq!(
        clock.due_at(sh("2026-03-12 12:00")).unwrap(),
        sh("2026-03-12 13:00")
    );
    assert!(!clock.breached(sh("2026-03-16 12:00")).unwrap());
    assert_eq!(
        clock
            .elapsed_business_minutes(sh("2026-03-16 12:00"))
            .unwrap(),
        1_380
    );
    // Resumed on Monday at 10:00: an hour left.
    let resumed = [pause("2026-03-11 12:00", Some("2026-03-16 10:00"))];
    let clock = SlaClock::new(&cal, started, 1_440, &resumed).unwrap();
    assert_eq!(
        clock.due_at(sh("2026-03-16 10:00")).unwrap(),
        sh("2026-03-16 11:00")
    );
}

#[test]
fn a_pause_after_the_breach_does_not_undo_it() {
    let cal = Calendar::new(SHANGHAI, office());
    let started = sh("2026-03-09 09:00");
    let late = [pause("2026-03-12 09:00", Some("2026-03-13 09:00"))];
    let clock = SlaClock::new(&cal, started, 1_440, &late).unwrap();
    let now = sh("2026-03-20 12:00");
    assert_eq!(clock.due_at(now).unwrap(), sh("2026-03-11 13:00"));
    assert!(clock.breached(now).unwrap());
}

#[test]
fn warning_breach_and_stop() {
    let cal = Calendar::new(SHANGHAI, office());
    let started = sh("2026-03-09 09:00");
    let clock = SlaClock::new(&cal, started, 240, &[]).unwrap();
    assert_eq!(clock.warning_at(started).unwrap(), sh("2026-03-09 12:00"));
    assert_eq!(clock.used_permille(sh("2026-03-09 11:59")).unwrap(), 745);
    assert_eq!(clock.used_permille(sh("2026-03-09 12:00")).unwrap(), 750);
    assert_eq!(
        clock.remaining(sh("2026-03-09 12:00")).unwrap(),
        minutes(60)
    );
    let due = clock.due_at(started).unwrap();
    assert_eq!(due, sh("2026-03-09 13:00"));
    assert!(!clock.breached(due).unwrap());
    assert!(clock.breached(due + TimeDelta::seconds(1)).unwrap());
    assert_eq!(
        clock.remaining(sh("2026-03-09 14:00")).unwrap(),
        minutes(-60)
    );
    assert_eq!(clock.used_permille(sh("2026-03-09 14:00")).unwrap(), 1_250);
    // Answered at 12:30: never breached, however late it is read.
    let answered = clock.clone().stopped_at(sh("2026-03-09 12:30"));
    assert!(!answered.breached(sh("2026-04-01 12:00")).unwrap());
    assert_eq!(
        answered
            .elapsed_business_minutes(sh("2026-04-01 12:00"))
            .unwrap(),
        210
    );
    assert!(answered.is_paused(sh("2026-04-01 12:00")));
    // Answered at 13:30: late for good.
    let late = clock.stopped_at(sh("2026-03-09 13:30"));
    assert!(late.breached(sh("2026-04-01 12:00")).unwrap());
}

#[test]
fn escalation_climbs_the_ladder_on_business_time() {
    let cal = Calendar::new(SHANGHAI, office());
    let ladder = EscalationLadder::new(60, 240).unwrap();
    let started = sh("2026-03-09 09:00");
    let clock = SlaClock::new(&cal, started, 180, &[]).unwrap(); // due Monday 12:00
    let deadline = |l| ladder.deadline(&clock, l, started).unwrap();
    assert_eq!(
        deadline(EscalationLevel::StationManager),
        sh("2026-03-09 12:00")
    );
    assert_eq!(
        deadline(EscalationLevel::RegionManager),
        sh("2026-03-09 13:00")
    );
    assert_eq!(
        deadline(EscalationLevel::Headquarters),
        sh("2026-03-09 16:00")
    );

    let step = ladder.step(&clock, sh("2026-03-09 11:00"), None).unwrap();
    assert!(step.notify.is_empty());
    assert_eq!(
        step.next,
        Some((EscalationLevel::StationManager, sh("2026-03-09 12:00")))
    );
    assert_eq!(
        ladder.level_at(&clock, sh("2026-03-09 12:00")).unwrap(),
        None
    );
    let step = ladder
        .step(
            &clock,
            sh("2026-03-09 12:00") + TimeDelta::seconds(30),
            None,
        )
        .unwrap();
    assert_eq!(step.notify, vec![EscalationLevel::StationManager]);
    assert_eq!(
        step.next,
        Some((EscalationLevel::RegionManager, sh("2026-03-09 13:00")))
    );
    // A runner that was down catches up, lowest level first.
    let step = ladder.step(&clock, sh("2026-03-09 13:01"), None).unwrap();
    assert_eq!(
        step.notify,
        vec![
            EscalationLevel::StationManager,
            EscalationLevel::RegionManager
        ]
    );
    let step = ladder
        .step(
            &clock,
            sh("2026-03-09 17:00"),
            Some(EscalationLevel::RegionManager),
        )
        .unwrap();
    assert_eq!(step.notify, vec![EscalationLevel::Headquarters]);
    assert_eq!(step.next, None);
    assert_eq!(EscalationLevel::Headquarters.number(), 3);

    // Missed at 17:30 on a Friday: the region manager hears on Monday at 08:30.
    let friday = SlaClock::new(&cal, sh("2026-03-13 14:30"), 180, &[]).unwrap();
    assert_eq!(
        ladder
            .deadline(
                &friday,
                EscalationLevel::RegionManager,
                sh("2026-03-13 14:30")
            )
            .unwrap(),
        sh("2026-03-16 08:30")
    );

    // Waiting for the customer, or resolved: nothing fires.
    let paused = SlaClock::new(&cal, started, 180, &[pause("2026-03-09 12:30", None)]).unwrap();
    let step = ladder.step(&paused, sh("2026-03-09 15:00"), None).unwrap();
    assert!(step.notify.is_empty() && step.next.is_none());
    let resolved = clock.clone().stopped_at(sh("2026-03-09 12:10"));
    let step = ladder
        .step(&resolved, sh("2026-03-09 15:00"), None)
        .unwrap();
    assert!(step.notify.is_empty() && step.next.is_none());
    assert!(EscalationLadder::new(60, 60).is_err());
    assert!(EscalationLadder::new(0, 60).is_err());
}

#[test]
fn policies_per_severity() {
    for s in Severity::ALL {
        assert_eq!(Severity::parse(s.as_str()).unwrap(), s);
        let p = SlaPolicy::default_for(s);
        assert_eq!(
            SlaPolicy::new(p.first_response_minutes(), p.resolution_minutes()),
            Ok(p)
        );
    }
    assert!(Severity::parse("urgent").is_err());
    assert!(SlaPolicy::new(0, 10).is_err());
    assert!(SlaPolicy::new(20, 10).is_err());
    assert_eq!(SlaPolicy::new(240, 960).unwrap().resolution_minutes(), 960);
}

#[test]
fn a_clock_on_a_calendar_without_hours_has_no_due_time() {
    let cal = Calendar::new(SHANGHAI, WeekHours::closed());
    let clock = SlaClock::new(&cal, sh("2026-01-01 00:00"), 60, &[]).unwrap();
    assert!(clock.due_at(sh("2026-01-02 00:00")).is_err());
    assert_eq!(
        clock.elapsed(sh("2026-01-02 00:00")).unwrap(),
        TimeDelta::zero()
    );
}

fn any_pause() -> impl Strategy<Value = Pause> {
    (instant(), proptest::option::of(0i64..5 * 86_400)).prop_map(|(from, len)| Pause {
        from,
        until: len.map(|s| from + TimeDelta::seconds(s)),
    })
}

/// Closed pauses only (an open one must be the latest, which random ones are not).
fn closed_pauses() -> impl Strategy<Value = Vec<Pause>> {
    proptest::collection::vec(any_pause(), 0..5).prop_map(|ps| {
        ps.into_iter()
            .map(|p| Pause {
                until: Some(p.until.unwrap_or(p.from + TimeDelta::hours(3))),
                ..p
            })
            .collect()
    })
}

fn later_than_everything() -> DateTime<Utc> {
    at(chrono_tz::UTC, "2028-06-01 00:00")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_pause_never_brings_a_due_time_forward(
        cal in calendar(),
        start in instant(),
        target in 0u32..10_000,
        pauses in closed_pauses(),
        extra in any_pause(),
    ) {
        prop_assume!(has_weekly_hours(&cal));
        let now = later_than_everything();
        let clock = SlaClock::new(&cal, start, target, &pauses).unwrap();
        let due = clock.due_at(now).unwrap();
        prop_assert!(due >= start);
        prop_assert!(due >= cal.add_business_minutes(start, target).unwrap());
        // One more pause, open (lasting until now) or closed.
        let mut more = pauses.clone();
        let extra = match extra.until {
            None if pauses.iter().any(|p| p.from > extra.from) => Pause { until: Some(extra.from), ..extra },
            _ => extra,
        };
        more.push(extra);
        let paused_more = SlaClock::new(&cal, start, target, &more).unwrap();
        prop_assert!(paused_more.due_at(now).unwrap() >= due);
        // The running time at the due time is the target, and a moment later the target
        // is breached.
        prop_assert_eq!(clock.elapsed(due).unwrap(), minutes(i64::from(target)));
        prop_assert!(!clock.breached(due).unwrap());
        prop_assert!(clock.breached(due + TimeDelta::nanoseconds(1)).unwrap());
        // When every pause ends before the due time, the due time is the start plus the
        // target plus every pause's business time.
        if pauses.iter().all(|p| p.until.unwrap() <= due) {
            let sum = clock.paused(now).unwrap();
            prop_assert_eq!(due, cal.add_business_time(start, minutes(i64::from(target)) + sum).unwrap());
        }
    }

    #[test]
    fn the_clock_reads_consistently(
        cal in calendar(),
        start in instant(),
        target in 1u32..10_000,
        pauses in closed_pauses(),
        now in instant(),
    ) {
        prop_assume!(has_weekly_hours(&cal));
        let clock = SlaClock::new(&cal, start, target, &pauses).unwrap();
        let elapsed = clock.elapsed(now).unwrap();
        prop_assert!(elapsed >= TimeDelta::zero());
        let span = cal.business_time_between(start, now).unwrap().max(TimeDelta::zero());
        prop_assert_eq!(elapsed + clock.paused(now).unwrap(), span);
        prop_assert_eq!(clock.remaining(now).unwrap(), minutes(i64::from(target)) - elapsed);
        // The running time only grows, so it has reached an amount exactly when the
        // instant at which it reaches it has come.
        let due = clock.due_at(now).unwrap();
        prop_assert_eq!(elapsed >= minutes(i64::from(target)), now >= due);
        prop_assert_eq!(clock.breached(now).unwrap(), now > due);
        let warning = clock.warning_at(now).unwrap();
        prop_assert!(warning <= due);
        prop_assert_eq!(clock.used_permille(now).unwrap() >= 750, now >= warning);
    }

    #[test]
    fn escalation_levels_come_in_order(
        cal in calendar(),
        start in instant(),
        target in 1u32..5_000,
        pauses in closed_pauses(),
        probe in instant(),
    ) {
        prop_assume!(has_weekly_hours(&cal));
        let ladder = EscalationLadder::default();
        let clock = SlaClock::new(&cal, start, target, &pauses).unwrap();
        let d: Vec<_> = EscalationLevel::ALL.iter()
            .map(|l| ladder.deadline(&clock, *l, probe).unwrap()).collect();
        prop_assert!(d[0] <= d[1] && d[1] <= d[2]);
        prop_assert_eq!(d[0], clock.due_at(probe).unwrap());
        let level = ladder.level_at(&clock, probe).unwrap();
        prop_assert_eq!(level.is_some(), clock.breached(probe).unwrap());
        let step = ladder.step(&clock, probe, None).unwrap();
        if clock.is_paused(probe) {
            prop_assert!(step.notify.is_empty() && step.next.is_none());
        } else {
            prop_assert_eq!(step.notify.last().copied(), level);
            if let Some((next, when)) = step.next {
                prop_assert!(Some(next) > level && when >= probe);
            }
        }
    }
}
