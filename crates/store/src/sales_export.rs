//! Reading sales back out with what a till would send for them: the station's code, who
//! the sale was for, and each line and payment, for `forecourt export sales`.

use crate::{Store, StoreError};
use sqlx::Row;
use std::collections::HashMap;

/// Which sales to read. Times are UTC microseconds, `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Default)]
pub struct SalesFilter {
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    pub station_code: Option<String>,
}

/// A sale as the till saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedSale {
    pub sale_id: String,
    pub station_code: String,
    pub time_zone: String,
    pub pos_txn_id: String,
    pub occurred_at: i64,
    pub customer_id: Option<String>,
    pub member_code: Option<String>,
    /// The sale's card (the first card that paid, else the card that identified the
    /// customer), and whose card it is.
    pub card_no: Option<String>,
    pub card_customer_id: Option<String>,
    pub lines: Vec<ExportedLine>,
    pub payments: Vec<ExportedPayment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedLine {
    pub product_code: String,
    /// fuel | ev | service | non_fuel
    pub kind: String,
    pub volume_ml: i64,
    pub quantity: i64,
    pub unit_price_fen: i64,
    /// What the line cost before discounts.
    pub gross_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedPayment {
    pub method: String,
    pub amount_fen: i64,
    /// The card presented.
    pub card_no: Option<String>,
    pub coupon_code: Option<String>,
}

/// Where the previous page ended: `(occurred_at, sale_id)` of its last sale.
pub type SalesCursor = (i64, String);

impl Store {
    /// The next `limit` sales after `after`, in time order (ties by sale id), with their
    /// lines and payments.
    pub async fn sales_for_export(
        &self,
        filter: &SalesFilter,
        after: Option<&SalesCursor>,
        limit: i64,
    ) -> Result<Vec<ExportedSale>, StoreError> {
        let (after_at, after_id) = match after {
            Some((at, id)) => (*at, id.as_str()),
            None => (i64::MIN, ""),
        };
        let heads = sqlx::query(
            "select s.sale_id, st.code, st.time_zone, s.pos_txn_id, s.occurred_at, s.customer_id, cu.member_code, c.card_no, c.customer_id \
             from sale s join station st on st.station_id = s.station_id \
             left join customer cu on cu.customer_id = s.customer_id \
             left join card c on c.card_id = s.card_id \
             where ($1 = '' or st.code = $1) and s.occurred_at >= $2 and s.occurred_at < $3 \
             and (s.occurred_at > $4 or (s.occurred_at = $4 and s.sale_id > $5)) \
             order by s.occurred_at, s.sale_id limit $6",
        )
        .bind(filter.station_code.as_deref().unwrap_or(""))
        .bind(filter.from_us.unwrap_or(i64::MIN))
        .bind(filter.to_us.unwrap_or(i64::MAX))
        .bind(after_at)
        .bind(after_id)
        .bind(limit)
        .fetch_all(self.read())
        .await?;
        let mut sales = heads
            .iter()
            .map(|r| {
                Ok(ExportedSale {
                    sale_id: r.try_get(0)?,
                    station_code: r.try_get(1)?,
                    time_zone: r.try_get(2)?,
                    pos_txn_id: r.try_get(3)?,
                    occurred_at: r.try_get(4)?,
                    customer_id: r.try_get(5)?,
                    member_code: r.try_get(6)?,
                    card_no: r.try_get(7)?,
                    card_customer_id: r.try_get(8)?,
                    lines: Vec::new(),
                    payments: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if sales.is_empty() {
            return Ok(sales);
        }
        let at: HashMap<String, usize> = sales
            .iter()
            .enumerate()
            .map(|(i, s)| (s.sale_id.clone(), i))
            .collect();
        // Lines and payments of the page's sales, selected by the page's own range
        // rather than a list of ids: a long list of placeholders costs more to bind
        // than the rows cost to read.
        let last = sales.last().expect("not empty");
        let (last_at, last_id) = (last.occurred_at, last.sale_id.clone());
        const RANGE: &str = "join station st on st.station_id = s.station_id \
             where ($1 = '' or st.code = $1) and s.occurred_at >= $2 and s.occurred_at < $3 \
             and (s.occurred_at > $4 or (s.occurred_at = $4 and s.sale_id > $5)) \
             and (s.occurred_at < $6 or (s.occurred_at = $6 and s.sale_id <= $7))";
        let bind = |sql: &'static str| {
            sqlx::query(sql)
                .bind(filter.station_code.as_deref().unwrap_or(""))
                .bind(filter.from_us.unwrap_or(i64::MIN))
                .bind(filter.to_us.unwrap_or(i64::MAX))
                .bind(after_at)
                .bind(after_id)
                .bind(last_at)
                .bind(last_id.clone())
        };
        static LINES: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let lines_sql = LINES.get_or_init(|| {
            format!(
                "select l.sale_id, l.product_code, l.kind, l.volume_ml, l.quantity, l.unit_price_fen, l.gross_fen \
                 from sale s join sale_line l on l.sale_id = s.sale_id {RANGE} order by l.sale_id, l.line_no"
            )
        });
        for r in bind(lines_sql).fetch_all(self.read()).await? {
            let id: String = r.try_get(0)?;
            let Some(&i) = at.get(&id) else { continue };
            sales[i].lines.push(ExportedLine {
                product_code: r.try_get(1)?,
                kind: r.try_get(2)?,
                volume_ml: r.try_get(3)?,
                quantity: r.try_get(4)?,
                unit_price_fen: r.try_get(5)?,
                gross_fen: r.try_get(6)?,
            });
        }

        static PAYMENTS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let payments_sql = PAYMENTS.get_or_init(|| {
            format!(
                "select p.sale_id, p.method, p.amount_fen, c.card_no, p.coupon_code \
                 from sale s join sale_payment p on p.sale_id = s.sale_id left join card c on c.card_id = p.card_id \
                 {RANGE} order by p.sale_id, p.payment_no"
            )
        });
        for r in bind(payments_sql).fetch_all(self.read()).await? {
            let id: String = r.try_get(0)?;
            let Some(&i) = at.get(&id) else { continue };
            sales[i].payments.push(ExportedPayment {
                method: r.try_get(1)?,
                amount_fen: r.try_get(2)?,
                card_no: r.try_get(3)?,
                coupon_code: r.try_get(4)?,
            });
        }
        Ok(sales)
    }
}
