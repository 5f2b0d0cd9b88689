//! Care automations (关怀): the messages a network sends its members by itself on the
//! days that matter to them — a birthday, the day before they usually refuel, after a
//! first visit, when a card runs low, when they are about to leave, when their tier
//! changes, before a coupon lapses.
//!
//! What is decided here, without IO: which day a member is greeted, the period that
//! makes a run idempotent (one message per automation, member and period, so that a
//! second run of the same day — or a run of two workers at once — sends nothing
//! twice), and the message text filled from its template.

use chrono::{Datelike, NaiveDate};

/// One automation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Automation {
    /// On the member's birthday; once a year.
    Birthday,
    /// The day before the member's predicted refuel day.
    RefuelReminder,
    /// After the member's first sale; once.
    FirstVisit,
    /// A personal card whose balance fell below the threshold; once per card a month.
    LowBalance,
    /// A member whose churn risk reached the threshold; once a quarter.
    WinBack,
    /// The member's tier changed; once per change.
    TierChange,
    /// A coupon that lapses within the threshold's days; once per coupon.
    CouponExpiring,
}

impl Automation {
    pub const ALL: [Automation; 7] = [
        Automation::Birthday,
        Automation::RefuelReminder,
        Automation::FirstVisit,
        Automation::LowBalance,
        Automation::WinBack,
        Automation::TierChange,
        Automation::CouponExpiring,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Automation::Birthday => "birthday",
            Automation::RefuelReminder => "refuel_reminder",
            Automation::FirstVisit => "first_visit",
            Automation::LowBalance => "low_balance",
            Automation::WinBack => "win_back",
            Automation::TierChange => "tier_change",
            Automation::CouponExpiring => "coupon_expiring",
        }
    }

    pub fn parse(code: &str) -> Option<Automation> {
        Automation::ALL.into_iter().find(|a| a.code() == code)
    }

    /// What the threshold means for this automation, if it has one: the balance in fen
    /// under which a card is low, the churn risk in per mille from which a member is
    /// won back, the days before a coupon lapses.
    pub fn threshold_bounds(self) -> Option<(i64, i64)> {
        match self {
            Automation::LowBalance => Some((1, 100_000_000)),
            Automation::WinBack => Some((1, 1000)),
            Automation::CouponExpiring => Some((1, 60)),
            _ => None,
        }
    }

    /// The cause of the message sent to a member for `period`: the outbox keeps one
    /// message per cause, recipient and channel, which makes every run idempotent.
    pub fn cause(self, period: &str) -> String {
        format!("care:{}:{period}", self.code())
    }

    /// The prefix of every cause of this automation.
    pub fn cause_prefix(self) -> String {
        format!("care:{}:", self.code())
    }
}

/// Whether a member born on `birthday` is greeted on `day`: on the same month and day,
/// and a 29 February birthday on 28 February in the years without one.
pub fn greets_birthday_on(birthday: NaiveDate, day: NaiveDate) -> bool {
    let (m, d) = (birthday.month(), birthday.day());
    if (m, d) == (day.month(), day.day()) {
        return true;
    }
    (m, d) == (2, 29) && (day.month(), day.day()) == (2, 28) && !is_leap(day.year())
}

/// The (month, day) pairs whose members are greeted on `day`: the day itself, and
/// 29 February on 28 February of a common year.
pub fn birthdays_greeted_on(day: NaiveDate) -> Vec<(u32, u32)> {
    let mut out = vec![(day.month(), day.day())];
    if (day.month(), day.day()) == (2, 28) && !is_leap(day.year()) {
        out.push((2, 29));
    }
    out
}

fn is_leap(year: i32) -> bool {
    NaiveDate::from_ymd_opt(year, 2, 29).is_some()
}

/// Whether the refuel reminder goes on `day` for a member expected on `next_visit`:
/// the day before.
pub fn refuel_reminder_due(next_visit: NaiveDate, day: NaiveDate) -> bool {
    day.succ_opt() == Some(next_visit)
}

/// The quarter of `day`, e.g. `2026Q4`: a member is won back at most once in it.
pub fn quarter(day: NaiveDate) -> String {
    format!("{}Q{}", day.year(), (day.month() - 1) / 3 + 1)
}

/// The month of `day`, e.g. `202612`.
pub fn month(day: NaiveDate) -> String {
    format!("{:04}{:02}", day.year(), day.month())
}

/// Fills a template: `{name}` with the member's name and `{detail}` with what the
/// automation says about them (the tier, the balance, the coupon, the day). Other
/// braces stay as written.
pub fn render(template: &str, name: &str, detail: &str) -> String {
    template.replace("{name}", name).replace("{detail}", detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn a_leap_day_birthday_is_greeted_on_28_february_of_common_years_only() {
        let born = d(2000, 2, 29);
        assert!(greets_birthday_on(born, d(2028, 2, 29)));
        assert!(!greets_birthday_on(born, d(2028, 2, 28)));
        assert!(greets_birthday_on(born, d(2027, 2, 28)));
        assert!(!greets_birthday_on(born, d(2027, 3, 1)));
        let other = d(1990, 2, 28);
        assert!(greets_birthday_on(other, d(2027, 2, 28)));
        assert!(greets_birthday_on(other, d(2028, 2, 28)));
    }

    #[test]
    fn every_birthday_is_greeted_on_exactly_one_day_of_any_year() {
        let births: Vec<NaiveDate> = d(2000, 1, 1).iter_days().take(366).collect();
        for year in [2026, 2027, 2028] {
            let days: Vec<NaiveDate> = d(year, 1, 1)
                .iter_days()
                .take_while(|x| x.year() == year)
                .collect();
            for b in &births {
                let n = days.iter().filter(|x| greets_birthday_on(*b, **x)).count();
                assert_eq!(n, 1, "born {b}, year {year}");
                let listed = days
                    .iter()
                    .filter(|x| birthdays_greeted_on(**x).contains(&(b.month(), b.day())))
                    .count();
                assert_eq!(listed, 1, "born {b}, year {year}: the SQL side agrees");
            }
        }
    }

    #[test]
    fn periods_and_causes() {
        assert_eq!(quarter(d(2026, 12, 4)), "2026Q4");
        assert_eq!(quarter(d(2026, 1, 1)), "2026Q1");
        assert_eq!(quarter(d(2026, 6, 30)), "2026Q2");
        assert_eq!(month(d(2026, 3, 9)), "202603");
        assert_eq!(Automation::Birthday.cause("2026"), "care:birthday:2026");
        for a in Automation::ALL {
            assert_eq!(Automation::parse(a.code()), Some(a));
            assert!(a.cause("x").starts_with(&a.cause_prefix()));
        }
        assert_eq!(Automation::parse("nope"), None);
        assert!(refuel_reminder_due(d(2026, 12, 5), d(2026, 12, 4)));
        assert!(!refuel_reminder_due(d(2026, 12, 5), d(2026, 12, 5)));
    }

    #[test]
    fn templates_fill_the_name_and_the_detail() {
        assert_eq!(
            render("{name}，生日快乐！{detail}", "张三", "送您积分"),
            "张三，生日快乐！送您积分"
        );
        assert_eq!(render("{other}", "a", "b"), "{other}");
    }
}
