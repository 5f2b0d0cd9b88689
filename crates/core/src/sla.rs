//! Service-level targets of the service desk (SPEC "Service desk", F8): policies per
//! severity, a ticket's SLA clock on its station's business calendar, the 75 % warning
//! and the escalation ladder.
//!
//! The clock measures *running* business time: the business time since the ticket was
//! opened, less the business time of every pause (waiting for the customer) that has
//! happened so far. A target is due at the first instant the running time reaches it,
//! which is the opening time plus the target plus every pause's business time up to then.
//! A pause that starts after that instant does not move it: the target was already
//! missed, and a breach stays a breach.
//!
//! Pure: `now` is always an argument, and the caller (the store, the job runner) decides
//! what to do with the answers.

use chrono::{DateTime, TimeDelta, Utc};

use crate::business_time::{BusinessTimeError, Calendar, MAX_TARGET_MINUTES};
use crate::DomainError;

/// A ticket's severity; each has its own policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Low,
    Normal,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Normal,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Normal => "normal",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                DomainError::invalid("severity", "severity is low, normal, high or critical")
            })
    }
}

/// The targets of one severity, in business minutes from the opening of the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaPolicy {
    first_response_minutes: u32,
    resolution_minutes: u32,
}

impl SlaPolicy {
    /// Both targets at least a minute and at most [`MAX_TARGET_MINUTES`]; the first
    /// response is not due after the resolution.
    pub fn new(first_response_minutes: u32, resolution_minutes: u32) -> Result<Self, DomainError> {
        for (field, m) in [
            ("first_response_minutes", first_response_minutes),
            ("resolution_minutes", resolution_minutes),
        ] {
            if m == 0 || m > MAX_TARGET_MINUTES {
                return Err(DomainError::invalid(
                    field,
                    format!("a target is 1 to {MAX_TARGET_MINUTES} business minutes"),
                ));
            }
        }
        if first_response_minutes > resolution_minutes {
            return Err(DomainError::invalid(
                "first_response_minutes",
                "the first response cannot be due after the resolution",
            ));
        }
        Ok(SlaPolicy {
            first_response_minutes,
            resolution_minutes,
        })
    }

    pub fn first_response_minutes(self) -> u32 {
        self.first_response_minutes
    }

    pub fn resolution_minutes(self) -> u32 {
        self.resolution_minutes
    }

    /// What a network starts with before its admins set their own: a critical ticket
    /// (a safety or metering fault) is answered within half an hour and resolved within
    /// half a working day; a low one within a working day and a week.
    pub fn default_for(severity: Severity) -> Self {
        let (first_response_minutes, resolution_minutes) = match severity {
            Severity::Critical => (30, 240),
            Severity::High => (60, 480),
            Severity::Normal => (240, 1_440),
            Severity::Low => (480, 2_880),
        };
        SlaPolicy {
            first_response_minutes,
            resolution_minutes,
        }
    }
}

/// A stretch of time in which a ticket's clock stands still (waiting for the customer).
/// `until` is `None` while the pause lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

/// At most this many pauses on one clock.
pub const MAX_PAUSES: usize = 1_000;
/// The warning to the ticket's owner goes out when this share of a target is used.
pub const WARNING_PERMILLE: u32 = 750;

/// One target of one ticket (its first response or its resolution) on the station's
/// calendar.
#[derive(Debug, Clone)]
pub struct SlaClock<'c> {
    calendar: &'c Calendar,
    started_at: DateTime<Utc>,
    target: TimeDelta,
    /// Sorted by start.
    pauses: Vec<Pause>,
    stopped_at: Option<DateTime<Utc>>,
}

impl<'c> SlaClock<'c> {
    /// A clock started at `started_at` (the ticket's opening) for `target_minutes`
    /// business minutes. Pauses may come in any order and may overlap (overlaps count
    /// once); a pause must not end before it starts, and only the latest may be open.
    pub fn new(
        calendar: &'c Calendar,
        started_at: DateTime<Utc>,
        target_minutes: u32,
        pauses: &[Pause],
    ) -> Result<Self, DomainError> {
        if target_minutes > MAX_TARGET_MINUTES {
            return Err(DomainError::invalid(
                "target_minutes",
                format!("a target is at most {MAX_TARGET_MINUTES} business minutes"),
            ));
        }
        if pauses.len() > MAX_PAUSES {
            return Err(DomainError::invalid(
                "pauses",
                format!("at most {MAX_PAUSES} pauses"),
            ));
        }
        let mut sorted = pauses.to_vec();
        sorted.sort_by_key(|p| (p.from, p.until.is_none(), p.until));
        for (i, p) in sorted.iter().enumerate() {
            match p.until {
                Some(u) if u < p.from => {
                    return Err(DomainError::invalid(
                        "pauses",
                        "a pause ends before it starts",
                    ))
                }
                None if i + 1 != sorted.len() => {
                    return Err(DomainError::invalid(
                        "pauses",
                        "only the latest pause can still be open",
                    ))
                }
                _ => {}
            }
        }
        Ok(SlaClock {
            calendar,
            started_at,
            target: TimeDelta::minutes(i64::from(target_minutes)),
            pauses: sorted,
            stopped_at: None,
        })
    }

