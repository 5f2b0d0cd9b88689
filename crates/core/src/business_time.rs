//! Business time (SPEC "Service desk"): a station's calendar and arithmetic in the hours
//! it is open.
//!
//! A [`Calendar`] is a time zone, opening hours per weekday (several intervals a day,
//! intervals crossing midnight, or the whole day), public holidays (closed whatever the
//! weekday) and make-up working days (China's 调休: a weekend day that is worked, with
//! `workday_hours`, by default Monday's hours). A list of closed days cannot express a
//! worked Saturday, which is why both lists exist.
//!
//! Rules that hold throughout:
//! - An opening interval belongs to the local day it starts on. Monday's 22:00–06:00 runs
//!   into Tuesday morning even when Tuesday is a holiday, and a holiday Monday removes
//!   that night, because the shift is Monday's.
//! - A local time is turned into an instant as the first instant at which the station's
//!   wall clock shows that time or later. A time skipped by a daylight-saving jump opens
//!   (or closes) at the jump; a time that occurs twice counts at its first occurrence.
//!   The rule is monotonic, so intervals stay ordered, and a day of 00:00–24:00 is as
//!   long as the day really is (23 or 25 hours on a transition day), which keeps an
//!   always-open calendar equal to wall-clock time in every zone.
//! - Business time is exact (nanoseconds, like `TimeDelta`); minutes are the unit of the
//!   API, and a count of minutes between two instants is truncated toward zero.
//! - Every scan is bounded: a calendar that has no open hours for
//!   [`MAX_CLOSED_DAYS`] consecutive days, or a computation that would look at more than
//!   [`MAX_SCAN_DAYS`] days, is an error, never an endless loop.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use crate::DomainError;

mod china_data;

/// At most this many consecutive days without an open minute are scanned before a
/// computation gives up (ten years: no real station is closed that long, and a calendar
/// with no hours at all must fail instead of looping).
pub const MAX_CLOSED_DAYS: u32 = 3_660;
/// At most this many days are scanned by one computation (a century). With a target of
/// at most [`MAX_TARGET_MINUTES`] business minutes no real calendar gets near it.
pub const MAX_SCAN_DAYS: u32 = 36_600;
/// The largest target, in business minutes, that the SLA types accept (a year of
/// round-the-clock minutes).
pub const MAX_TARGET_MINUTES: u32 = 366 * 24 * 60;
/// At most this many opening intervals on one day.
pub const MAX_INTERVALS_PER_DAY: usize = 8;
/// At most this many holidays, and as many make-up working days, in one calendar.
pub const MAX_SPECIAL_DATES: usize = 5_000;

const MINUTES_PER_DAY: u16 = 24 * 60;
/// The longest daylight-saving (or calendar) jump looked across when a local time does
/// not exist. Samoa skipped a whole day in 2011; nothing skipped more.
const MAX_GAP_MINUTES: i64 = 26 * 60;

/// A stretch of time from its first instant up to (not including) its second.
type Span = (DateTime<Utc>, DateTime<Utc>);

/// Why a business-time computation has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusinessTimeError {
    #[error("the calendar has no open hours in {days} consecutive days")]
    NoOpenHours { days: u32 },
    #[error("the computation would scan more than {days} days of the calendar")]
    ScanLimit { days: u32 },
    #[error("a business duration cannot be negative")]
    NegativeDuration,
    #[error("the time is outside the supported range")]
    OutOfRange,
}

/// One opening interval in local time: it starts at `start_minute` after midnight and
/// lasts `minutes` (1 to 1440), so it may run past midnight into the next day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpeningInterval {
    start_minute: u16,
    minutes: u16,
}

impl OpeningInterval {
    /// The whole day, 00:00–24:00.
    pub const ALL_DAY: OpeningInterval = OpeningInterval {
        start_minute: 0,
        minutes: MINUTES_PER_DAY,
    };

    pub fn new(start_minute: u16, minutes: u16) -> Result<Self, DomainError> {
        if start_minute >= MINUTES_PER_DAY {
            return Err(DomainError::invalid(
                "hours",
                "an opening time is 00:00 to 23:59",
            ));
        }
        if minutes == 0 || minutes > MINUTES_PER_DAY {
            return Err(DomainError::invalid(
                "hours",
                "an opening interval lasts between one minute and 24 hours",
            ));
        }
        Ok(OpeningInterval {
            start_minute,
            minutes,
        })
    }

