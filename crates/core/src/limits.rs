//! Card rules (sub-card limits): what a card may buy, where, when and how much.
//!
//! Each rule is either hard (the sale is declined) or soft (the sale goes through and
//! is flagged for review). The rules cover what CNPC's fleet cards and WEX's fleet cards
//! offer: bound plate, sales per day, amount per sale/day/month, litres per sale/day,
//! products and non-fuel categories, stations/regions/provinces, weekdays and hours,
//! driver PIN and odometer prompt.

use crate::DomainError;
use serde::{Deserialize, Serialize};

/// A rule value and whether breaking it declines the sale (`hard`, the default) or only
/// flags it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule<T> {
    pub value: T,
    #[serde(default = "yes")]
    pub hard: bool,
}

fn yes() -> bool {
    true
}

/// The rules of one card. Every field is optional; an absent rule does not apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardRules {
    /// The licence plate the card is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate: Option<Rule<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_per_day: Option<Rule<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_per_sale_fen: Option<Rule<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_per_day_fen: Option<Rule<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_per_month_fen: Option<Rule<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_per_sale_ml: Option<Rule<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_per_day_ml: Option<Rule<i64>>,
    /// Product codes the card may buy (e.g. only `DIESEL_0`). Non-fuel items are
    /// governed by `categories` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Rule<Vec<String>>>,
    /// Non-fuel categories the card may buy; an empty list forbids all non-fuel items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Rule<Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stations: Option<Rule<Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Rule<Vec<String>>>,
    /// Provinces by their plate character (e.g. `京`, `粤`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provinces: Option<Rule<Vec<String>>>,
    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekdays: Option<Rule<Vec<u8>>>,
    /// Local time window `"HH:MM-HH:MM"`; a window that wraps midnight is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<Rule<String>>,
    /// The driver must enter the card's PIN (even if the card's holder disabled it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_pin: Option<Rule<bool>>,
    /// The till must send the odometer reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub odometer: Option<Rule<bool>>,
}

/// The part of a sale the rules look at, in the station's local time.
#[derive(Debug, Clone, Default)]
pub struct RuleContext {
    pub station_code: String,
    pub region_code: Option<String>,
    /// The province of the station, as its plate character.
    pub province: Option<String>,
    /// ISO weekday, 1 = Monday.
    pub weekday: u8,
    /// Minutes since local midnight.
    pub minute_of_day: u16,
    pub plate: Option<String>,
    pub odometer_km: Option<i64>,
    pub pin_given: bool,
    pub lines: Vec<RuleLine>,
    /// The amount this card pays for the sale.
    pub amount_fen: i64,
}

#[derive(Debug, Clone)]
pub struct RuleLine {
    pub product_code: String,
    /// `Some` for non-fuel items.
    pub category: Option<String>,
    pub is_fuel: bool,
    pub volume_ml: i64,
}

/// What the card has already used in the current local day and month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub sales_today: i64,
    pub amount_today_fen: i64,
    pub amount_month_fen: i64,
    pub volume_today_ml: i64,
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    pub rule: String,
    pub hard: bool,
    pub message: String,
}

