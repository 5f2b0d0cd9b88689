//! Sales reports over [`SaleRow`]s: totals by one dimension, the members' share, and
//! cohort retention.
//!
//! A report counts lines (one sale of fuel and a bottle of water are two lines), sums
//! the amount paid, the volume and the discount. Amounts stay in fen, volumes in ml.

use crate::sales::SaleRow;
use crate::transactions::{date_of, Day};
use chrono::Datelike;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What to group sales by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Station,
    /// Rows without a region fall under the empty key.
    Region,
    Product,
    /// The calendar day, `YYYY-MM-DD`.
    Day,
    /// The hour of the local time, `00` to `23`.
    Hour,
    Payment,
}

impl Dimension {
    pub const ALL: [Dimension; 6] = [
        Dimension::Station,
        Dimension::Region,
        Dimension::Product,
        Dimension::Day,
        Dimension::Hour,
        Dimension::Payment,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Station => "station",
            Dimension::Region => "region",
            Dimension::Product => "product",
            Dimension::Day => "day",
            Dimension::Hour => "hour",
            Dimension::Payment => "payment",
        }
    }

    pub fn parse(s: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.name() == s)
    }

    fn key(self, r: &SaleRow) -> String {
        match self {
            Dimension::Station => r.station.clone(),
            Dimension::Region => r.region.clone().unwrap_or_default(),
            Dimension::Product => r.product.clone(),
            Dimension::Day => r.time.date().format("%Y-%m-%d").to_string(),
            Dimension::Hour => format!("{:02}", r.hour()),
            Dimension::Payment => r.payment.clone(),
        }
    }
}

/// The totals of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub lines: u64,
    pub net_fen: i64,
    pub volume_ml: i64,
    pub discount_fen: i64,
}