    /// Parses `"08:00"`, `"18:00"`. The close may be `"24:00"`; a close at or before the
    /// open means the interval runs past midnight (`"22:00"`, `"06:00"`), except that
    /// equal times are refused as ambiguous: a whole day is `"00:00"`, `"24:00"`.
    pub fn parse(open: &str, close: &str) -> Result<Self, DomainError> {
        let start = parse_hhmm(open)?;
        let end = parse_hhmm(close)?;
        if start == MINUTES_PER_DAY {
            return Err(DomainError::invalid(
                "hours",
                "an opening time is 00:00 to 23:59",
            ));
        }
        if start == end || (start == 0 && end == 0) {
            return Err(DomainError::invalid(
                "hours",
                "opening and closing times are equal; a whole day is 00:00 to 24:00",
            ));
        }
        let minutes = if end > start {
            end - start
        } else {
            end + MINUTES_PER_DAY - start
        };
        OpeningInterval::new(start, minutes)
    }

    pub fn start_minute(self) -> u16 {
        self.start_minute
    }

    pub fn minutes(self) -> u16 {
        self.minutes
    }

    /// The closing minute after the opening day's midnight (more than 1440 when the
    /// interval runs into the next day).
    pub fn end_minute(self) -> u16 {
        self.start_minute + self.minutes
    }

    pub fn crosses_midnight(self) -> bool {
        self.end_minute() > MINUTES_PER_DAY
    }
}

fn parse_hhmm(s: &str) -> Result<u16, DomainError> {
    let bad = || DomainError::invalid("hours", format!("{s:?} is not a time of day as HH:MM"));
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn check_day(intervals: &[OpeningInterval]) -> Result<Vec<OpeningInterval>, DomainError> {
    if intervals.len() > MAX_INTERVALS_PER_DAY {
        return Err(DomainError::invalid(
            "hours",
            format!("at most {MAX_INTERVALS_PER_DAY} opening intervals a day"),
        ));
    }
    // Sorted by opening time, so that the intervals of consecutive days come out in
    // order; overlaps are allowed and merge when the time is counted.
    let mut day = intervals.to_vec();
    day.sort();
    day.dedup();
    Ok(day)
}

/// Opening hours for each weekday.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WeekHours {
    /// Indexed by `Weekday::num_days_from_monday`.
    days: [Vec<OpeningInterval>; 7],
}

impl WeekHours {
    /// Closed every day (a start to which days are added with [`WeekHours::with_day`]).
    pub fn closed() -> Self {
        WeekHours::default()
    }

    /// Open round the clock, every day.
    pub fn all_day() -> Self {
        WeekHours {
            days: std::array::from_fn(|_| vec![OpeningInterval::ALL_DAY]),
        }
    }

    /// The same hours Monday to Friday, closed at the weekend.
    pub fn monday_to_friday(intervals: &[OpeningInterval]) -> Result<Self, DomainError> {
        let day = check_day(intervals)?;
        Ok(WeekHours {
            days: std::array::from_fn(|i| if i < 5 { day.clone() } else { Vec::new() }),
        })
    }

    /// The same hours every day of the week.
    pub fn every_day(intervals: &[OpeningInterval]) -> Result<Self, DomainError> {
        let day = check_day(intervals)?;
        Ok(WeekHours {
            days: std::array::from_fn(|_| day.clone()),
        })
    }

    /// These hours with one weekday's replaced (an empty list closes it).
    pub fn with_day(
        mut self,
        weekday: Weekday,
        intervals: &[OpeningInterval],
    ) -> Result<Self, DomainError> {
        self.days[weekday.num_days_from_monday() as usize] = check_day(intervals)?;
        Ok(self)
    }

    pub fn on(&self, weekday: Weekday) -> &[OpeningInterval] {
        &self.days[weekday.num_days_from_monday() as usize]
    }
}

/// What a date is in a calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    /// An ordinary day, with its weekday's hours (which may be none: a weekend).
    Regular,
    /// A public holiday: closed whatever its weekday.
    Holiday,
    /// A make-up working day (调休), worked with the calendar's working-day hours.
    MakeUpWorkday,
}