impl CardRules {
    /// Checks the rules' own shape: positive limits, valid weekdays and hours.
    pub fn validate(&self) -> Result<(), DomainError> {
        let positive = |r: &Option<Rule<i64>>, field: &'static str| match r {
            Some(r) if r.value <= 0 => Err(DomainError::invalid(field, "a limit must be positive")),
            _ => Ok(()),
        };
        positive(&self.amount_per_sale_fen, "limits.amount_per_sale_fen")?;
        positive(&self.amount_per_day_fen, "limits.amount_per_day_fen")?;
        positive(&self.amount_per_month_fen, "limits.amount_per_month_fen")?;
        positive(&self.volume_per_sale_ml, "limits.volume_per_sale_ml")?;
        positive(&self.volume_per_day_ml, "limits.volume_per_day_ml")?;
        if let Some(r) = &self.sales_per_day {
            if r.value == 0 {
                return Err(DomainError::invalid(
                    "limits.sales_per_day",
                    "a limit must be positive",
                ));
            }
        }
        if let Some(r) = &self.weekdays {
            if r.value.iter().any(|d| !(1..=7).contains(d)) {
                return Err(DomainError::invalid(
                    "limits.weekdays",
                    "weekdays are 1 (Monday) to 7 (Sunday)",
                ));
            }
        }
        if let Some(r) = &self.hours {
            parse_window(&r.value)?;
        }
        if let Some(r) = &self.plate {
            crate::Plate::parse(&r.value)?;
        }
        Ok(())
    }

    /// Whether any rule looks at what the card already used today or this month.
    pub fn depends_on_usage(&self) -> bool {
        self.sales_per_day.is_some()
            || self.amount_per_day_fen.is_some()
            || self.amount_per_month_fen.is_some()
            || self.volume_per_day_ml.is_some()
    }

    /// Whether the PIN must be given for this card regardless of the holder's choice.
    pub fn driver_pin_required(&self) -> bool {
        self.driver_pin.as_ref().is_some_and(|r| r.value && r.hard)
    }

    /// Every rule the sale breaks, hard and soft, in a fixed order.
    pub fn check(&self, ctx: &RuleContext, usage: &Usage) -> Vec<Breach> {
        let mut out = Vec::new();
        let mut breach = |rule: &str, hard: bool, message: String| {
            out.push(Breach {
                rule: rule.to_string(),
                hard,
                message,
            })
        };
        if let Some(r) = &self.plate {
            match &ctx.plate {
                Some(p) if normalise_plate(p) == normalise_plate(&r.value) => {}
                Some(p) => breach(
                    "plate",
                    r.hard,
                    format!("the card is bound to plate {}, not {p}", r.value),
                ),
                None => breach(
                    "plate",
                    r.hard,
                    format!("the card is bound to plate {}; no plate was given", r.value),
                ),
            }
        }
        if let Some(r) = &self.sales_per_day {
            if usage.sales_today + 1 > i64::from(r.value) {
                breach(
                    "sales_per_day",
                    r.hard,
                    format!("limit of {} sales per day reached", r.value),
                );
            }
        }
        if let Some(r) = &self.amount_per_sale_fen {
            if ctx.amount_fen > r.value {
                breach(
                    "amount_per_sale_fen",
                    r.hard,
                    format!(
                        "amount per sale limit is {} CNY; this sale is {} CNY",
                        yuan(r.value),
                        yuan(ctx.amount_fen)
                    ),
                );
            }
        }
        if let Some(r) = &self.amount_per_day_fen {
            let total = usage.amount_today_fen.saturating_add(ctx.amount_fen);
            if total > r.value {
                breach(
                    "amount_per_day_fen",
                    r.hard,
                    format!(
                        "amount per day limit is {} CNY; {} CNY already used today",
                        yuan(r.value),
                        yuan(usage.amount_today_fen)
                    ),
                );
            }
        }
        if let Some(r) = &self.amount_per_month_fen {
            let total = usage.amount_month_fen.saturating_add(ctx.amount_fen);
            if total > r.value {
                breach(
                    "amount_per_month_fen",
                    r.hard,
                    format!(
                        "amount per month limit is {} CNY; {} CNY already used this month",
                        yuan(r.value),
                        yuan(usage.amount_month_fen)
                    ),
                );
            }
        }
        let volume: i64 = ctx
            .lines
            .iter()
            .filter(|l| l.is_fuel)
            .map(|l| l.volume_ml)
            .sum();
        if let Some(r) = &self.volume_per_sale_ml {
            if volume > r.value {
                breach(
                    "volume_per_sale_ml",
                    r.hard,
                    format!(
                        "volume per sale limit is {} L; this sale is {} L",
                        litres(r.value),
                        litres(volume)
                    ),
                );
            }
        }
        if let Some(r) = &self.volume_per_day_ml {
            if usage.volume_today_ml.saturating_add(volume) > r.value {
                breach(
                    "volume_per_day_ml",
                    r.hard,
                    format!(
                        "volume per day limit is {} L; {} L already used today",
                        litres(r.value),
                        litres(usage.volume_today_ml)
                    ),
                );
            }
        }
        if let Some(r) = &self.products {
            for l in ctx.lines.iter().filter(|l| l.category.is_none()) {
                if !r.value.iter().any(|p| p == &l.product_code) {
                    breach(
                        "products",
                        r.hard,
                        format!("the card may not buy {}", l.product_code),
                    );
                }
            }
        }
        if let Some(r) = &self.categories {
            for l in &ctx.lines {
                if let Some(c) = &l.category {
                    if !r.value.iter().any(|x| x == c) {
                        breach(
                            "categories",
                            r.hard,
                            format!("the card may not buy items of category {c}"),
                        );
                    }
                }
            }
        }
        if let Some(r) = &self.stations {
            if !r.value.iter().any(|s| s == &ctx.station_code) {
                breach(
                    "stations",
                    r.hard,
                    format!("the card may not be used at station {}", ctx.station_code),
                );
            }
        }
        if let Some(r) = &self.regions {
            if !ctx
                .region_code
                .as_ref()
                .is_some_and(|c| r.value.contains(c))
            {
                breach(
                    "regions",
                    r.hard,
                    "the card may not be used in this region".to_string(),
                );
            }
        }
        if let Some(r) = &self.provinces {
            if !ctx.province.as_ref().is_some_and(|c| r.value.contains(c)) {
                breach(
                    "provinces",
                    r.hard,
                    "the card may not be used in this province".to_string(),
                );
            }
        }
        if let Some(r) = &self.weekdays {
            if !r.value.contains(&ctx.weekday) {
                breach(
                    "weekdays",
                    r.hard,
                    format!("the card may not be used on weekday {}", ctx.weekday),
                );
            }
        }
        if let Some(r) = &self.hours {
            if let Ok((from, to)) = parse_window(&r.value) {
                if !in_window(ctx.minute_of_day, from, to) {
                    breach(
                        "hours",
                        r.hard,
                        format!("the card may be used only between {}", r.value),
                    );
                }
            }
        }
        if let Some(r) = &self.driver_pin {
            if r.value && !ctx.pin_given {
                breach(
                    "driver_pin",
                    r.hard,
                    "the driver's PIN is required".to_string(),
                );
            }
        }
        if let Some(r) = &self.odometer {
            if r.value && ctx.odometer_km.is_none() {
                breach(
                    "odometer",
                    r.hard,
                    "the odometer reading is required".to_string(),
                );
            }
        }
        out
    }
}

