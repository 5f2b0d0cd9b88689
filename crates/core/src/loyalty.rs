//! Points rules (SPEC F5): how many points a sale earns, and why.
//!
//! A sale earns its base points (per whole yuan of net spend or per litre, by product),
//! the tier's multiplier on them, every bonus rule whose conditions it meets (within the
//! rule's caps per sale, day and month), and the visit milestones it reaches. Every
//! point comes in a [`PointsLine`] naming the rule and version that gave it and why, so
//! that any balance can be explained line by line.
//!
//! Rounding: points are whole numbers, rounded down once per line of the explanation;
//! base and tier together are rounded once per sale, so that with the default rule (one
//! point per yuan) they equal [`crate::pricing::points_earned`].
//!
//! Pure: the caller gathers the facts (what the member earned today and this month by
//! each rule, visits and litres so far) and stores the lines.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the base rate is counted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Points per whole yuan of the line's net amount.
    PerYuan,
    /// Points per whole litre of the line's volume (fuel lines).
    PerLitre,
}

/// A base earn rate. The most specific rule that names a line's product applies to it;
/// a rule without products applies to the lines no other rule names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarnRule {
    pub id: String,
    pub version: i64,
    #[serde(default)]
    pub products: Option<Vec<String>>,
    pub basis: Basis,
    pub points_per_unit: i64,
}

impl EarnRule {
    /// The default out of the box: one point per whole yuan of net spend.
    pub fn default_rule() -> Self {
        Self {
            id: "base".into(),
            version: 1,
            products: None,
            basis: Basis::PerYuan,
            points_per_unit: 1,
        }
    }
}

/// When a bonus rule applies. Every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conditions {
    /// UTC microseconds, from inclusive, until exclusive.
    #[serde(default)]
    pub from_us: Option<i64>,
    #[serde(default)]
    pub until_us: Option<i64>,
    /// ISO weekdays, 1 = Monday.
    #[serde(default)]
    pub weekdays: Option<Vec<u8>>,
    /// Local minutes since midnight, `[from, to)`; a window that wraps midnight is
    /// allowed.
    #[serde(default)]
    pub hours: Option<(u16, u16)>,
    #[serde(default)]
    pub stations: Option<Vec<String>>,
    /// The products the rule counts (and one of which the sale must contain).
    #[serde(default)]
    pub products: Option<Vec<String>>,
    /// Net amount of the counted lines at least this.
    #[serde(default)]
    pub min_amount_fen: Option<i64>,
    /// Volume of the counted lines at least this.
    #[serde(default)]
    pub min_volume_ml: Option<i64>,
    /// The member has at least one of these tags (a segment).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// The member's first visit.
    #[serde(default)]
    pub first_visit: bool,
    /// In the member's birthday month.
    #[serde(default)]
    pub birthday_month: bool,
}