/// A station's business calendar. Build it with [`Calendar::new`] and the `with_`
/// methods, or start from [`Calendar::china_mainland`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    time_zone: Tz,
    week: WeekHours,
    /// The hours of a make-up working day; `None` means Monday's.
    workday_hours: Option<Vec<OpeningInterval>>,
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
}

impl Calendar {
    pub fn new(time_zone: Tz, week: WeekHours) -> Self {
        Calendar {
            time_zone,
            week,
            workday_hours: None,
            holidays: BTreeSet::new(),
            workdays: BTreeSet::new(),
        }
    }

    /// Open round the clock in `time_zone`, with no holidays: business time is wall-clock
    /// time.
    pub fn always_open(time_zone: Tz) -> Self {
        Calendar::new(time_zone, WeekHours::all_day())
    }

    /// China mainland's public holidays and make-up working days for the years the
    /// product ships data for ([`china_data_years`]), in `Asia/Shanghai`, with these
    /// weekly hours. The data comes from `scripts/china_calendar.py`; a station's
    /// calendar is seeded from it and can then be changed.
    pub fn china_mainland(week: WeekHours) -> Self {
        let mut c = Calendar::new(chrono_tz::Asia::Shanghai, week);
        c.holidays = china_holidays().map(|(d, _)| d).collect();
        c.workdays = china_make_up_workdays().map(|(d, _)| d).collect();
        c
    }

    /// Parses an IANA time-zone name such as `Asia/Shanghai`.
    pub fn parse_time_zone(name: &str) -> Result<Tz, DomainError> {
        name.parse()
            .map_err(|_| DomainError::invalid("timezone", format!("unknown time zone {name:?}")))
    }

