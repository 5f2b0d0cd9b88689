//! Exporting sales as the CSV that [`crate::import::import_sales`] reads, so that sales
//! can be moved to another network, or replayed, through the POS rules.
//!
//! One row per line item, in time order. The columns of the sale (station, `pos_txn_id`,
//! time, who it was for) repeat on each of its rows; a sale's first row carries its first
//! payment, the second row its second payment, and so on. A sale with more payments than
//! lines gets rows without a line that only carry a payment.
//!
//! Who the sale was for is written as the card number when the sale's card belongs to
//! the sale's customer (or both are absent: an anonymous card), otherwise as the
//! customer's member code; personal data (phone, plate) is never written.
//!
//! Each line carries `amount_fen`, the amount it was charged before discounts, so that
//! the importing side charges the same; discounts and points are computed again by the
//! importing network's rules.

use crate::clock;
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use forecourt_store::{ExportedSale, SalesFilter, Store};
use serde::Serialize;
use std::io::Write;

/// The header, in the order written.
pub const COLUMNS: &[&str] = &[
    "pos_txn_id",
    "station_code",
    "occurred_at",
    "card_no",
    "member_code",
    "product_code",
    "volume_ml",
    "quantity",
    "unit_price_fen",
    "amount_fen",
    "payment_method",
    "payment_amount_fen",
    "payment_card_no",
    "payment_coupon_code",
];

/// Sales read per query.
const PAGE: i64 = 500;