/// What a bonus rule gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Bonus {
    /// Extra points as a share of the base points of the counted lines, in ‰ (1000 =
    /// double points).
    Multiplier { permille: i64 },
    /// A fixed number of points.
    Fixed { points: i64 },
    /// Points per whole yuan of the counted lines.
    PerYuan { points: i64 },
    /// Points per whole litre of the counted lines.
    PerLitre { points: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BonusRule {
    pub id: String,
    pub version: i64,
    pub name: String,
    #[serde(default)]
    pub conditions: Conditions,
    pub bonus: Bonus,
    #[serde(default)]
    pub cap_per_sale: Option<i64>,
    #[serde(default)]
    pub cap_per_day: Option<i64>,
    #[serde(default)]
    pub cap_per_month: Option<i64>,
}

/// A visit milestone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Milestone {
    /// Every `n`th visit earns `points`.
    EveryNthVisit { n: u32, points: i64 },
    /// Crossing `litres` of a product (or of all fuel) within a calendar month earns
    /// `points`, once a month.
    LitresInMonth {
        product: Option<String>,
        litres: i64,
        points: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestoneRule {
    pub id: String,
    pub version: i64,
    pub name: String,
    pub milestone: Milestone,
}

/// Every rule in force.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RuleSet {
    pub earn: Vec<EarnRule>,
    pub bonuses: Vec<BonusRule>,
    pub milestones: Vec<MilestoneRule>,
}

impl RuleSet {
    /// Whether the rules need the member's count of visits.
    pub fn needs_visits(&self) -> bool {
        self.bonuses.iter().any(|b| b.conditions.first_visit)
            || self
                .milestones
                .iter()
                .any(|m| matches!(m.milestone, Milestone::EveryNthVisit { .. }))
    }

    /// Whether the rules need the member's litres this month.
    pub fn needs_month_volume(&self) -> bool {
        self.milestones
            .iter()
            .any(|m| matches!(m.milestone, Milestone::LitresInMonth { .. }))
    }

    /// Whether the rules need what each rule gave the member today and this month.
    pub fn needs_rule_points(&self) -> bool {
        self.needs_day_points() || self.needs_month_points()
    }

    /// Whether a rule is capped per day.
    pub fn needs_day_points(&self) -> bool {
        self.bonuses.iter().any(|b| b.cap_per_day.is_some())
    }

    /// Whether a rule is capped per month.
    pub fn needs_month_points(&self) -> bool {
        self.bonuses.iter().any(|b| b.cap_per_month.is_some())
    }

    /// The default rule set: one point per whole yuan, nothing else.
    pub fn default_rules() -> Self {
        Self {
            earn: vec![EarnRule::default_rule()],
            ..Self::default()
        }
    }
}

/// One line of the sale, as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactLine {
    pub product_code: String,
    pub is_fuel: bool,
    /// The amount that earns points (net of discounts and coupons).
    pub net_fen: i64,
    pub volume_ml: i64,
}

/// What the rules need to know about a sale and its member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaleFacts {
    pub at_us: i64,
    /// Local ISO weekday and minute of the day at the station.
    pub weekday: u8,
    pub minute_of_day: u16,
    pub station_code: String,
    pub lines: Vec<FactLine>,
    pub tier_multiplier_permille: i64,
    pub tags: Vec<String>,
    pub first_visit: bool,
    pub birthday_month: bool,
    /// Visits before this one.
    pub visits_before: u32,
    /// Millilitres bought this calendar month before this sale, by product.
    pub month_volume_ml: BTreeMap<String, i64>,
    /// Points each bonus rule (by id) gave this member today and this month.
    pub earned_today: BTreeMap<String, i64>,
    pub earned_month: BTreeMap<String, i64>,
}

/// One reason for points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointsLine {
    pub rule_id: String,
    pub version: i64,
    /// base | tier | bonus | milestone
    pub kind: String,
    pub points: i64,
    pub reason: String,
}

/// The points of a sale and their explanation; `total` is the sum of the lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Earned {
    pub total: i64,
    pub lines: Vec<PointsLine>,
}

fn floor_div(n: i128, d: i128) -> i64 {
    if n <= 0 {
        return 0;
    }
    i64::try_from(n / d).unwrap_or(i64::MAX)
}

fn in_window(minute: u16, (from, to): (u16, u16)) -> bool {
    if from <= to {
        minute >= from && minute < to
    } else {
        minute >= from || minute < to
    }
}

/// The earn rule of a product: one naming it, else one naming no product.
fn earn_rule_for<'r>(rules: &'r [EarnRule], product: &str) -> Option<&'r EarnRule> {
    rules
        .iter()
        .find(|r| {
            r.products
                .as_ref()
                .is_some_and(|ps| ps.iter().any(|p| p == product))
        })
        .or_else(|| rules.iter().find(|r| r.products.is_none()))
}

/// Base points of a line in hundredths of a point.
fn base_centipoints(rule: &EarnRule, line: &FactLine) -> i128 {
    let ppu = i128::from(rule.points_per_unit.max(0));
    match rule.basis {
        Basis::PerYuan => i128::from(line.net_fen.max(0)) * ppu,
        Basis::PerLitre => i128::from(line.volume_ml.max(0)) * ppu / 10,
    }
}

fn counted<'f>(c: &Conditions, f: &'f SaleFacts) -> Vec<&'f FactLine> {
    f.lines
        .iter()
        .filter(|l| {
            c.products
                .as_ref()
                .is_none_or(|ps| ps.contains(&l.product_code))
        })
        .collect()
}

