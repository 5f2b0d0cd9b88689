//! The rules every message to a member obeys, decided in one place (SPEC F7; PIPL and
//! MIIT's rules for commercial SMS):
//!
//! - the do-not-contact list of the message's channel stops every message, marketing
//!   or transactional;
//! - a marketing message needs the member's marketing consent, stays within the
//!   channel's frequency cap (by default 2 per 7 days) and waits out the quiet hours of
//!   the member's home station (by default 21:00–08:00 local time);
//! - a message whose `expires_at` falls before its earliest allowed send is dropped;
//! - transactional messages (statements, one-time codes, ticket updates, the service
//!   desk's surveys) are exempt from the cap and the quiet hours.
//!
//! [`decide`] is pure: the caller reads the facts (under the member's lock, so that the
//! cap's count and the insert cannot be raced) and writes what it answers.

use chrono::{NaiveDate, TimeZone, Timelike};
use chrono_tz::Tz;

/// What a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Offers, campaigns, care messages: consent, caps and quiet hours apply.
    Marketing,
    /// Statements, one-time codes, ticket updates, surveys: only the do-not-contact
    /// list applies.
    Transactional,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Marketing => "marketing",
            Kind::Transactional => "transactional",
        }
    }
}

/// Why a message was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Suppression {
    NoConsent,
    DoNotContact,
    FrequencyCap,
    Expired,
    /// No email address or phone number for the channel.
    NoAddress,
    /// The member is anonymized (PIPL erasure): nobody writes to them.
    Anonymized,
}

impl Suppression {
    pub const ALL: [Suppression; 6] = [
        Suppression::NoConsent,
        Suppression::DoNotContact,
        Suppression::FrequencyCap,
        Suppression::Expired,
        Suppression::NoAddress,
        Suppression::Anonymized,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Suppression::NoConsent => "no_consent",
            Suppression::DoNotContact => "do_not_contact",
            Suppression::FrequencyCap => "frequency_cap",
            Suppression::Expired => "expired",
            Suppression::NoAddress => "no_address",
            Suppression::Anonymized => "anonymized",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The network's contact policy (settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Marketing messages per channel and member within `cap_window_days`.
    pub cap_per_window: u32,
    pub cap_window_days: u32,
    /// Quiet hours, minutes of the local day: from `quiet_start` to `quiet_end`
    /// (across midnight when start > end; none when equal).
    pub quiet_start: u16,
    pub quiet_end: u16,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            cap_per_window: 2,
            cap_window_days: 7,
            quiet_start: 21 * 60,
            quiet_end: 8 * 60,
        }
    }
}

impl Policy {
    /// The cap's window in microseconds.
    pub fn cap_window_us(&self) -> i64 {
        i64::from(self.cap_window_days) * 86_400_000_000
    }
}

/// What the caller knows about the member and the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub kind: Kind,
    pub consent_marketing: bool,
    pub do_not_contact: bool,
    pub anonymized: bool,
    pub has_address: bool,
    /// Marketing messages on this channel within the cap's window, before this one.
    pub marketing_in_window: u32,
    /// Not sent before this moment (µs), e.g. a campaign's `send_at`.
    pub not_before: i64,
    pub expires_at: Option<i64>,
}

/// Sends the message at the moment answered (µs), or says why not.
pub fn decide(f: &Facts, p: &Policy, tz: Tz) -> Result<i64, Suppression> {
    if f.anonymized {
        return Err(Suppression::Anonymized);
    }
    if f.do_not_contact {
        return Err(Suppression::DoNotContact);
    }
    if !f.has_address {
        return Err(Suppression::NoAddress);
    }
    let at = match f.kind {
        Kind::Transactional => f.not_before,
        Kind::Marketing => {
            if !f.consent_marketing {
                return Err(Suppression::NoConsent);
            }
            if f.marketing_in_window >= p.cap_per_window {
                return Err(Suppression::FrequencyCap);
            }
            after_quiet_hours(p, tz, f.not_before)
        }
    };
    if f.expires_at.is_some_and(|e| e <= at) {
        return Err(Suppression::Expired);
    }
    Ok(at)
}

/// The earliest moment at or after `at_us` outside the quiet hours in `tz`.
pub fn after_quiet_hours(p: &Policy, tz: Tz, at_us: i64) -> i64 {
    if p.quiet_start == p.quiet_end {
        return at_us;
    }
    let Some(utc) = chrono::DateTime::from_timestamp_micros(at_us) else {
        return at_us;
    };
    let local = utc.with_timezone(&tz);
    let minute = (local.hour() * 60 + local.minute()) as u16;
    let date = local.date_naive();
    let (quiet, end_date) = if p.quiet_start > p.quiet_end {
        // Across midnight: 21:00–08:00.
        if minute >= p.quiet_start {
            (true, date.succ_opt().unwrap_or(date))
        } else {
            (minute < p.quiet_end, date)
        }
    } else {
        (minute >= p.quiet_start && minute < p.quiet_end, date)
    };
    if !quiet {
        return at_us;
    }
    local_minute_us(tz, end_date, p.quiet_end).max(at_us)
}

fn local_minute_us(tz: Tz, date: NaiveDate, minute: u16) -> i64 {
    let naive = date
        .and_hms_opt(u32::from(minute / 60), u32::from(minute % 60), 0)
        .unwrap_or_default();
    // A time skipped by a clock change is taken an hour later.
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|d| d.timestamp_micros())
        .unwrap_or_else(|| naive.and_utc().timestamp_micros())
}

/// `HH:MM` as a minute of the day.
pub fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.len() == 5).then_some(h * 60 + m)
}

