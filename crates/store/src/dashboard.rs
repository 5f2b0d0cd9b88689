//! The console dashboard's figures: sales by day and product, member share, new and
//! lapsing members and the tier mix, over the stations (or the customers) a user may
//! see. Read-only; grouped in the database so that a year of sales never leaves it.

use crate::{Store, StoreError};
use sqlx::Row;

/// Whose figures: every station, some stations, or one account manager's customers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DashScope {
    All,
    Stations(Vec<String>),
    Manager(String),
}

/// One local day of sales.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayFigures {
    /// Days since 1970-01-01 in the network's time zone.
    pub day: i64,
    pub sales: i64,
    pub net_fen: i64,
    pub member_sales: i64,
    pub member_net_fen: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Dashboard {
    pub days: Vec<DayFigures>,
    /// Product code, net fen, litres in ml, lines.
    pub products: Vec<(String, i64, i64, i64)>,
    /// Local day, members who joined.
    pub new_members: Vec<(i64, i64)>,
    /// Members whose last visit was between `lapse_from` and `lapse_to`.
    pub lapsing: i64,
    /// Members who visited in the window before `lapse_to` (the base of the lapse rate).
    pub active_before: i64,
    /// Tier code, members.
    pub tiers: Vec<(String, i64)>,
    pub members: i64,
}

const DAY_US: i64 = 86_400_000_000;

/// The filter on `sale` (alias `x`) and on `customer` (alias `c`) for a scope, with the
/// first placeholder number it uses.
fn filters(scope: &DashScope, first: usize) -> (String, String, Vec<String>) {
    match scope {
        DashScope::All => (String::new(), String::new(), vec![]),
        DashScope::Stations(ids) => {
            let list: Vec<String> = (0..ids.len()).map(|i| format!("${}", first + i)).collect();
            let list = if list.is_empty() {
                "null".to_string()
            } else {
                list.join(", ")
            };
            (
                format!(" and x.station_id in ({list})"),
                format!(" and c.home_station_id in ({list})"),
                ids.clone(),
            )
        }
        DashScope::Manager(user_id) => (
            format!(" and x.customer_id in (select customer_id from customer where account_manager_id = ${first})"),
            format!(" and c.account_manager_id = ${first}"),
            vec![user_id.clone()],
        ),
    }
}