    /// The same clock stopped at `at`: the target was met (the first response given, the
    /// ticket resolved or closed). Nothing after `at` counts, and nothing escalates.
    /// A reopened ticket continues the same clock: the caller drops the stop and
    /// records the time it was stopped as a pause.
    pub fn stopped_at(mut self, at: DateTime<Utc>) -> Self {
        self.stopped_at = Some(at);
        self
    }

    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    pub fn target(&self) -> TimeDelta {
        self.target
    }

    /// The moment the clock is read at: `now`, or the stop if it came first.
    fn reading_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.stopped_at.map_or(now, |s| s.min(now))
    }

    /// The pauses as disjoint closed stretches within [start, …), an open pause lasting
    /// until `at`, in order.
    fn pause_stretches(&self, at: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(self.pauses.len());
        for p in &self.pauses {
            let from = p.from.max(self.started_at);
            let until = p.until.unwrap_or(at.max(p.from)).max(from);
            if until == from {
                continue;
            }
            match out.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(until),
                _ => out.push((from, until)),
            }
        }
        out
    }

    /// Business time the clock stood still between its start and `now`.
    pub fn paused(&self, now: DateTime<Utc>) -> Result<TimeDelta, BusinessTimeError> {
        let at = self.reading_at(now);
        let mut total = TimeDelta::zero();
        for (from, until) in self.pause_stretches(at) {
            if from >= at {
                break;
            }
            total += self.calendar.business_time_between(from, until.min(at))?;
        }
        Ok(total)
    }

    /// Running business time between the start and `now` (zero before the start).
    pub fn elapsed(&self, now: DateTime<Utc>) -> Result<TimeDelta, BusinessTimeError> {
        let at = self.reading_at(now);
        if at <= self.started_at {
            return Ok(TimeDelta::zero());
        }
        let total = self.calendar.business_time_between(self.started_at, at)?;
        Ok(total - self.paused(now)?)
    }

    pub fn elapsed_business_minutes(&self, now: DateTime<Utc>) -> Result<i64, BusinessTimeError> {
        Ok(self.elapsed(now)?.num_minutes())
    }

    /// The target less the running time: negative once overdue.
    pub fn remaining(&self, now: DateTime<Utc>) -> Result<TimeDelta, BusinessTimeError> {
        Ok(self.target - self.elapsed(now)?)
    }

    /// The share of the target used, in thousandths (1000 = all of it; more when
    /// overdue). A target of zero is all used from the start.
    pub fn used_permille(&self, now: DateTime<Utc>) -> Result<u64, BusinessTimeError> {
        let elapsed = self.elapsed(now)?;
        let target_ms = self.target.num_milliseconds();
        if target_ms == 0 {
            return Ok(1000);
        }
        // Milliseconds are exact enough for a share and cannot overflow here: a target
        // is at most a year, an elapsed time at most a century.
        let used = elapsed.num_milliseconds().max(0) as u128 * 1000 / target_ms as u128;
        Ok(used as u64)
    }

    /// The first instant at which the running time reaches `amount`, reading open pauses
    /// as lasting until `now` (so while the clock is paused the answer moves with `now`:
    /// it is the due time if the clock ran again now).
    pub fn reaches_at(
        &self,
        amount: TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, BusinessTimeError> {
        if amount < TimeDelta::zero() {
            return Err(BusinessTimeError::NegativeDuration);
        }
        let mut left = amount;
        let mut cursor = self.started_at;
        for (from, until) in self.pause_stretches(self.reading_at(now)) {
            let running = self
                .calendar
                .business_time_between(cursor, from.max(cursor))?;
            if running >= left {
                break;
            }
            left -= running;
            cursor = cursor.max(until);
        }
        self.calendar.add_business_time(cursor, left)
    }

    /// When the target is due.
    pub fn due_at(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>, BusinessTimeError> {
        self.reaches_at(self.target, now)
    }

    /// When [`WARNING_PERMILLE`] of the target is used (rounded up to the next
    /// millisecond).
    pub fn warning_at(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>, BusinessTimeError> {
        let ms = self.target.num_milliseconds() * i64::from(WARNING_PERMILLE);
        self.reaches_at(TimeDelta::milliseconds((ms + 999) / 1000), now)
    }

    /// Whether the target was missed: the clock was read (at `now` or its stop) after
    /// the due time. Exactly at the due time is still in time.
    pub fn breached(&self, now: DateTime<Utc>) -> Result<bool, BusinessTimeError> {
        let at = self.reading_at(now);
        Ok(at > self.due_at(now)?)
    }

    /// Whether the clock stands still at `now` (stopped, or in a pause).
    pub fn is_paused(&self, now: DateTime<Utc>) -> bool {
        self.stopped_at.is_some_and(|s| s <= now)
            || self
                .pauses
                .iter()
                .any(|p| p.from <= now && p.until.is_none_or(|u| now < u))
    }
}

/// Who hears of a breached ticket, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EscalationLevel {
    StationManager = 1,
    RegionManager = 2,
    Headquarters = 3,
}

impl EscalationLevel {
    pub const ALL: [EscalationLevel; 3] = [
        EscalationLevel::StationManager,
        EscalationLevel::RegionManager,
        EscalationLevel::Headquarters,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EscalationLevel::StationManager => "station_manager",
            EscalationLevel::RegionManager => "region_manager",
            EscalationLevel::Headquarters => "hq",
        }
    }

    /// The number stored as the ticket's `escalation_level` (0 is none).
    pub fn number(self) -> u8 {
        self as u8
    }
}

