//! Business time: a UTC instant seen in a station's time zone.

use crate::error::AppError;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The server's clock: the system time, or in tests a time set by hand. Business time
/// (the day and month of card limits and usage, promotions' day rules, coupon validity)
/// is read from it and never from the till's `occurred_at`.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The system time.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that stands at `at_us` until it is set again (tests).
    pub fn fixed(at_us: i64) -> Self {
        Self(Some(Arc::new(AtomicI64::new(at_us))))
    }

    /// Moves a fixed clock; a system clock ignores it.
    pub fn set(&self, at_us: i64) {
        if let Some(t) = &self.0 {
            t.store(at_us, Ordering::SeqCst);
        }
    }

    pub fn now_us(&self) -> i64 {
        match &self.0 {
            Some(t) => t.load(Ordering::SeqCst),
            None => forecourt_store::now_us(),
        }
    }
}

/// How far a till's `occurred_at` may stand from the server's clock on the live POS
/// path. Anything outside is refused: a till cannot move a sale into another business
/// day or month (and so past a limit already reached) by back-dating it.
#[derive(Debug, Clone, Copy)]
pub struct Skew {
    pub behind_secs: i64,
    pub ahead_secs: i64,
}

impl Default for Skew {
    fn default() -> Self {
        Self {
            behind_secs: 5 * 60,
            ahead_secs: 60,
        }
    }
}

/// A live POS write's times: what the till said (recorded as it was sent) and the
/// server's time, which decides the business day.
#[derive(Debug, Clone, Copy)]
pub struct TillTime {
    pub occurred_at: i64,
    pub business_at: i64,
}

/// Reads a live till's `occurred_at` and checks it against the server's clock.
pub fn till_time(clock: &Clock, skew: Skew, field: &str, s: &str) -> Result<TillTime, AppError> {
    let occurred_at = parse_time(field, s)?;
    let now = clock.now_us();
    let early = now - skew.behind_secs * 1_000_000;
    let late = now + skew.ahead_secs * 1_000_000;
    if occurred_at < early || occurred_at > late {
        return Err(AppError::new(
            "occurred_at_out_of_range",
            format!(
                "{field} is {} but the server's time is {}: a live sale may be at most {} s behind or {} s ahead; post past sales through the bulk import",
                rfc3339(occurred_at),
                rfc3339(now),
                skew.behind_secs,
                skew.ahead_secs
            ),
        ));
    }
    Ok(TillTime {
        occurred_at,
        business_at: now,
    })
}

/// A moment in a station's local time, with the bounds of its business day and month
/// as UTC microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Local {
    /// The local calendar date.
    pub date: NaiveDate,
    pub weekday: u8,
    pub minute_of_day: u16,
    pub day_start_us: i64,
    pub day_end_us: i64,
    pub month_start_us: i64,
    pub month_end_us: i64,
}

pub fn tz(name: &str) -> Tz {
    name.parse().unwrap_or(chrono_tz::Asia::Shanghai)
}

/// The network's own time zone, for what belongs to no station (staff actions, the
/// daily loyalty run).
pub const NETWORK_TZ: &str = "Asia/Shanghai";

/// Today's date in the network's time zone.
pub fn network_today() -> NaiveDate {
    local(NETWORK_TZ, forecourt_store::now_us()).date
}

/// The first instant of the day after `date` in the network's time zone.
pub fn network_day_end_us(date: NaiveDate) -> i64 {
    midnight_us(tz(NETWORK_TZ), date.succ_opt().unwrap_or(date))
}

fn midnight_us(tz: Tz, date: NaiveDate) -> i64 {
    let naive = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|d| d.timestamp_micros())
        .unwrap_or_else(|| naive.and_utc().timestamp_micros())
}