/// Whether the conditions hold for the sale; the lines they count.
pub fn conditions_hold<'f>(c: &Conditions, f: &'f SaleFacts) -> Option<Vec<&'f FactLine>> {
    if c.from_us.is_some_and(|t| f.at_us < t) || c.until_us.is_some_and(|t| f.at_us >= t) {
        return None;
    }
    if c.weekdays.as_ref().is_some_and(|w| !w.contains(&f.weekday)) {
        return None;
    }
    if c.hours.is_some_and(|h| !in_window(f.minute_of_day, h)) {
        return None;
    }
    if c.stations
        .as_ref()
        .is_some_and(|s| !s.contains(&f.station_code))
    {
        return None;
    }
    if c.tags
        .as_ref()
        .is_some_and(|t| !t.iter().any(|x| f.tags.contains(x)))
    {
        return None;
    }
    if (c.first_visit && !f.first_visit) || (c.birthday_month && !f.birthday_month) {
        return None;
    }
    let lines = counted(c, f);
    if lines.is_empty() {
        return None;
    }
    let amount: i64 = lines.iter().map(|l| l.net_fen).sum();
    let volume: i64 = lines.iter().map(|l| l.volume_ml).sum();
    if c.min_amount_fen.is_some_and(|m| amount < m) || c.min_volume_ml.is_some_and(|m| volume < m) {
        return None;
    }
    Some(lines)
}

/// The points a sale earns, with the reason of every one.
pub fn evaluate(rules: &RuleSet, f: &SaleFacts) -> Earned {
    let mut out = Earned::default();
    let push =
        |out: &mut Earned, rule_id: &str, version: i64, kind: &str, points: i64, reason: String| {
            if points > 0 {
                out.total = out.total.saturating_add(points);
                out.lines.push(PointsLine {
                    rule_id: rule_id.to_string(),
                    version,
                    kind: kind.to_string(),
                    points,
                    reason,
                });
            }
        };

    // Base, by the rule of each line; base and tier rounded once per sale.
    let mut per_rule: BTreeMap<(String, i64), i128> = BTreeMap::new();
    let mut base_by_product: BTreeMap<&str, i128> = BTreeMap::new();
    for l in &f.lines {
        if let Some(r) = earn_rule_for(&rules.earn, &l.product_code) {
            let c = base_centipoints(r, l);
            *per_rule.entry((r.id.clone(), r.version)).or_default() += c;
            *base_by_product.entry(l.product_code.as_str()).or_default() += c;
        }
    }
    let base_centi: i128 = per_rule.values().sum();
    let base = floor_div(base_centi, 100);
    let multiplier = f.tier_multiplier_permille.max(0);
    let with_tier = floor_div(base_centi * i128::from(multiplier), 100_000);
    let mut left = base;
    let n = per_rule.len();
    for (i, ((id, version), centi)) in per_rule.iter().enumerate() {
        // The last rule takes what rounding left, so that the base lines add up to the
        // base rounded once.
        let p = if i + 1 == n {
            left
        } else {
            floor_div(*centi, 100).min(left)
        };
        left -= p;
        push(&mut out, id, *version, "base", p, "base rate".into());
    }
    if with_tier > base {
        push(
            &mut out,
            "tier",
            1,
            "tier",
            with_tier - base,
            format!("tier multiplier {}‰", multiplier),
        );
    } else if with_tier < base {
        // A multiplier below 1000 takes from the base; the base lines are cut from the
        // last, so that the total is what the tier allows.
        let mut cut = base - with_tier;
        while cut > 0 {
            let Some(last) = out.lines.last_mut() else {
                break;
            };
            let take = cut.min(last.points);
            last.points -= take;
            out.total -= take;
            cut -= take;
            if last.points == 0 {
                out.lines.pop();
            }
        }
    }

    for r in &rules.bonuses {
        let Some(lines) = conditions_hold(&r.conditions, f) else {
            continue;
        };
        let amount: i128 = lines.iter().map(|l| i128::from(l.net_fen.max(0))).sum();
        let volume: i128 = lines.iter().map(|l| i128::from(l.volume_ml.max(0))).sum();
        let (mut points, reason) = match r.bonus {
            Bonus::Multiplier { permille } => {
                let centi: i128 = lines
                    .iter()
                    .map(|l| {
                        base_by_product
                            .get(l.product_code.as_str())
                            .copied()
                            .unwrap_or(0)
                    })
                    .sum();
                (
                    floor_div(centi * i128::from(permille.max(0)), 100_000),
                    format!("{}: +{}‰ of the base", r.name, permille),
                )
            }
            Bonus::Fixed { points } => (points.max(0), r.name.clone()),
            Bonus::PerYuan { points } => (
                floor_div(amount * i128::from(points.max(0)), 100),
                format!("{}: {points} per yuan", r.name),
            ),
            Bonus::PerLitre { points } => (
                floor_div(volume * i128::from(points.max(0)), 1000),
                format!("{}: {points} per litre", r.name),
            ),
        };
        if let Some(cap) = r.cap_per_sale {
            points = points.min(cap.max(0));
        }
        if let Some(cap) = r.cap_per_day {
            let used = f.earned_today.get(&r.id).copied().unwrap_or(0);
            points = points.min((cap - used).max(0));
        }
        if let Some(cap) = r.cap_per_month {
            let used = f.earned_month.get(&r.id).copied().unwrap_or(0);
            points = points.min((cap - used).max(0));
        }
        push(&mut out, &r.id, r.version, "bonus", points, reason);
    }

    for m in &rules.milestones {
        match &m.milestone {
            Milestone::EveryNthVisit { n, points } => {
                let visit = f.visits_before.saturating_add(1);
                if visit.checked_rem(*n) == Some(0) {
                    push(
                        &mut out,
                        &m.id,
                        m.version,
                        "milestone",
                        *points,
                        format!("{}: visit {visit}", m.name),
                    );
                }
            }
            Milestone::LitresInMonth {
                product,
                litres,
                points,
            } => {
                let matches = |code: &str, fuel: bool| match product {
                    Some(p) => p == code,
                    None => fuel,
                };
                let before: i64 = f
                    .month_volume_ml
                    .iter()
                    .filter(|(code, _)| match product {
                        Some(p) => *code == p,
                        None => true,
                    })
                    .map(|(_, ml)| *ml)
                    .sum();
                let now: i64 = f
                    .lines
                    .iter()
                    .filter(|l| matches(&l.product_code, l.is_fuel))
                    .map(|l| l.volume_ml.max(0))
                    .sum();
                let threshold = litres.saturating_mul(1000);
                if now > 0 && before < threshold && before + now >= threshold {
                    push(
                        &mut out,
                        &m.id,
                        m.version,
                        "milestone",
                        *points,
                        format!("{}: {litres} L this month", m.name),
                    );
                }
            }
        }
    }
    out
}