/// The first hard breach as a refusal, if any.
pub fn first_hard(breaches: &[Breach]) -> Option<DomainError> {
    breaches
        .iter()
        .find(|b| b.hard)
        .map(|b| DomainError::LimitExceeded {
            rule: rule_name(&b.rule),
            message: format!("limit exceeded ({}): {}", b.rule, b.message),
        })
}

fn rule_name(rule: &str) -> &'static str {
    const NAMES: [&str; 16] = [
        "plate",
        "sales_per_day",
        "amount_per_sale_fen",
        "amount_per_day_fen",
        "amount_per_month_fen",
        "volume_per_sale_ml",
        "volume_per_day_ml",
        "products",
        "categories",
        "stations",
        "regions",
        "provinces",
        "weekdays",
        "hours",
        "driver_pin",
        "odometer",
    ];
    NAMES.into_iter().find(|n| *n == rule).unwrap_or("rule")
}

fn normalise_plate(p: &str) -> String {
    p.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '·'))
        .flat_map(char::to_uppercase)
        .collect()
}

fn yuan(fen: i64) -> String {
    crate::Fen(fen).yuan()
}

fn litres(ml: i64) -> String {
    format!("{}.{:03}", ml / 1000, (ml % 1000).abs())
}

/// Parses `"HH:MM-HH:MM"` into minutes since midnight.
pub fn parse_window(s: &str) -> Result<(u16, u16), DomainError> {
    let bad = || {
        DomainError::invalid(
            "limits.hours",
            "hours are written HH:MM-HH:MM, e.g. 06:00-22:00",
        )
    };
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let minutes = |t: &str| -> Result<u16, DomainError> {
        let (h, m) = t.trim().split_once(':').ok_or_else(bad)?;
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        if h > 24 || m > 59 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(h * 60 + m)
    };
    Ok((minutes(a)?, minutes(b)?))
}