/// A stable bucket in `0..10_000` for the parts given: FNV-1a over the parts (each
/// followed by a separator) with a final avalanche, the same on every platform and
/// release, so that groups assigned once are assigned the same again.
pub fn bucket(parts: &[&str]) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0x1f)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    // splitmix64's finaliser: FNV's low bits alone are not well spread.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h % 10_000) as u32
}

/// Whether a member is in a campaign's hold-out group of `percent` %.
pub fn in_campaign_holdout(campaign_id: &str, member_id: &str, percent: u32) -> bool {
    bucket(&["campaign", campaign_id, member_id]) < percent * 100
}

/// Whether a member is in the global hold-out of `percent` % that no campaign touches.
pub fn in_global_holdout(member_id: &str, percent: u32) -> bool {
    bucket(&["global", member_id]) < percent * 100
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Asia::Shanghai;

    fn at(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_micros()
    }

    fn facts(kind: Kind) -> Facts {
        Facts {
            kind,
            consent_marketing: true,
            do_not_contact: false,
            anonymized: false,
            has_address: true,
            marketing_in_window: 0,
            not_before: at("2026-11-20T10:00:00+08:00"),
            expires_at: None,
        }
    }

    #[test]
    fn marketing_needs_consent_and_respects_the_cap() {
        let p = Policy::default();
        let f = facts(Kind::Marketing);
        assert_eq!(decide(&f, &p, Shanghai), Ok(f.not_before));
        let no = Facts {
            consent_marketing: false,
            ..f
        };
        assert_eq!(decide(&no, &p, Shanghai), Err(Suppression::NoConsent));
        let capped = Facts {
            marketing_in_window: 2,
            ..f
        };
        assert_eq!(
            decide(&capped, &p, Shanghai),
            Err(Suppression::FrequencyCap)
        );
        let one = Facts {
            marketing_in_window: 1,
            ..f
        };
        assert!(decide(&one, &p, Shanghai).is_ok());
    }

    #[test]
    fn transactional_is_exempt_but_not_from_do_not_contact() {
        let p = Policy::default();
        let f = Facts {
            consent_marketing: false,
            marketing_in_window: 9,
            not_before: at("2026-11-20T22:30:00+08:00"),
            ..facts(Kind::Transactional)
        };
        assert_eq!(
            decide(&f, &p, Shanghai),
            Ok(f.not_before),
            "no cap, no quiet hours"
        );
        let dnc = Facts {
            do_not_contact: true,
            ..f
        };
        assert_eq!(decide(&dnc, &p, Shanghai), Err(Suppression::DoNotContact));
    }

    #[test]
    fn quiet_hours_move_a_late_send_to_eight_and_drop_what_expires_first() {
        let p = Policy::default();
        let f = Facts {
            not_before: at("2026-11-20T22:30:00+08:00"),
            ..facts(Kind::Marketing)
        };
        assert_eq!(
            decide(&f, &p, Shanghai),
            Ok(at("2026-11-21T08:00:00+08:00"))
        );
        let early = Facts {
            not_before: at("2026-11-21T03:10:00+08:00"),
            ..f
        };
        assert_eq!(
            decide(&early, &p, Shanghai),
            Ok(at("2026-11-21T08:00:00+08:00"))
        );
        let expiring = Facts {
            expires_at: Some(at("2026-11-21T07:00:00+08:00")),
            ..f
        };
        assert_eq!(decide(&expiring, &p, Shanghai), Err(Suppression::Expired));
        // 08:00 and 20:59 are allowed; 21:00 is not.
        for ok in ["2026-11-21T08:00:00+08:00", "2026-11-21T20:59:00+08:00"] {
            assert_eq!(after_quiet_hours(&p, Shanghai, at(ok)), at(ok));
        }
        assert_eq!(
            after_quiet_hours(&p, Shanghai, at("2026-11-21T21:00:00+08:00")),
            at("2026-11-22T08:00:00+08:00")
        );
        // Another zone: 22:30 in Urumqi (UTC+6) waits for 08:00 there.
        assert_eq!(
            after_quiet_hours(&p, chrono_tz::Asia::Urumqi, at("2026-11-20T22:30:00+06:00")),
            at("2026-11-21T08:00:00+06:00")
        );
    }

    #[test]
    fn holdout_is_stable_and_near_its_share() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("member-{i:05}")).collect();
        let held: Vec<&String> = ids
            .iter()
            .filter(|m| in_campaign_holdout("c1", m, 10))
            .collect();
        // 10 % of 10,000 is 1,000; three standard deviations are 90.
        assert!(
            (910..=1090).contains(&held.len()),
            "{} held out",
            held.len()
        );
        let again: Vec<&String> = ids
            .iter()
            .filter(|m| in_campaign_holdout("c1", m, 10))
            .collect();
        assert_eq!(held, again, "a re-run assigns the same members");
        let other = ids
            .iter()
            .filter(|m| in_campaign_holdout("c2", m, 10))
            .count();
        let both = ids
            .iter()
            .filter(|m| in_campaign_holdout("c1", m, 10) && in_campaign_holdout("c2", m, 10))
            .count();
        assert!((910..=1090).contains(&other));
        assert!(both < 200, "campaigns hold out different members: {both}");
        assert_eq!(
            bucket(&["campaign", "c1", "member-00000"]),
            bucket(&["campaign", "c1", "member-00000"])
        );
    }

    #[test]
    fn hhmm_parses() {
        assert_eq!(parse_hhmm("21:00"), Some(1260));
        assert_eq!(parse_hhmm("08:00"), Some(480));
        assert_eq!(parse_hhmm("24:00"), None);
        assert_eq!(parse_hhmm("8:00"), None);
    }
}
