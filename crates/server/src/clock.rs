//! Business time: a UTC instant seen in a station's time zone.

use crate::error::ApiError;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

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
pub fn parse_time(field: &str, s: &str) -> Result<i64, ApiError> {
    let t = DateTime::parse_from_rfc3339(s).map_err(|_| {
        ApiError::validation(field, "an RFC 3339 time, e.g. 2026-11-20T08:30:00+08:00")
    })?;
    let us = t.timestamp_micros();
    if us > forecourt_store::now_us() + 86_400_000_000 {
        return Err(ApiError::validation(
            field,
            "the time is more than a day in the future",
        ));
    }
    if t.year() < 2000 {
        return Err(ApiError::validation(
            field,
            "the time is before the year 2000",
        ));
    }
    Ok(us)
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
    fn bad_times() {
        assert!(parse_time("t", "yesterday").is_err());
        assert!(parse_time("t", "2099-01-01T00:00:00Z").is_err());
        assert!(parse_time("t", "1999-01-01T00:00:00Z").is_err());
    }
}