impl Totals {
    fn add(&mut self, r: &SaleRow) {
        self.lines += 1;
        self.net_fen += r.net_fen;
        self.volume_ml += r.volume_ml;
        self.discount_fen += r.discount_fen;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRow {
    pub key: String,
    #[serde(flatten)]
    pub totals: Totals,
    /// This group's share of all the amount paid.
    pub net_share: f64,
}

/// Totals by `dimension`, in key order (days and hours in time order).
pub fn sales_by(rows: &[SaleRow], dimension: Dimension) -> Vec<GroupRow> {
    let mut groups: BTreeMap<String, Totals> = BTreeMap::new();
    let mut all = 0i64;
    for r in rows {
        groups.entry(dimension.key(r)).or_default().add(r);
        all += r.net_fen;
    }
    groups
        .into_iter()
        .map(|(key, totals)| GroupRow {
            net_share: ratio(totals.net_fen as f64, all as f64),
            key,
            totals,
        })
        .collect()
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

/// Members (rows with a customer) against walk-ins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberShare {
    pub members: Totals,
    pub walk_ins: Totals,
    /// Members' share of the lines, the amount and the volume.
    pub member_share_lines: f64,
    pub member_share_net: f64,
    pub member_share_volume: f64,
}

pub fn member_share(rows: &[SaleRow]) -> MemberShare {
    let (mut members, mut walk_ins) = (Totals::default(), Totals::default());
    for r in rows {
        if r.customer.is_some() {
            members.add(r)
        } else {
            walk_ins.add(r)
        }
    }
    MemberShare {
        member_share_lines: ratio(
            members.lines as f64,
            (members.lines + walk_ins.lines) as f64,
        ),
        member_share_net: ratio(
            members.net_fen as f64,
            (members.net_fen + walk_ins.net_fen) as f64,
        ),
        member_share_volume: ratio(
            members.volume_ml as f64,
            (members.volume_ml + walk_ins.volume_ml) as f64,
        ),
        members,
        walk_ins,
    }
}

/// A month as year × 12 + (month − 1), so that months subtract.
fn month_index(day: Day) -> i32 {
    let d = date_of(day);
    d.year() * 12 + d.month0() as i32
}

fn month_text(index: i32) -> String {
    format!(
        "{:04}-{:02}",
        index.div_euclid(12),
        index.rem_euclid(12) + 1
    )
}

/// One cohort: the customers whose first purchase was in `cohort` (`YYYY-MM`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortRow {
    pub cohort: String,
    pub customers: u64,
    /// `active[k]`: customers of the cohort with a purchase in the k-th month after the
    /// cohort's (k = 0 is the cohort month, where all are active), up to the last month
    /// of the data.
    pub active: Vec<u64>,
    /// `active[k] / customers`.
    pub retention: Vec<f64>,
}

/// Cohort retention: customers grouped by the month of their first purchase, and the
/// share of each cohort that bought in each later month. The first month of the data
/// holds everyone who bought in it, new or not, since nothing earlier is seen.
pub fn cohort_retention(rows: &[SaleRow]) -> Vec<CohortRow> {
    let mut months: HashMap<&str, Vec<i32>> = HashMap::new();
    let mut last_month = i32::MIN;
    for r in rows {
        if let Some(c) = r.customer.as_deref() {
            let m = month_index(r.day());
            months.entry(c).or_default().push(m);
            last_month = last_month.max(m);
        }
    }
    let mut cohorts: BTreeMap<i32, Vec<u64>> = BTreeMap::new();
    let mut sizes: BTreeMap<i32, u64> = BTreeMap::new();
    for ms in months.values_mut() {
        ms.sort_unstable();
        ms.dedup();
        let first = ms[0];
        *sizes.entry(first).or_default() += 1;
        let active = cohorts
            .entry(first)
            .or_insert_with(|| vec![0; (last_month - first + 1) as usize]);
        for &m in ms.iter() {
            active[(m - first) as usize] += 1;
        }
    }
    cohorts
        .into_iter()
        .map(|(first, active)| {
            let customers = sizes[&first];
            CohortRow {
                cohort: month_text(first),
                customers,
                retention: active
                    .iter()
                    .map(|&a| a as f64 / customers as f64)
                    .collect(),
                active,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sales::read_sales;

    fn rows() -> Vec<SaleRow> {
        let text = "time,station,region,product,net_fen,volume_ml,discount_fen,payment,customer\n\
            2024-01-05 08:10,S1,BJ,GASOLINE_92,1000,2000,0,card,a\n\
            2024-01-05 08:40,S1,BJ,WATER,300,0,0,cash,\n\
            2024-01-20 17:05,S2,TJ,GASOLINE_95,2000,3000,100,wechat,b\n\
            2024-02-03 08:00,S2,TJ,GASOLINE_92,1500,2500,0,card,a\n\
            2024-02-10 12:00,S1,BJ,GASOLINE_92,500,800,0,cash,c\n\
            2024-03-15 17:30,S1,BJ,DIESEL_0,3000,5000,0,card,b\n\
            2024-03-16 17:30,S1,BJ,DIESEL_0,3000,5000,0,card,c\n";
        read_sales(text.as_bytes()).unwrap()
    }

    #[test]
    fn totals_by_each_dimension_add_up() {
        let rows = rows();
        for d in Dimension::ALL {
            let groups = sales_by(&rows, d);
            let lines: u64 = groups.iter().map(|g| g.totals.lines).sum();
            let net: i64 = groups.iter().map(|g| g.totals.net_fen).sum();
            let share: f64 = groups.iter().map(|g| g.net_share).sum();
            assert_eq!((lines, net), (7, 11_300), "{}", d.name());
            assert!((share - 1.0).abs() < 1e-12);
        }
        let by_station = sales_by(&rows, Dimension::Station);
        assert_eq!(by_station[0].key, "S1");
        assert_eq!(
            by_station[0].totals,
            Totals {
                lines: 5,
                net_fen: 7_800,
                volume_ml: 12_800,
                discount_fen: 0
            }
        );
        assert_eq!(by_station[1].totals.discount_fen, 100);
        let by_hour = sales_by(&rows, Dimension::Hour);
        let keys: Vec<&str> = by_hour.iter().map(|g| g.key.as_str()).collect();
        assert_eq!(keys, ["08", "12", "17"]);
        assert_eq!(by_hour[0].totals.lines, 3);
        let by_payment = sales_by(&rows, Dimension::Payment);
        assert_eq!(by_payment.len(), 3);
        assert_eq!(Dimension::parse("region"), Some(Dimension::Region));
        assert_eq!(Dimension::parse("weekday"), None);
    }

    #[test]
    fn member_share_splits_walk_ins() {
        let s = member_share(&rows());
        assert_eq!(s.walk_ins.lines, 1);
        assert_eq!(s.members.lines, 6);
        assert!((s.member_share_net - 11_000.0 / 11_300.0).abs() < 1e-12);
        assert!((s.member_share_volume - 1.0).abs() < 1e-12);
    }

    #[test]
    fn cohorts_count_active_customers_per_later_month() {
        let c = cohort_retention(&rows());
        assert_eq!(c.len(), 2);
        // January: a and b; a comes back in February, b in March.
        assert_eq!(c[0].cohort, "2024-01");
        assert_eq!(c[0].customers, 2);
        assert_eq!(c[0].active, vec![2, 1, 1]);
        assert_eq!(c[0].retention, vec![1.0, 0.5, 0.5]);
        // February: c, back in March.
        assert_eq!(c[1].cohort, "2024-02");
        assert_eq!(c[1].active, vec![1, 1]);
        assert_eq!(month_text(2024 * 12 + 11), "2024-12");
    }
}