/// When each level hears of a breach. The station manager hears at the breach itself
/// (the due time); the region manager and then headquarters after further running
/// business minutes. Business minutes rather than wall-clock ones, because a ticket
/// missed at a station's closing time should reach the region manager the next
/// morning, not at 3 a.m., and because a paused clock must not escalate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscalationLadder {
    region_after_minutes: u32,
    hq_after_minutes: u32,
}

impl Default for EscalationLadder {
    /// The region manager an hour of business time after the breach, headquarters four.
    fn default() -> Self {
        EscalationLadder {
            region_after_minutes: 60,
            hq_after_minutes: 240,
        }
    }
}

/// What the escalation job should do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationStep {
    /// Levels to notify now, lowest first: every level above the one already notified
    /// whose deadline has passed (several when the runner was down for a while).
    pub notify: Vec<EscalationLevel>,
    /// The next level and when it falls due if the clock keeps running (the time to
    /// schedule the next run at); `None` when the ladder is climbed or the clock is
    /// paused or stopped.
    pub next: Option<(EscalationLevel, DateTime<Utc>)>,
}

impl EscalationLadder {
    /// Both steps at least a minute after the breach, headquarters after the region.
    pub fn new(region_after_minutes: u32, hq_after_minutes: u32) -> Result<Self, DomainError> {
        if region_after_minutes == 0 || hq_after_minutes > MAX_TARGET_MINUTES {
            return Err(DomainError::invalid(
                "escalation",
                format!("escalation steps are 1 to {MAX_TARGET_MINUTES} business minutes after the breach"),
            ));
        }
        if hq_after_minutes <= region_after_minutes {
            return Err(DomainError::invalid(
                "escalation",
                "headquarters hears after the region manager",
            ));
        }
        Ok(EscalationLadder {
            region_after_minutes,
            hq_after_minutes,
        })
    }

    pub fn region_after_minutes(self) -> u32 {
        self.region_after_minutes
    }

    pub fn hq_after_minutes(self) -> u32 {
        self.hq_after_minutes
    }

    /// Running business time after the breach at which `level` hears.
    fn after_breach(self, level: EscalationLevel) -> TimeDelta {
        let minutes = match level {
            EscalationLevel::StationManager => 0,
            EscalationLevel::RegionManager => self.region_after_minutes,
            EscalationLevel::Headquarters => self.hq_after_minutes,
        };
        TimeDelta::minutes(i64::from(minutes))
    }

    /// When `level` falls due on `clock` (read at `now` for an open pause).
    pub fn deadline(
        self,
        clock: &SlaClock<'_>,
        level: EscalationLevel,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, BusinessTimeError> {
        clock.reaches_at(clock.target() + self.after_breach(level), now)
    }

    /// The highest level whose deadline has passed at `now` (the same strict "after"
    /// as [`SlaClock::breached`]); `None` before the breach.
    pub fn level_at(
        self,
        clock: &SlaClock<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<EscalationLevel>, BusinessTimeError> {
        let at = clock.reading_at(now);
        let mut reached = None;
        for level in EscalationLevel::ALL {
            if at > self.deadline(clock, level, now)? {
                reached = Some(level);
            } else {
                break;
            }
        }
        Ok(reached)
    }

    /// The decision of an escalation run at `now`, given the level already notified.
    /// A paused or stopped clock notifies nobody: a ticket waiting for its customer,
    /// resolved or closed does not escalate.
    pub fn step(
        self,
        clock: &SlaClock<'_>,
        now: DateTime<Utc>,
        notified: Option<EscalationLevel>,
    ) -> Result<EscalationStep, BusinessTimeError> {
        let idle = EscalationStep {
            notify: Vec::new(),
            next: None,
        };
        if clock.is_paused(now) {
            return Ok(idle);
        }
        let reached = self.level_at(clock, now)?;
        let notify: Vec<EscalationLevel> = EscalationLevel::ALL
            .into_iter()
            .filter(|l| Some(*l) > notified && Some(*l) <= reached)
            .collect();
        let above = reached.max(notified);
        let next = match EscalationLevel::ALL.into_iter().find(|l| Some(*l) > above) {
            Some(level) => Some((level, self.deadline(clock, level, now)?)),
            None => None,
        };
        Ok(EscalationStep { notify, next })
    }
}