/// Which sales to export: business days from and to (inclusive, each in its station's
/// time zone) and one station.
#[derive(Debug, Clone, Default)]
pub struct SalesExport {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub station_code: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct ExportReport {
    pub sales: usize,
    pub rows: usize,
}

/// The time as the station's till would have written it: RFC 3339 in the station's
/// offset, with the fraction of a second only when there is one.
fn local_time(tz: &str, us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .unwrap_or_default()
        .with_timezone(&clock::tz(tz))
        .to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn local_date(tz: &str, us: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_micros(us)
        .unwrap_or_default()
        .with_timezone(&clock::tz(tz))
        .date_naive()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The CSV rows of one sale.
pub fn sale_rows(s: &ExportedSale) -> Vec<Vec<String>> {
    let (card_no, member_code) = match (&s.card_no, &s.customer_id) {
        (Some(no), customer) if &s.card_customer_id == customer => (Some(no.clone()), None),
        (_, Some(_)) => (None, s.member_code.clone()),
        _ => (None, None),
    };
    let at = local_time(&s.time_zone, s.occurred_at);
    let n = s.lines.len().max(s.payments.len());
    (0..n)
        .map(|i| {
            let mut row = vec![
                s.pos_txn_id.clone(),
                s.station_code.clone(),
                at.clone(),
                opt(card_no.as_ref()),
                opt(member_code.as_ref()),
            ];
            match s.lines.get(i) {
                Some(l) => {
                    let by_volume = l.kind == "fuel";
                    row.extend([
                        l.product_code.clone(),
                        opt(by_volume.then_some(l.volume_ml)),
                        opt((!by_volume).then_some(l.quantity)),
                        l.unit_price_fen.to_string(),
                        l.gross_fen.to_string(),
                    ]);
                }
                None => row.extend(std::iter::repeat_n(String::new(), 5)),
            }
            match s.payments.get(i) {
                Some(p) => row.extend([
                    p.method.clone(),
                    p.amount_fen.to_string(),
                    opt(p.card_no.as_ref()),
                    opt(p.coupon_code.as_ref()),
                ]),
                None => row.extend(std::iter::repeat_n(String::new(), 4)),
            }
            row
        })
        .collect()
}

/// Writes the chosen sales to `out` as CSV; `progress` is called with the sales written.
pub async fn export_sales<W: Write>(
    store: &Store,
    out: W,
    what: &SalesExport,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<ExportReport> {
    if let Some(code) = &what.station_code {
        if store.station_by_code(code).await?.is_none() {
            anyhow::bail!("no station {code}");
        }
    }
    if let (Some(from), Some(to)) = (what.from, what.to) {
        if from > to {
            anyhow::bail!("--from {from} is after --to {to}");
        }
    }
    // The database is asked for a range wide enough for every time zone (UTC-12 to
    // UTC+14); each sale is then kept by its own station's business day.
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let filter = SalesFilter {
        from_us: what
            .from
            .and_then(midnight)
            .map(|t| (t - Duration::hours(14)).timestamp_micros()),
        to_us: what
            .to
            .and_then(|d| d.succ_opt())
            .and_then(midnight)
            .map(|t| (t + Duration::hours(12)).timestamp_micros()),
        station_code: what.station_code.clone(),
    };
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(COLUMNS)?;
    let mut report = ExportReport::default();
    let mut cursor = None;
    loop {
        let page = store
            .sales_for_export(&filter, cursor.as_ref(), PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        cursor = Some((last.occurred_at, last.sale_id.clone()));
        for sale in &page {
            let day = local_date(&sale.time_zone, sale.occurred_at);
            if what.from.is_some_and(|f| day < f) || what.to.is_some_and(|t| day > t) {
                continue;
            }
            for row in sale_rows(sale) {
                csv.write_record(&row)?;
                report.rows += 1;
            }
            report.sales += 1;
        }
        progress(report.sales);
    }
    csv.flush()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use forecourt_store::{ExportedLine, ExportedPayment};

    fn line(product: &str, kind: &str, volume_ml: i64, quantity: i64) -> ExportedLine {
        ExportedLine {
            product_code: product.into(),
            kind: kind.into(),
            volume_ml,
            quantity,
            unit_price_fen: 700,
            gross_fen: 7_000,
        }
    }

    fn payment(method: &str, amount_fen: i64) -> ExportedPayment {
        ExportedPayment {
            method: method.into(),
            amount_fen,
            card_no: None,
            coupon_code: None,
        }
    }

    #[test]
    fn more_payments_than_lines_make_payment_only_rows() {
        let sale = ExportedSale {
            sale_id: "x".into(),
            station_code: "S001".into(),
            time_zone: "Asia/Shanghai".into(),
            pos_txn_id: "T1".into(),
            // 2026-11-20T08:30:00.25+08:00
            occurred_at: 1_795_134_600_250_000,
            customer_id: Some("c1".into()),
            member_code: Some("8000000001".into()),
            card_no: Some("1000010000000000001".into()),
            card_customer_id: Some("c2".into()),
            lines: vec![line("GASOLINE_92", "fuel", 10_000, 0)],
            payments: vec![payment("cash", 5_000), payment("wechat", 2_000)],
        };
        let rows = sale_rows(&sale);
        assert_eq!(
            rows[0].join(","),
            "T1,S001,2026-11-20T08:30:00.250+08:00,,8000000001,GASOLINE_92,10000,,700,7000,cash,5000,,"
        );
        assert_eq!(
            rows[1].join(","),
            "T1,S001,2026-11-20T08:30:00.250+08:00,,8000000001,,,,,,wechat,2000,,"
        );
        assert!(rows.iter().all(|r| r.len() == COLUMNS.len()));
    }

    #[test]
    fn the_card_names_the_customer_when_it_is_theirs() {
        let sale = ExportedSale {
            sale_id: "x".into(),
            station_code: "S001".into(),
            time_zone: "UTC".into(),
            pos_txn_id: "T2".into(),
            occurred_at: 1_795_134_600_000_000,
            customer_id: Some("c1".into()),
            member_code: Some("8000000001".into()),
            card_no: Some("1000010000000000001".into()),
            card_customer_id: Some("c1".into()),
            lines: vec![
                line("CAR_WASH", "service", 0, 2),
                line("EV_CHARGE", "ev", 0, 9),
            ],
            payments: vec![payment("card", 14_000)],
        };
        let rows = sale_rows(&sale);
        assert_eq!(
            rows[0].join(","),
            "T2,S001,2026-11-20T00:30:00+00:00,1000010000000000001,,CAR_WASH,,2,700,7000,card,14000,,"
        );
        assert_eq!(
            rows[1].join(","),
            "T2,S001,2026-11-20T00:30:00+00:00,1000010000000000001,,EV_CHARGE,,9,700,7000,,,,"
        );
    }
}