pub fn local(tz_name: &str, at_us: i64) -> Local {
    let tz = tz(tz_name);
    let utc = DateTime::<Utc>::from_timestamp_micros(at_us).unwrap_or_default();
    let t = utc.with_timezone(&tz);
    let date = t.date_naive();
    let next_day = date.succ_opt().unwrap_or(date);
    let month_start = NaiveDate::from_ymd_opt(date.year(), date.month(), 1).unwrap_or(date);
    let next_month = if date.month() == 12 {
        NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(date.year(), date.month() + 1, 1)
    }
    .unwrap_or(date);
    Local {
        date,
        weekday: t.weekday().number_from_monday() as u8,
        minute_of_day: (t.hour() * 60 + t.minute()) as u16,
        day_start_us: midnight_us(tz, date),
        day_end_us: midnight_us(tz, next_day),
        month_start_us: midnight_us(tz, month_start),
        month_end_us: midnight_us(tz, next_month),
    }
}

/// Parses an RFC 3339 time from the till. Times more than a day ahead are refused (a
/// wrong clock); late ones are accepted, since a till may post after being offline.
pub fn parse_time(field: &str, s: &str) -> Result<i64, AppError> {
    let t = DateTime::parse_from_rfc3339(s).map_err(|_| {
        AppError::validation(field, "an RFC 3339 time, e.g. 2026-11-20T08:30:00+08:00")
    })?;
    let us = t.timestamp_micros();
    if us > forecourt_store::now_us() + 86_400_000_000 {
        return Err(AppError::validation(
            field,
            "the time is more than a day in the future",
        ));
    }
    if t.year() < 2000 {
        return Err(AppError::validation(
            field,
            "the time is before the year 2000",
        ));
    }
    Ok(us)
}

/// Parses an RFC 3339 time that may lie in the future: when a coupon or promotion
/// starts and ends, when a price takes effect. Refused before the year 2000 and from
/// the year 2100 (a typing slip, not a plan).
pub fn parse_moment(field: &str, s: &str) -> Result<i64, AppError> {
    let t = DateTime::parse_from_rfc3339(s).map_err(|_| {
        AppError::validation(field, "an RFC 3339 time, e.g. 2026-11-20T08:30:00+08:00")
    })?;
    if !(2000..2100).contains(&t.year()) {
        return Err(AppError::validation(
            field,
            "a time between the years 2000 and 2099",
        ));
    }
    Ok(t.timestamp_micros())
}

pub fn rfc3339(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_business_day() {
        // 2026-11-20T08:30+08:00 is a Friday; the day starts at 2026-11-19T16:00Z.
        let at = parse_time("t", "2026-11-20T08:30:00+08:00").unwrap();
        let l = local("Asia/Shanghai", at);
        assert_eq!(l.weekday, 5);
        assert_eq!(l.minute_of_day, 8 * 60 + 30);
        assert_eq!(rfc3339(l.day_start_us), "2026-11-19T16:00:00Z");
        assert_eq!(rfc3339(l.day_end_us), "2026-11-20T16:00:00Z");
        assert_eq!(rfc3339(l.month_start_us), "2026-10-31T16:00:00Z");
        assert_eq!(rfc3339(l.month_end_us), "2026-11-30T16:00:00Z");
    }

    #[test]
    fn till_times_within_the_skew_only() {
        let now = parse_time("t", "2026-11-20T08:30:00+08:00").unwrap();
        let clock = Clock::fixed(now);
        let skew = Skew::default();
        let ok = till_time(&clock, skew, "t", "2026-11-20T08:26:00+08:00").unwrap();
        assert_eq!((ok.occurred_at, ok.business_at), (now - 240_000_000, now));
        assert!(till_time(&clock, skew, "t", "2026-11-20T08:30:59+08:00").is_ok());
        for bad in [
            "2026-11-20T08:24:59+08:00",
            "2026-11-20T08:31:01+08:00",
            "2026-11-19T08:30:00+08:00",
        ] {
            let e = till_time(&clock, skew, "t", bad).unwrap_err();
            assert_eq!(e.code, "occurred_at_out_of_range", "{bad}");
        }
    }

    #[test]
    fn bad_times() {
        assert!(parse_time("t", "yesterday").is_err());
        assert!(parse_time("t", "2099-01-01T00:00:00Z").is_err());
        assert!(parse_time("t", "1999-01-01T00:00:00Z").is_err());
    }
}