impl Store {
    /// The dashboard over `[from_us, to_us)`, days counted with `offset_us` (the time
    /// zone's offset from UTC). Members lapse when their last visit in the 90 days
    /// before `to_us` is more than `lapse_days` old.
    pub async fn dashboard(
        &self,
        scope: &DashScope,
        from_us: i64,
        to_us: i64,
        offset_us: i64,
        lapse_days: i64,
    ) -> Result<Dashboard, StoreError> {
        let mut out = Dashboard::default();
        let (sale_f, cust_f, args) = filters(scope, 4);

        let sql = format!(
            "select cast((x.occurred_at + $1) / {DAY_US} as bigint) as d, count(*), cast(sum(x.net_fen) as bigint), \
             cast(sum(case when x.customer_id is not null then 1 else 0 end) as bigint), \
             cast(sum(case when x.customer_id is not null then x.net_fen else 0 end) as bigint) \
             from sale x where x.occurred_at >= $2 and x.occurred_at < $3{sale_f} group by d order by d"
        );
        let mut q = sqlx::query(&sql).bind(offset_us).bind(from_us).bind(to_us);
        for a in &args {
            q = q.bind(a);
        }
        for r in q.fetch_all(self.read()).await? {
            out.days.push(DayFigures {
                day: r.try_get(0)?,
                sales: r.try_get(1)?,
                net_fen: r.try_get(2)?,
                member_sales: r.try_get(3)?,
                member_net_fen: r.try_get(4)?,
            });
        }

        let (sale_f2, _, _) = filters(scope, 3);
        let sql = format!(
            "select l.product_code, cast(sum(l.net_fen) as bigint), cast(sum(l.volume_ml) as bigint), count(*) \
             from sale_line l join sale x on x.sale_id = l.sale_id \
             where x.occurred_at >= $1 and x.occurred_at < $2{sale_f2} group by l.product_code order by 2 desc"
        );
        let mut q = sqlx::query(&sql).bind(from_us).bind(to_us);
        for a in &args {
            q = q.bind(a);
        }
        for r in q.fetch_all(self.read()).await? {
            out.products
                .push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
        }

        let sql = format!(
            "select cast((c.created_at + $1) / {DAY_US} as bigint) as d, count(*) from customer c \
             where c.created_at >= $2 and c.created_at < $3{cust_f} group by d order by d"
        );
        let mut q = sqlx::query(&sql).bind(offset_us).bind(from_us).bind(to_us);
        for a in &args {
            q = q.bind(a);
        }
        for r in q.fetch_all(self.read()).await? {
            out.new_members.push((r.try_get(0)?, r.try_get(1)?));
        }

        // Last visits in the 90 days before the end, per member.
        let sql = format!(
            "select cast(sum(case when m < $3 then 1 else 0 end) as bigint), count(*) from \
             (select x.customer_id, max(x.occurred_at) as m from sale x \
              where x.customer_id is not null and x.occurred_at >= $1 and x.occurred_at < $2{sale_f} \
              group by x.customer_id) y"
        );
        let mut q = sqlx::query(&sql)
            .bind(to_us - 90 * DAY_US)
            .bind(to_us)
            .bind(to_us - lapse_days * DAY_US);
        for a in &args {
            q = q.bind(a);
        }
        let r = q.fetch_one(self.read()).await?;
        out.lapsing = r.try_get::<Option<i64>, _>(0)?.unwrap_or(0);
        out.active_before = r.try_get(1)?;

        let (_, cust_f1, _) = filters(scope, 1);
        let sql = format!(
            "select c.tier_code, count(*) from customer c left join tier t on t.code = c.tier_code \
             where c.anonymized_at is null{cust_f1} group by c.tier_code, t.rank order by t.rank"
        );
        let mut q = sqlx::query(&sql);
        for a in &args {
            q = q.bind(a);
        }
        for r in q.fetch_all(self.read()).await? {
            out.tiers.push((r.try_get(0)?, r.try_get(1)?));
        }
        out.members = out.tiers.iter().map(|t| t.1).sum();
        Ok(out)
    }
}

/// A day's total of one product at one station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyLineTotal {
    pub station: String,
    pub product: String,
    pub kind: String,
    /// Days since 1970-01-01 in local time.
    pub day: i64,
    pub volume_ml: i64,
    pub net_fen: i64,
}

impl Store {
    /// Every station's sales lines summed per product and local day (`offset_us` from
    /// UTC), for the demand forecast: a few thousand rows instead of every line.
    pub async fn daily_line_totals(
        &self,
        offset_us: i64,
    ) -> Result<Vec<DailyLineTotal>, StoreError> {
        let sql = format!(
            "select st.code, l.product_code, l.kind, cast((s.occurred_at + $1) / {DAY_US} as bigint) as d, \
             cast(sum(l.volume_ml) as bigint), cast(sum(l.net_fen - l.refunded_fen) as bigint) \
             from sale_line l join sale s on s.sale_id = l.sale_id join station st on st.station_id = s.station_id \
             group by st.code, l.product_code, l.kind, d order by d, st.code, l.product_code"
        );
        let rows = sqlx::query(&sql)
            .bind(offset_us)
            .fetch_all(self.read())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DailyLineTotal {
                    station: r.try_get(0)?,
                    product: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    day: r.try_get(3)?,
                    volume_ml: r.try_get(4)?,
                    net_fen: r.try_get(5)?,
                })
            })
            .collect()
    }
}