fn in_window(minute: u16, from: u16, to: u16) -> bool {
    if from <= to {
        minute >= from && minute < to
    } else {
        minute >= from || minute < to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RuleContext {
        RuleContext {
            station_code: "S001".into(),
            region_code: Some("R1".into()),
            province: Some("京".into()),
            weekday: 3,
            minute_of_day: 9 * 60,
            plate: Some("京A12345".into()),
            odometer_km: None,
            pin_given: false,
            lines: vec![RuleLine {
                product_code: "DIESEL_0".into(),
                category: None,
                is_fuel: true,
                volume_ml: 50_000,
            }],
            amount_fen: 40_000,
        }
    }

    fn hard<T>(value: T) -> Option<Rule<T>> {
        Some(Rule { value, hard: true })
    }

    fn soft<T>(value: T) -> Option<Rule<T>> {
        Some(Rule { value, hard: false })
    }

    /// One case per rule: rules that the sale of `ctx()` keeps, and rules it breaks.
    fn cases() -> Vec<(&'static str, CardRules, CardRules)> {
        let d = CardRules::default;
        vec![
            (
                "plate",
                CardRules {
                    plate: hard("京A12345".into()),
                    ..d()
                },
                CardRules {
                    plate: hard("京B99999".into()),
                    ..d()
                },
            ),
            (
                "sales_per_day",
                CardRules {
                    sales_per_day: hard(2),
                    ..d()
                },
                CardRules {
                    sales_per_day: hard(1),
                    ..d()
                },
            ),
            (
                "amount_per_sale_fen",
                CardRules {
                    amount_per_sale_fen: hard(40_000),
                    ..d()
                },
                CardRules {
                    amount_per_sale_fen: hard(39_999),
                    ..d()
                },
            ),
            (
                "amount_per_day_fen",
                CardRules {
                    amount_per_day_fen: hard(60_000),
                    ..d()
                },
                CardRules {
                    amount_per_day_fen: hard(59_999),
                    ..d()
                },
            ),
            (
                "amount_per_month_fen",
                CardRules {
                    amount_per_month_fen: hard(140_000),
                    ..d()
                },
                CardRules {
                    amount_per_month_fen: hard(139_999),
                    ..d()
                },
            ),
            (
                "volume_per_sale_ml",
                CardRules {
                    volume_per_sale_ml: hard(50_000),
                    ..d()
                },
                CardRules {
                    volume_per_sale_ml: hard(49_999),
                    ..d()
                },
            ),
            (
                "volume_per_day_ml",
                CardRules {
                    volume_per_day_ml: hard(80_000),
                    ..d()
                },
                CardRules {
                    volume_per_day_ml: hard(79_999),
                    ..d()
                },
            ),
            (
                "products",
                CardRules {
                    products: hard(vec!["DIESEL_0".into()]),
                    ..d()
                },
                CardRules {
                    products: hard(vec!["GASOLINE_92".into()]),
                    ..d()
                },
            ),
            (
                "stations",
                CardRules {
                    stations: hard(vec!["S001".into()]),
                    ..d()
                },
                CardRules {
                    stations: hard(vec!["S002".into()]),
                    ..d()
                },
            ),
            (
                "regions",
                CardRules {
                    regions: hard(vec!["R1".into()]),
                    ..d()
                },
                CardRules {
                    regions: hard(vec!["R2".into()]),
                    ..d()
                },
            ),
            (
                "provinces",
                CardRules {
                    provinces: hard(vec!["京".into()]),
                    ..d()
                },
                CardRules {
                    provinces: hard(vec!["粤".into()]),
                    ..d()
                },
            ),
            (
                "weekdays",
                CardRules {
                    weekdays: hard(vec![1, 2, 3, 4, 5]),
                    ..d()
                },
                CardRules {
                    weekdays: hard(vec![6, 7]),
                    ..d()
                },
            ),
            (
                "hours",
                CardRules {
                    hours: hard("06:00-22:00".into()),
                    ..d()
                },
                CardRules {
                    hours: hard("22:00-06:00".into()),
                    ..d()
                },
            ),
            (
                "driver_pin",
                CardRules {
                    driver_pin: hard(false),
                    ..d()
                },
                CardRules {
                    driver_pin: hard(true),
                    ..d()
                },
            ),
            (
                "odometer",
                CardRules {
                    odometer: hard(false),
                    ..d()
                },
                CardRules {
                    odometer: hard(true),
                    ..d()
                },
            ),
        ]
    }

    fn usage() -> Usage {
        Usage {
            sales_today: 1,
            amount_today_fen: 20_000,
            amount_month_fen: 100_000,
            volume_today_ml: 30_000,
        }
    }

    #[test]
    fn every_rule_lets_a_sale_inside_it_through_and_declines_one_outside() {
        for (name, keep, break_) in cases() {
            keep.validate().unwrap();
            break_.validate().unwrap();
            assert!(
                keep.check(&ctx(), &usage()).is_empty(),
                "{name}: a sale inside the rule was refused"
            );
            let breaches = break_.check(&ctx(), &usage());
            assert_eq!(breaches.len(), 1, "{name}: {breaches:?}");
            assert_eq!(breaches[0].rule, name);
            let refusal = first_hard(&breaches).expect("a hard rule declines");
            assert!(
                refusal.to_string().contains(name),
                "{name}: the message names the limit: {refusal}"
            );
        }
    }

    #[test]
    fn soft_rules_flag_but_do_not_decline() {
        let rules = CardRules {
            amount_per_sale_fen: soft(100),
            stations: soft(vec!["S009".into()]),
            ..Default::default()
        };
        let breaches = rules.check(&ctx(), &usage());
        assert_eq!(breaches.len(), 2);
        assert!(breaches.iter().all(|b| !b.hard));
        assert!(first_hard(&breaches).is_none());
    }

    #[test]
    fn categories_govern_non_fuel_items() {
        let mut c = ctx();
        c.lines.push(RuleLine {
            product_code: "SNK-1".into(),
            category: Some("tobacco".into()),
            is_fuel: false,
            volume_ml: 0,
        });
        let ok = CardRules {
            categories: hard(vec!["tobacco".into()]),
            ..Default::default()
        };
        assert!(ok.check(&c, &usage()).is_empty());
        let no = CardRules {
            categories: hard(vec!["drinks".into()]),
            ..Default::default()
        };
        assert_eq!(no.check(&c, &usage())[0].rule, "categories");
        // A products rule does not govern non-fuel items.
        let diesel_only = CardRules {
            products: hard(vec!["DIESEL_0".into()]),
            ..Default::default()
        };
        assert!(diesel_only.check(&c, &usage()).is_empty());
    }

    #[test]
    fn missing_plate_breaks_a_plate_rule() {
        let mut c = ctx();
        c.plate = None;
        let rules = CardRules {
            plate: hard("京A12345".into()),
            ..Default::default()
        };
        assert_eq!(rules.check(&c, &usage()).len(), 1);
    }

    #[test]
    fn windows() {
        assert_eq!(parse_window("06:00-22:00").unwrap(), (360, 1320));
        assert!(parse_window("6-22").is_err());
        assert!(parse_window("25:00-01:00").is_err());
        assert!(in_window(23 * 60, 22 * 60, 6 * 60));
        assert!(in_window(60, 22 * 60, 6 * 60));
        assert!(!in_window(12 * 60, 22 * 60, 6 * 60));
    }

    #[test]
    fn validation_refuses_nonsense() {
        assert!(CardRules {
            amount_per_sale_fen: hard(0),
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(CardRules {
            weekdays: hard(vec![0]),
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(CardRules {
            hours: hard("x".into()),
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(CardRules {
            plate: hard("nope".into()),
            ..Default::default()
        }
        .validate()
        .is_err());
    }
}
