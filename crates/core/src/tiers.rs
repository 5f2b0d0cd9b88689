//! Tier qualification (SPEC F5): a member's tier follows a rolling-window metric
//! (spend, litres or visits). Upgrades take effect at once (on the sale that qualifies,
//! or at the daily review); a member who no longer qualifies keeps the tier through a
//! grace period and is moved down at the first review after it. A tier set by hand (an
//! override, with its reason) is left alone until it is lifted.

use serde::{Deserialize, Serialize};

/// What qualifies a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Net spend in fen over the window (refunds deducted).
    Spend,
    /// Millilitres of fuel over the window.
    Litres,
    /// Visits (sales) over the window.
    Visits,
}

/// How tiers are qualified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qualification {
    pub metric: Metric,
    pub window_days: u32,
    pub grace_days: u32,
}

impl Default for Qualification {
    fn default() -> Self {
        Self {
            metric: Metric::Spend,
            window_days: 365,
            grace_days: 30,
        }
    }
}

/// A level and its thresholds (in the unit of each metric).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    pub code: String,
    pub rank: i64,
    pub spend_fen: i64,
    pub volume_ml: i64,
    pub visits: i64,
}

/// A member's figures over the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Figures {
    pub spend_fen: i64,
    pub volume_ml: i64,
    pub visits: i64,
}

/// The highest level the figures reach (the lowest level always qualifies).
pub fn qualified<'l>(q: &Qualification, levels: &'l [Level], f: &Figures) -> Option<&'l Level> {
    levels
        .iter()
        .filter(|l| match q.metric {
            Metric::Spend => f.spend_fen >= l.spend_fen,
            Metric::Litres => f.volume_ml >= l.volume_ml,
            Metric::Visits => f.visits >= l.visits,
        })
        .max_by_key(|l| l.rank)
        .or_else(|| levels.iter().min_by_key(|l| l.rank))
}

/// The member's state after a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub tier: String,
    /// Since when the member has been below the tier (the grace period runs), if so.
    pub below_since_us: Option<i64>,
}

/// Reviews a member at `now_us`. `downgrade` is false on a sale (a sale only ever
/// moves a member up; the daily review moves down).
#[allow(clippy::too_many_arguments)]
pub fn review(
    q: &Qualification,
    levels: &[Level],
    current: &str,
    overridden: bool,
    below_since_us: Option<i64>,
    f: &Figures,
    now_us: i64,
    downgrade: bool,
) -> Decision {
    let keep = Decision {
        tier: current.to_string(),
        below_since_us,
    };
    if overridden {
        return Decision {
            tier: current.to_string(),
            below_since_us: None,
        };
    }
    let Some(best) = qualified(q, levels, f) else {
        return keep;
    };
    let current_rank = levels
        .iter()
        .find(|l| l.code == current)
        .map(|l| l.rank)
        .unwrap_or(i64::MIN);
    if best.rank >= current_rank {
        return Decision {
            tier: if best.rank > current_rank {
                best.code.clone()
            } else {
                current.to_string()
            },
            below_since_us: None,
        };
    }
    if !downgrade {
        return keep;
    }
    match below_since_us {
        None => Decision {
            tier: current.to_string(),
            below_since_us: Some(now_us),
        },
        Some(since) if now_us - since >= i64::from(q.grace_days) * 86_400_000_000 => Decision {
            tier: best.code.clone(),
            below_since_us: None,
        },
        Some(_) => keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;

    fn levels() -> Vec<Level> {
        vec![
            Level {
                code: "standard".into(),
                rank: 0,
                spend_fen: 0,
                volume_ml: 0,
                visits: 0,
            },
            Level {
                code: "vip".into(),
                rank: 1,
                spend_fen: 500_000,
                volume_ml: 1_000_000,
                visits: 20,
            },
            Level {
                code: "svip".into(),
                rank: 2,
                spend_fen: 2_000_000,
                volume_ml: 4_000_000,
                visits: 60,
            },
        ]
    }

    fn spend(fen: i64) -> Figures {
        Figures {
            spend_fen: fen,
            ..Figures::default()
        }
    }

    #[test]
    fn qualification_by_each_metric() {
        let l = levels();
        let mut q = Qualification::default();
        assert_eq!(qualified(&q, &l, &spend(600_000)).unwrap().code, "vip");
        assert_eq!(qualified(&q, &l, &spend(0)).unwrap().code, "standard");
        q.metric = Metric::Litres;
        let f = Figures {
            volume_ml: 4_000_000,
            ..Figures::default()
        };
        assert_eq!(qualified(&q, &l, &f).unwrap().code, "svip");
        q.metric = Metric::Visits;
        let f = Figures {
            visits: 25,
            ..Figures::default()
        };
        assert_eq!(qualified(&q, &l, &f).unwrap().code, "vip");
    }

    #[test]
    fn upgrade_at_once_downgrade_after_grace_override_untouched() {
        let q = Qualification::default();
        let l = levels();
        let up = review(&q, &l, "standard", false, None, &spend(2_100_000), 0, false);
        assert_eq!(up.tier, "svip");
        // A sale never moves down.
        let sale = review(&q, &l, "svip", false, None, &spend(10), DAY, false);
        assert_eq!(
            sale,
            Decision {
                tier: "svip".into(),
                below_since_us: None
            }
        );
        // The daily review starts the grace period, keeps the tier through it, then
        // moves down to what the figures reach.
        let d1 = review(&q, &l, "svip", false, None, &spend(600_000), DAY, true);
        assert_eq!(
            d1,
            Decision {
                tier: "svip".into(),
                below_since_us: Some(DAY)
            }
        );
        let d2 = review(
            &q,
            &l,
            "svip",
            false,
            d1.below_since_us,
            &spend(600_000),
            30 * DAY,
            true,
        );
        assert_eq!(d2.tier, "svip");
        let d3 = review(
            &q,
            &l,
            "svip",
            false,
            d1.below_since_us,
            &spend(600_000),
            31 * DAY,
            true,
        );
        assert_eq!(
            d3,
            Decision {
                tier: "vip".into(),
                below_since_us: None
            }
        );
        // Qualifying again during the grace period ends it.
        let back = review(
            &q,
            &l,
            "svip",
            false,
            Some(DAY),
            &spend(2_000_000),
            5 * DAY,
            true,
        );
        assert_eq!(
            back,
            Decision {
                tier: "svip".into(),
                below_since_us: None
            }
        );
        // An override is kept whatever the figures.
        let o = review(&q, &l, "svip", true, None, &spend(0), 400 * DAY, true);
        assert_eq!(o.tier, "svip");
    }
}