/// What is wrong with a rule set: rules that can never fire, rules that overlap,
/// values out of range. Empty when the set is sound. `products` are the product codes
/// that exist.
pub fn lint(rules: &RuleSet, products: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let known = |p: &String| products.contains(p);
    let mut generic = 0;
    for r in &rules.earn {
        if r.points_per_unit < 0 {
            out.push(format!("earn rule {}: points per unit below zero", r.id));
        }
        match &r.products {
            None => generic += 1,
            Some(ps) if ps.is_empty() => out.push(format!(
                "earn rule {}: an empty product list never applies",
                r.id
            )),
            Some(ps) => {
                for p in ps.iter().filter(|p| !known(p)) {
                    out.push(format!("earn rule {}: no product {p}", r.id));
                }
            }
        }
    }
    if generic > 1 {
        out.push("more than one earn rule without products: only the first applies".into());
    }
    for r in &rules.bonuses {
        let c = &r.conditions;
        let never = |why: &str| format!("bonus rule {} ({}) can never fire: {why}", r.id, r.name);
        if let (Some(a), Some(b)) = (c.from_us, c.until_us) {
            if a >= b {
                out.push(never("its period ends before it starts"));
            }
        }
        if c.weekdays
            .as_ref()
            .is_some_and(|w| w.is_empty() || w.iter().any(|d| !(1..=7).contains(d)))
        {
            out.push(never("its weekdays are empty or not 1 to 7"));
        }
        if c.hours
            .is_some_and(|(a, b)| a == b || a >= 1440 || b > 1440)
        {
            out.push(never("its hours are an empty or impossible window"));
        }
        if c.stations.as_ref().is_some_and(Vec::is_empty)
            || c.tags.as_ref().is_some_and(Vec::is_empty)
        {
            out.push(never("an empty list of stations or tags"));
        }
        match &c.products {
            Some(ps) if ps.is_empty() => out.push(never("an empty product list")),
            Some(ps) => {
                for p in ps.iter().filter(|p| !known(p)) {
                    out.push(format!("bonus rule {}: no product {p}", r.id));
                }
            }
            None => {}
        }
        if [r.cap_per_sale, r.cap_per_day, r.cap_per_month]
            .iter()
            .flatten()
            .any(|c| *c <= 0)
        {
            out.push(never("a cap of zero or less"));
        }
        let value = match r.bonus {
            Bonus::Multiplier { permille } => permille,
            Bonus::Fixed { points } | Bonus::PerYuan { points } | Bonus::PerLitre { points } => {
                points
            }
        };
        if value <= 0 {
            out.push(never("it gives nothing"));
        }
    }
    for m in &rules.milestones {
        let never = |why: &str| format!("milestone {} ({}) can never fire: {why}", m.id, m.name);
        match &m.milestone {
            Milestone::EveryNthVisit { n, points } => {
                if *n == 0 {
                    out.push(never("every 0th visit"));
                }
                if *points <= 0 {
                    out.push(never("it gives nothing"));
                }
            }
            Milestone::LitresInMonth {
                product,
                litres,
                points,
            } => {
                if *litres <= 0 {
                    out.push(never("a threshold of 0 litres or less"));
                }
                if *points <= 0 {
                    out.push(never("it gives nothing"));
                }
                if let Some(p) = product.as_ref().filter(|p| !known(p)) {
                    out.push(format!("milestone {}: no product {p}", m.id));
                }
            }
        }
    }
    // Two bonus rules with the same conditions and the same kind of bonus overlap: a
    // sale that meets one meets the other, which is rarely meant.
    for (i, a) in rules.bonuses.iter().enumerate() {
        for b in &rules.bonuses[i + 1..] {
            if a.conditions == b.conditions
                && std::mem::discriminant(&a.bonus) == std::mem::discriminant(&b.bonus)
            {
                out.push(format!(
                    "bonus rules {} and {} overlap: same conditions, same kind of bonus",
                    a.id, b.id
                ));
            }
        }
    }
    for m in &rules.milestones {
        match &m.milestone {
            Milestone::EveryNthVisit { n, points } if *n == 0 || *points <= 0 => out.push(format!(
                "milestone {}: every n-th visit needs n ≥ 1 and points > 0",
                m.id
            )),
            Milestone::LitresInMonth { litres, points, .. } if *litres <= 0 || *points <= 0 => out
                .push(format!(
                    "milestone {}: litres and points must be above zero",
                    m.id
                )),
            Milestone::LitresInMonth {
                product: Some(p), ..
            } if !known(p) => out.push(format!("milestone {}: no product {p}", m.id)),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::points_earned;
    use crate::Fen;
    use proptest::prelude::*;

    fn fuel(code: &str, net_fen: i64, volume_ml: i64) -> FactLine {
        FactLine {
            product_code: code.into(),
            is_fuel: true,
            net_fen,
            volume_ml,
        }
    }

    fn facts(lines: Vec<FactLine>) -> SaleFacts {
        SaleFacts {
            at_us: 1_000,
            weekday: 3,
            minute_of_day: 8 * 60,
            station_code: "S001".into(),
            lines,
            tier_multiplier_permille: 1000,
            ..SaleFacts::default()
        }
    }

    fn bonus(id: &str, conditions: Conditions, bonus: Bonus) -> BonusRule {
        BonusRule {
            id: id.into(),
            version: 2,
            name: format!("rule {id}"),
            conditions,
            bonus,
            cap_per_sale: None,
            cap_per_day: None,
            cap_per_month: None,
        }
    }

    fn with_bonus(b: BonusRule) -> RuleSet {
        RuleSet {
            bonuses: vec![b],
            ..RuleSet::default_rules()
        }
    }

    fn bonus_points(e: &Earned, id: &str) -> i64 {
        e.lines
            .iter()
            .filter(|l| l.rule_id == id)
            .map(|l| l.points)
            .sum()
    }

    #[test]
    fn the_default_is_a_point_per_whole_yuan() {
        let e = evaluate(
            &RuleSet::default_rules(),
            &facts(vec![fuel("GASOLINE_92", 29_999, 40_000)]),
        );
        assert_eq!(e.total, 299);
        assert_eq!(e.lines[0].kind, "base");
        assert_eq!(e.lines[0].rule_id, "base");
    }

    #[test]
    fn per_litre_rules_by_product_and_the_tier_multiplier() {
        let rules = RuleSet {
            earn: vec![
                EarnRule {
                    id: "diesel".into(),
                    version: 3,
                    products: Some(vec!["DIESEL_0".into()]),
                    basis: Basis::PerLitre,
                    points_per_unit: 2,
                },
                EarnRule::default_rule(),
            ],
            ..RuleSet::default()
        };
        let mut f = facts(vec![
            fuel("DIESEL_0", 71_800, 100_500),
            fuel("GASOLINE_92", 10_050, 13_000),
        ]);
        // 201 (100.5 L × 2) + 100.5 → 301.
        assert_eq!(evaluate(&rules, &f).total, 301);
        f.tier_multiplier_permille = 1500;
        let e = evaluate(&rules, &f);
        // Base and tier are rounded once: 301.5 × 1.5 = 452.25.
        assert_eq!(e.total, 452);
        assert_eq!(
            e.lines.iter().find(|l| l.kind == "tier").unwrap().points,
            151
        );
        assert!(e
            .lines
            .iter()
            .any(|l| l.rule_id == "diesel" && l.version == 3));
    }

    #[test]
    fn each_condition_can_stop_a_bonus() {
        let base = facts(vec![fuel("GASOLINE_95", 30_000, 38_000)]);
        let give = Bonus::Fixed { points: 50 };
        let cases: Vec<(Conditions, SaleFacts)> = vec![
            (
                Conditions {
                    from_us: Some(2_000),
                    ..Default::default()
                },
                base.clone(),
            ),
            (
                Conditions {
                    until_us: Some(1_000),
                    ..Default::default()
                },
                base.clone(),
            ),
            (
                Conditions {
                    weekdays: Some(vec![6, 7]),
                    ..Default::default()
                },
                base.clone(),
            ),
            (
                Conditions {
                    hours: Some((17 * 60, 20 * 60)),
                    ..Default::default()
                },
                base.clone(),
            ),
            (
                Conditions {
                    stations: Some(vec!["S002".into()]),
                    ..Default::default()
                },
                base.clone(),
            ),
            (
                Conditions {
                    products: Some(vec!["GASOLINE_98".into()]),
                    ..Default::default()
                },
                base.clone(),
            ),
            (
                Conditions {
                    min_amount_fen: Some(30_001),
                    ..Default::default()
                },
                base.clone(),
            ),
            (
                Conditions {
                    min_volume_ml: Some(40_000),
                    ..Default::default()
                },
                base.clone(),
            ),
            (
                Conditions {
                    tags: Some(vec!["taxi".into()]),
                    ..Default::default()
                },
                base.clone(),
            ),
            (
                Conditions {
                    first_visit: true,
                    ..Default::default()
                },
                base.clone(),
            ),
            (
                Conditions {
                    birthday_month: true,
                    ..Default::default()
                },
                base.clone(),
            ),
        ];
        for (i, (c, f)) in cases.into_iter().enumerate() {
            let rules = with_bonus(bonus("b", c.clone(), give));
            assert_eq!(
                bonus_points(&evaluate(&rules, &f), "b"),
                0,
                "case {i}: {c:?}"
            );
            // …and the same sale meeting it gets the bonus.
            let mut met = f.clone();
            met.at_us = c.from_us.unwrap_or(met.at_us);
            if let Some(until) = c.until_us {
                met.at_us = 500.min(until - 1);
            }
            if let Some(w) = &c.weekdays {
                met.weekday = w[0];
            }
            if let Some((from, _)) = c.hours {
                met.minute_of_day = from;
            }
            if let Some(s) = &c.stations {
                met.station_code = s[0].clone();
            }
            if let Some(p) = &c.products {
                met.lines[0].product_code = p[0].clone();
            }
            if let Some(m) = c.min_amount_fen {
                met.lines[0].net_fen = m;
            }
            if let Some(m) = c.min_volume_ml {
                met.lines[0].volume_ml = m;
            }
            if let Some(t) = &c.tags {
                met.tags = t.clone();
            }
            met.first_visit |= c.first_visit;
            met.birthday_month |= c.birthday_month;
            assert_eq!(
                bonus_points(&evaluate(&rules, &met), "b"),
                50,
                "case {i} met: {c:?}"
            );
        }
    }

    #[test]
    fn hours_may_wrap_midnight() {
        let rules = with_bonus(bonus(
            "night",
            Conditions {
                hours: Some((22 * 60, 6 * 60)),
                ..Default::default()
            },
            Bonus::Fixed { points: 5 },
        ));
        let mut f = facts(vec![fuel("GASOLINE_92", 10_000, 13_000)]);
        for (minute, want) in [(23 * 60, 5), (2 * 60, 5), (6 * 60, 0), (12 * 60, 0)] {
            f.minute_of_day = minute;
            assert_eq!(
                bonus_points(&evaluate(&rules, &f), "night"),
                want,
                "minute {minute}"
            );
        }
    }

    #[test]
    fn bonus_kinds_count_only_their_products() {
        let f = facts(vec![
            fuel("GASOLINE_95", 40_000, 50_700),
            FactLine {
                product_code: "WATER".into(),
                is_fuel: false,
                net_fen: 300,
                volume_ml: 0,
            },
        ]);
        let only95 = Conditions {
            products: Some(vec!["GASOLINE_95".into()]),
            ..Default::default()
        };
        let e = |b: Bonus| {
            bonus_points(
                &evaluate(&with_bonus(bonus("x", only95.clone(), b)), &f),
                "x",
            )
        };
        assert_eq!(
            e(Bonus::Multiplier { permille: 1000 }),
            400,
            "double points on 95# only"
        );
        assert_eq!(e(Bonus::PerYuan { points: 2 }), 800);
        assert_eq!(e(Bonus::PerLitre { points: 3 }), 152);
        assert_eq!(e(Bonus::Fixed { points: 9 }), 9);
    }

    #[test]
    fn caps_per_sale_day_and_month() {
        let mut r = bonus("cap", Conditions::default(), Bonus::PerYuan { points: 10 });
        r.cap_per_sale = Some(500);
        r.cap_per_day = Some(800);
        r.cap_per_month = Some(1_000);
        let rules = with_bonus(r);
        let mut f = facts(vec![fuel("GASOLINE_92", 30_000, 40_000)]);
        assert_eq!(bonus_points(&evaluate(&rules, &f), "cap"), 500);
        f.earned_today.insert("cap".into(), 600);
        assert_eq!(bonus_points(&evaluate(&rules, &f), "cap"), 200);
        f.earned_month.insert("cap".into(), 950);
        assert_eq!(bonus_points(&evaluate(&rules, &f), "cap"), 50);
        f.earned_today.insert("cap".into(), 800);
        assert_eq!(bonus_points(&evaluate(&rules, &f), "cap"), 0);
    }

    #[test]
    fn milestones_every_nth_visit_and_litres_in_a_month() {
        let rules = RuleSet {
            milestones: vec![
                MilestoneRule {
                    id: "tenth".into(),
                    version: 1,
                    name: "every 10th visit".into(),
                    milestone: Milestone::EveryNthVisit { n: 10, points: 100 },
                },
                MilestoneRule {
                    id: "premium".into(),
                    version: 1,
                    name: "60 L of 98#".into(),
                    milestone: Milestone::LitresInMonth {
                        product: Some("GASOLINE_98".into()),
                        litres: 60,
                        points: 200,
                    },
                },
            ],
            ..RuleSet::default_rules()
        };
        let mut f = facts(vec![fuel("GASOLINE_98", 26_070, 30_000)]);
        f.visits_before = 9;
        f.month_volume_ml.insert("GASOLINE_98".into(), 35_000);
        let e = evaluate(&rules, &f);
        assert_eq!(bonus_points(&e, "tenth"), 100);
        assert_eq!(bonus_points(&e, "premium"), 200, "35 + 30 L crosses 60 L");
        f.visits_before = 10;
        f.month_volume_ml.insert("GASOLINE_98".into(), 61_000);
        let e = evaluate(&rules, &f);
        assert_eq!(
            bonus_points(&e, "tenth") + bonus_points(&e, "premium"),
            0,
            "once a month"
        );
    }

    #[test]
    fn lint_reports_rules_that_never_fire_and_overlaps() {
        let products = vec!["GASOLINE_92".to_string()];
        assert!(lint(&RuleSet::default_rules(), &products).is_empty());
        let mut bad = bonus(
            "p",
            Conditions {
                from_us: Some(10),
                until_us: Some(5),
                ..Default::default()
            },
            Bonus::Fixed { points: 5 },
        );
        bad.cap_per_day = Some(0);
        let a = bonus(
            "a",
            Conditions {
                weekdays: Some(vec![6]),
                ..Default::default()
            },
            Bonus::Fixed { points: 5 },
        );
        let b = bonus(
            "b",
            Conditions {
                weekdays: Some(vec![6]),
                ..Default::default()
            },
            Bonus::Fixed { points: 8 },
        );
        let c = bonus(
            "c",
            Conditions {
                products: Some(vec!["GASOLINE_99".into()]),
                ..Default::default()
            },
            Bonus::Fixed { points: 1 },
        );
        let rules = RuleSet {
            bonuses: vec![bad, a, b, c],
            ..RuleSet::default_rules()
        };
        let found = lint(&rules, &products).join("\n");
        assert!(
            found.contains("p (rule p) can never fire: its period ends"),
            "{found}"
        );
        assert!(found.contains("a cap of zero"), "{found}");
        assert!(found.contains("a and b overlap"), "{found}");
        assert!(found.contains("no product GASOLINE_99"), "{found}");
    }

    fn basket() -> impl Strategy<Value = Vec<FactLine>> {
        prop::collection::vec(
            (
                prop::sample::select(vec!["GASOLINE_92", "GASOLINE_95", "DIESEL_0", "WATER"]),
                0i64..2_000_000,
                0i64..200_000,
            ),
            1..5,
        )
        .prop_map(|v| {
            v.into_iter()
                .map(|(p, net, ml)| FactLine {
                    product_code: p.into(),
                    is_fuel: p != "WATER",
                    net_fen: net,
                    volume_ml: if p == "WATER" { 0 } else { ml },
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn default_rules_match_points_earned(lines in basket(), mult in 0i64..3_000) {
            let mut f = facts(lines);
            f.tier_multiplier_permille = mult;
            let net: i64 = f.lines.iter().map(|l| l.net_fen).sum();
            let e = evaluate(&RuleSet::default_rules(), &f);
            prop_assert_eq!(e.total, points_earned(Fen(net), mult).0);
            prop_assert_eq!(e.total, e.lines.iter().map(|l| l.points).sum::<i64>());
        }

        #[test]
        fn lines_add_up_are_positive_and_respect_caps(
            lines in basket(),
            permille in 0i64..3_000,
            fixed in 0i64..500,
            per_yuan in 0i64..5,
            cap in 1i64..1_000,
            used_today in 0i64..1_200,
            visits in 0u32..50,
        ) {
            let mut capped = bonus("capped", Conditions::default(), Bonus::PerYuan { points: per_yuan });
            capped.cap_per_sale = Some(cap);
            capped.cap_per_day = Some(cap + 100);
            let rules = RuleSet {
                earn: vec![EarnRule::default_rule()],
                bonuses: vec![
                    capped,
                    bonus("double", Conditions { products: Some(vec!["GASOLINE_95".into()]), ..Default::default() }, Bonus::Multiplier { permille }),
                    bonus("fixed", Conditions { weekdays: Some(vec![3]), ..Default::default() }, Bonus::Fixed { points: fixed }),
                ],
                milestones: vec![MilestoneRule { id: "m".into(), version: 1, name: "5th".into(), milestone: Milestone::EveryNthVisit { n: 5, points: 7 } }],
            };
            let mut f = facts(lines);
            f.visits_before = visits;
            f.earned_today.insert("capped".into(), used_today);
            let e = evaluate(&rules, &f);
            prop_assert_eq!(e.total, e.lines.iter().map(|l| l.points).sum::<i64>());
            prop_assert!(e.lines.iter().all(|l| l.points > 0));
            let c = bonus_points(&e, "capped");
            prop_assert!(c <= cap && used_today + c <= (cap + 100).max(used_today));
            // A bonus rule never lowers the total.
            let plain = evaluate(&RuleSet::default_rules(), &f);
            prop_assert!(e.total >= plain.total);
        }
    }
}