    /// Adds public holidays. A date that is already a make-up working day is refused:
    /// one date cannot be both, and silently letting one list win would hide a typo.
    pub fn with_holidays(
        mut self,
        dates: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Self, DomainError> {
        for d in dates {
            if self.workdays.contains(&d) {
                return Err(DomainError::invalid(
                    "holidays",
                    format!("{d} is also a make-up working day"),
                ));
            }
            self.holidays.insert(d);
            if self.holidays.len() > MAX_SPECIAL_DATES {
                return Err(DomainError::invalid(
                    "holidays",
                    format!("at most {MAX_SPECIAL_DATES} holidays"),
                ));
            }
        }
        Ok(self)
    }

    /// Adds make-up working days (调休). A date that is already a holiday is refused.
    pub fn with_workdays(
        mut self,
        dates: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Self, DomainError> {
        for d in dates {
            if self.holidays.contains(&d) {
                return Err(DomainError::invalid(
                    "workdays",
                    format!("{d} is also a holiday"),
                ));
            }
            self.workdays.insert(d);
            if self.workdays.len() > MAX_SPECIAL_DATES {
                return Err(DomainError::invalid(
                    "workdays",
                    format!("at most {MAX_SPECIAL_DATES} make-up working days"),
                ));
            }
        }
        Ok(self)
    }

    /// The hours of a make-up working day (by default Monday's).
    pub fn with_workday_hours(
        mut self,
        intervals: &[OpeningInterval],
    ) -> Result<Self, DomainError> {
        self.workday_hours = Some(check_day(intervals)?);
        Ok(self)
    }

    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    pub fn week(&self) -> &WeekHours {
        &self.week
    }

    pub fn holidays(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.holidays.iter().copied()
    }

    pub fn workdays(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.workdays.iter().copied()
    }

    /// The hours of a make-up working day: the configured ones, or Monday's.
    pub fn workday_hours(&self) -> &[OpeningInterval] {
        self.workday_hours
            .as_deref()
            .unwrap_or_else(|| self.week.on(Weekday::Mon))
    }

    pub fn day_kind(&self, date: NaiveDate) -> DayKind {
        if self.holidays.contains(&date) {
            DayKind::Holiday
        } else if self.workdays.contains(&date) {
            DayKind::MakeUpWorkday
        } else {
            DayKind::Regular
        }
    }

    /// The opening intervals that start on `date` (local).
    pub fn hours_on(&self, date: NaiveDate) -> &[OpeningInterval] {
        match self.day_kind(date) {
            DayKind::Holiday => &[],
            DayKind::MakeUpWorkday => self.workday_hours(),
            DayKind::Regular => self.week.on(date.weekday()),
        }
    }

    /// Whether the station opens on `date` (has an interval starting that day).
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !self.hours_on(date).is_empty()
    }

    /// Whether the station is open at `at` (an interval's opening instant is inside it,
    /// its closing instant is not).
    pub fn is_open_at(&self, at: DateTime<Utc>) -> Result<bool, BusinessTimeError> {
        let mut open = self.open_pieces(at, at.checked_add_signed(TimeDelta::nanoseconds(1)));
        Ok(matches!(open.next_piece()?, Some((s, _)) if s == at))
    }

    /// The first instant at which `start` plus `minutes` of business time have passed.
    /// Zero minutes is `start` itself, even when the station is closed; otherwise the
    /// answer is inside or at the end of an opening interval (17:30 plus 30 minutes at a
    /// station closing at 18:00 is 18:00, not the next opening).
    pub fn add_business_minutes(
        &self,
        start: DateTime<Utc>,
        minutes: u32,
    ) -> Result<DateTime<Utc>, BusinessTimeError> {
        self.add_business_time(start, TimeDelta::minutes(i64::from(minutes)))
    }

    /// [`Calendar::add_business_minutes`] for any non-negative duration.
    pub fn add_business_time(
        &self,
        start: DateTime<Utc>,
        duration: TimeDelta,
    ) -> Result<DateTime<Utc>, BusinessTimeError> {
        if duration < TimeDelta::zero() {
            return Err(BusinessTimeError::NegativeDuration);
        }
        if duration.is_zero() {
            return Ok(start);
        }
        let mut left = duration;
        let mut open = self.open_pieces(start, None);
        loop {
            let Some((s, e)) = open.next_piece()? else {
                // Without a horizon the pieces only end through an error.
                return Err(BusinessTimeError::OutOfRange);
            };
            let piece = e - s;
            if piece >= left {
                return s
                    .checked_add_signed(left)
                    .ok_or(BusinessTimeError::OutOfRange);
            }
            left -= piece;
        }
    }

    /// The business time from `from` to `to`: the open time between them, negative when
    /// `to` is before `from`.
    pub fn business_time_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<TimeDelta, BusinessTimeError> {
        if to < from {
            return Ok(-self.business_time_between(to, from)?);
        }
        let mut total = TimeDelta::zero();
        let mut open = self.open_pieces(from, Some(to));
        while let Some((s, e)) = open.next_piece()? {
            if s >= to {
                break;
            }
            total += e.min(to) - s;
        }
        Ok(total)
    }

    /// Whole business minutes from `from` to `to`, truncated toward zero.
    pub fn business_minutes_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<i64, BusinessTimeError> {
        Ok(self.business_time_between(from, to)?.num_minutes())
    }

    /// The open time from `from` on, as disjoint pieces in order. With `horizon`, the
    /// pieces stop once no interval can start before it.
    fn open_pieces(&self, from: DateTime<Utc>, horizon: Option<DateTime<Utc>>) -> OpenPieces<'_> {
        // An interval of the previous local day may still be open at `from`; one of the
        // day before that cannot be, since an interval is at most a day long.
        let day = from
            .with_timezone(&self.time_zone)
            .date_naive()
            .pred_opt()
            .unwrap_or(NaiveDate::MIN);
        OpenPieces {
            calendar: self,
            day,
            cursor: from,
            horizon,
            queued: Vec::new(),
            days_scanned: 0,
            closed_days: 0,
        }
    }

    /// The interval `iv` of local day `date` as instants; `None` when a daylight-saving
    /// jump swallows all of it.
    fn instants(
        &self,
        date: NaiveDate,
        iv: OpeningInterval,
    ) -> Result<Option<Span>, BusinessTimeError> {
        let midnight = date.and_time(chrono::NaiveTime::MIN);
        let local = |m: u16| {
            midnight
                .checked_add_signed(TimeDelta::minutes(i64::from(m)))
                .ok_or(BusinessTimeError::OutOfRange)
        };
        let s = first_instant_at_or_after(self.time_zone, local(iv.start_minute)?)?;
        let e = first_instant_at_or_after(self.time_zone, local(iv.end_minute())?)?;
        Ok((e > s).then_some((s, e)))
    }
}

/// The first instant at which the wall clock of `tz` shows `local` or later.
fn first_instant_at_or_after(
    tz: Tz,
    local: NaiveDateTime,
) -> Result<DateTime<Utc>, BusinessTimeError> {
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return Ok(t.with_timezone(&Utc));
    }
    // `local` falls in a gap: the clock jumped over it. The first whole minute after it
    // that exists is the instant of the jump (tz data has put every transition since
    // the 1970s on a whole minute).
    for k in 1..=MAX_GAP_MINUTES {
        let later = local
            .checked_add_signed(TimeDelta::minutes(k))
            .ok_or(BusinessTimeError::OutOfRange)?;
        if let Some(t) = tz.from_local_datetime(&later).earliest() {
            return Ok(t.with_timezone(&Utc));
        }
    }
    Err(BusinessTimeError::OutOfRange)
}

/// The open time of a calendar from a cursor on, day by day.
struct OpenPieces<'c> {
    calendar: &'c Calendar,
    /// The next local day whose intervals to read.
    day: NaiveDate,
    /// Everything before it has been handed out (or was before the start).
    cursor: DateTime<Utc>,
    horizon: Option<DateTime<Utc>>,
    /// The current day's intervals as instants, the last one first.
    queued: Vec<Span>,
    days_scanned: u32,
    closed_days: u32,
}

impl OpenPieces<'_> {
    fn next_piece(&mut self) -> Result<Option<Span>, BusinessTimeError> {
        loop {
            while let Some((s, e)) = self.queued.pop() {
                // Intervals come in order of their start, so clipping each to the cursor
                // leaves disjoint pieces that cover the union (a long overnight interval
                // swallows the next morning's shorter one).
                let s = s.max(self.cursor);
                if e > s {
                    self.cursor = e;
                    self.closed_days = 0;
                    return Ok(Some((s, e)));
                }
            }
            let cal = self.calendar;
            if let Some(h) = self.horizon {
                let day_start = first_instant_at_or_after(
                    cal.time_zone,
                    self.day.and_time(chrono::NaiveTime::MIN),
                )?;
                if day_start >= h {
                    return Ok(None);
                }
            }
            if self.days_scanned >= MAX_SCAN_DAYS {
                return Err(BusinessTimeError::ScanLimit {
                    days: MAX_SCAN_DAYS,
                });
            }
            if self.closed_days >= MAX_CLOSED_DAYS {
                return Err(BusinessTimeError::NoOpenHours {
                    days: MAX_CLOSED_DAYS,
                });
            }
            self.days_scanned += 1;
            self.closed_days += 1;
            for iv in cal.hours_on(self.day).iter().rev() {
                if let Some(piece) = cal.instants(self.day, *iv)? {
                    self.queued.push(piece);
                }
            }
            self.day = self.day.succ_opt().ok_or(BusinessTimeError::OutOfRange)?;
        }
    }
}

/// The first and last year of the China mainland holiday data the product ships.
pub fn china_data_years() -> (i32, i32) {
    (china_data::FIRST_YEAR, china_data::LAST_YEAR)
}

/// China mainland's public holidays (every day off of each holiday period, weekends
/// inside it included) with the holiday's English name, in date order.
pub fn china_holidays() -> impl Iterator<Item = (NaiveDate, &'static str)> {
    china_data::HOLIDAYS
        .iter()
        .map(|&((y, m, d), name)| (ymd(y, m, d), name))
}

/// China mainland's make-up working days (调休), with the holiday each one pays for.
pub fn china_make_up_workdays() -> impl Iterator<Item = (NaiveDate, &'static str)> {
    china_data::WORKDAYS
        .iter()
        .map(|&((y, m, d), name)| (ymd(y, m, d), name))
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    // The data is generated from real dates; a bad one is a bug in the generator,
    // caught by the tests that read every entry.
    NaiveDate::from_ymd_opt(y, m, d).expect("generated China calendar dates are valid")
}
